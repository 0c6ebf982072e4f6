#!/usr/bin/env python3
"""Training stall per checkpoint save with a gs:// output: background upload vs synchronous.

Builds the real ddsp solo_instrument model (a ~58 MB checkpoint with its Adam state),
then alternates training steps and saves through the trainer's Saver into a gs://
destination served by a local gcp-storage-emulator. "Stall" is the time the training
loop spends inside the save call. Synchronous = save, then wait for the upload before
the next step (what writing straight to gs:// costs); async = ddsp-launch's default.

    python bench/checkpoint_upload.py [--saves 5] [--steps-between 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


from common import with_emulator  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--saves", type=int, default=5)
    parser.add_argument("--steps-between", type=int, default=3)
    parser.add_argument("--dataset", type=Path, help="prepared dataset (default: prepare scales.wav)")
    with_emulator(run, parser.parse_args())


def run(args) -> None:
    from ddsp_launch.common import gcs
    from ddsp_launch.trainer import checkpoints, loop
    from ddsp_launch.trainer.ddsp_compat import import_ddsp
    from ddsp_launch.trainer.outputs import OutputDir, Uploader
    from ddsp_launch.trainer.task import TaskConfig

    from common import example_dataset

    tmp = Path(tempfile.mkdtemp(prefix="bench-ckpt-"))
    dataset = args.dataset or example_dataset(tmp / "ds", "scales.wav")
    ddsp = import_ddsp()
    import gin
    import tensorflow as tf

    config = TaskConfig(save_dir=None, restore_dir=None, file_pattern=str(dataset / "train.tfrecord*"), batch_size=2)
    loop.parse_gin(config, config.file_pattern, tmp / "none")
    strategy = tf.distribute.MirroredStrategy()
    with strategy.scope():
        model = ddsp.training.models.get_model()
        trainer = ddsp.training.trainers.get_trainer_class()(model, strategy)
    provider = gin.query_parameter("train.data_provider").scoped_configurable_fn()
    it = iter(trainer.distribute_dataset(loop.input_pipeline(provider, 2, 1, 1)))
    trainer.build(next(it))
    gcs.make_client().create_bucket("bench")

    results = {}
    for mode in ("synchronous", "async"):
        uploader = Uploader()
        folder = OutputDir(f"gs://bench/{mode}", uploader, tmp / mode)
        saver = checkpoints.Saver(trainer.get_checkpoint(), folder, keep=3)
        stalls, step_times = [], []
        for _ in range(args.saves):
            for _ in range(args.steps_between):
                t0 = time.perf_counter()
                trainer.train_step(it)
                step_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            saver.save(int(trainer.step.numpy()))
            if mode == "synchronous":
                uploader.flush()
            stalls.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        uploader.close()
        drain = time.perf_counter() - t0
        assert not uploader.errors, uploader.errors
        size = sum(p.stat().st_size for p in folder.local.glob("ckpt-*")) / 3 / 1e6
        results[mode] = statistics.median(stalls)
        print(f"{mode:12s} stall per save: median {results[mode]:.3f} s, max {max(stalls):.3f} s "
              f"({args.saves} saves of ~{size:.0f} MB; step {statistics.median(step_times):.2f} s; "
              f"uploads still pending at the end: {drain:.2f} s)")
    print(f"async / synchronous stall: {results['async'] / results['synchronous']:.3f} "
          f"({results['synchronous'] / results['async']:.1f}x less stall)")
    print(f"goal <= 0.3 s per save: {'met' if results['async'] <= 0.3 else 'NOT met'} ({results['async']:.3f} s); "
          "the original design lost 4.3-4.6 s per save")


if __name__ == "__main__":
    main()
