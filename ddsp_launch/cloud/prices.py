"""What a Vertex AI run will cost and how long it will take: an estimate, before anything is spent.

Two maintained tables, each with its date and source, both replaceable from a JSON file of the
same shape (``DDSP_LAUNCH_PRICE_TABLE=FILE``; ``ddsp-launch prices --write FILE`` writes the
built-in one to edit):

- ``PRICES``: US dollars per hour of Vertex AI custom training, per region, for machine types
  and accelerators (one GPU), on demand and spot. A spot price not in the table is shown as
  unknown; the on-demand price bounds it (spot VMs are never dearer than on-demand ones), and
  that bound is what ``--max-cost`` uses, so a spot price change cannot overrun the cap.
- ``SPEEDS``: training steps per second of the solo_instrument model per accelerator at a given
  batch size, measured or published, with the source of each figure. Other batch sizes scale
  the time per step in proportion (a GPU does better than that: the estimate errs long).

``estimate`` turns a target, the number of steps and the batch size into hours and dollars;
``cap`` turns ``--max-cost`` into a refusal or a job timeout that keeps the job under it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

from ddsp_launch.common.errors import InputError
from ddsp_launch.spec import Machine, VertexTarget

TABLE_ENV = "DDSP_LAUNCH_PRICE_TABLE"
# Colab Pro+ (an A100 or a V100: the notebook does not say which) trained 30,000 vst.gin steps in
# "less than an hour": one published figure, so one entry serves both accelerators.
_COLAB_PRO_PLUS = {"steps_per_sec": 8.33, "batch_size": 16,
                   "source": "published: Train_VST.ipynb, 30k steps in under an hour on Colab Pro+ (taken as "
                             "1 h; vst.gin; solo_instrument is slower)"}
TIMEOUT_MARGIN = 0.95  # the timeout stops the job at 95% of the cap: billing rounds and start-up time
BUILT_IN = {
    "date": "2026-12-01",
    "source": "https://cloud.google.com/vertex-ai/pricing (custom training, us-central1), entered by hand on 2026-12-01 "
              "without access to the page: verify it there and refresh with DDSP_LAUNCH_PRICE_TABLE=FILE",
    "currency": "USD",
    "regions": {
        "us-central1": {
            "machines": {
                "n1-standard-4": [0.218499, None], "n1-standard-8": [0.436998, None], "n1-standard-16": [0.873996, None],
                "n1-highmem-8": [0.544003, None], "n1-highmem-16": [1.088006, None],
            },
            "accelerators": {
                "NVIDIA_TESLA_T4": [0.4025, None], "NVIDIA_TESLA_V100": [2.852, None], "NVIDIA_TESLA_P100": [1.679, None],
                "NVIDIA_TESLA_P4": [0.69, None],
            },
        },
    },
    "speeds": {
        "cpu": {"steps_per_sec": 0.54, "batch_size": 4,
                "source": "measured 2026-12-01: 1.85 s/step on 2 CPU cores (TF 2.19.1 CPU, solo_instrument, 4 s "
                          "examples); a machine with more cores is faster, so the estimate errs long"},
        # Published, not measured here (no GPU): magenta/ddsp's Train_VST.ipynb trains 30,000 steps of
        # models/vst/vst.gin at batch 16 in "~2-3 hours with free Colab" (a T4) and "less than an hour with
        # ColabPro+" (an A100 or V100). solo_instrument's steps are heavier (250 frames/s, not 50), so
        # for it these err short: measure your own and refresh the table.
        "NVIDIA_TESLA_T4": {"steps_per_sec": 3.33, "batch_size": 16,
                            "source": "published: Train_VST.ipynb, 30k steps in ~2.5 h on free Colab's T4 (vst.gin; "
                                      "solo_instrument is slower)"},
        "NVIDIA_TESLA_V100": _COLAB_PRO_PLUS,
        "NVIDIA_TESLA_A100": _COLAB_PRO_PLUS,
    },
}


@dataclasses.dataclass(frozen=True)
class Table:
    date: str
    source: str
    regions: dict
    speeds: dict
    origin: str = "built in"

    def price(self, region: str, kind: str, name: str, spot: bool) -> float | None:
        on_demand, spot_price = (self.regions.get(region, {}).get(kind, {}).get(name) or (None, None))
        return spot_price if spot else on_demand


def _checked(raw: dict, origin: str) -> Table:
    try:
        regions, speeds = raw["regions"], raw.get("speeds", {})
        for region in regions.values():
            for kind in ("machines", "accelerators"):
                for name, pair in region.get(kind, {}).items():
                    if len(pair) != 2 or not all(p is None or (isinstance(p, (int, float)) and p >= 0) for p in pair):
                        raise ValueError(f"{kind} {name}: want [on_demand, spot] dollars per hour (spot may be null)")
        for name, s in speeds.items():
            if not (s["steps_per_sec"] > 0 and s["batch_size"] > 0 and s["source"]):
                raise ValueError(f"speeds {name}: want steps_per_sec > 0, batch_size > 0 and a source")
        return Table(str(raw["date"]), str(raw["source"]), regions, speeds, origin)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"price table {origin} is not valid ({exc})",
                         "start from `ddsp-launch prices --write FILE` and keep its shape") from None


def load() -> Table:
    """The built-in table, or the file named by DDSP_LAUNCH_PRICE_TABLE."""
    path = os.environ.get(TABLE_ENV)
    if not path:
        return _checked(BUILT_IN, "built in")
    try:
        raw = json.loads(Path(path).expanduser().read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{TABLE_ENV}={path} cannot be read ({exc})", "point it at a JSON price table") from None
    return _checked(raw, path)


@dataclasses.dataclass(frozen=True)
class Estimate:
    """What one run is expected to take. Unknown figures are None (and shown as such)."""

    machines: str
    hourly: float | None  # on demand, all machines
    hourly_spot: float | None
    spot: bool
    steps_per_sec: float | None
    speed_source: str
    num_steps: int
    table: Table

    @property
    def hourly_billed(self) -> float | None:
        return self.hourly_spot if self.spot else self.hourly

    @property
    def hours(self) -> float | None:
        return self.num_steps / self.steps_per_sec / 3600 if self.steps_per_sec else None

    @property
    def total(self) -> float | None:
        """Dollars, at the rate billed (spot or on demand); None when a figure is missing."""
        return self.hours * self.hourly_billed if self.hours is not None and self.hourly_billed is not None else None

    @property
    def bound(self) -> float | None:
        """Dollars at the on-demand rate: no more than this, spot price changes included."""
        return self.hours * self.hourly if self.hours is not None and self.hourly is not None else None

    def record(self) -> dict:
        return {"machines": self.machines, "usd_per_hour": self.hourly, "usd_per_hour_spot": self.hourly_spot,
                "spot": self.spot, "steps_per_sec": self.steps_per_sec, "num_steps": self.num_steps,
                "hours": _round(self.hours), "usd": _round(self.total), "usd_bound": _round(self.bound),
                "price_table": f"{self.table.date} ({self.table.origin})"}

    def lines(self) -> list[str]:
        money = lambda v: f"${v:,.2f}" if v is not None else "unknown"  # noqa: E731
        rate = (f"{money(self.hourly)}/h on demand, "
                + (f"{money(self.hourly_spot)}/h spot" if self.hourly_spot is not None
                   else "spot not in the table (the on-demand price bounds it)"))
        speed = (f"{self.steps_per_sec:.3g} steps/s ({self.speed_source})" if self.steps_per_sec
                 else f"unknown ({self.speed_source})")
        eta = duration(self.hours * 3600) if self.hours is not None else "unknown"
        return [f"machines:      {self.machines}",
                f"price:         {rate}  [price table {self.table.date}, {self.table.origin}]",
                f"speed:         {speed}",
                f"time:          {eta} for {self.num_steps} steps (estimate)",
                f"cost:          {money(self.total)} {'spot' if self.spot else 'on demand'}"
                + (f", at most {money(self.bound)} on demand" if self.spot else "") + " (estimate, excluding storage)"]


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


def duration(seconds: float) -> str:
    h, rest = divmod(round(seconds), 3600)
    return f"{h} h {rest // 60:02d} min" if h else f"{rest // 60} min {rest % 60:02d} s"


def _machine_hourly(table: Table, region: str, m: Machine, spot: bool) -> float | None:
    base = table.price(region, "machines", m.machine_type, spot)
    if base is None or not m.has_gpu:
        return base
    gpu = table.price(region, "accelerators", m.accelerator_type, spot)
    return None if gpu is None else base + gpu * m.accelerator_count


def _speed(table: Table, m: Machine, batch_size: int) -> tuple[float | None, str]:
    key = m.accelerator_type if m.has_gpu else "cpu"
    figure = table.speeds.get(key)
    if figure is None:
        return None, f"no figure for {key} in the price table's speeds"
    scaled = figure["steps_per_sec"] * figure["batch_size"] / batch_size
    return scaled, f"{figure['steps_per_sec']} steps/s at batch {figure['batch_size']}, scaled to batch {batch_size}; {figure['source']}"


def estimate(target: VertexTarget, num_steps: int, batch_size: int, table: Table | None = None) -> Estimate:
    """The estimate for a Vertex AI target: every machine (the primary and the workers) is
    billed for the whole run; the speed is one machine's (extra workers are not counted faster)."""
    table = table or load()
    worker = target.worker or target.primary
    pools = [(target.primary, 1)] + ([(worker, target.workers)] if target.workers else [])
    hourly = hourly_spot = 0.0
    for machine, count in pools:
        od, sp = (_machine_hourly(table, target.region, machine, s) for s in (False, True))
        hourly = None if od is None or hourly is None else hourly + od * count
        hourly_spot = None if sp is None or hourly_spot is None else hourly_spot + sp * count
    text = target.primary.describe() + (f", plus {target.workers} x {worker.describe()}" if target.workers else "")
    steps, source = _speed(table, target.primary, batch_size)
    return Estimate(f"{text} in {target.region}", hourly, hourly_spot, target.spot, steps, source, num_steps, table)


def cap(est: Estimate, max_cost: float, timeout: str | None) -> str:
    """The job timeout that keeps ``est``'s run under ``max_cost`` dollars (the shorter of it and
    ``timeout``); InputError when the estimate is over the cap, or no price is known."""
    if not (max_cost > 0 and math.isfinite(max_cost)):
        raise InputError(f"--max-cost must be a positive number of US dollars, got {max_cost:g}", "e.g. --max-cost 20")
    if est.hourly is None:
        raise InputError(f"--max-cost: no price for {est.machines} in the price table ({est.table.origin})",
                         f"add it to a copy of the table (ddsp-launch prices --write FILE) and set {TABLE_ENV}=FILE")
    if est.bound is not None and est.bound > max_cost:
        raise InputError(
            f"--max-cost {max_cost:g}: the estimate is ${est.bound:,.2f} (on demand; {est.num_steps} steps at "
            f"{est.steps_per_sec:.3g} steps/s, ${est.hourly:,.2f}/h)",
            "raise --max-cost, train fewer steps (--num-steps), or choose cheaper machines")
    seconds = math.floor(max_cost / est.hourly * 3600 * TIMEOUT_MARGIN)
    if timeout is not None:
        seconds = min(seconds, int(timeout.rstrip("s")))
    return f"{seconds}s"


def _seconds_between(start: str, end: str) -> float:
    import datetime  # noqa: PLC0415

    parse = lambda t: datetime.datetime.fromisoformat(t.replace("Z", "+00:00"))  # noqa: E731
    return max(0.0, (parse(end) - parse(start)).total_seconds())


def job_so_far(job: dict, now: str, table: Table | None = None) -> list[str]:
    """`jobs status`: a custom job's elapsed time and its cost so far by the same table, from the
    job resource itself (its machines, its strategy, its region, startTime to endTime or ``now``)."""
    if not job.get("startTime"):
        return ["elapsed:  not started (nothing billed yet)"]
    seconds = _seconds_between(job["startTime"], job.get("endTime") or now)
    table = table or load()
    region = job.get("name", "").split("/locations/")[-1].split("/")[0]
    spot = job.get("jobSpec", {}).get("scheduling", {}).get("strategy") == "SPOT"
    hourly: float | None = 0.0
    for pool in job.get("jobSpec", {}).get("workerPoolSpecs", []):
        spec = pool.get("machineSpec", {})
        machine = Machine(spec.get("machineType", ""), spec.get("acceleratorType"), int(spec.get("acceleratorCount", 0) or 0))
        rate = _machine_hourly(table, region, machine, False)  # the on-demand rate bounds spot too
        hourly = None if rate is None or hourly is None else hourly + rate * int(pool.get("replicaCount", 1))
    cost = (f"${hourly * seconds / 3600:,.2f}" + (" at most (spot: the on-demand rate bounds it)" if spot else "")
            + f" (estimate: ${hourly:,.2f}/h, price table {table.date})") if hourly is not None else "unknown (not in the price table)"
    return [f"elapsed:  {duration(seconds)}", f"cost:     {cost}"]
