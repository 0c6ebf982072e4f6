"""Run a container-side tool (`prepare`, `check` of audio, `transfer`, `export`) on this
machine: as a local process when the training stack is installed here, or in the training
image (Docker) for users who never installed TensorFlow.

In the image, every file the tool reads is mounted read-only, and every result is written
into a fresh folder beside its destination, moved into place only when the tool succeeds
(so a failed run leaves nothing behind, and the user's folders are never handed to the
image's user). Which arguments are files, and which are read or written, comes from the
tools' own command lines (``trainer/tool_args.py``), parsed here as there.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import stat
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ddsp_launch.common import audio, gcs, vst
from ddsp_launch.common.errors import InputError, MissingDependencyError
from ddsp_launch.runtime import container, process
from ddsp_launch.runtime.container import IMAGE_IDS, chown_tree
from ddsp_launch.runtime.local import write_stdout
from ddsp_launch.trainer import tool_args
from ddsp_launch.trainer.prepare import __main__ as prepare_main
from ddsp_launch.trainer.prepare import check as prepare_check

Say = Callable[[str], None]
MODULES = {"transfer": "ddsp_launch.trainer.transfer", "export": "ddsp_launch.trainer.export",
           "prepare": "ddsp_launch.trainer.prepare", "check": "ddsp_launch.trainer.prepare.check"}
IN, OUT = "/in", "/out"

# Each tool's command line (argparse only, no TensorFlow): parsed here to know what to mount.
PARSERS = {"transfer": tool_args.transfer_parser, "export": tool_args.export_parser,
           "prepare": prepare_main.build_parser, "check": prepare_check.build_parser}


@dataclass
class Result:
    """An output the tool writes into host folder ``scratch`` (mounted in the container), moved to ``destination``."""

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


def _tree_readable_by_others(folder: Path) -> bool:
    """Can a user who is neither owner nor group member read every audio file below ``folder``?
    (Only the mounted folder and what is below it count: a bind mount needs no access to its parents.)"""
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in [dirpath, *(os.path.join(dirpath, d) for d in dirnames)]:
            if os.stat(name).st_mode & (stat.S_IXOTH | stat.S_IROTH) != (stat.S_IXOTH | stat.S_IROTH):
                return False
        if not all(os.stat(os.path.join(dirpath, n)).st_mode & stat.S_IROTH for n in filenames if n.lower().endswith(audio.EXTENSIONS)):
            return False
    return True


def _stage_audio(folder: Path, pattern: str | None) -> Path:
    """A copy of the recordings below ``folder`` (those ``pattern`` matches, if given) that the
    image's user can read, at the same relative paths."""
    staged = Path(tempfile.mkdtemp(prefix="ddsp-launch-in-"))
    names = glob.glob(str(folder / pattern), recursive=True) if pattern else [
        os.path.join(d, n) for d, _, files in os.walk(folder) for n in files]
    for name in names:
        src = Path(name)
        if src.is_file() and src.name.lower().endswith(audio.EXTENSIONS):
            dst = staged / src.relative_to(folder)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
            os.chmod(dst, 0o644)
    for dirpath, _, _ in os.walk(staged):
        os.chmod(dirpath, 0o755)
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


def checked(command: str, args: list[str]):
    """(namespace, arguments) of a tool's command line, checked as the tool checks its paths
    first: usage errors, --help, inputs that are not there and outputs that are not free end
    here, before an image is built or a container starts."""
    ns = PARSERS[command]().parse_args(args)  # usage errors and --help end here, as they would in the tool
    if not any(r == "out" for r in tool_args.PATH_ROLES[command].values()):
        ns.output = None  # check writes nothing
    args = list(args)
    default_out = tool_args.default_output(command, ns)
    if default_out is not None:
        args += ["--output", str(default_out)]
        ns.output = default_out
    tool_args.check_destinations(command, ns)
    return ns, args


def plan(command: str, args: list[str], image: str, host_uid: int | None = None, host_gid: int | None = None) -> ToolPlan:
    """Map the tool's file arguments onto mounts; results go to scratch folders (created here)."""
    parser = PARSERS[command]()
    ns, args = checked(command, args)  # before any staging, scratch folder or container
    roles = tool_args.PATH_ROLES[command]
    actions = {a.dest: a for a in parser._actions if a.dest in roles}
    host_uid = os.getuid() if host_uid is None else host_uid
    host_gid = os.getgid() if host_gid is None else host_gid
    mounts: dict[str, container.Mount] = {}  # host source -> mount
    staged: list[Path] = []
    results: list[Result] = []
    replacements: dict[str, str] = {}  # str(Path(token)) -> container path
    shown: dict[str, str] = {}  # container path -> what the user typed (tool_args.SHOWN_PATHS_ENV)
    uses_gcs = False
    try:
        for dest, role in roles.items():
            value = getattr(ns, dest, None)
            if value is None:
                continue
            if role == "audio":  # a folder, file, glob or gs:// prefix of recordings
                if gcs.is_gcs(value):
                    uses_gcs = True  # read in the container, with the user's credentials mounted read-only
                    continue
                expanded = Path(os.path.expanduser(value))
                pattern = glob.has_magic(str(expanded))
                folder = container.fixed_dir(str(expanded)) if pattern else expanded if expanded.is_dir() else expanded.parent
                host = folder.resolve()
                rest = expanded.relative_to(folder).as_posix()  # the glob, or a file's name
                if host_uid == 0 and not _tree_readable_by_others(host):
                    host = _stage_audio(host, rest if pattern else None)  # root's closed folders: a copy the image may read
                    staged.append(host)
                mount = mounts.setdefault(str(host), container.Mount(str(host), f"{IN}/{len(mounts)}", True))
                inside = mount.target if rest == "." else f"{mount.target}/{rest}"
                replacements[str(Path(value))] = inside
                shown[mount.target] = str(folder)
                continue
            host = Path(value).expanduser().resolve()
            if role == "in":
                if not host.exists():
                    raise InputError(f"{value} does not exist", f"check the {dest} path")
                folder = host if host.is_dir() else host.parent
                if host_uid == 0 and not _readable_by_others(host):
                    # root's files (e.g. under /root, mode 700) are closed to the image's user: copy them
                    folder = _stage(host)
                    staged.append(folder)
                mount = mounts.setdefault(str(folder), container.Mount(str(folder), f"{IN}/{len(mounts)}", True))
                replacements[str(Path(value))] = mount.target if host.is_dir() else f"{mount.target}/{host.name}"
            else:
                try:
                    host.parent.mkdir(parents=True, exist_ok=True)
                    scratch = Path(tempfile.mkdtemp(prefix=".ddsp-launch-", dir=host.parent))
                except OSError as exc:
                    raise InputError(f"cannot write {value}: {exc.strerror}", "choose another output path") from None
                target = f"{OUT}/{len(results)}"
                mounts[str(scratch)] = container.Mount(str(scratch), target, False)
                results.append(Result(host, scratch, replace=command == "export" or getattr(ns, "overwrite", False)))
                replacements[str(Path(value))] = f"{target}/{host.name}"
                shown[f"{target}/{host.name}"] = str(host)

    except BaseException:
        finish(ToolPlan(None, results, staged), succeeded=False)  # nothing left behind
        raise

    options = {opt: dest for dest, a in actions.items() for opt in a.option_strings}
    rewritten = []
    for token in args:
        attached = _value_token(token, list(options)) if token.startswith("-") else None
        if attached and str(Path(attached[1])) in replacements:
            rewritten.append(attached[0] + replacements[str(Path(attached[1]))])
        elif not token.startswith("-") and str(Path(token)) in replacements:
            rewritten.append(replacements[str(Path(token))])
        else:
            rewritten.append(token)

    user = container.IMAGE_USER if host_uid == 0 else f"{host_uid}:{host_gid}"
    env = [("HOME", "/tmp")] if user != container.IMAGE_USER else []
    env += [(tool_args.SHOWN_PATHS_ENV, json.dumps(shown))] if shown else []
    env += [(k, os.environ[k]) for k in container.PASSED_ENV if os.environ.get(k)]
    network = None
    if uses_gcs:
        creds, network = container.gcs_access()  # the same read-only credentials mount as `run`
        mounts.update({m.source: m for m in creds.mounts})
        env += list(creds.env)
    cplan = container.ContainerPlan(
        image=image, args=tuple(rewritten), mounts=tuple(mounts.values()), env=tuple(env), user=user, gpus=False,
        name=f"ddsp-launch-{command}-{uuid.uuid4().hex[:8]}", entrypoint=("python", "-m", MODULES[command]),
        labels=(("ddsp-launch.tool", command),), network=network,
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
                old = None
                if r.replace and final.is_dir() and any(final.iterdir()):
                    old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
                    os.replace(final, old / final.name)  # kept until the new one is in place
                os.replace(produced, final)  # an empty folder at ``final`` is replaced too
                if old is not None:
                    shutil.rmtree(old)
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
            code = engine.run(cplan.image, list(cplan.args), cplan.sdk_create_kwargs(), cplan.sdk_host_config(), write_stdout,
                              stopping=f"`{command}` stops, and nothing it had not finished is kept")
        if as_image_user:
            for r in tplan.results:
                chown_tree(r.scratch, os.getuid(), os.getgid())  # hand the results back to the host user
    finally:
        finish(tplan, code == 0)
    return code


def run(command: str, args: list[str], say: Say, progress: Say) -> int:
    """`ddsp-launch prepare|check|transfer|export ARGS`: here (training stack installed) or in the
    training image; the host's own options (--runtime, --image, --base-image) taken out of ARGS first."""
    host, rest = split_host_options(args)
    if any(a in ("-h", "--help") for a in rest):
        PARSERS[command]().parse_args(["--help"])
    runtime = host.get("runtime", "auto")
    if runtime not in ("auto", "process", "docker"):
        raise InputError(f"--runtime {runtime!r}: choose auto, process or docker")
    chosen, engine = choose(runtime, say)
    if chosen == "process":
        try:
            process.require_trainer_stack(f"`ddsp-launch {command} --runtime process`")
        except MissingDependencyError as exc:
            raise MissingDependencyError(exc.message, f"{exc.fix}; or run it in the training image: --runtime docker") from None
        return process.run_module(MODULES[command], rest)
    checked(command, rest)  # bad input is refused before the image is built
    image = host.get("image") or cpu_image(engine, host.get("base_image"), say, progress)
    install = command == "export" and "--install" in rest  # the plugin's folder is this machine's, not the image's
    if install:
        ns = tool_args.export_parser().parse_args(rest)
        tool_args.check_destinations(command, ns)  # its copy there too, before the image runs
    code = run_in_image(command, [a for a in rest if not (install and a == "--install")], image, engine, say)
    if code == 0 and install:
        say(f"installed {vst.install(tool_args.plugin_model(ns), replace=ns.force)}")
    return code
