"""The picture of a timbre transfer: input and output side by side, each a spectrogram
with its f0 drawn over it and its loudness below (container side: matplotlib, no screen).
Only the first ``seconds`` are drawn, so a long input makes a readable, small picture."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ddsp_launch.common import destinations
from ddsp_launch.trainer.prepare import features

PLOT_SECONDS = 30.0


def analyse(audio: np.ndarray) -> dict[str, np.ndarray]:
    f0, confidence = features.f0_pyin(audio)
    return {"audio": audio, "f0_hz": f0, "f0_confidence": confidence, "loudness_db": features.loudness_db(audio)}


def draw(source: dict, result: dict, out: Path, titles: tuple[str, str]) -> None:
    """Write a PNG to ``out`` (through ``out.part``): spectrograms + f0 on top, loudness below."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(2, 2, figsize=(14, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for col, (data, title) in enumerate(zip((source, result), titles)):
        spec, loud = axes[0][col], axes[1][col]
        spec.specgram(data["audio"], NFFT=1024, Fs=features.SAMPLE_RATE, noverlap=768, cmap="magma", vmin=-120)
        t = np.arange(len(data["f0_hz"])) / (features.SAMPLE_RATE / features.HOP)
        voiced = np.where(data["f0_confidence"] > 0.5, data["f0_hz"], np.nan)
        spec.plot(t, voiced, color="cyan", linewidth=1.2, label="f0 (pYIN, confident frames)")
        spec.set_ylim(0, 4000)
        spec.set_ylabel("Hz")
        spec.set_title(title)
        spec.legend(loc="upper right", fontsize=8)
        loud.plot(t, data["loudness_db"], color="tab:orange")
        loud.set_ylim(-features.DB_RANGE, 5)
        loud.set_ylabel("loudness dB")
        loud.set_xlabel("seconds")
    fig.tight_layout()
    tmp = out.with_name(out.name + ".part")
    fig.savefig(str(tmp), dpi=80, format="png", metadata={"Software": f"{destinations.MARK} transfer"})
    plt.close(fig)
    os.replace(tmp, out)
