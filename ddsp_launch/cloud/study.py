"""A hyperparameter study (Vertex AI's studySpec): its checks, and trials for a local sweep.

The same studySpec drives a Vertex AI HyperparameterTuningJob and `ddsp-launch tune
--local`: Vertex passes each trial's values as `--parameterId=value`, and so does the local
sweep, so a parameterId must be one of the trainer's flags: one of the training parameters
(`spec.TrainingParams`), which the local sweep sets on the run's parameters.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass

from ddsp_launch.common.errors import InputError
from ddsp_launch.spec import TrainingParams

_SPECS = ("doubleValueSpec", "integerValueSpec", "discreteValueSpec", "categoricalValueSpec")


@dataclass(frozen=True)
class Parameter:
    id: str
    kind: str  # one of _SPECS
    low: float | None = None
    high: float | None = None
    values: tuple = ()
    scale: str = "UNIT_LINEAR_SCALE"

    def grid(self) -> tuple:
        if self.kind == "integerValueSpec":
            return tuple(range(int(self.low), int(self.high) + 1))
        if self.kind == "doubleValueSpec":
            raise InputError(f"grid search cannot enumerate the continuous parameter {self.id}",
                             "give it discreteValueSpec values, or use RANDOM_SEARCH")
        return self.values

    def sample(self, rng: random.Random):
        if self.kind in ("discreteValueSpec", "categoricalValueSpec"):
            return rng.choice(self.values)
        lo, hi = float(self.low), float(self.high)
        if self.scale == "UNIT_LOG_SCALE":
            value = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        elif self.scale == "UNIT_REVERSE_LOG_SCALE":
            value = hi + lo - math.exp(rng.uniform(math.log(lo), math.log(hi)))
        else:
            value = rng.uniform(lo, hi)
        return round(value) if self.kind == "integerValueSpec" else float(f"{value:.6g}")


@dataclass(frozen=True)
class Study:
    metric_id: str
    goal: str  # MINIMIZE or MAXIMIZE
    parameters: tuple[Parameter, ...]
    algorithm: str = "ALGORITHM_UNSPECIFIED"
    spec: dict | None = None  # the studySpec as given (sent to Vertex as it is)

    def better(self, a: float, b: float) -> bool:
        return a < b if self.goal == "MINIMIZE" else a > b

    def trials(self, count: int, seed: int = 0, algorithm: str | None = None) -> list[dict]:
        """``count`` parameter sets: the grid in order (GRID_SEARCH), else random with ``seed``."""
        if (algorithm or self.algorithm) == "GRID_SEARCH":
            grid = [dict(zip([p.id for p in self.parameters], combo)) for combo in itertools.product(*(p.grid() for p in self.parameters))]
            return grid[:count]
        rng = random.Random(seed)
        return [{p.id: p.sample(rng) for p in self.parameters} for _ in range(count)]


def parse(spec: dict, where: str = "studySpec") -> Study:
    """Check what the schema cannot: one metric, known parameter ids, sane ranges."""
    metrics = spec.get("metrics") or []
    if len(metrics) != 1:
        raise InputError(f"{where}: needs exactly one metric, found {len(metrics)}",
                         "metrics: [{metricId: Loss, goal: MINIMIZE}] (the trainer reports its loss as 'Loss')")
    metric = metrics[0]
    if not metric.get("metricId") or metric.get("goal") not in ("MINIMIZE", "MAXIMIZE"):
        raise InputError(f"{where}.metrics[0]: needs metricId and goal MINIMIZE or MAXIMIZE", "e.g. {metricId: Loss, goal: MINIMIZE}")
    tunable = TrainingParams.numeric()
    params = []
    for i, p in enumerate(spec.get("parameters") or []):
        at = f"{where}.parameters[{i}]"
        pid = p.get("parameterId")
        if pid not in tunable:
            raise InputError(f"{at}: {pid!r} is not a trainer flag Vertex AI could pass as --{pid}=VALUE",
                             "tune one of the training parameters: " + ", ".join(tunable))
        given = [k for k in _SPECS if k in p]
        if len(given) != 1:
            raise InputError(f"{at} ({pid}): give exactly one of {', '.join(_SPECS)}")
        kind, body = given[0], p[given[0]]
        scale = p.get("scaleType", "UNIT_LINEAR_SCALE")
        if kind in ("doubleValueSpec", "integerValueSpec"):
            try:
                lo, hi = float(body["minValue"]), float(body["maxValue"])
            except (KeyError, TypeError, ValueError):
                raise InputError(f"{at} ({pid}): {kind} needs numeric minValue and maxValue") from None
            if not lo < hi:
                raise InputError(f"{at} ({pid}): minValue {lo:g} must be below maxValue {hi:g}")
            if scale in ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE") and lo <= 0:
                raise InputError(f"{at} ({pid}): a log scale needs minValue > 0, got {lo:g}", "raise minValue or use UNIT_LINEAR_SCALE")
            params.append(Parameter(pid, kind, lo, hi, scale=scale))
        else:
            values = tuple(body.get("values") or ())
            if not values:
                raise InputError(f"{at} ({pid}): {kind}.values is empty")
            if len(set(values)) != len(values):
                raise InputError(f"{at} ({pid}): {kind}.values has duplicates")
            params.append(Parameter(pid, kind, values=values, scale=scale))
    if not params:
        raise InputError(f"{where}: no parameters to tune", "add e.g. {parameterId: learning_rate, doubleValueSpec: {minValue: 1e-4, maxValue: 1e-2}, scaleType: UNIT_LOG_SCALE}")
    ids = [p.id for p in params]
    if len(set(ids)) != len(ids):
        raise InputError(f"{where}: a parameter is listed twice ({', '.join(sorted({i for i in ids if ids.count(i) > 1}))})")
    study = Study(metric["metricId"], metric["goal"], tuple(params), spec.get("algorithm", "ALGORITHM_UNSPECIFIED"), spec)
    if study.algorithm == "GRID_SEARCH":
        for p in params:
            p.grid()
    return study
