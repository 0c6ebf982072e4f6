"""The interactive flow of `ddsp-launch`: questionary prompts over the same settings.

Asks, in order and only what applies: where to train, GPU or CPU, the data (offering to
prepare raw audio), the output, what the target asks (the settings table's `ask`: for
Vertex AI the cloud choices, from the validated tables), then the hyperparameters, each
with its default and a hint. Every answer is checked as it is typed, by the same rules the
flags and the web page follow (launch/resolve.py: data on this machine is fine for Vertex
AI, prepared and uploaded), and re-asked with the reason. Then a summary, the cost class and
the equivalent command: run, edit an answer, save to a file, or cancel. The prompts only
gather input.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable

from ddsp_launch.common import paths
from ddsp_launch.common.errors import InputError, Interrupted, LaunchError
from ddsp_launch.launch import launcher, resolve
from ddsp_launch.launch.settings import BY_NAME, FIELDS, HYPERPARAMETERS, Settings, convert, read_config, with_values
from ddsp_launch.spec import TARGETS, TrainingParams

MACHINES = ("n1-standard-4", "n1-standard-8", "n1-standard-16", "n1-highmem-8", "n1-highmem-16", "n1-highcpu-32",
            "g2-standard-8", "g2-standard-24", "a2-highgpu-1g", "a2-highgpu-2g")
LISTS = ("gin_file", "gin_param")
HYPER = tuple(n for n in HYPERPARAMETERS if n not in LISTS)


def wanted(yes: bool) -> bool:
    """Ask only in a terminal, never with --yes or under CI."""
    return not yes and os.environ.get("CI") != "true" and sys.stdin.isatty() and sys.stdout.isatty()


def with_last_answers(s: Settings) -> Settings:
    """The last interactive run's answers as the defaults of this one (a damaged file is ignored)."""
    path = paths.last_answers()
    if not path.is_file():
        return s
    try:
        last = read_config(path)
    except InputError:
        return s
    for name, value in last.items():
        if s.origin.get(name) == "default":
            s.values[name], s.origin[name] = value, "last answers"
    return s


def _q():
    import questionary

    return questionary


def _ask(question):
    answer = question.ask()
    if answer is None:  # Ctrl-C or Ctrl-D
        raise Interrupted("cancelled; nothing was started")
    return answer


def _valid(check: Callable[[str], object]) -> Callable[[str], object]:
    """A questionary validator: True, or the reason (re-asked)."""
    def validate(text: str):
        try:
            check(text)
        except LaunchError as exc:
            return exc.message + (f" ({exc.fix})" if exc.fix else "")
        except ValueError as exc:
            return str(exc)
        return True
    return validate


def check_data(target: str, text: str) -> bool:
    """An answer for the data: the rule every door follows (launch/resolve.py); True for audio."""
    if not text.strip():
        raise ValueError("give a path")
    return resolve.check_data(target, resolve.location(text.strip(), "data"))


def check_output(target: str, text: str) -> None:
    """An answer for the output: the rule every door follows (launch/resolve.py)."""
    if not text.strip():
        raise ValueError("give a folder")
    resolve.check_output(target, resolve.location(text.strip(), "output"))


def _check_number(name: str, text: str) -> None:
    value = convert(BY_NAME[name], text, "answer")
    if name == "workers":
        if value < 0:
            raise ValueError("must be at least 0")
        return
    TrainingParams.check_value(name, value)  # the trainer's own bounds


def _text(s: Settings, name: str, validate=None, message: str | None = None) -> str:
    f = BY_NAME[name]
    current = s.values.get(name)
    default = "" if current is None else (f"{current:g}" if isinstance(current, float) else str(current))
    return _ask(_q().text(message or f"{name.replace('_', ' ').capitalize()}:", default=default,
                          instruction=f"({f.hint})", validate=validate)).strip()


def ask_field(s: Settings, name: str, engine_ok: bool) -> Settings:
    """Ask one setting (and what follows from it); returns the updated settings."""
    q = _q()
    if name == "target":
        default = s.target if s.target != "auto" else ("docker" if engine_ok else "process")
        choices = [q.Choice(TARGETS[t], value=t) for t in TARGETS if t != "auto"]
        target = _ask(q.select("Where should the model train?", choices=choices, default=default, use_shortcuts=True,
                               instruction="(Docker: nothing else to install; Vertex AI: Google's GPUs, billed)"))
        return with_values(s, target=target)
    if name == "device":
        from ddsp_launch.launch import doctor

        detected = "gpu" if doctor.has_nvidia_gpu() else "cpu"
        device = _ask(q.select("GPU or CPU?", choices=[q.Choice("GPU (NVIDIA)", value="gpu"), q.Choice("CPU", value="cpu")],
                               default=s.device or detected, use_shortcuts=True, instruction=f"(detected: {detected})"))
        return with_values(s, device=device)
    if name == "data":
        data = _text(s, "data", _valid(lambda t: check_data(s.target, t)), "Your audio or prepared dataset:")
        s = with_values(s, data=data)
        if check_data(s.target, data):
            if _ask(q.confirm(f"{data} holds audio, not a dataset yet. Prepare it first?", default=True)):
                default = s.prepare_to or data.rstrip("/") + "-dataset"
                s = with_values(s, prepare_to=default)
                target = _text(s, "prepare_to", _valid(lambda t: check_output("process", t)), "Prepare it into:")
                return with_values(s, prepare_to=target)
            return ask_field(s, "data", engine_ok)
        return with_values(s, prepare_to=None)
    if name == "output":
        beside = str(Path(s.data.rstrip("/")).parent / "runs" / Path(s.data.rstrip("/")).name) if s.data else None
        if s.values.get("output") is None and beside and _fits(lambda: check_output(s.target, beside)):
            s = with_values(s, output=beside)
        return with_values(s, output=_text(s, "output", _valid(lambda t: check_output(s.target, t)), "Where should checkpoints go?"))
    if name == "project":
        from ddsp_launch.cloud.jobs import check_project

        return with_values(s, project=_text(s, "project", _valid(lambda t: check_project(t.strip())), "Google Cloud project:"))
    if name == "region":
        from ddsp_launch.cloud import discovery

        return with_values(s, region=_ask(q.select("Region:", choices=list(discovery.regions()), default=s.region,
                                                   instruction="(your bucket should be there too)")))
    if name == "machine_type":
        choices = list(MACHINES) if s.machine_type in MACHINES else [s.machine_type, *MACHINES]
        s = with_values(s, machine_type=_ask(q.select("Machine type:", choices=choices, default=s.machine_type)))
        return ask_field(s, "accelerator", engine_ok)
    if name == "accelerator":
        options = accelerators_for(s.machine_type)
        default = s.accelerator if s.accelerator in options else options[0]
        return with_values(s, accelerator=_ask(q.select("GPUs:", choices=options, default=default)))
    if name == "workers":
        return with_values(s, workers=int(_text(s, "workers", _valid(lambda t: _check_number("workers", t)), "Additional workers:")))
    if name == "spot":
        return with_values(s, spot=_ask(q.confirm("Use spot VMs? (cheaper; a reclaimed VM restarts the job, which resumes)",
                                                  default=bool(s.spot))))
    if name == "image":
        image = _text(s, "image", None, "Pushed training image (empty: build and push one now):")
        s = with_values(s, image=image or None)
        if not image:
            return with_values(s, push_to=_text(s, "push_to", _valid(_check_repository), "Push the image to:"))
        return s
    if BY_NAME[name].choices:  # e.g. the model: solo_instrument, or vst for the DDSP-VST plugin
        f = BY_NAME[name]
        choices = [q.Choice(f"{value}: {label}", value=value) for value, label in f.choices]
        return with_values(s, **{name: _ask(q.select(f"{name.replace('_', ' ').capitalize()}:", choices=choices,
                                                     default=s.values.get(name) or f.default))})
    if name in HYPER:
        f = BY_NAME[name]
        return with_values(s, **{name: convert(f, _text(s, name, _valid(lambda t: _check_number(name, t))), name)})
    if name in ("gin_file", "gin_param"):
        text = _ask(q.text(f"{'Extra gin files' if name == 'gin_file' else 'Gin bindings'} (separate with ';', empty for none):",
                           default="; ".join(s.values.get(name) or ()), instruction=f"({BY_NAME[name].hint})"))
        return with_values(s, **{name: tuple(p.strip() for p in text.split(";") if p.strip())})
    f = BY_NAME[name]  # any other setting a target asks: typed, converted as a flag is
    return with_values(s, **{name: convert(f, _text(s, name, _valid(lambda t: convert(f, t, "answer"))) or None, f.flag)})


def save_path() -> Path | None:
    """Where to save the settings (None: cancelled)."""
    name = _q().text("Save to:", default="ddsp-launch-run.yaml").ask()
    return Path(name) if name else None


def _fits(check: Callable[[], object]) -> bool:
    try:
        check()
    except LaunchError:
        return False
    return True


def _check_repository(text: str) -> None:
    from ddsp_launch.common.image_refs import validate_repository

    validate_repository(text.strip())


def accelerators_for(machine_type: str) -> list[str]:
    from ddsp_launch.cloud.machines import FIXED_GPU_MACHINES, N1_GPUS, Machine, check

    if machine_type in FIXED_GPU_MACHINES:
        gpu, n = FIXED_GPU_MACHINES[machine_type]
        return [f"{gpu}:{n}"]
    out = []
    for gpu, counts in N1_GPUS.items():
        for n in counts:
            try:
                check(Machine(machine_type, gpu, n))
                out.append(f"{gpu}:{n}")
            except LaunchError:
                pass
    return out + ["none"]


def order(s: Settings) -> list[str]:
    """What to ask, in order: where, the data and output, what the target asks, the hyperparameters."""
    lead = [n for n in ("target", "device", "data", "output") if s.applies(BY_NAME[n])]
    return lead + [f.name for f in FIELDS if s.target in f.ask] + list(HYPER) + list(LISTS)


def summary(s: Settings, run: launcher.Checked | None) -> str:
    lines = ["", "Your run:"]
    for f in s.relevant():
        value = s.values.get(f.name)
        if value not in (None, (), []):
            lines.append(f"  {f.name.replace('_', ' '):<22} {value if not isinstance(value, tuple) else '; '.join(value)}")
    if run is not None:
        lines.append(f"  {'cost':<22} {run.cost()}")
    lines.append("Same run without questions:")
    lines.append("  " + s.command_line())
    return "\n".join(lines)


def interview(s: Settings, engine_ok: bool, say: Callable[[str], None]) -> tuple[Settings, str]:
    """Ask everything; returns the settings and 'run', 'save' or 'cancel'."""
    q = _q()
    asked: set[str] = set()
    while (pending := [n for n in order(s) if n not in asked]):  # the order depends on the target chosen
        name = pending[0]
        asked.add(name)
        s = ask_field(s, name, engine_ok)
    while True:
        s = resolve.finalize(s)
        problem, run = None, None
        try:
            run = launcher.check(s)
        except LaunchError as exc:
            problem = str(exc)
        say(summary(s, run))
        if problem:
            say(f"\nThis would fail: {problem}")
        choices = ([] if problem else [q.Choice("Run it now", value="run")]) + [
            q.Choice("Change an answer", value="edit"), q.Choice("Save to a file, don't run", value="save"),
            q.Choice("Cancel", value="cancel")]
        action = _ask(q.select("Next?", choices=choices, use_shortcuts=True))
        if action == "edit":
            name = _ask(q.select("Which answer?", choices=[n.replace("_", " ") for n in order(s)])).replace(" ", "_")
            s = ask_field(s, name, engine_ok)
            continue
        return s, action
