"""The one rule for which files make a model (download, the web page's zip, transfer, export)."""

from __future__ import annotations

import pytest

from ddsp_launch.common import model_files
from ddsp_launch.common.errors import InputError


def checkpoint(step: int, shards: int = 1, present: int | None = None, folder: str = "") -> list[str]:
    return [f"{folder}ckpt-{step}.index"] + [f"{folder}ckpt-{step}.data-{k:05d}-of-{shards:05d}" for k in range(present or shards)]


def test_the_newest_complete_checkpoint_with_the_newest_config_and_the_statistics():
    names = [*checkpoint(100), *checkpoint(200, shards=2), *checkpoint(300, shards=2, present=1),  # 300: still uploading
             "operative_config-0.gin", "operative_config-100.gin", "dataset_statistics.pkl", "summaries/train/events.out"]
    model = model_files.newest(names)
    assert model.step == 200 and model.checkpoint == "ckpt-200"
    assert model.names == ["ckpt-200.index", "ckpt-200.data-00000-of-00002", "ckpt-200.data-00001-of-00002",
                           "operative_config-100.gin", "dataset_statistics.pkl"]


def test_vertex_ai_layout_under_a_bucket_prefix():
    base = "runs/m1/"
    names = [*checkpoint(40, folder=base + "checkpoints/"), base + "checkpoints/operative_config-0.gin",
             base + "dataset_statistics.pkl", "runs/m1-other/ckpt-90.index"]
    model = model_files.newest(names, base)
    assert (model.folder, model.step, model.checkpoint) == (base + "checkpoints/", 40, base + "checkpoints/ckpt-40")
    assert model.statistics == base + "dataset_statistics.pkl"


def test_no_model_and_a_model_without_its_config():
    assert model_files.newest(["operative_config-0.gin", "ckpt-5.index"]) is None  # no data shard
    assert model_files.newest([]) is None
    with pytest.raises(InputError, match=r"^/runs/x holds no operative_config-\*\.gin beside checkpoint ckpt-5"):
        model_files.newest(checkpoint(5), label="/runs/x")
    model = model_files.newest([*checkpoint(5), "operative_config-0.gin"])
    assert model.statistics is None and model.names[-1] == "operative_config-0.gin"


@pytest.mark.parametrize("name, step", [("ckpt-300.index", 300), ("ckpt-0.index", 0), ("ckpt-3.index.tmp", None),
                                        ("ckpt-3.data-00000-of-00001", None), ("xckpt-3.index", None)])
def test_step_of(name, step):
    assert model_files.step_of(name) == step


def test_transfer_and_export_read_a_downloaded_vertex_folder_as_it_is(tmp_path):
    from ddsp_launch.trainer.transfer import ModelFolder

    for name in [*checkpoint(4, folder="checkpoints/"), *checkpoint(8, shards=2, present=1, folder="checkpoints/"),
                 "checkpoints/operative_config-0.gin", "dataset_statistics.pkl"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"a.b = 1\n" if name.endswith(".gin") else b"x")  # the config is checked as gin
    found = ModelFolder.find(tmp_path)
    assert found.checkpoint == str(tmp_path / "checkpoints" / "ckpt-4")
    assert (found.operative_config, found.statistics) == (tmp_path / "checkpoints/operative_config-0.gin", tmp_path / "dataset_statistics.pkl")
    (tmp_path / "checkpoints/ckpt-4.data-00000-of-00001").unlink()
    with pytest.raises(InputError, match="holds no complete checkpoint"):
        ModelFolder.find(tmp_path)


def test_the_safe_statistics_are_preferred_to_ddsps_pickle(tmp_path):
    """dataset_statistics.json wherever it is (beside the checkpoint or the run), over a .pkl anywhere."""
    base = [*checkpoint(40, folder="checkpoints/"), "checkpoints/operative_config-0.gin"]
    assert model_files.newest([*base, "checkpoints/dataset_statistics.pkl", "dataset_statistics.json"]).statistics == "dataset_statistics.json"
    assert model_files.newest([*base, "dataset_statistics.pkl"]).statistics == "dataset_statistics.pkl"
    assert model_files.statistics_in(tmp_path) is None
    (tmp_path / "dataset_statistics.pkl").write_bytes(b"x")
    assert model_files.statistics_in(tmp_path) == tmp_path / "dataset_statistics.pkl"
    (tmp_path / "dataset_statistics.json").write_text("{}")
    assert model_files.statistics_in(tmp_path) == tmp_path / "dataset_statistics.json"
