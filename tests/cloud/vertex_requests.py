"""Vertex AI requests as ddsp-launch makes them: from settings, through the one resolver
(launch/resolve.py) and the Vertex AI target's plan, with no network."""

from __future__ import annotations

from ddsp_launch.cloud import jobs
from ddsp_launch.common.gcs import GcsUri
from ddsp_launch.launch import launcher, resolve
from ddsp_launch.spec import RunSpec, VertexTarget

IMAGE = "us-central1-docker.pkg.dev/my-proj/ddsp/trainer@sha256:" + "a" * 64
BASE = {"target": "vertex", "project": "my-proj", "image": IMAGE, "data": "gs://ddsp-data/violin",
        "output": "gs://ddsp-data/runs/v1", "tensorboard": False}


def request(env: dict | None = None, extra_args: tuple[str, ...] = (), **flags) -> jobs.JobRequest:
    """The request for these flags (as a command line gives them: typed, None for not given)."""
    s = resolve.settings({**BASE, **flags}, None, env or {}, extra_args=extra_args)
    return launcher.check(s).plan


def direct(image: str = IMAGE, **target) -> jobs.JobRequest:
    """A request made straight from a spec (to test what renders it, or the client that sends it)."""
    t = VertexTarget(**{"project": "my-proj", "region": "us-central1", "primary": jobs.DEFAULT_MACHINE, **target})
    spec = RunSpec(GcsUri.parse("gs://ddsp-data/v"), GcsUri.parse("gs://ddsp-data/r"), t)
    return jobs.JobRequest(spec, image, "gs://ddsp-data/v/train.tfrecord*")
