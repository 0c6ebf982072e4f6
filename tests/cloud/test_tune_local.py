"""`ddsp-launch tune --local`: a real two-trial sweep, metrics read back from cloudml-hypertune."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ddsp_launch

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

STUDY = """\
studySpec:
  metrics: [{metricId: Loss, goal: MINIMIZE}]
  parameters:
    - parameterId: learning_rate
      discreteValueSpec: {values: [1e-3, 3e-4]}
  algorithm: GRID_SEARCH
maxTrialCount: 2
"""


def test_two_real_trials_with_a_results_table(small_dataset, tmp_path):
    config = tmp_path / "study.yaml"
    config.write_text(STUDY)
    out = tmp_path / "sweep"
    proc = ddsp_launch("tune", "--local", str(small_dataset), str(out), "--study", str(config), "--parallel", "2",
                       "--batch-size", "2", "--num-steps", "4", "--steps-per-summary", "2", "--steps-per-save", "4",
                       timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((out / "results.json").read_text())
    assert [r["params"] for r in results] == [{"learning_rate": 1e-3}, {"learning_rate": 3e-4}]
    for r in results:
        assert r["exit_code"] == 0 and r["step"] == 4 and r["metric"] > 0
        assert (out / f"trial-{r['trial']}" / "ckpt-4.index").exists()
        lines = (out / f"trial-{r['trial']}" / "hypertune" / "output.metrics").read_text().splitlines()
        assert json.loads(lines[-1])["trial"] == str(r["trial"])
    best = min(results, key=lambda r: r["metric"])
    assert [r["trial"] for r in results if r["best"]] == [best["trial"]]
    table = proc.stdout
    assert "trial" in table and "learning_rate" in table and "Loss" in table
    assert f"{best['metric']:.4f}" in table.split("<- best")[0].splitlines()[-1]
    assert (out / "results.csv").read_text().count("\n") == 3

    other = config.read_text().replace("3e-4", "1e-4")
    config.write_text(other)
    clash = ddsp_launch("tune", "--local", str(small_dataset), str(out), "--study", str(config), "--num-steps", "4")
    assert clash.returncode == 2 and "holds a different sweep" in clash.stderr


def test_bad_study_is_refused_before_training(small_dataset, tmp_path):
    config = tmp_path / "study.yaml"
    config.write_text(STUDY.replace("learning_rate", "dropout_rate"))
    proc = ddsp_launch("tune", "--local", str(small_dataset), str(tmp_path / "sweep"), "--study", str(config))
    assert proc.returncode == 2 and "'dropout_rate' is not a trainer flag" in proc.stderr
    assert not (tmp_path / "sweep").exists()
    proc = ddsp_launch("tune", str(small_dataset), str(tmp_path / "sweep"), "--study", str(config))
    assert proc.returncode == 2 and "add --local" in proc.stderr
