"""Real DDSP training on prepared audio: checkpoints, summaries, resume, hypertune,
SIGTERM, corrupt checkpoints, gs:// outputs, two workers, and a falling loss."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Lines

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
FAST = ["--batch_size", "2", "--log_every", "1"]


def task(*args, env=None, timeout=600) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "ddsp_launch.trainer.task", *map(str, args)],
                          capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout)
    return proc


def ok(proc):
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def losses(stdout: str) -> list[float]:
    return [float(m) for m in re.findall(r"^step \d+/\d+  total_loss ([\d.]+)", stdout, re.M)]


def summary_tags(folder: Path) -> set[str]:
    import tensorflow as tf

    tags = set()
    for events in folder.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            tags.update(v.tag for v in event.summary.value)
    return tags


def ckpt_steps(folder: Path) -> list[int]:
    return sorted(int(p.name[5:-6]) for p in folder.glob("ckpt-*.index"))


@pytest.fixture(scope="module")
def trained(small_dataset, tmp_path_factory):
    """Two runs into one folder: 0 -> 6 steps, then resumed to 9."""
    run = tmp_path_factory.mktemp("train") / "run"
    metrics = run.parent / "hypertune.metrics"
    pattern = str(small_dataset / "train.tfrecord*")
    common = ["--save_dir", run, "--file_pattern", pattern, *FAST, "--steps_per_summary", "3", "--steps_per_save", "3",
              "--hypertune", "--checkpoints_to_keep", "5"]
    env = {"CLOUD_ML_HP_METRIC_FILE": str(metrics), "CLOUD_ML_TRIAL_ID": "7"}
    first = ok(task(*common, "--num_steps", "6", env=env))
    first.metrics = metrics.read_text()  # cloudml-hypertune rewrites the file in each process
    second = ok(task(*common, "--num_steps", "9", "--audio_summaries=false", env=env))
    second.metrics = metrics.read_text()
    return run, metrics, first, second, pattern


def test_checkpoints_operative_config_and_summaries_exist(trained):
    run, _, first, _, _ = trained
    assert ckpt_steps(run) == [3, 6, 9]
    assert (run / "operative_config-0.gin").exists() and (run / "operative_config-6.gin").exists()
    operative = (run / "operative_config-0.gin").read_text()
    assert "RnnFcDecoder.rnn_channels = 512" in operative and "\nlearning_rate = 0.0003\n" in operative
    tags = summary_tags(run / "summaries" / "train")
    assert {"losses/total_loss", "losses/spectral_loss", "steps_per_sec", "learning_rate",
            "audio/original", "audio/reconstruction"} <= tags
    assert "trial 7" in first.stdout
    # no eval split in this dataset: evaluation is off, and the log says how to turn it on (issue 21)
    assert "evaluation is off: no eval split beside the training data" in first.stdout
    assert "ddsp-launch prepare AUDIO DATASET --eval-fraction 0.1" in first.stdout
    assert not (run / "eval.jsonl").exists() and not (run / "best").exists()


def test_second_run_resumes_at_the_saved_step(trained):
    _, _, _, second, _ = trained
    assert re.search(r"resumed from .*ckpt-6 at step 6", second.stdout)
    assert "step 7/9" in second.stdout and "step 1/9" not in second.stdout


def test_hypertune_metrics_hold_the_tag_with_finite_values(trained):
    _, _, first, second, _ = trained
    for run, steps in ((first, [3, 6]), (second, [9])):  # each summary, and the end (once)
        lines = [json.loads(line) for line in run.metrics.splitlines()]
        assert [int(x["global_step"]) for x in lines] == steps
        assert all(0 < float(x["Loss"]) < 1000 for x in lines)
        assert all(x["trial"] == "7" for x in lines)


def test_truncated_newest_checkpoint_is_skipped(trained, tmp_path):
    run, *_, pattern = trained
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    data = copy / "ckpt-9.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    proc = ok(task("--save_dir", copy, "--file_pattern", pattern, *FAST, "--num_steps", "7", "--audio_summaries=false"))
    assert "ckpt-9 is incomplete or corrupt" in proc.stderr
    assert re.search(r"resumed from .*ckpt-6 at step 6", proc.stdout)


def test_sigterm_stops_after_the_current_step_with_a_loadable_checkpoint_and_exit_143(small_dataset, tmp_path):
    """SIGTERM (spot preemption, docker stop) while step 3 runs: the run stops after that step,
    not at the next save 500 steps on, saves a checkpoint that loads, and exits 143."""
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ddsp_launch.trainer.task", "--save_dir", str(run), "--file_pattern",
         str(small_dataset / "train.tfrecord*"), *FAST, "--num_steps", "1000", "--steps_per_save", "500",
         "--audio_summaries=false"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    lines = Lines(proc.stdout)
    lines.until("step 2/", timeout=300)
    proc.send_signal(signal.SIGTERM)
    rest = lines.rest(timeout=120)
    proc.wait(timeout=60)
    assert proc.returncode == 143, rest
    steps = ckpt_steps(run)
    assert steps in ([2], [3]), (steps, rest)  # the step in flight when the signal came, at most
    assert f"stopped by SIGTERM at step {steps[-1]}" in rest
    from ddsp_launch.trainer.checkpoints import is_loadable

    assert is_loadable(str(run / f"ckpt-{steps[-1]}")) is None


def test_the_same_seed_trains_the_same_model(small_dataset, tmp_path):
    """--seed (default 0; every run record holds it): the same seed, data and settings give
    the same losses step by step, another seed other ones. So the tests below are deterministic."""
    def three_steps(name: str, seed: int) -> list[float]:
        return losses(ok(task("--save_dir", tmp_path / name, "--file_pattern", small_dataset / "train.tfrecord*", *FAST,
                              "--num_steps", "3", "--seed", seed, "--audio_summaries=false")).stdout)

    first, again, other = three_steps("a", 7), three_steps("b", 7), three_steps("c", 8)
    assert len(first) == 3 and first == again, (first, again)
    assert other != first


def test_loss_falls_over_a_short_run(small_dataset, tmp_path):
    """Seeded (the trainer's default seed, 0, given explicitly): the same 24 steps every time."""
    proc = ok(task("--save_dir", tmp_path / "run", "--file_pattern", small_dataset / "train.tfrecord*",
                   "--batch_size", "4", "--log_every", "1", "--num_steps", "24", "--learning_rate", "0.001",
                   "--seed", "0", "--audio_summaries=false"))
    values = losses(proc.stdout)
    assert len(values) == 24
    first, last = sum(values[:6]) / 6, sum(values[-6:]) / 6
    assert last < first * 0.9, values


def test_a_nan_loss_stops_the_run_with_exit_1_before_it_is_checkpointed(small_dataset, tmp_path):
    """README: a NaN loss stops the run (exit 1) without checkpointing it. A learning rate of
    1e30 throws the weights out in Adam's first update: step 1 is finite, step 2 is not."""
    run = tmp_path / "run"
    proc = task("--save_dir", run, "--file_pattern", small_dataset / "train.tfrecord*", *FAST, "--num_steps", "10",
                "--steps_per_save", "1", "--learning_rate", "1e30", "--audio_summaries=false")
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    match = re.search(r"the loss became nan at step (\d+); lower --learning_rate", proc.stderr)
    assert match, proc.stderr[-2000:]
    bad = int(match.group(1))
    assert ckpt_steps(run) == list(range(1, bad))  # every step before it, not the step that went wrong
    assert f"The last good checkpoint (step {bad - 1}) is kept" in proc.stderr
    from ddsp_launch.trainer.checkpoints import is_loadable

    assert is_loadable(str(run / f"ckpt-{bad - 1}")) is None


def test_early_stop_on_the_windowed_loss_keeps_the_newest_checkpoints_and_fills_the_model_dir(small_dataset, tmp_path):
    """README: --early_stop_loss_value stops when the mean loss over --early_stop_window steps
    reaches it (never on fewer steps than the window); --checkpoints_to_keep prunes local
    checkpoints; AIP_MODEL_DIR receives a copy of the final checkpoint and operative config."""
    run, model = tmp_path / "run", tmp_path / "model"
    proc = ok(task("--save_dir", run, "--file_pattern", small_dataset / "train.tfrecord*", *FAST, "--num_steps", "50",
                   "--steps_per_save", "1", "--steps_per_summary", "100", "--checkpoints_to_keep", "2",
                   "--early_stop_loss_value", "1000", "--early_stop_window", "3", "--audio_summaries=false",
                   env={"AIP_MODEL_DIR": str(model)}))
    assert all(v < 1000 for v in losses(proc.stdout))  # below the value from step 1: only the window holds it back
    assert len(losses(proc.stdout)) == 3 and "step 4/" not in proc.stdout
    assert re.search(r"early stop: mean loss over 3 steps [\d.]+ <= 1000.0 at step 3", proc.stdout), proc.stdout[-2000:]
    assert ckpt_steps(run) == [2, 3]  # step 1 pruned
    assert sorted(p.name for p in model.iterdir()) == ["ckpt-3.data-00000-of-00001", "ckpt-3.index", "model.json", "operative_config-0.gin"]
    assert (model / "ckpt-3.index").read_bytes() == (run / "ckpt-3.index").read_bytes()


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_two_workers_train_together_and_only_the_chief_writes(small_dataset, tmp_path):
    chief_port, worker_port = free_ports(2)
    cluster = {"chief": [f"127.0.0.1:{chief_port}"], "worker": [f"127.0.0.1:{worker_port}"]}
    procs = {}
    for role in ("chief", "worker"):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": role, "index": 0}})}
        procs[role] = subprocess.Popen(
            [sys.executable, "-m", "ddsp_launch.trainer.task", "--save_dir", str(tmp_path / role), "--file_pattern",
             str(small_dataset / "train.tfrecord*"), *FAST, "--num_steps", "4", "--steps_per_save", "2",
             "--steps_per_summary", "2", "--audio_summaries=false"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
    out = {role: p.communicate(timeout=600) for role, p in procs.items()}
    for role, p in procs.items():
        assert p.returncode == 0, out[role][1][-3000:]
    assert losses(out["chief"][0]) == losses(out["worker"][0])  # one model, in sync
    assert ckpt_steps(tmp_path / "chief") == [2, 4]
    assert list((tmp_path / "worker").rglob("*")) == []
