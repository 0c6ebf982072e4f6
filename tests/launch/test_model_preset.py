"""The model preset as a run setting (spec.TrainingParams.model): every door's flag and the
environment pass it to the trainer, a dataset prepared for another preset is refused before
anything starts, the prompts and the page offer it ("for the DDSP-VST plugin"), and the run page's
plugin download is refused, with the reason, for a run that cannot give one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ddsp_launch.common import presets, tfrecord
from ddsp_launch.common.errors import InputError
from ddsp_launch.launch import settings as st
from ddsp_launch.spec import TrainingParams
from tests.conftest import ddsp_launch
from tests.launch.test_doors import doors, trainer_flags


def _prepared(tree: Path, preset: str | None) -> None:
    if preset:
        (tree / "ds" / "manifest.json").write_text(json.dumps({"format": "ddsp-launch/dataset", "parameters": {"preset": preset}}))


@pytest.fixture
def tree(tmp_path) -> Path:
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "train.tfrecord-00000-of-00001").write_bytes(tfrecord.frame(b"\x0a\x00"))
    return tmp_path


@pytest.mark.parametrize("door", ["train", "run", "submit", "tune"])
def test_every_door_passes_the_model_to_the_trainer(tree, door):
    _prepared(tree, "vst")
    args = doors(tree)[door]
    assert trainer_flags(ddsp_launch(*args, "--model", "vst", check=True).stdout)["model"] == "vst", door
    assert trainer_flags(ddsp_launch(*args, env={"DDSP_LAUNCH_MODEL": "vst"}, check=True).stdout)["model"] == "vst", door


@pytest.mark.parametrize("door", ["train", "run", "submit"])
def test_a_dataset_prepared_for_another_model_is_refused_before_anything_starts(tree, door):
    _prepared(tree, "solo_instrument")
    proc = ddsp_launch(*doors(tree)[door], "--model", "vst")
    assert proc.returncode == 2, proc.stderr
    assert "was prepared for --model solo_instrument (250 frames/s), not for --model vst" in proc.stderr
    assert "ddsp-launch prepare IN OUT --model vst" in proc.stderr and not (tree / "out").exists()


def test_an_unknown_model_is_refused_naming_the_choices(tree):
    proc = ddsp_launch(*doors(tree)["train"], "--model", "vst48k")
    assert proc.returncode == 2 and "--model 'vst48k' is not one of solo_instrument, vst" in proc.stderr
    assert "vst: for the DDSP-VST plugin" in proc.stderr


def test_the_setting_names_its_choices_for_prompts_and_pages():
    field = st.BY_NAME["model"] if hasattr(st, "BY_NAME") else next(f for f in st.FIELDS if f.name == "model")
    assert field.default == presets.DEFAULT and dict(field.choices)["vst"].startswith("for the DDSP-VST plugin")
    assert "model" not in TrainingParams.numeric()  # a study never tunes it
    with pytest.raises(InputError, match="not one of"):
        TrainingParams.check_value("model", "other")
