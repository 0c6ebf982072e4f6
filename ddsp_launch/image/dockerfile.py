"""The training image's Dockerfiles, rendered from one template (pure functions).

``Dockerfile`` (GPU) and ``Dockerfile.cpu`` at the project root are this module's output
for the defaults; a test keeps them identical. The build context is an explicit
allow-list (``CONTEXT_ALLOW``), also written out as ``.dockerignore`` so a plain
``docker build .`` sends no more than ``ddsp-launch build`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TEMPLATE = Path(__file__).with_name("Dockerfile.in")
PROJECT_ROOT = Path(__file__).resolve().parents[2]

# pip inside the image: the same version scripts/install.sh uses on the host.
PIP_VERSION = "25.3"
TRAINER_LOCK = "requirements/trainer-py311.lock"
# Each image has its own lock, derived from TRAINER_LOCK by scripts/lock_trainer.py: only what
# the image imports, plus for the GPU image TensorFlow's own `and-cuda` extra pinned (CUDA and
# cuDNN come as wheels, the driver from the host), for the CPU image the tensorflow-cpu wheel.
GPU_LOCK = "requirements/trainer-gpu-py311.lock"
CPU_LOCK = "requirements/trainer-cpu-py311.lock"

SITE_PACKAGES = "/opt/venv/lib/python3.11/site-packages"
# The images' environment, slimmed in the builder stage (so nothing removed here costs a
# layer): TensorFlow's C++ headers (for building custom ops), packages' `tests` folders and C
# headers, and the debug symbols of TensorFlow's and llvmlite's shared libraries (strip
# --strip-unneeded keeps the dynamic symbols they are loaded by). binutils (strip) exists in
# this stage only. tests/image/test_cpu_image.py runs every code path of the image on the result.
# The CUDA wheels' libraries are left as NVIDIA ships them (only their C headers go).
SLIM_STEP = f"""RUN set -eu; \\
    apt-get update -q; \\
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends binutils >/dev/null; \\
    sp={SITE_PACKAGES}; \\
    rm -rf "$sp/tensorflow/include"; \\
    find "$sp" -depth -type d -name tests -exec rm -rf {{}} +; \\
    find "$sp" -type f \\( -name '*.h' -o -name '*.hpp' \\) -delete; \\
    find "$sp/tensorflow" "$sp/llvmlite" -type f -name '*.so*' -exec strip --strip-unneeded {{}} +
"""

# librosa's pYIN runs numba-compiled code. numba caches it only where the running user may
# write (not beside librosa's sources in the image, and a container's home is gone with it),
# so every in-image prepare, check and transfer compiled it again: about 45 s of each run on
# 2 cores. Compiled once here, by the same call prepare makes (features.f0_pyin's arguments),
# into NUMBA_CACHE_DIR inside /opt/venv, which the image keeps; the folder is writable by any
# user (containers run as the host user's uid, which numba's cache check insists on).
# bench/first_step.py measures prepare in the image against the host.
NUMBA_CACHE_DIR = "/opt/venv/numba-cache"
WARM_STEP = f"""RUN NUMBA_CACHE_DIR={NUMBA_CACHE_DIR} /opt/venv/bin/python -W ignore -c "import numpy as np, librosa; \\
librosa.pyin(np.zeros(8192, np.float32), fmin=40.0, fmax=2100.0, sr=16000, frame_length=1024, hop_length=256, \\
center=False, resolution=0.25, fill_na=None)" \\
 && chmod -R a+rwX {NUMBA_CACHE_DIR}
"""

# Public images with Python 3.11 on Debian 12 (the distribution the lock was made on).
# TensorFlow 2.19's Linux wheel finds NVIDIA GPUs through the CUDA wheels above plus the
# driver that the NVIDIA container runtime mounts, so the GPU image needs no CUDA base.
DEFAULT_BASE_IMAGE = "python:3.11-slim-bookworm"

# The build context: only these paths (relative to the project root) are ever sent.
CONTEXT_ALLOW = ("ddsp_launch", GPU_LOCK, CPU_LOCK)
CONTEXT_EXCLUDE_GLOBS = ("**/__pycache__", "**/*.pyc", "**/*.pyo")


@dataclass(frozen=True)
class Variant:
    name: str  # "gpu" | "cpu"
    dockerfile_name: str
    lock_files: tuple[str, ...]
    extra_env: tuple[tuple[str, str], ...] = ()

    @property
    def title(self) -> str:
        return "GPU (NVIDIA, CUDA 12 wheels)" if self.name == "gpu" else "CPU"


# The images install no system packages: soundfile's wheel bundles libsndfile, which decodes
# every format prepare accepts (common/audio.py: wav, flac, ogg, mp3) without ffmpeg.
VARIANTS = {
    "gpu": Variant("gpu", "Dockerfile", (GPU_LOCK,), (("TF_FORCE_GPU_ALLOW_GROWTH", "true"),)),
    "cpu": Variant("cpu", "Dockerfile.cpu", (CPU_LOCK,)),
}

USER_STEP = "useradd --create-home --uid 1000 --user-group --shell /usr/sbin/nologin ddsp"


def variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown image variant {name!r}: choose one of {', '.join(VARIANTS)}") from None


def render(variant_name: str, base_image: str = DEFAULT_BASE_IMAGE) -> str:
    """The Dockerfile text for a variant. The base image is the build argument's default."""
    v = variant(variant_name)
    in_image = [f"/tmp/build/{Path(f).name}" for f in v.lock_files]
    return TEMPLATE.read_text().format(
        variant=v.name,
        variant_title=v.title,
        variant_flag="" if v.name == "gpu" else " --cpu",
        dockerfile_name=v.dockerfile_name,
        base_image=base_image,
        lock_files=" ".join(v.lock_files),
        pip_version=PIP_VERSION,
        pip_requirements=" ".join(f"-r {p}" for p in in_image),
        system_step=f"RUN {USER_STEP}",
        slim_step=SLIM_STEP + WARM_STEP,
        extra_env="".join(f" \\\n    {k}={val}" for k, val in (("NUMBA_CACHE_DIR", NUMBA_CACHE_DIR), *v.extra_env)),
    )


def render_dockerignore() -> str:
    lines = [
        "# Generated by ddsp_launch/image/dockerfile.py (CONTEXT_ALLOW): an allow-list, so data,",
        "# virtualenvs, outputs and .git never reach the Docker daemon.",
        "*",
        *(f"!{p}" for p in CONTEXT_ALLOW),
        "!build-ca.pem",
        *CONTEXT_EXCLUDE_GLOBS,
    ]
    return "\n".join(lines) + "\n"


def committed_files() -> dict[str, str]:
    """What the project root holds, path -> text, for the default renderings."""
    files = {v.dockerfile_name: render(v.name) for v in VARIANTS.values()}
    files[".dockerignore"] = render_dockerignore()
    return files


def write_committed_files(root: Path = PROJECT_ROOT) -> list[Path]:
    written = []
    for name, text in committed_files().items():
        (root / name).write_text(text)
        written.append(root / name)
    return written
