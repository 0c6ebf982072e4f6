"""The launch preview's arithmetic against hand-computed cases, --max-cost refusing a launch and
setting the job's timeout (through the real CLI and the local Vertex AI server), the run record
keeping the estimate, and `jobs status` showing the time and the cost so far."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ddsp_launch.cloud import prices
from ddsp_launch.common.errors import InputError
from ddsp_launch.spec import Machine, VertexTarget
from tests.cloud.test_cli_cloud import BASE, bucket, creates  # noqa: F401 (bucket: a fixture)
from tests.conftest import ddsp_launch

TABLE = prices.Table(
    date="2026-01-01", source="hand-made for the test", origin="test",
    regions={"us-central1": {"machines": {"n1-standard-8": [0.40, 0.10]}, "accelerators": {"NVIDIA_TESLA_T4": [0.50, 0.20]}},
             "europe-west4": {"machines": {"n1-standard-8": [0.44, None]}, "accelerators": {}}},
    speeds={"NVIDIA_TESLA_T4": {"steps_per_sec": 2.0, "batch_size": 16, "source": "test"},
            "cpu": {"steps_per_sec": 0.5, "batch_size": 4, "source": "test"}},
)
T4 = Machine("n1-standard-8", "NVIDIA_TESLA_T4", 1)


def target(**kw) -> VertexTarget:
    return VertexTarget(**{"project": "p", "region": "us-central1", "primary": T4, **kw})


def test_one_t4_machine_on_demand_and_spot():
    est = prices.estimate(target(), num_steps=36000, batch_size=16, table=TABLE)
    # 36000 steps / 2 steps/s = 18000 s = 5 h; (0.40 + 0.50) $/h x 5 h = $4.50
    assert est.hourly == pytest.approx(0.90) and est.hours == pytest.approx(5.0) and est.total == pytest.approx(4.50)
    spot = prices.estimate(target(spot=True), 36000, 16, TABLE)
    # spot: (0.10 + 0.20) x 5 = $1.50, bounded by the on-demand $4.50
    assert spot.total == pytest.approx(1.50) and spot.bound == pytest.approx(4.50)
    text = "\n".join(spot.lines())
    assert "5 h 00 min for 36000 steps (estimate)" in text and "$1.50 spot, at most $4.50 on demand" in text
    assert "$0.90/h on demand, $0.30/h spot" in text and "price table 2026-01-01" in text


def test_batch_size_workers_and_a_missing_price():
    # batch 32 takes twice as long per step: 1 step/s; 3600 steps = 1 h; chief + 2 workers = 3 x $0.90
    est = prices.estimate(target(workers=2), 3600, 32, TABLE)
    assert est.steps_per_sec == pytest.approx(1.0) and est.total == pytest.approx(2.70)
    assert "plus 2 x n1-standard-8 + 1 x NVIDIA_TESLA_T4" in est.machines
    cpu = prices.estimate(target(primary=Machine("n1-standard-8")), 1800, 8, TABLE)  # 0.25 steps/s: 2 h x $0.40
    assert cpu.total == pytest.approx(0.80)
    nowhere = prices.estimate(target(region="europe-west4"), 3600, 16, TABLE)  # no T4 price there
    assert nowhere.hourly is None and nowhere.total is None and "unknown" in "\n".join(nowhere.lines())
    spot_unknown = prices.estimate(target(region="europe-west4", primary=Machine("n1-standard-8"), spot=True), 3600, 4, TABLE)
    assert spot_unknown.total is None and spot_unknown.bound == pytest.approx(0.88)  # 2 h x $0.44


def test_max_cost_refuses_over_the_estimate_and_else_sets_the_timeout():
    est = prices.estimate(target(), 36000, 16, TABLE)  # $4.50 in 5 h at $0.90/h
    with pytest.raises(InputError, match=r"--max-cost 4: the estimate is \$4.50") as refused:
        prices.cap(est, 4.0, None)
    assert "--num-steps" in refused.value.fix
    # $9 at $0.90/h is 10 h; 95% of it: 34200 s
    assert prices.cap(est, 9.0, None) == "34200s"
    assert prices.cap(est, 9.0, "7200s") == "7200s"  # a shorter --timeout-hours stays
    spot = prices.estimate(target(spot=True), 36000, 16, TABLE)  # spot $1.50, but the cap is checked on demand
    with pytest.raises(InputError):
        prices.cap(spot, 4.0, None)
    unknown_speed = prices.estimate(target(primary=Machine("n1-standard-8", "NVIDIA_TESLA_T4", 1)), 100, 16,
                                    prices.Table("d", "s", TABLE.regions, {}, origin="no speeds"))
    assert prices.cap(unknown_speed, 9.0, None) == "34200s"  # the timeout alone keeps it under
    with pytest.raises(InputError, match="no price"):
        prices.cap(prices.estimate(target(region="europe-west4"), 100, 16, TABLE), 9.0, None)
    with pytest.raises(InputError, match="positive"):
        prices.cap(est, 0.0, None)


def test_a_price_table_from_a_file(tmp_path, monkeypatch):
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"date": "2027-01-01", "source": "my invoice", "regions": TABLE.regions, "speeds": TABLE.speeds}))
    monkeypatch.setenv(prices.TABLE_ENV, str(path))
    loaded = prices.load()
    assert loaded.date == "2027-01-01" and loaded.origin == str(path)
    assert prices.estimate(target(), 36000, 16).total == pytest.approx(4.50)
    path.write_text(json.dumps({"date": "x", "source": "y", "regions": {"r": {"machines": {"m": [-1, None]}}}}))
    with pytest.raises(InputError, match="not valid"):
        prices.load()


def test_jobs_status_cost_so_far_from_the_job_itself():
    job = {"name": "projects/p/locations/us-central1/customJobs/1", "startTime": "2026-01-01T10:00:00Z",
           "jobSpec": {"workerPoolSpecs": [
               {"machineSpec": {"machineType": "n1-standard-8", "acceleratorType": "NVIDIA_TESLA_T4", "acceleratorCount": 1},
                "replicaCount": "1"}]}}
    lines = prices.job_so_far(job, "2026-01-01T12:30:00Z", TABLE)  # 2.5 h x $0.90
    assert lines == ["elapsed:  2 h 30 min", "cost:     $2.25 (estimate: $0.90/h, price table 2026-01-01)"]
    ended = prices.job_so_far(job | {"endTime": "2026-01-01T11:00:00Z"}, "2026-01-02T00:00:00Z", TABLE)
    assert ended[1].startswith("cost:     $0.90")
    assert prices.job_so_far({"name": job["name"]}, "2026-01-01T12:00:00Z", TABLE) == ["elapsed:  not started (nothing billed yet)"]


def test_submit_with_max_cost(fake_gcp, bucket, tmp_path):  # noqa: F811
    table = tmp_path / "prices.json"
    table.write_text(json.dumps({"date": "2026-01-01", "source": "test", "regions": TABLE.regions, "speeds": TABLE.speeds}))
    env = {prices.TABLE_ENV: str(table)}
    refused = ddsp_launch("submit", *BASE, "--num-steps", "36000", "--batch-size", "16", "--max-cost", "4", env=env)
    assert refused.returncode == 2 and "the estimate is $4.50" in refused.stderr
    assert creates(fake_gcp) == []
    ok = ddsp_launch("submit", *BASE, "--num-steps", "36000", "--batch-size", "16", "--max-cost", "9", env=env, check=True)
    assert "cost:          $4.50 on demand (estimate" in ok.stdout + ok.stderr
    assert "the job stops after 34200s" in ok.stdout + ok.stderr
    [body] = creates(fake_gcp)
    assert body["jobSpec"]["scheduling"]["timeout"] == "34200s"
    out = ok.stdout + ok.stderr
    record = json.loads(Path(out.split("run record: ")[1].split()[0]).read_text())
    assert record["estimate"]["usd"] == pytest.approx(4.5) and record["estimate"]["hours"] == pytest.approx(5.0)
    assert record["settings"]["max_cost"] == 9.0
    job_id = ok.stdout.split("submitted: ")[1].split()[0].rsplit("/", 1)[1]
    status = ddsp_launch("jobs", "status", job_id, "--project", "my-proj", env=env, check=True).stdout
    assert "elapsed:" in status and "cost:" in status and "$0.90/h" in status


def test_the_built_in_table_times_gpu_runs_from_a_published_figure():
    """A T4 at batch 16: 30,000 steps at 3.33 steps/s (Train_VST.ipynb's ~2.5 h) = 2 h 30 min, $0.84/h."""
    est = prices.estimate(target(), 30000, 16, prices.load())
    assert est.steps_per_sec == pytest.approx(3.33) and "Train_VST.ipynb" in est.speed_source
    assert est.hours == pytest.approx(30000 / 3.33 / 3600)
    assert est.total == pytest.approx(est.hours * (0.436998 + 0.4025))
    assert "time:          2 h 30 min for 30000 steps (estimate)" in est.lines()
