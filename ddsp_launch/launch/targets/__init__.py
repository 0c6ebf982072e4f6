"""Where a run trains: one module per target, and the one place that picks it.

Every target module has the same parts, in the order a launch uses them:
- `ACCEPTS`: the data and outputs it takes (launch/resolve.py asks it for every door);
- `finalize(settings)`: defaults that depend on other answers;
- `target_of(settings)`: its typed target (spec.py) from the settings, checked, and any
  trainer flags its own config file adds;
- `plan(spec)`: everything decided offline (refused here, before anything is spent);
- `dry_run(spec, plan, echo, say)`, `cost(spec)`, `preflight(spec)` (quick checks of this
  machine), `logdir(spec)` (where TensorBoard reads), `act(spec, plan, run)` (prepare,
  upload, build, train or submit; returns the exit code).

A new target is one module like `local` or `vertex`, its dataclass in spec.py, and one
`case` below.
"""

from __future__ import annotations

from types import ModuleType

from ddsp_launch.common.errors import InputError
from ddsp_launch.launch.targets import local, vertex
from ddsp_launch.spec import TARGETS, LocalTarget, Target, VertexTarget


def module(target: Target | str) -> ModuleType:
    """The module of a typed target, or of a target named in the settings."""
    match target:
        case LocalTarget() | str() if _is(target, LocalTarget):
            return local
        case VertexTarget() | str() if _is(target, VertexTarget):
            return vertex
    raise InputError(f"unknown target {target!r}", "--target: one of " + ", ".join(TARGETS))


def _is(target: Target | str, kind: type) -> bool:
    return isinstance(target, kind) or target in kind.NAMES
