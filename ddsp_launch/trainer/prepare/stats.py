"""The dataset statistics file that timbre transfer needs.

Computed with ddsp's own ``postprocessing.compute_dataset_statistics`` (what ddsp's
train_autoencoder colab runs and pickles as ``dataset_statistics.pkl``): loudness and
pitch means/ranges, mean loudness and pitch of detected notes, and the loudness quantile
transform. It holds every example in memory, so it reads at most ``max_examples``.
"""

from __future__ import annotations

import pickle
from pathlib import Path

from ddsp_launch.trainer.prepare.features import FRAME_RATE, HOP
from ddsp_launch.trainer.prepare.records import STATISTICS


def compute_statistics(folder: Path, example_secs: float, max_examples: int = 1000) -> dict:
    from ddsp_launch.trainer.ddsp_compat import import_ddsp  # noqa: PLC0415

    ddsp = import_ddsp()
    data = ddsp.training.data

    class CappedProvider(data.TFRecordProvider):
        def get_dataset(self, shuffle=True):
            # compute_dataset_statistics frames audio with 'center' padding (n/hop + 1
            # frames) but our features use ddsp's default 'same' padding (n/hop): one hop
            # less audio makes the power frames line up with the loudness frames.
            def trim(ex):
                return {**ex, "audio_16k": ex["audio_16k"][:-HOP]}

            return super().get_dataset(shuffle=False).take(max_examples).map(trim)

        def get_batch(self, batch_size, shuffle=True, repeats=-1, drop_remainder=True):
            # Keep the last, smaller batch: small datasets have fewer than batch_size examples.
            return super().get_batch(batch_size, shuffle=False, repeats=repeats, drop_remainder=False)

    provider = CappedProvider(str(folder / "train.tfrecord*"), example_secs=int(example_secs))
    # The colab's save_dataset_statistics passes power_frame_size=256 but leaves
    # power_frame_rate at 50, which fails in 3.7.0 (the note mask has 250 frames/s);
    # ddsp_export passes the model's frame rate, as here.
    return ddsp.training.postprocessing.compute_dataset_statistics(
        provider, batch_size=16, power_frame_size=256, power_frame_rate=FRAME_RATE)


def write_statistics(folder: Path, example_secs: float, max_examples: int = 1000) -> Path:
    stats = compute_statistics(folder, example_secs, max_examples)
    path = folder / STATISTICS
    with open(path, "wb") as f:
        pickle.dump(stats, f)
    return path
