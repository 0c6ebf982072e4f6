"""The interactive launcher in a real terminal: a process run, a Docker run, a Vertex AI submission."""

from __future__ import annotations

import json
import os
import shlex
import signal
import urllib.request

import pytest

from ddsp_launch.launch import settings as st
from tests.conftest import BASE_IMAGE, ddsp_launch
from tests.launch.conftest import DOWN, ENTER, Terminal

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
SMALL = {"Batch size": "2", "Learning rate": "0.001", "Num steps": "4", "Steps per save": "2", "Steps per summary": "2"}


def answer_hyperparameters(term: Terminal, values: dict[str, str] = SMALL) -> None:
    term.enter("Model:")  # a select: Enter keeps the default, solo_instrument
    for prompt in ("Batch size", "Learning rate", "Num steps", "Steps per save", "Steps per summary"):
        term.type(prompt, values[prompt])
    term.enter("Early stop loss value")
    # the held-out evaluation's two questions (defaults kept), asked where they apply
    while term.child.expect(["Eval every", "Early stop patience", "Seed"]) != 2:
        term.child.send(ENTER)
    term.child.send(ENTER)  # Seed: the default
    term.enter("Extra gin files")
    term.enter("Gin bindings")


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback
        return json.loads(resp.read())


@pytest.fixture(scope="module")
def process_run(small_dataset, tmp_path_factory):
    """An interactive process run: the answers typed, a wrong path re-asked, then run."""
    root = tmp_path_factory.mktemp("interactive")
    env = {"DDSP_LAUNCH_HOME": str(root / "home")}
    term = Terminal(env=env, timeout=120)
    term.pick("Where should the model train", 2)  # this machine, without Docker
    term.pick("GPU or CPU", 2)
    term.type("Your audio or prepared dataset", str(root / "nope"))
    term.expect("does not exist")  # re-asked with the reason
    term.child.send("\x15" + str(small_dataset) + ENTER)
    term.type("Where should checkpoints go", str(root / "run"))
    answer_hyperparameters(term)
    term.expect("Same run without questions:")
    term.expect(r"ddsp-launch train --yes [^\r\n]+")
    command = term.child.after.strip()
    term.pick("Next", 1)  # run it now
    code = term.finish(timeout=900)
    records = list((root / "home" / "runs").glob("*.json"))
    yield root, env, term, code, command, records
    for board in (root / "home" / "tensorboard").glob("*.json"):  # stop the TensorBoard this run started
        try:
            os.kill(json.loads(board.read_text())["pid"], signal.SIGTERM)
        except OSError:
            pass


def test_the_run_trains_and_leaves_a_record(process_run):
    root, env, term, code, command, records = process_run
    assert code == 0, term.text[-3000:]
    assert (root / "run" / "ckpt-4.index").exists()
    (path,) = records
    rec = json.loads(path.read_text())
    assert rec["state"] == "succeeded" and rec["exit_code"] == 0 and rec["runtime"] == "process"
    assert rec["settings"]["batch_size"] == 2 and rec["settings"]["num_steps"] == 4
    assert rec["data_fingerprint"].startswith("sha256:") and rec["git_commit"]
    assert (root / "run" / "ddsp-launch-run.json").exists()
    assert "TensorBoard:  http://127.0.0.1:" in term.text


def test_the_printed_command_reproduces_the_run(process_run, tmp_path):
    root, env, term, code, command, records = process_run
    out = tmp_path / "same.yaml"
    ddsp_launch(*shlex.split(command)[1:], "--save-config", str(out), env=env, check=True)
    rec = json.loads(records[0].read_text())
    again = st.read_config(out)
    for key, value in again.items():
        expected = rec["settings"][key]
        assert (tuple(expected) if isinstance(expected, list) else expected) == value, key
    assert set(again) >= {"target", "device", "data", "output", "batch_size", "learning_rate", "num_steps"}


def test_tensorboard_serves_the_run_and_is_reused(process_run):
    root, env, term, code, command, records = process_run
    rec = json.loads(records[0].read_text())
    url = rec["tensorboard"]["url"]
    runs = get_json(url + "data/runs")
    assert "train" in runs
    tags = get_json(url + "data/plugin/scalars/tags")
    assert "losses/total_loss" in tags["train"] and "learning_rate" in tags["train"]
    again = ddsp_launch("tensorboard", rec["id"], env=env, check=True)
    assert f"TensorBoard: {url}  (already running" in again.stdout


def test_rerun_round_trips_the_record(process_run):
    root, env, term, code, command, records = process_run
    first = json.loads(records[0].read_text())
    proc = ddsp_launch("rerun", first["id"], env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "already running" in proc.stderr  # the same TensorBoard, not a second one
    newest = sorted((root / "home" / "runs").glob("*.json"))[-1]
    second = json.loads(newest.read_text())
    assert second["id"] != first["id"] and second["settings"] == first["settings"] and second["state"] == "succeeded"
    listed = ddsp_launch("runs", env=env, check=True).stdout
    assert first["id"] in listed and second["id"] in listed


@pytest.mark.docker
def test_a_docker_run_through_the_prompts(cpu_image, small_dataset, tmp_path):
    env = {"DDSP_LAUNCH_HOME": str(tmp_path / "home"), "DDSP_LAUNCH_IMAGE": cpu_image, "DDSP_LAUNCH_BASE_IMAGE": BASE_IMAGE,
           "DDSP_LAUNCH_TENSORBOARD": "false"}
    term = Terminal(env=env, timeout=120)
    term.pick("Where should the model train", 1)  # in Docker
    term.pick("GPU or CPU", 2)
    term.type("Your audio or prepared dataset", str(small_dataset))
    term.type("Where should checkpoints go", str(tmp_path / "run"))
    answer_hyperparameters(term)
    term.pick("Next", 1)
    assert term.finish(timeout=900) == 0, term.text[-3000:]
    assert "runtime: docker" in term.text and (tmp_path / "run" / "ckpt-4.index").exists()
    (rec,) = [json.loads(p.read_text()) for p in (tmp_path / "home" / "runs").glob("*.json")]
    assert rec["runtime"] == "docker" and rec["image"] == cpu_image and rec["image_id"].startswith("sha256:")


def test_a_vertex_submission_through_the_prompts(fake_gcp, gcs_emulator, tmp_path):
    from ddsp_launch.common import gcs

    client = gcs.make_client()
    if not client.bucket("ddsp-prompts").exists():
        client.create_bucket("ddsp-prompts")
    image = "us-central1-docker.pkg.dev/my-proj/ddsp/trainer@sha256:" + "d" * 64
    env = {"DDSP_LAUNCH_HOME": str(tmp_path / "home"), "DDSP_LAUNCH_VERTEX_ENDPOINT": fake_gcp.url,
           "DDSP_LAUNCH_LOGGING_ENDPOINT": fake_gcp.url, "STORAGE_EMULATOR_HOST": gcs_emulator,
           "DDSP_LAUNCH_TENSORBOARD": "false", "GOOGLE_CLOUD_PROJECT": ""}
    term = Terminal(env=env, timeout=60)
    term.pick("Where should the model train", 3)  # Vertex AI
    term.type("Your audio or prepared dataset", "data/no-such-dataset")
    term.expect("does not exist")  # data here would be uploaded, as the flags and the page do: it must exist
    term.child.send("\x15gs://ddsp-prompts/violin" + ENTER)
    term.type("Where should checkpoints go", "gs://ddsp-prompts/runs/violin")
    term.type("Google Cloud project", "My Project")
    term.expect("6-30 lowercase letters")
    term.child.send("\x15my-proj" + ENTER)
    term.enter("Region")  # us-central1
    term.expect("Machine type")
    term.child.send(DOWN + ENTER)  # the next machine type down the list
    term.enter("GPUs")
    term.type("Additional workers", "1")
    term.expect("Use spot VMs")
    term.child.send("y")
    term.type("Pushed training image", image)
    answer_hyperparameters(term, {**SMALL, "Num steps": "30000"})
    term.expect("cost +Vertex AI: 2 x n1-standard-16 with NVIDIA_TESLA_T4:1, spot")
    term.pick("Next", 1)
    assert term.finish(timeout=120) == 0, term.text[-3000:]
    (body,) = [b for v, p, b in fake_gcp.requests if v == "POST" and p.endswith("/customJobs")]
    pools = body["jobSpec"]["workerPoolSpecs"]
    assert [p["replicaCount"] for p in pools] == ["1", "1"]
    assert pools[0]["machineSpec"] == {"machineType": "n1-standard-16", "acceleratorType": "NVIDIA_TESLA_T4", "acceleratorCount": 1}
    assert body["jobSpec"]["scheduling"]["strategy"] == "SPOT" and pools[0]["containerSpec"]["imageUri"] == image
    (rec,) = [json.loads(p.read_text()) for p in (tmp_path / "home" / "runs").glob("*.json")]
    assert rec["state"] == "submitted" and rec["job"].startswith("projects/my-proj/locations/us-central1/customJobs/")
    assert rec["console"].startswith("https://console.cloud.google.com/vertex-ai/")
    beside = client.bucket("ddsp-prompts").blob("runs/violin/ddsp-launch-run.json").download_as_bytes()
    assert json.loads(beside)["job"] == rec["job"]


def test_last_answers_are_the_next_defaults_and_ctrl_c_cancels(process_run, small_dataset):
    root, env, term, code, command, records = process_run
    before = len(list((root / "home" / "runs").glob("*.json")))
    again = Terminal(env=env, timeout=60)
    again.pick("Where should the model train", 2)
    again.pick("GPU or CPU", 2)
    again.expect("Your audio or prepared dataset")
    again.expect(str(small_dataset))  # last time's answer, offered as the default
    again.child.sendintr()
    assert again.finish(timeout=30) == 130
    assert "cancelled; nothing was started" in again.text
    assert len(list((root / "home" / "runs").glob("*.json"))) == before  # nothing started, nothing recorded
