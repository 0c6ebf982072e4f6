"""Bucket object names are never trusted as local paths (issue 15).

An object named ``PREFIX//home/user/.bashrc``, ``PREFIX/../x`` or ``/x`` must not be written
outside the folder it is downloaded into. The rule is ``gcs.local_paths``; here it is
checked alone (a table and a property) and through every path that downloads objects: the
`download` command, TensorBoard's log sync, prepare's gs:// input, the trainer's data
staging, operative-config and checkpoint fetch, against the real GCS emulator holding
such names (tests/cloud/gcs_emulator.py keeps them as Cloud Storage does).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ddsp_launch.common import gcs
from ddsp_launch.common.errors import InputError
from tests.conftest import ddsp_launch


# ---- the rule, alone ---------------------------------------------------------------------
@pytest.mark.parametrize("name, problem", [
    ("p//home/user/.bashrc", "a leading '/'"),
    ("p/../x", "an empty, '.' or '..' part"),
    ("p/a/../../x", "an empty, '.' or '..' part"),
    ("p/./x", "an empty, '.' or '..' part"),
    ("p/a//b", "an empty, '.' or '..' part"),
    ("p/a/", "an empty, '.' or '..' part"),
    ("p/..", "an empty, '.' or '..' part"),
    ("p/", "an empty, '.' or '..' part"),
    ("p/a\\..\\x", "a backslash or NUL"),
    ("p/a\0b", "a backslash or NUL"),
    ("//x", "a leading '/'"),  # not below p/: the whole name is checked
    ("q/../x", "an empty, '.' or '..' part"),
])
def test_unsafe_names_are_refused_and_named(tmp_path, name, problem):
    with pytest.raises(InputError) as err:
        gcs.local_paths("b", ["p/ok.txt", name], "p/", tmp_path / "dest")
    assert f"gs://b/{name} ({problem})" in err.value.message
    assert "gs://b/p/ok.txt" not in err.value.message and "refusing 1 object(s)" in err.value.message
    assert "rename or delete those objects" in err.value.fix


def test_leading_slash_at_the_bucket_root(tmp_path):
    with pytest.raises(InputError, match=r"gs://b//etc/passwd \(a leading '/'\)"):
        gcs.local_paths("b", ["/etc/passwd"], "", tmp_path)


def test_safe_names_map_below_the_prefix_and_others_beside_them(tmp_path):
    dest = tmp_path / "dest"
    names = ["runs/m/checkpoints/ckpt-1.index", "runs/m/checkpoints/sub/a b.wav", "runs/m/dataset_statistics.pkl"]
    assert gcs.local_paths("b", names, "runs/m/checkpoints/", dest) == [
        dest / "ckpt-1.index", dest / "sub" / "a b.wav", dest / "dataset_statistics.pkl"]


def test_a_symlink_in_the_destination_does_not_lead_outside(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(InputError, match=r"gs://b/p/link/x \(a path outside"):
        gcs.local_paths("b", ["p/link/x"], "p/", dest)


@settings(max_examples=400, deadline=None)
@given(base=st.sampled_from(["", "p/", "p/q/"]),
       names=st.lists(st.text(alphabet="ab./\\\0", max_size=12), min_size=1, max_size=4),
       below=st.booleans())
def test_no_name_resolves_outside_the_destination(base, names, below):
    dest = Path("/tmp/ddsp-names-property/dest")  # need not exist: the rule writes nothing
    names = [base + n if below else n for n in names]
    try:
        targets = gcs.local_paths("b", names, base, dest)
    except InputError:
        return
    for target in targets:
        assert dest.resolve() in target.resolve().parents


# ---- through the real paths, on the emulator -----------------------------------------------
@pytest.fixture
def bucket(gcs_emulator):
    """A fresh bucket."""
    return gcs.make_client().create_bucket("names-" + secrets.token_hex(6))


def plant(bucket, names: list[str], data: bytes = b"attacker's bytes") -> None:
    """Upload objects under these exact names and check the emulator kept them as given."""
    for name in names:
        bucket.blob(name).upload_from_string(data)
    listed = {b.name for b in bucket.client.list_blobs(bucket.name)}
    assert set(names) <= listed, f"the emulator renamed some of {names}: {sorted(listed)}"
    for name in names:
        assert bucket.blob(name).download_as_bytes() == data


def attack_names(prefix: str, outside: Path) -> tuple[list[str], list[Path]]:
    """Object names below ``prefix`` that a naive ``dest / name[len(prefix):]`` writes outside ``dest``
    (which is ``outside``/a/dest), and where: an absolute path after '//', and '..' parts."""
    names = [f"{prefix}/{outside}/abs-escape.txt", f"{prefix}/../../dotdot-escape.txt"]
    return names, [outside / "abs-escape.txt", outside / "dotdot-escape.txt"]


@pytest.mark.parametrize("everything", [False, True], ids=["folder", "all"])
def test_download_refuses_names_leading_outside(bucket, tmp_path, everything):
    names, escapes = attack_names("runs/evil", tmp_path)
    plant(bucket, ["runs/evil/good.txt", *names])
    dest = tmp_path / "a" / "dest"
    proc = ddsp_launch("download", f"gs://{bucket.name}/runs/evil", str(dest), *(["--all"] if everything else []))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"gs://{bucket.name}/runs/evil/{tmp_path}/abs-escape.txt (a leading '/')" in proc.stderr
    assert f"gs://{bucket.name}/runs/evil/../../dotdot-escape.txt (an empty, '.' or '..' part)" in proc.stderr
    assert "Traceback" not in proc.stderr
    for escape in escapes:
        assert not escape.exists()
    assert not dest.exists()  # checked before anything is written, the good object too


def test_download_of_a_bucket_root_refuses_a_leading_slash(bucket, tmp_path):
    plant(bucket, ["good.txt", f"{tmp_path}/root-escape.txt"])
    proc = ddsp_launch("download", f"gs://{bucket.name}", str(tmp_path / "dest"))
    assert proc.returncode == 2 and f"gs://{bucket.name}/{tmp_path}/root-escape.txt (a leading '/')" in proc.stderr
    assert not (tmp_path / "root-escape.txt").exists() and not (tmp_path / "dest").exists()


def test_model_download_refuses_a_shard_named_outside(bucket, tmp_path):
    """The model rule picks ckpt-N.data-* by prefix: a shard name with '..' after it is still refused."""
    shard = "runs/m/ckpt-5.data-/../../../shard-escape-of-00001"
    plant(bucket, ["runs/m/ckpt-5.index", shard, "runs/m/operative_config-5.gin"])
    dest = tmp_path / "a" / "dest"
    proc = ddsp_launch("download", f"gs://{bucket.name}/runs/m", str(dest))
    assert proc.returncode == 2 and f"gs://{bucket.name}/{shard}" in proc.stderr, proc.stdout + proc.stderr
    assert not (tmp_path / "shard-escape-of-00001").exists() and not dest.exists()


def test_tensorboard_sync_refuses_and_stops(bucket, tmp_path, monkeypatch):
    """The background refresher `tensorboard.start` runs for gs:// logs (the same command line)."""
    from ddsp_launch.adapters import tensorboard

    monkeypatch.setenv("DDSP_LAUNCH_HOME", str(tmp_path / "home"))
    source = f"gs://{bucket.name}/runs/v/logs"
    cache = tensorboard.cache_for(source)
    outside = cache.parent.parent  # the naive target of logs/../../x
    plant(bucket, ["runs/v/logs/train/events.out", f"runs/v/logs/{tmp_path}/tb-abs-escape",
                   "runs/v/logs/../../tb-dotdot-escape"])
    proc = subprocess.run([sys.executable, "-m", "ddsp_launch.adapters.tensorboard", source, str(cache)],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "DDSP_LAUNCH_TB_SYNC_SECONDS": "1"})
    assert proc.returncode == 2, proc.stderr
    assert f"gs://{bucket.name}/runs/v/logs/../../tb-dotdot-escape" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "tb-abs-escape").exists() and not (outside / "tb-dotdot-escape").exists()
    assert not cache.exists() or not any(p.is_file() for p in cache.rglob("*"))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_prepare_refuses_gs_input_names(bucket, tmp_path, example_audio):
    bucket.blob("takes/scales.wav").upload_from_filename(str(example_audio / "scales.wav"))
    evil = ["takes//scales.wav", "takes/x/../../scales.wav"]
    for name in evil:
        bucket.blob(name).upload_from_filename(str(example_audio / "scales.wav"))
    proc = subprocess.run([sys.executable, "-m", "ddsp_launch.trainer.prepare", "--quiet", "--no-statistics",
                           f"gs://{bucket.name}/takes", str(tmp_path / "ds")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stderr
    for name in evil:
        assert f"gs://{bucket.name}/{name}" in proc.stderr
    assert "refusing 2 object(s)" in proc.stderr and not (tmp_path / "ds").exists()


def test_trainer_data_staging_refuses_names(bucket, tmp_path):
    from ddsp_launch.trainer.loop import stage_data

    plant(bucket, ["ds/train.tfrecord-00000-of-00001", "ds/train.tfrecord-x/../../../staging-escape",
                   f"ds/train.tfrecord-y/{tmp_path}/staging-abs-escape"])
    staging = tmp_path / "s" / "t"
    with pytest.raises(InputError) as err:
        stage_data(f"gs://{bucket.name}/ds/train.tfrecord*", staging)
    assert "ds/train.tfrecord-x/../../../staging-escape (an empty, '.' or '..' part)" in err.value.message
    assert f"ds/train.tfrecord-y/{tmp_path}/staging-abs-escape (an empty, '.' or '..' part)" in err.value.message
    assert not (tmp_path / "s" / "staging-escape").exists() and not (tmp_path / "staging-abs-escape").exists()
    assert not staging.exists() or not any(staging.iterdir())


def test_trainer_staging_keeps_good_names_and_caches_by_content(bucket, tmp_path):
    from ddsp_launch.trainer.loop import stage_data

    plant(bucket, ["ds/train.tfrecord-00000-of-00002", "ds/train.tfrecord-00001-of-00002", "ds/eval.tfrecord"])
    pattern = f"gs://{bucket.name}/ds/train.tfrecord*"
    staged = Path(stage_data(pattern, tmp_path))
    assert staged.name == "*" and staged.parent.parent == tmp_path
    assert sorted(p.name for p in staged.parent.iterdir()) == ["train.tfrecord-00000-of-00002", "train.tfrecord-00001-of-00002"]
    (staged.parent / "train.tfrecord-00000-of-00002").write_bytes(b"seen")  # a second run must not fetch again
    assert stage_data(pattern, tmp_path) == str(staged)
    assert (staged.parent / "train.tfrecord-00000-of-00002").read_bytes() == b"seen"
    bucket.blob("ds/train.tfrecord-00001-of-00002").upload_from_string(b"new content")
    again = Path(stage_data(pattern, tmp_path, keep=1))  # other content: another cache entry; the old one evicted
    assert again != staged and (again.parent / "train.tfrecord-00001-of-00002").read_bytes() == b"new content"
    assert not staged.parent.exists() and [p.name for p in tmp_path.iterdir()] == [again.parent.name]


def test_checkpoint_fetch_on_resume_refuses_names(bucket, tmp_path):
    """find_restorable fetches ckpt-N.* by prefix: a name with '..' after it is refused."""
    from ddsp_launch.trainer.checkpoints import find_restorable
    from ddsp_launch.trainer.outputs import OutputDir

    plant(bucket, ["runs/r/ckpt-3.index", "runs/r/ckpt-3./../../ckpt-escape"])
    folder = OutputDir(f"gs://{bucket.name}/runs/r", None, tmp_path / "stage")
    with pytest.raises(InputError, match=r"runs/r/ckpt-3\./\.\./\.\./ckpt-escape"):
        find_restorable(folder)
    assert not (tmp_path / "stage" / "ckpt-escape").exists() and not (folder.local / "ckpt-3.index").exists()


@pytest.mark.slow
def test_trainer_refuses_an_operative_config_named_outside(bucket, tmp_path):
    """The real trainer, resuming from gs://: its operative-config fetch is refused, exit 2, no traceback."""
    # the trainer stages gs:// outputs in TMPDIR/ddsp-launch-*/out/HASH: five '..' from there is tmp_path
    name = "runs/r/operative_config-/../../../../../op-escape.gin"
    plant(bucket, [name], b"import os\n")
    (tmp_path / "t").mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "ddsp_launch.trainer.task", f"--save_dir=gs://{bucket.name}/runs/r",
         f"--file_pattern=gs://{bucket.name}/ds/train.tfrecord*", "--num_steps=1"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "TMPDIR": str(tmp_path / "t")})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"gs://{bucket.name}/{name} (an empty, '.' or '..' part)" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "op-escape.gin").exists()
