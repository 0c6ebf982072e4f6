"""The Docker engine, through the docker SDK for Python.

Why the SDK and not the CLI: typed errors (daemon down, socket permission, registry
refusals) instead of parsing text; credentials passed per push or pull instead of being
written to ~/.docker/config.json; build and push progress as JSON; and no dependence on
which of several `docker` clients is first on PATH. Its limit, the classic builder only
(no BuildKit secrets), does not matter here: the Dockerfile keeps a CA bundle out of the
image with a multi-stage build, which every builder supports.
"""

from __future__ import annotations

import re
import shutil
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from ddsp_launch.common.errors import EngineUnavailable, ImageError, InputError

Progress = Callable[[str], None]

INSTALL_FIX = "install Docker (Debian/Ubuntu: sudo apt-get install docker.io), or train without it: --runtime process"
START_FIX = "start the engine (sudo systemctl start docker, or sudo dockerd &), or train without it: --runtime process"
GROUP_FIX = "add your user to the docker group (sudo usermod -aG docker $USER) and log in again, or use --runtime process"


def connect(timeout: int = 120) -> "Engine":
    """A connection to the engine that DOCKER_HOST (or the default socket) names."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(version="auto", timeout=timeout)
        client.ping()
    except DockerException as exc:
        raise _unavailable(exc) from None
    return Engine(client)


def _unavailable(exc: Exception) -> EngineUnavailable:
    text = str(exc)
    if "Permission denied" in text or "PermissionError" in text:
        return EngineUnavailable("permission denied on the Docker socket", GROUP_FIX)
    if shutil.which("dockerd") is None and shutil.which("docker") is None:
        return EngineUnavailable("Docker is not installed on this machine", INSTALL_FIX)
    if "FileNotFoundError" in text or "No such file" in text or "Connection refused" in text:
        return EngineUnavailable("the Docker engine is not running (no answer on its socket)", START_FIX)
    return EngineUnavailable(f"cannot reach the Docker engine: {text}", START_FIX)


@dataclass(frozen=True)
class RegistryAuth:
    """Credentials for one push or pull; never logged, never written to disk."""

    username: str
    password: str
    server: str

    def as_sdk(self) -> dict[str, str]:
        return {"username": self.username, "password": self.password, "serveraddress": self.server}

    def __repr__(self) -> str:  # keep the secret out of tracebacks and logs
        return f"RegistryAuth(username={self.username!r}, server={self.server!r}, password=***)"


# The training image's platform: its locks pin x86-64 wheels (tensorflow-cpu 2.19.1 has no Linux
# arm64 wheel). An engine of another architecture (Apple silicon's Docker Desktop, an arm64
# Linux host) builds and runs it as linux/amd64, under emulation.
IMAGE_PLATFORM = "linux/amd64"
NATIVE_ARCHITECTURES = ("x86_64", "amd64")


def emulated_platform(architecture: str) -> str | None:
    """The platform to ask for on an engine of ``architecture`` (None: its own, no emulation)."""
    return None if architecture.lower() in NATIVE_ARCHITECTURES else IMAGE_PLATFORM


class Engine:
    def __init__(self, client: Any):
        self.client = client
        self.api = client.api
        self._platform: tuple[str | None] | None = None

    def platform(self) -> str | None:
        """linux/amd64 on an engine that is not x86-64 (the image then runs emulated), else None."""
        if self._platform is None:
            self._platform = (emulated_platform(str(self.info().get("Architecture", "x86_64"))),)
        return self._platform[0]

    def _platform_kwargs(self) -> dict[str, str]:
        platform = self.platform()
        return {"platform": platform} if platform else {}

    # -- images -------------------------------------------------------------------------
    def image_id(self, ref: str) -> str | None:
        from docker.errors import ImageNotFound

        try:
            return self.api.inspect_image(ref)["Id"]
        except ImageNotFound:
            return None

    def repo_digests(self, ref: str) -> list[str]:
        return list(self.api.inspect_image(ref).get("RepoDigests") or [])

    def build(self, context_tar: IO[bytes], tag: str, buildargs: dict[str, str], progress: Progress,
              no_cache: bool = False) -> str:
        """Build from an uncompressed tar context; returns the image id. Raises ImageError."""
        from docker.errors import APIError

        tail: deque[str] = deque(maxlen=30)
        image_id = None
        try:
            stream = self.api.build(
                fileobj=context_tar, custom_context=True, tag=tag, buildargs=buildargs,
                rm=True, forcerm=True, pull=False, decode=True, nocache=no_cache, **self._platform_kwargs(),
            )
            for chunk in stream:
                if "stream" in chunk:
                    for line in chunk["stream"].splitlines():
                        if line.strip():
                            tail.append(line)
                            progress(line)
                if "aux" in chunk and "ID" in chunk["aux"]:
                    image_id = chunk["aux"]["ID"]
                if "error" in chunk:
                    raise _build_error(chunk["error"], list(tail))
        except APIError as exc:
            raise _build_error(str(exc.explanation or exc), list(tail)) from None
        return image_id or self.image_id(tag) or ""

    def tag(self, source: str, repository: str, tag: str) -> None:
        self.api.tag(source, repository, tag)

    def push(self, repository: str, tag: str, auth: RegistryAuth | None, progress: Progress) -> str:
        """Push ``repository:tag``; returns the registry's manifest digest."""
        from docker.errors import APIError

        digest = ""
        try:
            for chunk in self.api.push(repository, tag, auth_config=auth.as_sdk() if auth else None, stream=True, decode=True):
                if "error" in chunk:
                    raise registry_error(chunk["error"], f"{repository}:{tag}", "push")
                if "aux" in chunk and "Digest" in chunk["aux"]:
                    digest = chunk["aux"]["Digest"]
                elif chunk.get("status") and chunk.get("id") is None:
                    progress(chunk["status"])
        except APIError as exc:
            raise registry_error(str(exc.explanation or exc), f"{repository}:{tag}", "push") from None
        if not digest:
            raise ImageError(f"pushing {repository}:{tag} finished without a digest from the registry")
        return digest

    def check_login(self, auth: RegistryAuth) -> None:
        """Ask the registry (through the engine) whether these credentials are good."""
        from docker.errors import APIError

        try:
            self.api.login(auth.username, auth.password, registry=auth.server, reauth=True)
        except APIError as exc:
            raise registry_error(str(exc.explanation or exc), auth.server + "/", "log in to") from None

    def remote_digest(self, ref: str, auth: RegistryAuth | None) -> str | None:
        """The registry's digest for ``ref``, or None when it does not have it."""
        from docker.errors import APIError, NotFound

        try:
            return self.api.inspect_distribution(ref, auth_config=auth.as_sdk() if auth else None)["Descriptor"]["digest"]
        except NotFound:
            return None
        except APIError as exc:
            text = str(exc.explanation or exc)
            if _NOT_FOUND.search(text):
                return None
            raise registry_error(text, ref, "look up") from None

    def pull(self, ref: str, auth: RegistryAuth | None) -> str:
        """Pull ``ref`` (a tag or a @sha256 digest); returns the local image id."""
        from docker.errors import APIError

        try:  # the SDK splits REPO:TAG and REPO@DIGEST itself
            self.api.pull(ref, auth_config=auth.as_sdk() if auth else None, **self._platform_kwargs())
        except APIError as exc:
            raise registry_error(str(exc.explanation or exc), ref, "pull") from None
        return self.api.inspect_image(ref)["Id"]

    def export_layers(self, ref: str) -> Iterator[bytes]:
        """The image as `docker save` writes it (a tar of its layer tars)."""
        return self.api.get_image(ref)

    def info(self) -> dict[str, Any]:
        return self.api.info()

    # -- containers ---------------------------------------------------------------------
    def run(self, image: str, command: list[str], create_kwargs: dict[str, Any], host_config: dict[str, Any],
            output: Callable[[bytes], None], stop_timeout: int = 60,
            stopping: str = "the trainer saves a checkpoint") -> int:
        """Create, start and follow a container; Ctrl-C (or SIGTERM to us) stops it with
        SIGTERM so the trainer can checkpoint, then waits. Returns its exit code."""
        from docker.errors import APIError

        hc = self.api.create_host_config(**host_config)
        try:
            cid = self.api.create_container(image, command=command, host_config=hc, **create_kwargs, **self._platform_kwargs())["Id"]
        except APIError as exc:  # e.g. a mount the engine refuses
            raise _start_error(str(exc.explanation or exc)) from None
        try:
            try:
                self.api.start(cid)
            except APIError as exc:
                raise _start_error(str(exc.explanation or exc)) from None
            stopped = False
            while True:
                try:
                    for chunk in self.api.logs(cid, stream=True, follow=True):
                        output(chunk)
                    break
                except KeyboardInterrupt:
                    if stopped:
                        self.api.kill(cid)
                        continue
                    stopped = True
                    output(f"\n[ddsp-launch] stopping the container (SIGTERM, up to {stop_timeout} s): "
                           f"{stopping}; press Ctrl-C again to kill it\n".encode())
                    self.api.stop(cid, timeout=stop_timeout)
            return int(self.api.wait(cid)["StatusCode"])
        finally:
            try:
                self.api.remove_container(cid, force=True)
            except APIError:
                pass


_NOT_FOUND = re.compile(r"manifest unknown|not found|no such manifest|404", re.I)
_UNAUTHORIZED = re.compile(r"unauthorized|authentication required|denied|401|403|forbidden|no basic auth", re.I)
_NO_REPO = re.compile(r"name unknown|repository .*not found|does not exist|name_unknown", re.I)


def registry_error(text: str, ref: str, action: str) -> ImageError:
    """A registry's refusal, as a message that says what to do. Artifact Registry answers a
    missing repository with "name unknown: Repository ... not found"; any registry answers
    bad credentials with "unauthorized" / "denied"."""
    host = ref.split("/")[0]
    if _NO_REPO.search(text):
        fix = (
            "create the repository first: gcloud artifacts repositories create REPO "
            "--repository-format=docker --location=REGION"
            if host.endswith("docker.pkg.dev") else f"check the repository name in {ref}, or create it on {host}"
        )
        return ImageError(f"cannot {action} {ref}: the repository does not exist ({text.strip()})", fix)
    if _UNAUTHORIZED.search(text):
        fix = (
            "run `gcloud auth application-default login` (or set GOOGLE_APPLICATION_CREDENTIALS) with an account "
            "that has roles/artifactregistry.writer on the repository"
            if host.endswith("docker.pkg.dev") else
            f"check the user name and password for {host} (--registry-user, DDSP_LAUNCH_REGISTRY_PASSWORD), "
            f"or run `docker login {host}`"
        )
        return ImageError(f"the registry {host} refused to {action} {ref}: authentication failed ({text.strip()})", fix)
    return ImageError(f"cannot {action} {ref}: {text.strip()}")


_PULL_FAILED = re.compile(r"pull access denied|manifest unknown|not found|dial tcp|no such host|TLS handshake|"
                          r"i/o timeout|connection refused|docker login", re.I)


def _build_error(text: str, tail: list[str]) -> ImageError:
    # Before the first RUN step, a pull-like failure can only be the base image.
    if _PULL_FAILED.search(text) and not any("Running in" in line for line in tail):
        return ImageError(
            f"the base image cannot be pulled: {text.strip()}",
            "use a base image this machine has or can pull: --base-image IMAGE (see `docker images`); "
            "offline, make one with scripts/make_base_image.sh",
        )
    log = "\n".join(f"    {line}" for line in tail[-15:])
    hint = ("a CA bundle may be needed behind a TLS-intercepting proxy: --ca-bundle FILE"
            if "CERTIFICATE_VERIFY_FAILED" in text + log else "read the build log above; rerun with --dry-run to see the Dockerfile")
    return ImageError(f"the image build failed: {text.strip()}\n  last build output:\n{log}", hint)


def _start_error(text: str) -> ImageError | InputError:
    if "could not select device driver" in text or "nvidia" in text.lower():
        return InputError(
            f"the GPU cannot be given to the container: this Docker engine has no NVIDIA runtime ({text.strip()})",
            "install the NVIDIA Container Toolkit (https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/) "
            "and restart Docker, or train on the CPU: --cpu",
        )
    return ImageError(f"the container did not start: {text.strip()}")

