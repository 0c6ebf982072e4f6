"""Where this process stands: the Vertex AI container contract, read once. Pure.

Vertex AI (and TensorFlow's own convention) describe a multi-worker job in ``TF_CONFIG``
(or ``CLUSTER_SPEC``, Vertex's richer form). Vertex names the first worker pool
``chief`` in TF_CONFIG and ``workerpool0`` in CLUSTER_SPEC; both mean the chief here.
Output locations come from ``AIP_CHECKPOINT_DIR``, ``AIP_TENSORBOARD_LOG_DIR`` and
``AIP_MODEL_DIR`` when Vertex sets them (a job with ``baseOutputDirectory``).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Mapping

from ddsp_launch.common import paths

_POOL_NAMES = {"workerpool0": "chief", "workerpool1": "worker", "workerpool2": "ps", "workerpool3": "evaluator"}


class ClusterConfigError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class ClusterInfo:
    cluster: dict  # {"chief": ["host:port"], "worker": [...]}, normalised names; {} alone
    task_type: str = "chief"
    task_index: int = 0

    @property
    def multi_worker(self) -> bool:
        return sum(len(v) for v in self.cluster.values()) > 1

    @property
    def is_chief(self) -> bool:
        if not self.multi_worker:
            return True
        if "chief" in self.cluster:
            return self.task_type == "chief"
        return self.task_type == "worker" and self.task_index == 0

    def tf_config(self) -> dict:
        """TF_CONFIG in TensorFlow's names, for MultiWorkerMirroredStrategy."""
        return {"cluster": self.cluster, "task": {"type": self.task_type, "index": self.task_index}}


def _normalise(cluster: Mapping) -> dict:
    out = {}
    for name, hosts in cluster.items():
        if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
            raise ClusterConfigError(f"cluster entry {name!r} must be a list of 'host:port' strings")
        if hosts:
            out[_POOL_NAMES.get(name, name)] = hosts
    return out


def from_environment(env: Mapping[str, str]) -> ClusterInfo:
    """Parse TF_CONFIG, else CLUSTER_SPEC; single-process when neither describes >1 task."""
    for var in ("TF_CONFIG", "CLUSTER_SPEC"):
        raw = env.get(var, "").strip()
        if not raw:
            continue
        try:
            spec = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ClusterConfigError(f"{var} is not valid JSON ({exc.msg} at position {exc.pos})") from exc
        cluster = _normalise(spec.get("cluster") or {})
        task = spec.get("task") or {}
        task_type = _POOL_NAMES.get(task.get("type", "chief"), task.get("type", "chief"))
        index = int(task.get("index", 0))
        info = ClusterInfo(cluster, task_type, index)
        if info.multi_worker:
            if task_type not in cluster or not 0 <= index < len(cluster[task_type]):
                raise ClusterConfigError(f"{var}: task {task_type}:{index} is not in the cluster {sorted(cluster)}")
            return info
        return ClusterInfo({}, "chief", 0)
    return ClusterInfo({}, "chief", 0)


@dataclasses.dataclass(frozen=True)
class OutputPaths:
    checkpoints: str
    summaries: str
    model: str
    restore: str


def output_paths(save_dir: str | None, restore_dir: str | None, env: Mapping[str, str]) -> OutputPaths:
    """Vertex's AIP_* directories win when set; otherwise ddsp's layout under save_dir."""
    checkpoints = env.get("AIP_CHECKPOINT_DIR") or save_dir
    if not checkpoints:
        raise ClusterConfigError("--save_dir is required (or AIP_CHECKPOINT_DIR, which Vertex AI sets)")
    base = save_dir or checkpoints
    summaries = env.get("AIP_TENSORBOARD_LOG_DIR") or paths.join(base, *paths.TRAIN_SUMMARIES)
    model = env.get("AIP_MODEL_DIR") or base
    return OutputPaths(checkpoints, summaries, model, restore_dir or checkpoints)

