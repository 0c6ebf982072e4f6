"""One run specification behind every door: `train`, `run`, `submit` and `tune` take the same
settings with the same precedence, and the prompts, the flags and the web page follow one rule
for which data a target takes (data on this machine for Vertex AI: prepared and uploaded)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ddsp_launch.common import tfrecord
from ddsp_launch.common.errors import InputError, LaunchError
from ddsp_launch.launch import launcher, prompts, resolve
from ddsp_launch.web.policy import Policy
from ddsp_launch.web.service import run_from_form
from tests.conftest import ROOT, ddsp_launch

IMAGE = "us-central1-docker.pkg.dev/my-proj/ddsp/trainer@sha256:" + "f" * 64
STUDY = str(ROOT / "configs" / "hypertune.yaml")  # tunes learning_rate and batch_size


@pytest.fixture
def tree(tmp_path) -> Path:
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "train.tfrecord-00000-of-00001").write_bytes(tfrecord.frame(b"\x0a\x00"))
    (tmp_path / "takes").mkdir()
    (tmp_path / "takes" / "take1.wav").write_bytes(b"RIFF....WAVE")
    (tmp_path / "notes.txt").write_text("not a dataset\n")
    return tmp_path


def doors(tree: Path) -> dict[str, list[str]]:
    """Each command that trains, given the same data, as a dry run."""
    ds = str(tree / "ds")
    return {
        "train": ["train", "--yes", "--target", "process", "--data", ds, "--output", str(tree / "out"), "--dry-run"],
        "run": ["run", ds, str(tree / "out"), "--runtime", "process", "--dry-run"],
        "submit": ["submit", ds, "gs://ddsp-doors/runs/v1", "--image", IMAGE, "--project", "my-proj", "--dry-run"],
        "tune": ["tune", "--local", ds, str(tree / "sweep"), "--study", STUDY, "--trials", "1", "--dry-run"],
    }


def trainer_flags(stdout: str) -> dict[str, str]:
    """The trainer's --name=value flags in what a dry run printed (a command line or a request)."""
    return dict(re.findall(r"--([a-z_]+)=([^\s'\",]+)", stdout))


@pytest.mark.parametrize("door", ["train", "run", "submit", "tune"])
def test_the_environment_and_a_config_file_change_every_door_alike(tree, door):
    args = doors(tree)[door]
    env = {"DDSP_LAUNCH_NUM_STEPS": "77", "DDSP_LAUNCH_EARLY_STOP_LOSS_VALUE": "0.5"}
    flags = trainer_flags(ddsp_launch(*args, env=env, check=True).stdout)
    assert (flags["num_steps"], flags["early_stop_loss_value"]) == ("77", "0.5"), door
    config = tree / "settings.yaml"
    config.write_text("num_steps: 55\nsteps_per_save: 11\n")  # the file over the environment, the flags over both
    flags = trainer_flags(ddsp_launch(*args, "--config", str(config), env=env, check=True).stdout)
    assert (flags["num_steps"], flags["steps_per_save"], flags["early_stop_loss_value"]) == ("55", "11", "0.5"), door
    flags = trainer_flags(ddsp_launch(*args, "--config", str(config), "--num-steps", "33", env=env, check=True).stdout)
    assert flags["num_steps"] == "33", door


def test_the_same_settings_file_is_read_by_every_door(tree):
    """What `train --save-config` writes, `run`, `submit` and `tune` read (their own flags aside)."""
    saved = tree / "saved.yaml"
    ddsp_launch(*doors(tree)["train"][:-1], "--batch-size", "5", "--learning-rate", "0.002", "--save-config", str(saved),
                check=True)
    for door, args in doors(tree).items():
        flags = trainer_flags(ddsp_launch(*args, "--config", str(saved), check=True).stdout)
        assert flags["num_steps"] == "30000" and flags.get("batch_size") in ("5", "8", "16", "32"), door
        if door != "tune":  # the study tunes batch size and learning rate
            assert (flags["batch_size"], flags["learning_rate"]) == ("5", "0.002"), door


# ---- Vertex AI with data on this machine: one rule for the prompts, the flags and the page ----------
CASES = {  # data, prepare_to -> accepted (the job reads OUTPUT/dataset), or the refusal's words
    "a prepared dataset": ("ds", None, None),
    "audio, prepared first": ("takes", "takes-dataset", None),
    "audio with nowhere to prepare it": ("takes", None, "--prepare-to"),
    "a file": ("notes.txt", None, "a cloud run uploads a dataset folder"),
    "nothing": ("nowhere", None, "no data at"),
    "gs://": ("gs://ddsp-doors/violin", None, None),
}


def _by_flags(tree: Path, data: str, prepare_to: str | None) -> launcher.Checked:
    flags = {"target": "vertex", "data": data, "output": "gs://ddsp-doors/runs/v1", "prepare_to": prepare_to,
             "project": "my-proj", "image": IMAGE}
    return launcher.check(resolve.settings(flags, None, {}))


def _by_page(tree: Path, data: str, prepare_to: str | None) -> launcher.Checked:
    form = {"target": "vertex", "data": data, "output": "gs://ddsp-doors/runs/v1", "prepare_to": prepare_to}
    return run_from_form(form, None, Policy((tree,), {"project": "my-proj", "image": IMAGE}))


def _by_prompts(tree: Path, data: str, prepare_to: str | None) -> None:
    """The answers the interactive launcher takes, checked as they are typed."""
    if prompts.check_data("vertex", data) and prepare_to is None:
        raise InputError(f"{data} holds audio, not a prepared dataset", "the prompts ask where to --prepare-to it")
    prompts.check_output("vertex", "gs://ddsp-doors/runs/v1")


def _verdict(how, tree: Path, data: str, prepare_to: str | None):
    data = data if data.startswith("gs://") else str(tree / data)
    try:
        run = how(tree, data, prepare_to and str(tree / prepare_to))
    except LaunchError as exc:
        return "refused", str(exc)
    return "accepted", run.plan.file_pattern if run is not None else None


@pytest.mark.parametrize("case", CASES)
def test_prompts_flags_and_page_agree_on_vertex_with_local_data(tree, case):
    data, prepare_to, refusal = CASES[case]
    flags, page, asked = (_verdict(how, tree, data, prepare_to) for how in (_by_flags, _by_page, _by_prompts))
    assert flags[0] == page[0] == asked[0] == ("refused" if refusal else "accepted"), (flags, page, asked)
    if refusal:
        assert refusal in flags[1] and refusal in page[1] and refusal in asked[1]
        assert flags[1] == page[1]  # the same check, the same message
    elif data.startswith("gs://"):
        assert flags[1] == page[1] == "gs://ddsp-doors/violin/train.tfrecord*"
    else:  # prepared here (audio), then uploaded: the job reads the uploaded copy
        assert flags[1] == page[1] == "gs://ddsp-doors/runs/v1/dataset/train.tfrecord*"


def test_the_dry_run_says_the_local_dataset_is_uploaded_first(tree):
    proc = ddsp_launch(*doors(tree)["submit"], check=True)
    assert f"would upload the dataset {tree / 'ds'} to gs://ddsp-doors/runs/v1/dataset first" in proc.stderr
    body = json.loads(proc.stdout.split("\n", 1)[1].split("\n# equivalent gcloud command:")[0])
    args = body["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["args"]
    assert args[0] == "--file_pattern=gs://ddsp-doors/runs/v1/dataset/train.tfrecord*"
