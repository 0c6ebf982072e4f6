"""`ddsp-launch run` in a real container, and its process runtime."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import BASE_IMAGE, Lines, ddsp_launch

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]  # the first Docker test builds the CPU image
SMALL = ("--batch-size", "2", "--steps-per-summary", "1000")


def _owned_by_host_user(folder: Path) -> bool:
    return all(p.stat().st_uid == os.getuid() and p.stat().st_gid == os.getgid() for p in [folder, *folder.rglob("*")])


@pytest.mark.docker
def test_a_container_trains_into_a_host_folder_owned_by_the_host_user(cpu_image, small_dataset, tmp_path):
    data = tmp_path / "violin: take 1"  # a ':' broke the SRC:DST:MODE volume strings
    shutil.copytree(small_dataset, data)
    out = tmp_path / "run:1"
    proc = ddsp_launch("run", str(data), str(out), "--runtime", "docker", "--image", cpu_image,
                       "--num-steps", "3", "--steps-per-save", "3", *SMALL, "--", "--log_every", "1", timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    user = "1000:1000" if os.getuid() == 0 else f"{os.getuid()}:{os.getgid()}"  # never root in the container
    assert "runtime: docker" in proc.stderr and f"--user {user}" in proc.stderr
    assert f"--mount 'type=bind,source={data},target=/data,readonly'" in proc.stderr
    assert "step 3/3" in proc.stdout and (out / "ckpt-3.index").is_file()
    assert list(out.glob("operative_config-*.gin")) and list((out / "summaries" / "train").glob("events.out.tfevents.*"))
    assert _owned_by_host_user(out)


@pytest.mark.docker
def test_ctrl_c_checkpoints_and_a_rerun_resumes(cpu_image, small_dataset, tmp_path):
    out = tmp_path / "run"
    exe = Path(sys.executable).parent / "ddsp-launch"
    args = [str(exe), "run", str(small_dataset), str(out), "--runtime", "docker", "--image", cpu_image,
            "--steps-per-save", "1000", *SMALL]
    proc = subprocess.Popen([*args, "--num-steps", "500", "--", "--log_every", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = Lines(proc.stdout)
    lines.until("step 2/", timeout=600)
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    lines.rest(timeout=120)
    proc.wait(timeout=30)
    log = "".join(lines.seen)
    assert proc.returncode == 143, log[-3000:]  # the trainer's "stopped by SIGTERM"
    saved = sorted(int(p.name[5:-6]) for p in out.glob("ckpt-*.index"))
    assert saved and saved[-1] >= 2, log[-2000:]
    assert _owned_by_host_user(out)

    step = saved[-1]
    again = subprocess.run([*args, "--num-steps", str(step + 1)], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:]
    assert "resumed from" in again.stdout and f"at step {step}" in again.stdout
    assert (out / f"ckpt-{step + 1}.index").is_file()


@pytest.mark.docker
def test_the_containers_exit_code_becomes_the_commands(cpu_image, small_dataset, tmp_path):
    proc = ddsp_launch("run", str(small_dataset), str(tmp_path / "o"), "--runtime", "docker", "--image", cpu_image,
                       "--", "--gin_search_path", "/no/such/folder", timeout=300)
    assert proc.returncode == 2  # the trainer in the container refused it (the host checks only names and types)
    assert "--gin_search_path /no/such/folder is not a folder" in proc.stdout + proc.stderr


@pytest.mark.docker
def test_a_gpu_run_in_docker_asks_the_engine_for_its_nvidia_runtime(docker_engine, small_dataset, tmp_path):
    """No machine here has an NVIDIA GPU, so a stand-in `nvidia-smi` (listing one GPU, as the
    real one's `-L` does) gets the run past the GPU check to the runtime check, which asks the
    real engine. scripts/docker_up.sh's engine has no NVIDIA runtime: refused (exit 4), the fix
    named, before an image is used or a run recorded; an engine with the runtime passes the
    check. The dry run plans `--gpus all` either way. (A GPU run itself is not tested: README.)"""
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "GPU 0: NVIDIA Tesla T4 (UUID: GPU-00000000-0000-0000-0000-000000000000)"\n')
    fake.chmod(0o755)
    env = {"PATH": f"{fake.parent}:{os.environ['PATH']}", "DDSP_LAUNCH_HOME": str(tmp_path / "home")}
    args = ["run", str(small_dataset), str(tmp_path / "o"), "--runtime", "docker", "--gpu", "--image", "ddsp-launch:gpu-none"]
    proc = ddsp_launch(*args, env=env, timeout=300)
    if "nvidia" in (docker_engine.info().get("Runtimes") or {}):
        assert "NVIDIA runtime" not in proc.stderr, proc.stderr
    else:
        assert proc.returncode == 4, proc.stderr
        assert "the Docker engine has no NVIDIA runtime" in proc.stderr and "NVIDIA Container Toolkit" in proc.stderr
        assert not (tmp_path / "o").exists() and not (tmp_path / "home").exists()
    plan = ddsp_launch(*args, "--dry-run", env=env, timeout=300)
    assert plan.returncode == 0 and "--gpus all" in plan.stdout, plan.stderr


def test_without_docker_auto_falls_back_to_the_process_runtime_and_says_so(small_dataset, tmp_path):
    env = {"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    explicit = ddsp_launch("run", str(small_dataset), str(tmp_path / "o"), "--runtime", "docker", env=env, timeout=120)
    assert explicit.returncode == 4 and "Docker engine is not running" in explicit.stderr
    assert "--runtime process" in explicit.stderr
    auto = ddsp_launch("run", str(small_dataset), str(tmp_path / "o"), "--", "--gin_search_path", "/no/such/folder",
                       env=env, timeout=300)
    assert "Docker is not available" in auto.stderr and "runtime: local process" in auto.stderr
    assert auto.returncode == 2 and "is not a folder" in auto.stderr  # the trainer itself refused the flag
    unknown = ddsp_launch("run", str(small_dataset), str(tmp_path / "o"), "--", "--no_such_flag", env=env, timeout=300)
    assert unknown.returncode == 2 and "unknown trainer flag(s): --no_such_flag" in unknown.stderr  # refused before starting
    assert "runtime:" not in unknown.stderr


def test_the_process_runtime_trains(small_dataset, tmp_path):
    out = tmp_path / "run"
    proc = ddsp_launch("run", str(small_dataset), str(out), "--runtime", "process", "--num-steps", "2",
                       "--steps-per-save", "2", *SMALL, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "ckpt-2.index").is_file() and "runtime: local process" in proc.stderr


@pytest.mark.docker
def test_gcs_data_and_outputs_from_a_container_with_credentials_mounted_read_only(
        cpu_image, small_dataset, gcs_emulator, tmp_path, monkeypatch):
    from ddsp_launch.common import gcs
    from ddsp_launch.runtime.container import CREDENTIALS_MOUNT

    client = gcs.make_client()
    bucket = client.create_bucket("ddsp-docker-runs")
    for shard in small_dataset.glob("train.tfrecord*"):
        bucket.blob(f"ds/{shard.name}").upload_from_filename(str(shard))
    adc = tmp_path / "adc.json"
    adc.write_text('{"type": "service_account", "note": "mounted, never copied"}')
    proc = ddsp_launch("run", "gs://ddsp-docker-runs/ds", "gs://ddsp-docker-runs/runs/a", "--runtime", "docker",
                       "--image", cpu_image, "--num-steps", "2", "--steps-per-save", "2", *SMALL,
                       env={"GOOGLE_APPLICATION_CREDENTIALS": str(adc)}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    assert f"--mount type=bind,source={adc},target={CREDENTIALS_MOUNT},readonly" in proc.stderr and "--network host" in proc.stderr
    names = set(gcs.list_objects(gcs.GcsUri.parse("gs://ddsp-docker-runs/runs/a"), client))
    assert {"runs/a/ckpt-2.index", "runs/a/checkpoint"} <= names


@pytest.mark.docker
def test_folders_whose_names_hold_colons_commas_and_quotes_are_mounted(docker_engine, tmp_path):
    """Through the engine (the SDK's bind Mount) and through the printed `docker run` line run by
    the docker CLI: the data folder is read-only at /data and the output folder writable at /output."""
    from ddsp_launch.runtime.container import ContainerPlan, Mount

    data = tmp_path / 'violin: take 1, "slow"'
    data.mkdir()
    (data / "notes.txt").write_text("a folder with : , and quotes in its name\n")
    out = tmp_path / "out:1,2"
    out.mkdir()
    script = "cat /data/notes.txt; touch /data/x 2>/dev/null || echo read-only; echo written > /output/result"
    plan = ContainerPlan(image=BASE_IMAGE, args=("-c", script), env=(), user=f"{os.getuid()}:{os.getgid()}", gpus=False,
                         mounts=(Mount(str(data), "/data", True), Mount(str(out), "/output", False)),
                         name=f"ddsp-launch-test-{uuid.uuid4().hex[:8]}", entrypoint=("sh",))
    logs: list[bytes] = []
    code = docker_engine.run(plan.image, list(plan.args), plan.sdk_create_kwargs(), plan.sdk_host_config(), logs.append)
    assert (code, b"".join(logs).decode()) == (0, "a folder with : , and quotes in its name\nread-only\n")
    assert (out / "result").read_text() == "written\n"
    (out / "result").unlink()
    cli = subprocess.run(plan.argv(), capture_output=True, text=True, timeout=120)
    assert (cli.returncode, cli.stdout) == (0, "a folder with : , and quotes in its name\nread-only\n"), cli.stderr
    assert (out / "result").read_text() == "written\n"
    assert not (data / "x").exists()
    # a folder the engine cannot mount is a clear error, not a traceback
    from ddsp_launch.common.errors import ImageError

    gone = ContainerPlan(**{**plan.__dict__, "mounts": (Mount(str(tmp_path / "gone:1"), "/data", True),)})
    with pytest.raises(ImageError, match="the container did not start: .*gone:1"):
        docker_engine.run(gone.image, list(gone.args), gone.sdk_create_kwargs(), gone.sdk_host_config(), logs.append)
