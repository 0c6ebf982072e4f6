"""Build, tag and push the training image: plan (pure) then act (through the engine).

The tag is the content hash (context.py), so an unchanged checkout never rebuilds and a
registry that already has the tag is not pushed to again. Every build leaves a record
(image, id, digest, base, variant) under the state directory.
"""

from __future__ import annotations

import json
import os
import shlex
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ddsp_launch.adapters import registry
from ddsp_launch.adapters.docker_engine import Engine, Progress
from ddsp_launch.common import image_refs, paths
from ddsp_launch.common.errors import InputError
from ddsp_launch.image import context, dockerfile

LOCAL_REPOSITORY = "ddsp-launch"
_PEM = b"-----BEGIN CERTIFICATE-----"
_CA_ENV = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")


@dataclass(frozen=True)
class BuildSpec:
    variant: str = "cpu"
    base_image: str = dockerfile.DEFAULT_BASE_IMAGE
    ca_bundle: Path | None = None
    push_to: str | None = None  # a repository, e.g. REGION-docker.pkg.dev/PROJECT/REPO/IMAGE
    registry_user: str | None = None

    def validate(self) -> "BuildSpec":
        if self.variant not in dockerfile.VARIANTS:
            raise InputError(f"unknown image variant {self.variant!r}", "choose --gpu or --cpu")
        if self.push_to:
            image_refs.validate_repository(self.push_to)
        return self


@dataclass(frozen=True)
class BuildPlan:
    spec: BuildSpec
    context: context.BuildContext
    tag: str

    @property
    def local_ref(self) -> str:
        return f"{LOCAL_REPOSITORY}:{self.tag}"

    @property
    def remote_ref(self) -> str | None:
        return f"{self.spec.push_to}:{self.tag}" if self.spec.push_to else None

    @property
    def buildargs(self) -> dict[str, str]:
        return {"BASE_IMAGE": self.spec.base_image}

    def commands(self) -> list[str]:
        """The docker CLI commands equivalent to what `act` does, for --dry-run."""
        cmds = [shlex.join(["docker", "build", "--tag", self.local_ref, "--build-arg",
                            f"BASE_IMAGE={self.spec.base_image}", "-"]) + " < CONTEXT.tar"]
        if self.remote_ref:
            cmds.append(shlex.join(["docker", "tag", self.local_ref, self.remote_ref]))
            cmds.append(shlex.join(["docker", "push", self.remote_ref]))
        return cmds

    def printed(self) -> list[str]:
        """What a dry run shows: the Dockerfile, the build context, the docker commands."""
        return [self.context.dockerfile_text, f"# build context: {self.describe_context()}", *self.commands()]

    def describe_context(self) -> str:
        files = self.context.files
        names = sorted({f.arcname.split("/")[0] if f.arcname.startswith("ddsp_launch/") else f.arcname for f in files})
        extra = f" + {context.CA_NAME} (builder stage only)" if self.spec.ca_bundle else ""
        return f"{len(files) + 1} files, {self.context.size / 1024:.0f} KiB: Dockerfile, {', '.join(names)}{extra}"


def plan(spec: BuildSpec) -> BuildPlan:
    spec.validate()
    ctx = context.collect(spec.variant, spec.base_image)
    return BuildPlan(spec, ctx, ctx.tag())


@dataclass
class BuildResult:
    image: str  # the local reference
    image_id: str
    built: bool  # False: the tag existed, nothing was built
    variant: str
    base_image: str
    remote: str | None = None  # REPOSITORY:TAG pushed to
    digest: str | None = None  # the registry's manifest digest
    pushed: bool = False  # False with a digest: the registry had it already
    record: str | None = None

    @property
    def pinned_ref(self) -> str | None:
        return f"{self.remote.rsplit(':', 1)[0]}@{self.digest}" if self.remote and self.digest else None


def build(plan_: BuildPlan, engine: Engine, progress: Progress, warn: Progress = print,
          no_cache: bool = False) -> BuildResult:
    """Build unless the content tag exists locally; push unless the registry has it.
    ``no_cache`` rebuilds every layer (the tag is still skipped when it exists)."""
    spec = plan_.spec
    # Credentials first: a bad password or missing ADC fails before anything is built.
    auth = registry.credentials_for(spec.push_to, spec.registry_user) if spec.push_to else None
    if auth is not None and spec.push_to and not image_refs.is_artifact_registry(spec.push_to):
        engine.check_login(auth)

    image_id = engine.image_id(plan_.local_ref)
    built = image_id is None
    if built:
        if plan_.context.size > context.LARGE_CONTEXT_BYTES:
            warn(f"warning: the build context is {plan_.context.size / 2**20:.0f} MiB; "
                 f"is something large under ddsp_launch/?")
        image_id = engine.build(plan_.context.tar(spec.ca_bundle), plan_.local_ref, plan_.buildargs, progress,
                                no_cache=no_cache)
    result = BuildResult(plan_.local_ref, image_id, built, spec.variant, spec.base_image)

    if plan_.remote_ref:
        repository, tag = plan_.remote_ref.rsplit(":", 1)
        digest = engine.remote_digest(plan_.remote_ref, auth)
        if digest is None:
            engine.tag(plan_.local_ref, repository, tag)
            digest = engine.push(repository, tag, auth, progress)
            result.pushed = True
        result.remote, result.digest = plan_.remote_ref, digest
    result.record = str(write_record(result))
    return result


def write_record(result: BuildResult) -> Path:
    folder = paths.images_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{result.image.rsplit(':', 1)[1]}.json"
    record = {k: v for k, v in asdict(result).items() if k != "record"}
    record.update(pinned_ref=result.pinned_ref, recorded_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    tmp = path.with_suffix(".json.partial")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)
    return path


def check_ca_bundle(path: Path) -> Path:
    if not path.is_file():
        raise InputError(f"CA bundle {path} does not exist", "give a PEM file, e.g. /etc/ssl/certs/ca-certificates.crt")
    if _PEM not in path.read_bytes()[:1 << 20]:
        raise InputError(f"CA bundle {path} holds no PEM certificate", "give a PEM file (-----BEGIN CERTIFICATE-----)")
    return path


def resolve_ca_bundle(option: Path | None) -> Path | None:
    """The bundle given (checked), else the one the environment names."""
    return check_ca_bundle(option) if option is not None else ca_bundle_from_env()


def ca_bundle_from_env() -> Path | None:
    """The CA bundle pip and requests are told about here (PIP_CERT, REQUESTS_CA_BUNDLE, SSL_CERT_FILE)."""
    for name in _CA_ENV:
        value = os.environ.get(name)
        if value and Path(value).is_file():
            return Path(value)
    return None
