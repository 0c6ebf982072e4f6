"""`ddsp-launch doctor`: is this machine ready to train, here or on Vertex AI?

Each check gives a pass/fail line and, when it fails, the fix. Before a launch only the
quick, offline checks that concern the chosen target run; on demand, all of them
(including calls to Vertex AI, Cloud Storage and the registry when asked about).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ddsp_launch.common.errors import LaunchError, MissingDependencyError

GIB = 1 << 30


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str | None = None

    def line(self) -> str:
        text = f"[{'PASS' if self.ok else 'FAIL'}] {self.name}: {self.detail}"
        return text + (f"\n       fix: {self.fix}" if not self.ok and self.fix else "")


def has_nvidia_gpu() -> bool:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return False
    try:
        return subprocess.run([exe, "-L"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def engine_answers() -> bool:
    """Whether a Docker engine answers here (the interactive launcher's default target)."""
    try:
        from ddsp_launch.adapters import docker_engine

        docker_engine.connect(timeout=5)
        return True
    except Exception:  # noqa: BLE001 - any failure means: not available
        return False


def python_check() -> Check:
    from ddsp_launch import __version__
    from ddsp_launch.runtime import process

    version = "%d.%d.%d" % sys.version_info[:3]
    missing = process.missing_trainer_modules()
    stack = "training stack installed" if not missing else f"training stack not installed (needed only without Docker: {', '.join(missing)})"
    ok = sys.version_info[:2] >= (3, 10)
    return Check("python", ok, f"Python {version}, ddsp-launch {__version__}, {stack}",
                 None if ok else "use Python 3.11 (the training stack is locked for it): bash scripts/install.sh")


def docker_check() -> tuple[Check, object]:
    from ddsp_launch.adapters import docker_engine

    try:
        engine = docker_engine.connect(timeout=10)
    except LaunchError as exc:
        return Check("docker", False, exc.message, exc.fix), None
    info = engine.info()
    version, arch = info.get("ServerVersion", "?"), str(info.get("Architecture", "?"))
    emulated = docker_engine.emulated_platform(arch)
    detail = f"engine {version} ({arch}) reachable and permitted" + (
        f"; the training image is {emulated} and runs emulated here (untested by this project; expect it several times "
        "slower than native, and slower still under QEMU than Rosetta)" if emulated else "")
    return Check("docker", True, detail), engine


def nvidia_check(engine) -> Check:
    runtimes = (engine.info().get("Runtimes") or {}) if engine is not None else {}
    if not has_nvidia_gpu():
        return Check("nvidia", False, "no NVIDIA GPU found (nvidia-smi)",
                     "train on this machine's CPU (ddsp-launch train --device cpu, ddsp-launch run --cpu), "
                     "or on Vertex AI's GPUs (--target vertex); `ddsp-launch doctor --gpu` checks again")
    if engine is not None and "nvidia" not in runtimes:
        return Check("nvidia", False, "the Docker engine has no NVIDIA runtime",
                     "install the NVIDIA Container Toolkit and restart Docker (nvidia-ctk runtime configure --runtime=docker)")
    return Check("nvidia", True, "NVIDIA GPU and container runtime present")


def gpu_checks(runtime: str) -> list[Check]:
    """What a GPU run on this machine needs, before anything is built or started: an NVIDIA
    GPU, and in Docker (``docker``, or ``auto`` when the engine answers) its NVIDIA runtime."""
    checks, engine = [], None
    if runtime in ("docker", "auto"):
        docker, engine = docker_check()
        checks += [docker] if runtime == "docker" else []
    return checks + [nvidia_check(engine)]


def disk_check(path: Path, need_gib: float) -> Check:
    path = next((p for p in [path, *path.parents] if p.exists()), Path("/"))
    free = shutil.disk_usage(path).free / GIB
    ok = free >= need_gib
    return Check("disk", ok, f"{free:.1f} GiB free at {path} (need {need_gib:g})",
                 None if ok else f"free space at {path}, or choose an output folder on another disk")


def adc_check() -> Check:
    env = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if env:
        ok = Path(env).is_file()
        return Check("credentials", ok, f"GOOGLE_APPLICATION_CREDENTIALS={env}" + ("" if ok else " does not exist"),
                     None if ok else "point it at a service-account key file, or unset it and run `gcloud auth application-default login`")
    config = Path(os.environ.get("CLOUDSDK_CONFIG") or Path.home() / ".config" / "gcloud")
    adc = config / "application_default_credentials.json"
    if adc.is_file():
        return Check("credentials", True, f"Application Default Credentials in {adc}")
    return Check("credentials", False, "no Application Default Credentials",
                 "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a key file")


def project_check(project: str | None) -> Check:
    if project:
        return Check("project", True, project)
    return Check("project", False, "no Google Cloud project set", "pass --project PROJECT_ID or export GOOGLE_CLOUD_PROJECT=PROJECT_ID")


def _call(name: str, what, ok_detail) -> Check:
    try:
        result = what()
    except LaunchError as exc:
        return Check(name, False, exc.message, exc.fix)
    return Check(name, True, ok_detail(result))


def run(*, docker: bool = True, gpu: bool = False, cloud: bool = False, project: str | None = None,
        region: str = "us-central1", bucket: str | None = None, registry: str | None = None,
        output: Path | None = None, quick: bool = False) -> list[Check]:
    """Every check asked for. Names typed wrong (a region, a bucket URI) are bad input (exit 2),
    not a failed check of this machine: they are refused first."""
    if cloud or bucket:
        from ddsp_launch.cloud import discovery

        discovery.check_region(region)
    if bucket:
        from ddsp_launch.common import gcs

        gcs.GcsUri.parse(bucket)
    checks = [python_check()]
    engine = None
    if docker or gpu or registry:
        check, engine = docker_check()
        checks.append(check)
    if gpu:
        checks.append(nvidia_check(engine))
    checks.append(disk_check(output or Path.cwd(), 5.0 if docker else 1.0))
    if cloud:
        checks += [adc_check(), project_check(project)]
        if not quick and all(c.ok for c in checks[-2:]):
            from ddsp_launch.adapters import vertex

            checks.append(_call("vertex ai", lambda: vertex.Vertex(project, region, retries=1).list(limit=1),
                                lambda jobs: f"aiplatform.googleapis.com answers in {region} ({len(jobs)} job(s) listed)"))
    if bucket and not quick:
        from ddsp_launch.adapters import storage
        from ddsp_launch.common import gcs

        checks.append(_call("bucket", lambda: storage.check_bucket(gcs.GcsUri.parse(bucket), region, gcs.make_client(project)),
                            lambda loc: f"{bucket} exists, readable, location {loc} (job region {region})"))
    if registry and not quick:
        if engine is None:
            checks.append(Check("registry", False, "cannot check without a Docker engine", "see the docker line above"))
        else:
            from ddsp_launch.adapters import registry as reg

            def login():
                auth = reg.credentials_for(registry)
                if auth is None:
                    return "using `docker login`'s stored credentials (not checked)"
                engine.check_login(auth)
                return f"{auth.server} accepts the credentials"

            checks.append(_call("registry", login, lambda detail: detail))
    return checks


def image_source() -> tuple[bool, str]:
    """(can build, what from): the training image's build context comes from this checkout,
    or from the installed package's data (a wheel or pipx install carries the lock files)."""
    from ddsp_launch.image import context, dockerfile

    root = context.source_root()
    if root is not None:
        return True, f"from this checkout ({root})"
    missing = [f for f in dockerfile.CONTEXT_ALLOW[1:] if not (context.PACKAGED_LOCKS / Path(f).name).is_file()]
    if missing:
        return False, f"this installed package lacks {', '.join(missing)}: reinstall it from a wheel (pip wheel . / python -m build)"
    return True, f"from the installed package ({context.PACKAGE_DIR})"


def abilities(checks: list[Check]) -> list[str]:
    """What this machine can do, in a user's words: each way to run the heavy steps (prepare,
    train, transfer, export), yes or no, and what a no needs."""
    from ddsp_launch.runtime import process

    docker = next((c for c in checks if c.name == "docker"), None)
    buildable, source = image_source()
    missing = process.missing_trainer_modules()
    lines = ["This machine can:"]
    if docker is not None and docker.ok:
        lines.append("  prepare, train, transfer and export in Docker (the training image): yes"
                     + (f"; the image is built {source}" if buildable else f"; no image can be built here ({source}): "
                        "pass --image with a prebuilt one"))
    elif docker is not None:
        lines.append(f"  prepare, train, transfer and export in Docker: no ({docker.detail}); fix: {docker.fix or 'see above'}")
    lines.append("  the same as a local process (--runtime process, --target process): "
                 + ("yes (the training stack is installed here)" if not missing else
                    f"no, it needs the training stack here (missing {', '.join(missing)}): {process.INSTALL_HINT}; "
                    "not needed when Docker runs"))
    lines.append("  Vertex AI (Google's GPUs): `ddsp-launch doctor --cloud` checks it")
    return lines


def require(checks: list[Check]) -> None:
    """Raise when a check failed (before a launch)."""
    failed = [c for c in checks if not c.ok]
    if failed:
        raise MissingDependencyError("this machine is not ready:\n  " + "\n  ".join(c.line() for c in failed),
                                     "fix the lines above, or run `ddsp-launch doctor` for every check")
