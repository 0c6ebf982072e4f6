"""Held-out evaluation (issue 21), with real ddsp training on the example violin: eval.jsonl and
eval/ summaries at each checkpoint, the best checkpoint kept through rotation and taken by the
tools by default, early stopping on a plateau (learning rate 0) and not before, a model folder
that needs no --statistics, and metrics that agree with ddsp's own code on the same batch."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ddsp_launch
from tests.trainer.test_training import ckpt_steps, ok, task

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]
EVAL = ["--batch_size", "2", "--log_every", "1", "--steps_per_save", "2", "--steps_per_summary", "2",
        "--checkpoints_to_keep", "1", "--eval_examples", "2", "--audio_summaries=false", "--early_stop_patience", "2",
        "--hypertune", "--hypertune_metric", "EvalLoss"]


@pytest.fixture(scope="module")
def held_out_dataset(example_audio, tmp_path_factory) -> Path:
    """scales.wav prepared with an eval split (one 20 s chunk of three) and statistics."""
    out = tmp_path_factory.mktemp("heldout") / "ds"
    subprocess.run([sys.executable, "-m", "ddsp_launch.trainer.prepare", "--quiet", "--eval-fraction", "0.2",
                    str(example_audio / "scales.wav"), str(out)], check=True, capture_output=True)
    assert list(out.glob("eval.tfrecord*")) and (out / "dataset_statistics.json").is_file()
    return out


@pytest.fixture(scope="module")
def plateau(held_out_dataset, tmp_path_factory):
    """Steps 0 -> 4 learning (evaluations at 2 and 4), then resumed with a learning rate of 0:
    the held-out loss stays put, so --early_stop_patience 2 stops it at step 8 (of 20)."""
    run = tmp_path_factory.mktemp("eval") / "run"
    metrics = run.parent / "hypertune.metrics"
    common = ["--save_dir", run, "--file_pattern", held_out_dataset / "train.tfrecord*", *EVAL]
    env = {"CLOUD_ML_HP_METRIC_FILE": str(metrics)}
    learning = ok(task(*common, "--num_steps", "4", env=env))
    learning.metrics = metrics.read_text()
    flat = ok(task(*common, "--num_steps", "20", "--gin_param", "learning_rate = 0.0", env=env))
    flat.metrics = metrics.read_text()
    return run, learning, flat


def eval_log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "eval.jsonl").read_text().splitlines()]


def test_each_checkpoint_is_evaluated_into_eval_jsonl_summaries_and_the_log(plateau):
    import tensorflow as tf

    run, learning, flat = plateau
    entries = eval_log(run)
    assert [e["step"] for e in entries] == [2, 4, 6, 8]
    for e in entries:
        assert e["examples"] == 2
        assert all(isinstance(e[k], float) and math.isfinite(e[k]) for k in ("spectral_loss", "f0_cents", "loudness_db")), e
        assert 0 < e["spectral_loss"] < 100 and 0 <= e["f0_cents"] < 1200 and 0 <= e["loudness_db"] < 80
    scalars = {}
    for events in (run / "summaries" / "train").glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            for v in event.summary.value:
                if v.tag.startswith("eval/"):
                    scalars[(v.tag, event.step)] = float(tf.make_ndarray(v.tensor))
    for e in entries:
        for name in ("spectral_loss", "f0_cents", "loudness_db"):
            assert scalars[(f"eval/{name}", e["step"])] == pytest.approx(e[name], rel=1e-5)
    assert re.search(r"^eval at step 2: spectral_loss [\d.]+  f0 [\d.]+ cents", learning.stdout, re.M)
    assert "eval at step 8:" in flat.stdout


def test_early_stop_on_a_held_out_plateau_and_not_before(plateau):
    run, learning, flat = plateau
    entries = {e["step"]: e["spectral_loss"] for e in eval_log(run)}
    assert entries[4] < entries[2]  # learning: no stop
    assert "finished at step 4" in learning.stdout and "early stop" not in learning.stdout
    assert entries[6] == entries[4] == entries[8]  # learning rate 0: the same weights score the same
    assert re.search(r"early stop: the held-out spectral loss has not improved for 2 evaluations "
                     r"\(--early_stop_patience 2; best [\d.]+ at step 4\) at step 8", flat.stdout), flat.stdout[-2000:]
    assert "step 9/" not in flat.stdout
    reports = [json.loads(line) for line in flat.metrics.splitlines()]  # --hypertune_metric EvalLoss: the held-out loss
    assert [int(r["global_step"]) for r in reports] == [6, 8]
    assert [float(r["EvalLoss"]) for r in reports] == pytest.approx([entries[6], entries[8]], rel=1e-5)
    assert reports[-1]["stop_reason"].startswith("early stop: the held-out spectral loss has not improved")
    assert [int(json.loads(line)["global_step"]) for line in learning.metrics.splitlines()] == [2, 4]
    end = json.loads((run / "run_end.json").read_text())  # what the launcher puts in the run record
    assert end["step"] == 8 and end["best_step"] == 4 and end["exit_code"] == 0
    assert end["reason"].startswith("early stop: the held-out spectral loss has not improved for 2 evaluations")


def test_the_best_checkpoint_survives_rotation_and_the_tools_take_it(plateau, example_audio, tmp_path):
    run, _, _ = plateau
    assert ckpt_steps(run) == [8]  # --checkpoints_to_keep 1: step 4 rotated out of the folder ...
    best = json.loads((run / "best.json").read_text())
    assert best["step"] == 4 and best["checkpoint"] == "best/ckpt-4"
    assert best["metrics"]["spectral_loss"] == pytest.approx(eval_log(run)[1]["spectral_loss"], rel=1e-5)
    from ddsp_launch.trainer.checkpoints import is_loadable

    assert is_loadable(str(run / "best" / "ckpt-4")) is None  # ... but kept, whole, as the best
    # transfer: the best by default (choose's other answers: test_download_and_the_web_zip...); no --statistics
    # (the trainer copied them); a step that is not there is refused before anything loads
    melody = example_audio / "ode_to_joy.wav"
    default = ddsp_launch("transfer", str(run), str(melody), "-o", str(tmp_path / "best.wav"), timeout=600)
    assert default.returncode == 0, default.stderr[-2000:]
    assert f"model {run}/best/ckpt-4" in default.stdout
    missing = ddsp_launch("transfer", str(run), str(melody), "-o", str(tmp_path / "x.wav"), "--checkpoint", "6", timeout=300)
    assert missing.returncode == 2 and "holds no complete checkpoint ckpt-6" in missing.stderr
    # export: the best by default
    exported = ddsp_launch("export", str(run), "-o", str(tmp_path / "export"), timeout=900)
    assert exported.returncode == 0, exported.stderr[-2000:]
    assert f"exported {run}/best/ckpt-4" in exported.stdout
    assert json.loads((tmp_path / "export" / "ddsp-model.json").read_text())["checkpoint"] == "ckpt-4"


def test_the_model_folder_is_self_contained(plateau, held_out_dataset):
    run, _, _ = plateau
    assert (run / "dataset_statistics.json").read_bytes() == (held_out_dataset / "dataset_statistics.json").read_bytes()
    info = json.loads((run / "model.json").read_text())
    assert info["model"] == "solo_instrument" and info["frame_rate"] == 250


def test_download_and_the_web_zip_choose_the_best_by_default():
    """One rule (common/model_files.choose) for buckets, local folders and the web page's zip."""
    from ddsp_launch.common import model_files

    names = ["run/ckpt-8.index", "run/ckpt-8.data-00000-of-00001", "run/operative_config-4.gin", "run/dataset_statistics.json",
             "run/best/ckpt-4.index", "run/best/ckpt-4.data-00000-of-00001", "run/best.json"]
    chosen = model_files.choose(names, "run/")
    assert chosen.checkpoint == "run/best/ckpt-4" and chosen.statistics == "run/dataset_statistics.json"
    assert chosen.operative_config == "run/operative_config-4.gin"
    assert model_files.choose(names, "run/", which="newest").checkpoint == "run/ckpt-8"
    assert model_files.choose(names, "run/", which=4).checkpoint == "run/best/ckpt-4"
    assert model_files.choose(names[:4], "run/").checkpoint == "run/ckpt-8"  # no best: the newest
    assert model_files.choose(names[:4], "run/", which="best") is None
    half = [n for n in names if n != "run/best/ckpt-4.data-00000-of-00001"]  # a best cut short is passed over
    assert model_files.choose(half, "run/").checkpoint == "run/ckpt-8"


def test_the_metrics_agree_with_ddsps_own_code_on_the_same_batch(plateau):
    """The trainer's numbers on one held-out batch against ddsp 3.7.0's: the model's losses as the
    model computes them in training, F0LdEvaluator's loudness metric, and the f0 error recomputed
    from its definition (mean |cents| on frames where the example's own pitch is confident)."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import numpy as np
    import tensorflow as tf

    from ddsp_launch.trainer import evaluation
    from ddsp_launch.trainer.ddsp_compat import import_ddsp
    from ddsp_launch.trainer.model_folder import ModelFolder
    from ddsp_launch.trainer.transfer import load_model

    run, _, _ = plateau
    ddsp = import_ddsp()
    model, _, _ = load_model(ModelFolder.find(run), ddsp)
    data = json.loads((run / "model.json").read_text())["file_pattern"].rsplit("/", 1)[0]
    ours = evaluation.Evaluator(model, f"{data}/eval.tfrecord*", 2, 2, "solo_instrument", seed=0)
    [batch] = list(ours.dataset)
    result = ours.run()

    tf.random.set_seed(0)  # the same noise as the evaluator's
    outputs, losses = model(dict(batch), return_losses=True, training=True)
    assert result["spectral_loss"] == pytest.approx(float(losses["spectral_loss"]), rel=1e-4)
    assert result["total_loss"] == pytest.approx(float(losses["total_loss"]), rel=1e-4)

    audio_gen = model.get_audio_from_outputs(outputs)
    evaluator = ddsp.training.evaluators.F0LdEvaluator(16000, 250, run_f0_crepe=False)
    evaluator.evaluate(dict(batch), {"audio_gen": audio_gen}, losses)
    assert result["loudness_db"] == pytest.approx(float(evaluator._loudness_metrics.metrics["loudness_db"].result()), rel=1e-4)

    cents = []
    for i in range(2):
        gt, conf = batch["f0_hz"][i].numpy(), batch["f0_confidence"][i].numpy()
        gen, _ = ours.estimate(audio_gen[i].numpy(), ours.preset)
        voiced = conf >= 0.85
        cents.append(np.mean(np.abs(1200 * np.log2(gen[voiced] / gt[voiced]))))
    assert result["f0_outlier_ratio"] == 0.0
    assert result["f0_cents"] == pytest.approx(float(np.mean(cents)), rel=1e-3)


def test_runs_show_and_the_run_page_show_the_eval_curve_and_the_best(plateau, tmp_path, monkeypatch):
    """A run record whose output is the trained folder: `runs show` adds its evaluations and best
    checkpoint (JSON on stdout, a table on stderr); the web page's status carries the eval curve,
    and its model zip holds the best checkpoint."""
    run, _, _ = plateau
    home = tmp_path / "home"
    env = {"DDSP_LAUNCH_HOME": str(home)}
    record = {"id": "20261208-000000-process-abcd", "target": "process", "state": "finished", "output": str(run),
              "settings": {"num_steps": 20}}
    (home / "runs").mkdir(parents=True, mode=0o700)
    home.chmod(0o700)
    (home / "runs" / f"{record['id']}.json").write_text(json.dumps(record))
    (home / "runs" / f"{record['id']}.json").chmod(0o600)
    shown = ddsp_launch("runs", "show", record["id"], env=env)
    assert shown.returncode == 0, shown.stderr
    evaluations = json.loads(shown.stdout)["evaluations"]
    assert [e["step"] for e in evaluations["eval_log"]] == [2, 4, 6, 8] and evaluations["best"]["step"] == 4
    table = [line for line in shown.stderr.splitlines() if line.strip()[:1].isdigit()]
    assert len(table) == 4 and table[1].rstrip().endswith("<- best") and "<- best" not in table[0] + table[2] + table[3]
    assert f"best checkpoint: step 4 ({run}/best/ckpt-4)" in shown.stderr

    from ddsp_launch.web import service

    page = service.held_out(str(run))
    assert [s for s, _ in page["evals"]] == [2, 4, 6, 8] and page["best_step"] == 4
    assert service.held_out(str(tmp_path)) == {"evals": [], "best_step": None}
    monkeypatch.setenv("DDSP_LAUNCH_HOME", str(home))
    (tmp_path / "ws").mkdir()
    status = service.Service(tmp_path / "ws").status(record["id"])
    assert status["best_step"] == 4 and [s for s, _ in status["evals"]] == [2, 4, 6, 8]
    import zipfile

    with zipfile.ZipFile(service.Service(tmp_path / "ws").model_zip(record["id"])) as z:
        names = sorted(n.split("/", 1)[1] for n in z.namelist())
    assert names == ["ckpt-4.data-00000-of-00001", "ckpt-4.index", "dataset_statistics.json", "operative_config-4.gin"]


def test_the_quality_bench_runs_on_a_tiny_budget(held_out_dataset, tmp_path):
    """bench/quality.py (the 15-minute figures) end to end, on two steps: it prints each evaluation and the best step."""
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, str(root / "bench" / "quality.py"), "--dataset", str(held_out_dataset),
                           "--save-dir", str(tmp_path / "run"), "--max-steps", "2", "--eval-every", "2", "--eval-examples", "1",
                           "--batch-size", "1", "--minutes", "10"], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert re.search(r"eval at step 2: spectral_loss [\d.]+  f0 [\d.]+ cents", proc.stdout), proc.stdout
    assert re.search(r"^best step: 2 \(held-out spectral loss [\d.]+, f0 [\d.]+ cents, loudness [\d.]+ dB; best/ckpt-2\)$",
                     proc.stdout, re.M), proc.stdout
