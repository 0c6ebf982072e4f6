"""The Dockerfiles: one template, committed renderings, layer order, tight context, tags."""

from __future__ import annotations

import importlib.metadata
import re
import tarfile
from pathlib import Path

import pytest

from ddsp_launch.image import context, dockerfile

ROOT = dockerfile.PROJECT_ROOT


def test_committed_files_are_the_default_renderings_byte_for_byte():
    for name, text in dockerfile.committed_files().items():
        assert (ROOT / name).read_bytes() == text.encode(), f"{name} differs: run `ddsp-launch build --write-dockerfiles`"


@pytest.mark.parametrize("variant", ["gpu", "cpu"])
def test_layers_are_ordered_for_caching(variant):
    text = dockerfile.render(variant)
    final = text[text.rindex("\nFROM ") :]
    system, venv, code = final.index("useradd"), final.index("COPY --from=environment"), final.index("COPY ddsp_launch")
    assert system < venv < code, "system packages and the user, then the environment, then the code"
    # soundfile's wheel bundles libsndfile, which decodes every format prepare reads
    assert "apt-get" not in final and "ffmpeg" not in final
    assert final.rstrip().endswith('ENTRYPOINT ["python", "-m", "ddsp_launch.trainer.task"]')
    assert re.search(r"^USER ddsp$", final, re.M) and "--uid 1000" in final
    # the CA bundle is named in the builder stage only
    assert "build-ca" in text[: text.rindex("\nFROM ")] and "build-ca" not in final
    lock = dockerfile.GPU_LOCK if variant == "gpu" else dockerfile.CPU_LOCK
    assert re.search(rf"--no-deps \\\n\s+-r /tmp/build/{Path(lock).name};", text)  # that lock alone


def test_base_image_is_a_build_argument_with_a_public_default():
    text = dockerfile.render("cpu", "local/debian:bookworm")
    assert "ARG BASE_IMAGE=local/debian:bookworm" in text
    assert text.count("FROM ${BASE_IMAGE}") == 2
    assert "ARG BASE_IMAGE=python:3.11-slim-bookworm" in (ROOT / "Dockerfile.cpu").read_text()


@pytest.mark.slow  # reads the installed tensorflow's metadata
def test_gpu_image_adds_exactly_tensorflows_cuda_extra():
    gpu, cpu = dockerfile.render("gpu"), dockerfile.render("cpu")
    assert dockerfile.GPU_LOCK in gpu and dockerfile.GPU_LOCK not in cpu
    assert dockerfile.TRAINER_LOCK not in gpu + cpu and dockerfile.CPU_LOCK in cpu and dockerfile.CPU_LOCK not in gpu
    lock = {l for l in (ROOT / dockerfile.GPU_LOCK).read_text().splitlines() if l and not l.startswith("#")}
    reqs = importlib.metadata.requires("tensorflow")
    wanted = {re.sub(r"\s*==\s*", "==", r.split(";")[0].strip()) for r in reqs if "and-cuda" in r}
    assert wanted and wanted <= lock and {l for l in lock if l.startswith("nvidia-")} == wanted
    assert f"tensorflow=={importlib.metadata.version('tensorflow')}" in lock


@pytest.mark.parametrize("variant", ["gpu", "cpu"])
def test_both_images_are_slimmed_in_their_builder_stage(variant):
    text = dockerfile.render(variant)
    builder, final = text[: text.rindex("\nFROM ")], text[text.rindex("\nFROM ") :]
    assert dockerfile.SLIM_STEP in builder and "strip --strip-unneeded" in builder and "binutils" in builder
    assert "binutils" not in final and "strip" not in final  # the tools stay in the builder stage
    assert "nvidia" not in dockerfile.SLIM_STEP  # the CUDA wheels' libraries are not stripped


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="choose one of"):
        dockerfile.render("tpu")


def _names(ctx: context.BuildContext, ca: Path | None = None) -> set[str]:
    with tarfile.open(fileobj=ctx.tar(ca)) as tar:
        return set(tar.getnames())


def test_context_is_the_allow_list_only(tmp_path):
    ctx = context.collect("cpu")
    names = _names(ctx)
    assert "Dockerfile" in names and dockerfile.CPU_LOCK in names and "ddsp_launch/trainer/task.py" in names
    assert dockerfile.GPU_LOCK not in names and dockerfile.TRAINER_LOCK not in names  # the CPU image has its own lock
    assert not any(n.startswith((".git", ".venv", "data/", "tests/", "bench/")) or "__pycache__" in n for n in names)
    assert ctx.size < 2 * 1024 * 1024
    # the CA bundle travels only when asked for
    ca = tmp_path / "ca.pem"
    ca.write_text((Path(__file__).parent.parent / "data" / "test-ca-marker.pem").read_text())
    assert context.CA_NAME in _names(ctx, ca) and context.CA_NAME not in names


def test_tag_is_a_content_hash(tmp_path):
    root = context.copy_sources(tmp_path / "proj")
    base = context.collect("cpu", root=root)
    assert base.tag() == context.collect("cpu", root=root).tag()  # stable
    assert re.fullmatch(r"cpu-[0-9a-f]{12}", base.tag())
    assert context.collect("gpu", root=root).tag() != base.tag()
    assert context.collect("cpu", "local/debian:bookworm", root=root).tag() != base.tag()
    # __pycache__ is not content
    (root / "ddsp_launch" / "__pycache__").mkdir(exist_ok=True)
    (root / "ddsp_launch" / "__pycache__" / "x.pyc").write_bytes(b"junk")
    assert context.collect("cpu", root=root).tag() == base.tag()
    # code and lock changes are
    task = root / "ddsp_launch" / "trainer" / "task.py"
    task.write_text(task.read_text() + "\n# changed\n")
    code_changed = context.collect("cpu", root=root).tag()
    lock = root / dockerfile.CPU_LOCK
    lock.write_text(lock.read_text() + "six==1.16.0\n")
    assert len({base.tag(), code_changed, context.collect("cpu", root=root).tag()}) == 3


def test_tar_is_reproducible():
    ctx = context.collect("cpu")
    assert ctx.tar().getvalue() == ctx.tar().getvalue()


def test_dockerignore_is_an_allow_list_matching_the_context():
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in lines
    allowed = {l[1:] for l in lines if l.startswith("!")}
    assert set(dockerfile.CONTEXT_ALLOW) <= allowed
