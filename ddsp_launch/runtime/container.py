"""`docker run` of the training image, planned from a run spec (pure).

One plan, two renderings: the docker SDK's arguments (what runs) and the equivalent
`docker run` command line (what --dry-run prints). Local data is mounted read-only at
/data, local output writable at /output; gs:// paths pass through, with the user's
Application Default Credentials mounted read-only at run time (never in the image).
Mounts are bind mounts by field (the SDK's ``Mount``, the CLI's ``--mount`` with CSV quoting),
never ``SRC:DST:MODE`` strings, which a folder name holding ``:`` or ``,`` would break.
"""

from __future__ import annotations

import csv
import io
import os
import shlex
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ddsp_launch.common.errors import InputError
from ddsp_launch.common.gcs import GcsUri
from ddsp_launch.spec import LocalTarget, RunSpec, task_argv

DATA_MOUNT = "/data"
OUTPUT_MOUNT = "/output"
CREDENTIALS_MOUNT = "/run/secrets/google/application_default_credentials.json"
IMAGE_IDS = (1000, 1000)  # the image's non-root `ddsp` user
IMAGE_USER = "%d:%d" % IMAGE_IDS
PASSED_ENV = ("STORAGE_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT", "CLOUD_ML_TRIAL_ID", "TF_CPP_MIN_LOG_LEVEL")


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool

    def __post_init__(self):
        if any(c in self.source for c in "\r\n\0"):
            raise InputError(f"{self.source!r} cannot be mounted into a container: its name holds a line break",
                             "rename the folder (or move the files to one with a plain name)")

    def cli(self) -> str:
        """The value of `docker run --mount`: CSV fields, a path with a comma or quote quoted."""
        fields = ["type=bind", f"source={self.source}", f"target={self.target}", *(["readonly"] if self.read_only else [])]
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow(fields)
        return out.getvalue()

    def sdk(self):
        from docker.types import Mount as SdkMount  # the SDK, imported only to act

        return SdkMount(self.target, self.source, type="bind", read_only=self.read_only)


@dataclass(frozen=True)
class ContainerPlan:
    image: str
    args: tuple[str, ...]  # the trainer's flags (the image's entry point is its task)
    mounts: tuple[Mount, ...]
    env: tuple[tuple[str, str], ...]
    user: str
    gpus: bool
    name: str
    network: str | None = None
    labels: tuple[tuple[str, str], ...] = field(default=())
    entrypoint: tuple[str, ...] = ()  # empty: the image's own (the trainer's task)

    def argv(self) -> list[str]:
        """The equivalent `docker run` command."""
        cmd = ["docker", "run", "--rm", "--init", "--name", self.name, "--user", self.user]
        if self.entrypoint:
            cmd += ["--entrypoint", self.entrypoint[0]]
        if self.gpus:
            cmd += ["--gpus", "all"]
        if self.network:
            cmd += ["--network", self.network]
        for m in self.mounts:
            cmd += ["--mount", m.cli()]
        for k, v in self.env:
            cmd += ["--env", f"{k}={v}"]
        for k, v in self.labels:
            cmd += ["--label", f"{k}={v}"]
        return cmd + [self.image, *self.entrypoint[1:], *self.args]

    def command_line(self) -> str:
        return shlex.join(self.argv())

    def sdk_create_kwargs(self) -> dict:
        kwargs = {"user": self.user, "environment": dict(self.env), "name": self.name, "labels": dict(self.labels)}
        if self.entrypoint:
            kwargs["entrypoint"] = list(self.entrypoint)
        return kwargs

    def sdk_host_config(self) -> dict:
        from docker.types import DeviceRequest  # the SDK, imported only to act

        hc: dict = {"mounts": [m.sdk() for m in self.mounts], "init": True}
        if self.gpus:
            hc["device_requests"] = [DeviceRequest(count=-1, capabilities=[["gpu"]])]
        if self.network:
            hc["network_mode"] = self.network
        return hc


def adc_file() -> Path | None:
    """The user's Application Default Credentials file, when there is one."""
    named = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if named:
        return Path(named)
    default = Path.home() / ".config" / "gcloud" / "application_default_credentials.json"
    return default if default.is_file() else None


@dataclass(frozen=True)
class Credentials:
    mounts: list[Mount]
    env: list[tuple[str, str]]


def gcs_access() -> tuple[Credentials, str | None]:
    """What a container that reads or writes gs:// needs: the user's Application Default
    Credentials mounted read-only (never in the image), and the host's network when the
    storage emulator listens on this machine's loopback. Refused without credentials."""
    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    creds = adc_file()
    mounts: list[Mount] = []
    env: list[tuple[str, str]] = []
    if creds is not None:
        if not creds.is_file():
            raise InputError(f"GOOGLE_APPLICATION_CREDENTIALS names {creds}, which does not exist",
                             "point it at your key file, or unset it and run `gcloud auth application-default login`")
        mounts.append(Mount(str(creds.resolve()), CREDENTIALS_MOUNT, True))
        env.append(("GOOGLE_APPLICATION_CREDENTIALS", CREDENTIALS_MOUNT))
    elif not emulator:
        raise InputError(
            "gs:// paths need Google Cloud credentials, and none were found on this machine",
            "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a key file",
        )
    network = None
    if emulator and (urlsplit(emulator if "//" in emulator else f"http://{emulator}").hostname
                     in ("localhost", "127.0.0.1", "::1")):
        network = "host"  # a storage emulator on this machine's loopback
    return Credentials(mounts, env), network


def plan(spec: RunSpec, image: str, file_pattern: str, host_uid: int | None = None, host_gid: int | None = None) -> ContainerPlan:
    """Map a checked spec (a local target) and the TFRecords it reads onto the container's file system, user and devices."""
    target: LocalTarget = spec.target
    host_uid = os.getuid() if host_uid is None else host_uid
    host_gid = os.getgid() if host_gid is None else host_gid
    mounts: list[Mount] = []
    env: list[tuple[str, str]] = []

    data_is_gcs, output_is_gcs = isinstance(spec.dataset, GcsUri), isinstance(spec.output, GcsUri)
    if not data_is_gcs:
        data_dir = fixed_dir(file_pattern)
        mounts.append(Mount(str(data_dir), DATA_MOUNT, True))
        file_pattern = f"{DATA_MOUNT}/{Path(file_pattern).relative_to(data_dir).as_posix()}"

    if output_is_gcs:
        save_dir = str(spec.output)
    else:
        mounts.append(Mount(str(spec.output.resolve()), OUTPUT_MOUNT, False))
        save_dir = OUTPUT_MOUNT

    network = None
    if data_is_gcs or output_is_gcs:
        creds, network = gcs_access()
        mounts += creds.mounts
        env += creds.env
    env += [(k, os.environ[k]) for k in PASSED_ENV if os.environ.get(k)]

    # Non-root always: the host user's own ids (so outputs belong to them), or, when the
    # host user is root, the image's `ddsp` user (the runner hands the files back after).
    user = IMAGE_USER if host_uid == 0 else f"{host_uid}:{host_gid}"
    if user != IMAGE_USER:
        env.append(("HOME", "/tmp"))

    args = tuple(task_argv(spec, file_pattern, save_dir=save_dir))
    return ContainerPlan(
        image=image, args=args, mounts=tuple(mounts), env=tuple(env), user=user,
        gpus=target.device == "gpu", name=f"ddsp-launch-{uuid.uuid4().hex[:8]}", network=network,
        labels=(("ddsp-launch.output", str(spec.output)),),
    )


def fixed_dir(pattern: str) -> Path:
    """The deepest folder of a glob that has no wildcard in it."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts[:-1]:
        if any(c in part for c in "*?["):
            break
        fixed.append(part)
    return Path(*fixed)


def chown_tree(root: Path, uid: int, gid: int) -> None:
    """Give a folder and everything in it to uid:gid (the image's user, and back)."""
    os.chown(root, uid, gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)
