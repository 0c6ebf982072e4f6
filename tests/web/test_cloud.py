"""A cloud run from the page: the uploaded recordings are prepared here and the dataset sent
to the bucket (the GCS emulator) before the Vertex AI job (the local Vertex AI server) is
submitted; the model of a cloud run is fetched with `ddsp-launch download`, not zipped here."""

from __future__ import annotations

import io
import json

import pytest
import soundfile as sf

from tests.web.conftest import start_web, stop_web, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # prepares audio with the training stack

IMAGE = "us-central1-docker.pkg.dev/my-proj/ddsp/trainer@sha256:" + "d" * 64


def test_uploaded_audio_reaches_the_bucket_and_the_job_reads_it(fake_gcp, gcs_emulator, example_audio, tmp_path):
    from ddsp_launch.common import gcs

    client = gcs.make_client()
    client.create_bucket("ddsp-web")
    web = start_web(tmp_path, "--project", "my-proj", "--image", IMAGE,  # the server's own settings, not the page's
                    env={"DDSP_LAUNCH_VERTEX_ENDPOINT": fake_gcp.url, "DDSP_LAUNCH_LOGGING_ENDPOINT": fake_gcp.url,
                         "STORAGE_EMULATOR_HOST": gcs_emulator, "GOOGLE_CLOUD_PROJECT": "my-proj"})
    try:
        upload = json.loads(web.get("/api/uploads", "POST")[2])["upload"]
        melody, sr = sf.read(str(example_audio / "scales.wav"), dtype="float32")
        wav = io.BytesIO()
        sf.write(wav, melody[: 8 * sr], sr, format="WAV")
        assert web.get(f"/api/uploads/{upload}/take%201.wav", "PUT", data=wav.getvalue())[0] == 200
        form = {"upload": upload, "target": "vertex", "output": "gs://ddsp-web/runs/v1", "num_steps": "50",
                "name": "from-the-page"}  # the project and the image are the server's (flags of `ddsp-launch web`)
        status, _, body = web.get("/api/runs", "POST", data=json.dumps(form).encode(), headers={"Content-Type": "application/json"})
        assert status == 200, body
        run_id = json.loads(body)["id"]

        def settled():
            run = json.loads(web.get(f"/api/runs/{run_id}")[2])
            return run if run["state"] not in ("starting", "running") else None

        run = wait_until(settled, timeout=600, every=1, what="the job to be submitted")
        assert run["state"] == "submitted", web.get(f"/api/runs/{run_id}/log")[2].decode()[-3000:]
        assert run["local"] is False and run["has_checkpoint"] is False
        names = [b.name for b in client.list_blobs("ddsp-web", prefix="runs/v1/dataset/")]
        assert "runs/v1/dataset/manifest.json" in names and any("train.tfrecord" in n for n in names)
        [job] = [b for v, p, b in fake_gcp.requests if v == "POST" and p.endswith("/customJobs")]
        assert "--file_pattern=gs://ddsp-web/runs/v1/dataset/train.tfrecord*" in job["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["args"]
        assert job["displayName"] == "from-the-page"
        # the model lives in the bucket: the page says how to fetch it
        status, _, body = web.get(f"/runs/{run_id}/model.zip")
        assert status == 409 and f"ddsp-launch download {run_id}".encode() in body
        # everything written here stayed in the workspace (the upload and its prepared dataset)
        written = {p.relative_to(web.workspace).parts[0] for p in web.workspace.rglob("*") if p.is_file()}
        assert written == {"uploads", "configs"}
    finally:
        stop_web(web)
