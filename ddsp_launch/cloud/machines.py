"""Which machine types take which accelerators, and how many, on Vertex AI training.

Maintained by hand from Google's "Configure compute resources for custom training" and
Compute Engine's GPU platform pages (checked 2026-11). The accelerator *names* are checked
against the discovery document (`discovery.accelerator_types`); this table adds what the
document does not say: which machine family a GPU attaches to, the counts allowed, and the
most vCPUs a machine may have for a given count on N1.
"""

from __future__ import annotations

import re

from ddsp_launch.cloud import discovery
from ddsp_launch.common.errors import InputError
from ddsp_launch.spec import Machine

# N1 machines take these GPUs; count -> the most vCPUs an N1 machine may have with that many.
N1_GPUS: dict[str, dict[int, int]] = {
    "NVIDIA_TESLA_T4": {1: 48, 2: 48, 4: 96},
    "NVIDIA_TESLA_V100": {1: 12, 2: 24, 4: 48, 8: 96},
    "NVIDIA_TESLA_P100": {1: 16, 2: 32, 4: 96},
    "NVIDIA_TESLA_P4": {1: 24, 2: 48, 4: 96},
}
# Accelerator-optimized families: the GPU type and count are fixed by the machine type.
FIXED_GPU_MACHINES: dict[str, tuple[str, int]] = {
    **{f"a2-highgpu-{n}g": ("NVIDIA_TESLA_A100", n) for n in (1, 2, 4, 8)},
    "a2-megagpu-16g": ("NVIDIA_TESLA_A100", 16),
    **{f"a2-ultragpu-{n}g": ("NVIDIA_A100_80GB", n) for n in (1, 2, 4, 8)},
    **{f"g2-standard-{v}": ("NVIDIA_L4", 1) for v in (4, 8, 12, 16, 32)},
    "g2-standard-24": ("NVIDIA_L4", 2),
    "g2-standard-48": ("NVIDIA_L4", 4),
    "g2-standard-96": ("NVIDIA_L4", 8),
    **{f"a3-highgpu-{n}g": ("NVIDIA_H100_80GB", n) for n in (1, 2, 4, 8)},
    "a3-megagpu-8g": ("NVIDIA_H100_MEGA_80GB", 8),
    "a3-ultragpu-8g": ("NVIDIA_H200_141GB", 8),
    "a4-highgpu-8g": ("NVIDIA_B200", 8),
}
RETIRED = {"NVIDIA_TESLA_K80": "K80 GPUs were retired from Vertex AI; NVIDIA_TESLA_T4 is the usual replacement"}
_N1 = re.compile(r"^n1-(standard|highmem|highcpu)-(\d+)$")
_CPU_ONLY = re.compile(r"^(e2|n2|n2d|c2|c2d|c3|m1)-[a-z]+-\d+$")


def parse_accelerator(text: str | None) -> tuple[str | None, int]:
    """'NVIDIA_TESLA_T4' or 'NVIDIA_TESLA_T4:2' (also 'nvidia-tesla-t4:2', gcloud's spelling);
    empty, 'none', 'cpu' or '0' mean no accelerator: (None, 0)."""
    if not text or text.strip().lower() in ("none", "cpu", "0"):
        return None, 0
    name, _, count = text.partition(":")
    name = name.strip().upper().replace("-", "_")
    try:
        n = int(count) if count else 1
    except ValueError:
        raise InputError(f"accelerator count {count!r} is not a number", "write TYPE:COUNT, e.g. NVIDIA_TESLA_T4:1") from None
    return name, n


def check(machine: Machine, pool: str = "primary pool") -> Machine:
    """Raise InputError when Vertex AI would refuse this machine / accelerator combination."""
    mt = machine.machine_type
    if machine.accelerator_type is None or machine.accelerator_count == 0:
        if mt in FIXED_GPU_MACHINES:
            gpu, n = FIXED_GPU_MACHINES[mt]
            raise InputError(f"{pool}: {mt} comes with {n} x {gpu}", f"add --accelerator {gpu}:{n}")
        if not (_N1.match(mt) or _CPU_ONLY.match(mt)):
            raise InputError(f"{pool}: unknown machine type {mt!r}", "e.g. n1-standard-8, n1-highmem-16, g2-standard-8, a2-highgpu-1g")
        return machine
    gpu, count = machine.accelerator_type, machine.accelerator_count
    if gpu in RETIRED:
        raise InputError(f"{pool}: {gpu} cannot be used", RETIRED[gpu])
    discovery.check_accelerator(gpu)
    if count < 0:
        raise InputError(f"{pool}: accelerator count must be positive, got {count}")
    if mt in FIXED_GPU_MACHINES:
        want = FIXED_GPU_MACHINES[mt]
        if (gpu, count) != want:
            raise InputError(f"{pool}: {mt} takes exactly {want[1]} x {want[0]}, not {count} x {gpu}",
                             f"use --accelerator {want[0]}:{want[1]}, or pick the machine type for {count} x {gpu}")
        return machine
    n1 = _N1.match(mt)
    if gpu in N1_GPUS:
        if not n1:
            raise InputError(f"{pool}: {gpu} attaches only to N1 machines, not {mt}", "e.g. n1-standard-8 or n1-highmem-16")
        counts = N1_GPUS[gpu]
        if count not in counts:
            raise InputError(f"{pool}: {count} x {gpu} is not offered", f"counts offered: {', '.join(map(str, counts))}")
        vcpus = int(n1.group(2))
        if vcpus > counts[count]:
            raise InputError(f"{pool}: {mt} has {vcpus} vCPUs, more than {count} x {gpu} allows ({counts[count]})",
                             "choose a smaller N1 machine or more GPUs")
        return machine
    own = [m for m, (g, _) in FIXED_GPU_MACHINES.items() if g == gpu]
    if own:
        raise InputError(f"{pool}: {gpu} comes only with its own machine types, not {mt}", "use one of: " + ", ".join(own))
    raise InputError(f"{pool}: {gpu} is not offered for custom training on {mt}",
                     "GPUs for training: " + ", ".join(sorted(set(N1_GPUS) | {g for g, _ in FIXED_GPU_MACHINES.values()})))
