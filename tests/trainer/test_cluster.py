"""The Vertex AI container contract: TF_CONFIG / CLUSTER_SPEC and AIP_* directories."""

import json

import pytest

from ddsp_launch.trainer import cluster

TWO = {"chief": ["10.0.0.1:2222"], "worker": ["10.0.0.2:2222"]}


def env_for(var, cluster_dict, task_type, index=0):
    return {var: json.dumps({"cluster": cluster_dict, "task": {"type": task_type, "index": index}})}


@pytest.mark.parametrize("env, chief, multi", [
    ({}, True, False),
    (env_for("TF_CONFIG", TWO, "chief"), True, True),
    (env_for("TF_CONFIG", TWO, "worker"), False, True),
    (env_for("CLUSTER_SPEC", {"workerpool0": ["a:1"], "workerpool1": ["b:1", "c:1"]}, "workerpool0"), True, True),
    (env_for("CLUSTER_SPEC", {"workerpool0": ["a:1"], "workerpool1": ["b:1", "c:1"]}, "workerpool1", 1), False, True),
    (env_for("TF_CONFIG", {"worker": ["a:1", "b:1"]}, "worker", 0), True, True),  # no chief: worker 0 leads
    (env_for("TF_CONFIG", {"worker": ["a:1", "b:1"]}, "worker", 1), False, True),
    (env_for("TF_CONFIG", {"chief": ["a:1"]}, "chief"), True, False),  # Vertex single replica
])
def test_roles(env, chief, multi):
    info = cluster.from_environment(env)
    assert (info.is_chief, info.multi_worker) == (chief, multi)


def test_workerpool_names_become_tensorflow_names():
    info = cluster.from_environment(env_for("CLUSTER_SPEC", {"workerpool0": ["a:1"], "workerpool1": ["b:1"]}, "workerpool1"))
    assert info.tf_config() == {"cluster": {"chief": ["a:1"], "worker": ["b:1"]}, "task": {"type": "worker", "index": 0}}


def test_tf_config_wins_over_cluster_spec():
    env = {**env_for("TF_CONFIG", TWO, "worker"), **env_for("CLUSTER_SPEC", {"workerpool0": ["x:1"], "workerpool1": ["y:1"]}, "workerpool0")}
    assert cluster.from_environment(env).task_type == "worker"


@pytest.mark.parametrize("raw, needle", [
    ("{not json", "not valid JSON"),
    (json.dumps({"cluster": TWO, "task": {"type": "worker", "index": 3}}), "task worker:3 is not in the cluster"),
    (json.dumps({"cluster": {"chief": "a:1", "worker": ["b:1"]}}), "must be a list"),
])
def test_bad_cluster_config(raw, needle):
    with pytest.raises(cluster.ClusterConfigError, match=needle):
        cluster.from_environment({"TF_CONFIG": raw})


def test_output_paths_follow_ddsp_layout_by_default():
    p = cluster.output_paths("runs/a", None, {})
    assert (p.checkpoints, p.summaries, p.model, p.restore) == ("runs/a", "runs/a/summaries/train", "runs/a", "runs/a")


def test_vertex_directories_win_when_set():
    env = {"AIP_CHECKPOINT_DIR": "gs://b/out/checkpoints/", "AIP_TENSORBOARD_LOG_DIR": "gs://b/out/logs/",
           "AIP_MODEL_DIR": "gs://b/out/model/"}
    p = cluster.output_paths("runs/a", None, env)
    assert (p.checkpoints, p.summaries, p.model) == ("gs://b/out/checkpoints/", "gs://b/out/logs/", "gs://b/out/model/")
    assert p.restore == "gs://b/out/checkpoints/"  # a restarted (spot) job resumes from there
    assert cluster.output_paths(None, "old/run", env).restore == "old/run"


def test_no_output_location_is_an_error():
    with pytest.raises(cluster.ClusterConfigError, match="--save_dir is required"):
        cluster.output_paths(None, None, {})
