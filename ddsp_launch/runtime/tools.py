"""Run a container-side tool (`transfer`, `export`) on this machine: as a local process
when the training stack is installed here, or in the training image (Docker) for users
who never installed TensorFlow.

In the image, every file the tool reads is mounted read-only, and every result is written
into a fresh folder beside its destination, moved into place only when the tool succeeds
(so a failed run leaves nothing behind, and the user's folders are never handed to the
image's user). Which arguments are files, and which are read or written, comes from the
tools' own command lines (``trainer/tool_args.py``), parsed here as there.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ddsp_launch.common import vst
from ddsp_launch.common.errors import InputError, MissingDependencyError
from ddsp_launch.runtime import container, process
from ddsp_launch.runtime.container import IMAGE_IDS, chown_tree
from ddsp_launch.runtime.local import write_stdout
from ddsp_launch.trainer import tool_args

Say = Callable[[str], None]
MODULES = {"transfer": "ddsp_launch.trainer.transfer", "export": "ddsp_launch.trainer.export"}
IN, OUT = "/in", "/out"


@dataclass
class Result:
    """An output the tool writes at ``inside`` (container path) through host folder ``scratch``."""

    destination: Path
    scratch: Path
    replace: bool = False


@dataclass
class ToolPlan:
    plan: container.ContainerPlan | None
    results: list[Result] = field(default_factory=list)
    staged: list[Path] = field(default_factory=list)  # copies of inputs the image's user could not read


def _readable_by_others(path: Path) -> bool:
    """Can a user who is neither owner nor group member read ``path`` (a folder: its files)?"""
    for folder in [p for p in path.parents] + ([path] if path.is_dir() else []):
        if not folder.stat().st_mode & stat.S_IXOTH:
            return False
    files = [p for p in path.iterdir() if p.is_file()] if path.is_dir() else [path]
    return all(p.stat().st_mode & stat.S_IROTH for p in files)


def _stage(host: Path) -> Path:
    """A copy the image's user can read: the file, or a folder's files (the tools read no deeper)."""
    staged = Path(tempfile.mkdtemp(prefix="ddsp-launch-in-"))
    for p in [p for p in host.iterdir() if p.is_file()] if host.is_dir() else [host]:
        shutil.copy2(p, staged / p.name)
        os.chmod(staged / p.name, 0o644)
    os.chmod(staged, 0o755)
    return staged


def choose(runtime: str, say: Say):
    """(runtime, engine or None): ``auto`` is the local process when the training stack is
    installed here, else Docker."""
    if runtime == "process" or (runtime == "auto" and not process.missing_trainer_modules()):
        return "process", None
    from ddsp_launch.adapters import docker_engine  # noqa: PLC0415

    try:
        return "docker", docker_engine.connect()
    except MissingDependencyError as exc:
        if runtime == "docker":
            raise
        raise MissingDependencyError(
            f"this needs the training stack here or Docker, and neither is available ({exc.message})",
            f"{process.INSTALL_HINT}; or install and start Docker (scripts/docker_up.sh) to run it in the image",
        ) from None


def split_host_options(args: list[str]) -> tuple[dict[str, str], list[str]]:
    """The host's own options (--runtime, --image) and the tool's arguments, apart."""
    host: dict[str, str] = {}
    rest: list[str] = []
    tokens = iter(args)
    for token in tokens:
        name, eq, value = token.partition("=")
        if name in tool_args.HOST_OPTIONS:
            host[name[2:].replace("-", "_")] = value if eq else next(tokens, "")
        else:
            rest.append(token)
    return host, rest


def _value_token(token: str, options: list[str]) -> tuple[str, str] | None:
    """(prefix, value) when ``token`` carries an option's value attached: --opt=V or -oV."""
    for opt in options:
        if opt.startswith("--") and token.startswith(opt + "="):
            return opt + "=", token[len(opt) + 1:]
        if not opt.startswith("--") and token.startswith(opt) and len(token) > len(opt):
            return opt, token[len(opt):]
    return None


def plan(command: str, args: list[str], image: str, host_uid: int | None = None, host_gid: int | None = None) -> ToolPlan:
    """Map the tool's file arguments onto mounts; results go to scratch folders (created here)."""
    parser = tool_args.PARSERS[command]()
    ns = parser.parse_args(args)  # usage errors and --help end here, as they would in the tool
    roles = tool_args.PATH_ROLES[command]
    args = list(args)
    default_out = tool_args.default_output(command, ns)
    if default_out is not None:
        args += ["--output", str(default_out)]
        ns.output = default_out
    actions = {a.dest: a for a in parser._actions if a.dest in roles}

    tool_args.check_destinations(command, ns)  # before any staging, scratch folder or container
    host_uid = os.getuid() if host_uid is None else host_uid
    host_gid = os.getgid() if host_gid is None else host_gid
    mounts: dict[str, container.Mount] = {}  # host source -> mount
    staged: list[Path] = []
    results: list[Result] = []
    replacements: dict[Path, str] = {}
    try:
        for dest, role in roles.items():
            value: Path | None = getattr(ns, dest, None)
            if value is None:
                continue
            host = value.expanduser().resolve()
            if role == "in":
                if not host.exists():
                    raise InputError(f"{value} does not exist", f"check the {dest} path")
                folder = host if host.is_dir() else host.parent
                if host_uid == 0 and not _readable_by_others(host):
                    # root's files (e.g. under /root, mode 700) are closed to the image's user: copy them
                    folder = _stage(host)
                    staged.append(folder)
                mount = mounts.setdefault(str(folder), container.Mount(str(folder), f"{IN}/{len(mounts)}", True))
                replacements[value] = mount.target if host.is_dir() else f"{mount.target}/{host.name}"
            else:
                try:
                    host.parent.mkdir(parents=True, exist_ok=True)
                    scratch = Path(tempfile.mkdtemp(prefix=".ddsp-launch-", dir=host.parent))
                except OSError as exc:
                    raise InputError(f"cannot write {value}: {exc.strerror}", "choose another output path") from None
                target = f"{OUT}/{len(results)}"
                mounts[str(scratch)] = container.Mount(str(scratch), target, False)
                results.append(Result(host, scratch, replace=command == "export"))
                replacements[value] = f"{target}/{host.name}"

    except BaseException:
        finish(ToolPlan(None, results, staged), succeeded=False)  # nothing left behind
        raise

    options = {opt: dest for dest, a in actions.items() for opt in a.option_strings}
    rewritten = []
    for token in args:
        attached = _value_token(token, list(options)) if token.startswith("-") else None
        if attached and Path(attached[1]) in replacements:
            rewritten.append(attached[0] + replacements[Path(attached[1])])
        elif not token.startswith("-") and Path(token) in replacements:
            rewritten.append(replacements[Path(token)])
        else:
            rewritten.append(token)

    user = container.IMAGE_USER if host_uid == 0 else f"{host_uid}:{host_gid}"
    env = [("HOME", "/tmp")] if user != container.IMAGE_USER else []
    env += [(k, os.environ[k]) for k in container.PASSED_ENV if os.environ.get(k)]
    cplan = container.ContainerPlan(
        image=image, args=tuple(rewritten), mounts=tuple(mounts.values()), env=tuple(env), user=user, gpus=False,
        name=f"ddsp-launch-{command}-{uuid.uuid4().hex[:8]}", entrypoint=("python", "-m", MODULES[command]),
        labels=(("ddsp-launch.tool", command),),
    )
    return ToolPlan(cplan, results, staged)


def finish(tplan: ToolPlan, succeeded: bool) -> None:
    """Move the results into place (success), and remove the scratch and staging folders either way."""
    for folder in tplan.staged:
        shutil.rmtree(folder, ignore_errors=True)
    for r in tplan.results:
        try:
            # the result, and whatever the tool writes beside it (transfer --stems)
            for produced in sorted(r.scratch.iterdir()) if succeeded else ():
                final = r.destination.parent / produced.name
                if r.replace and final.is_dir():
                    shutil.rmtree(final)
                os.replace(produced, final)
        finally:
            shutil.rmtree(r.scratch, ignore_errors=True)


def cpu_image(engine, base_image: str | None, say: Say, progress: Say) -> str:
    """The CPU training image of this checkout, built if missing (the tools need no GPU)."""
    from ddsp_launch.image import build as image_build, dockerfile  # noqa: PLC0415

    bplan = image_build.plan(image_build.BuildSpec(variant="cpu", base_image=base_image or dockerfile.DEFAULT_BASE_IMAGE,
                                                   ca_bundle=image_build.ca_bundle_from_env()))
    if engine.image_id(bplan.local_ref) is None:
        say(f"building the training image {bplan.local_ref} (the first build downloads the pinned stack: several minutes)")
    return image_build.build(bplan, engine, progress, warn=say).image


def run_in_image(command: str, args: list[str], image: str, engine, say: Say) -> int:
    tplan = plan(command, args, image)
    cplan = tplan.plan
    as_image_user = cplan.user == container.IMAGE_USER
    for r in tplan.results:
        if as_image_user:
            os.chown(r.scratch, *IMAGE_IDS)
    say("runtime: docker\n  " + cplan.command_line())
    code = 1
    try:
        with process.sigterm_as_interrupt():  # a SIGTERM stops the container and still cleans up below
            code = engine.run(cplan.image, list(cplan.args), cplan.sdk_create_kwargs(), cplan.sdk_host_config(), write_stdout)
        if as_image_user:
            for r in tplan.results:
                chown_tree(r.scratch, os.getuid(), os.getgid())  # hand the results back to the host user
    finally:
        finish(tplan, code == 0)
    return code


def run(command: str, args: list[str], say: Say, progress: Say) -> int:
    """`ddsp-launch transfer|export ARGS`: here (training stack installed) or in the training image;
    the host's own options (--runtime, --image, --base-image) taken out of ARGS first."""
    host, rest = split_host_options(args)
    if any(a in ("-h", "--help") for a in rest):
        tool_args.PARSERS[command]().parse_args(["--help"])
    runtime = host.get("runtime", "auto")
    if runtime not in ("auto", "process", "docker"):
        raise InputError(f"--runtime {runtime!r}: choose auto, process or docker")
    chosen, engine = choose(runtime, say)
    if chosen == "process":
        return process.run_module(MODULES[command], rest)
    image = host.get("image") or cpu_image(engine, host.get("base_image"), say, progress)
    install = command == "export" and "--install" in rest  # the plugin's folder is this machine's, not the image's
    if install:
        ns = tool_args.export_parser().parse_args(rest)
        tool_args.check_destinations(command, ns)  # its copy there too, before the image runs
    code = run_in_image(command, [a for a in rest if not (install and a == "--install")], image, engine, say)
    if code == 0 and install:
        say(f"installed {vst.install(tool_args.plugin_model(ns), replace=ns.force)}")
    return code
