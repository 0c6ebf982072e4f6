"""Shared fixtures: real example audio, a real GCS emulator, small helpers; and the CI rules:
under ``CI=true`` (set by .ci/run) no test may skip (a skip is reported as a failure naming
what to install), and every run ends with one summary line (ran, skipped, failed, time)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import render_examples  # noqa: E402

# The commands tests start write run records (and TensorBoard notes) under DDSP_LAUNCH_HOME: a
# scratch folder for the session unless a test names its own, never the user's own records.
# Under pytest-xdist (scripts/test.sh runs two workers) each worker has a folder of its own
# inside it, so no test sees another worker's runs.
os.environ.setdefault("DDSP_LAUNCH_HOME", tempfile.mkdtemp(prefix="ddsp-launch-tests-"))
WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if WORKER and not os.environ.get("_DDSP_LAUNCH_WORKER_HOME"):
    os.environ["DDSP_LAUNCH_HOME"] = os.environ["_DDSP_LAUNCH_WORKER_HOME"] = str(Path(os.environ["DDSP_LAUNCH_HOME"]) / WORKER)
    Path(os.environ["DDSP_LAUNCH_HOME"]).mkdir(parents=True, exist_ok=True)


@contextlib.contextmanager
def one_worker_at_a_time(name: str):
    """Held by one pytest-xdist worker at a time (a file lock shared by the session's workers):
    around work that every worker needs once and that must not run twice at the same time, such
    as rendering the example audio into data/ or building the CPU image."""
    lock = Path(tempfile.gettempdir()) / f"ddsp-launch-tests-{name}.lock"
    with lock.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def wait_until(predicate, timeout: float = 60.0, every: float = 0.25, what: str = "condition"):
    """Poll ``predicate`` until it returns something true (the state waited for); ``timeout`` only bounds a hang."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {value!r})")


def stop_tensorboards(home: Path) -> None:
    """Stop the TensorBoards ddsp-launch started and left running (it notes each, with its pid,
    in DDSP_LAUNCH_HOME/tensorboard/)."""
    import json  # noqa: PLC0415
    import signal  # noqa: PLC0415

    for board in (home / "tensorboard").glob("*.json"):
        pid = json.loads(board.read_text()).get("pid")
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


class Lines:
    """A child's text output, read line by line in a thread, so that waiting for a line has a
    deadline and the end of the output is noticed (never a loop spinning on EOF)."""

    def __init__(self, stream):
        self.seen: list[str] = []
        self._queue: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def until(self, wanted: str, timeout: float = 120.0) -> str:
        """The first line (from here on) holding ``wanted``; fails at the end of the output or after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line with {wanted!r} after {timeout:.0f} s; last lines:\n" + "".join(self.seen[-20:])) from None
            if line is None:
                self._queue.put(None)
                raise AssertionError(f"the output ended without a line with {wanted!r}; last lines:\n" + "".join(self.seen[-20:]))
            self.seen.append(line)
            if wanted in line:
                return line

    def rest(self, timeout: float = 120.0) -> str:
        """Everything after the lines read so far, up to the end of the output (within ``timeout`` s)."""
        deadline, out = time.monotonic() + timeout, []
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"the output did not end within {timeout:.0f} s") from None
            if line is None:
                self._queue.put(None)
                return "".join(out)
            self.seen.append(line)
            out.append(line)


@pytest.fixture(scope="session")
def example_audio(tmp_path_factory) -> Path:
    """About three minutes of FluidSynth violin, rendered from examples/midi (cached in data/)."""
    cache = Path(os.environ.get("DDSP_LAUNCH_DATA", ROOT / "data")) / "examples" / "violin"
    with one_worker_at_a_time("render"):
        render_examples.render_all(cache, "violin")
    return cache


@pytest.fixture(scope="session")
def midi_dir() -> Path:
    return ROOT / "examples" / "midi"


@pytest.fixture(scope="session")
def gcs_emulator():
    """A real gcp-storage-emulator on 127.0.0.1; yields its URL and sets STORAGE_EMULATOR_HOST.
    Started through tests/cloud/gcs_emulator.py, so names such as ``a/../b`` are kept as Cloud Storage keeps them."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "cloud" / "gcs_emulator.py"), "start", "--host", "127.0.0.1", "--port", str(port),
         "--in-memory"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    old = os.environ.get("STORAGE_EMULATOR_HOST")
    try:
        wait_for_port(port)
        url = f"http://127.0.0.1:{port}"
        os.environ["STORAGE_EMULATOR_HOST"] = url
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if old is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = old


@pytest.fixture(scope="session")
def small_dataset(example_audio, tmp_path_factory) -> Path:
    """A prepared dataset from one example file (about 40 examples), made once per session."""
    out = tmp_path_factory.mktemp("small") / "ds"
    subprocess.run(
        [sys.executable, "-m", "ddsp_launch.trainer.prepare", "--quiet", "--no-statistics",
         str(example_audio / "scales.wav"), str(out)],
        check=True, capture_output=True,
    )
    return out


# ---- Docker ------------------------------------------------------------------------------
# CI (scripts/docker_up.sh, run by scripts/test.sh) installs and starts a real engine and
# makes the offline base image; without one these tests fail under CI=true, skip elsewhere.
BASE_IMAGE = "local/debian:bookworm"
TEST_CA_MARKER = ROOT / "tests" / "data" / "test-ca-marker.pem"


CI = os.environ.get("CI") == "true"


def need(missing: str, install: str):
    """A prerequisite is missing: a failure under CI, naming what to install; a skip elsewhere."""
    if CI:
        pytest.fail(f"{missing}; CI runs every test: {install}", pytrace=False)
    pytest.skip(f"{missing} ({install})")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI a skip from anywhere (a mark, a fixture, importorskip) is a failure: a green
    run proves that every test ran."""
    outcome = yield
    report = outcome.get_result()
    if CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where every test must run: {reason}"


def pytest_sessionstart(session):
    session.config._ddsp_started = time.monotonic()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line for CI's log: how many tests ran, how many skipped (0 under CI), failed, and the time."""
    stats = terminalreporter.stats
    count = {k: len([r for r in stats.get(k, []) if getattr(r, "when", "call") in ("call", "setup")])
             for k in ("passed", "failed", "skipped", "error")}
    ran = count["passed"] + count["failed"]
    secs = time.monotonic() - getattr(config, "_ddsp_started", time.monotonic())
    marks = config.getoption("markexpr") or "all"
    terminalreporter.write_line(
        f"summary ({marks}): {ran} tests ran, {count['skipped']} skipped, {count['failed']} failed, "
        f"{count['error']} errors, in {secs:.0f} s ({secs / 60:.1f} min){' under CI' if CI else ''}")


def ddsp_launch(*args: str, env: dict | None = None, timeout: float = 1800, check: bool = False,
                **kw) -> subprocess.CompletedProcess:
    """Run the real `ddsp-launch` command line."""
    exe = Path(sys.executable).parent / "ddsp-launch"
    proc = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"ddsp-launch {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def docker_engine():
    from ddsp_launch.adapters import docker_engine as de
    from ddsp_launch.common.errors import EngineUnavailable

    try:
        engine = de.connect()
    except EngineUnavailable as exc:
        need(f"no Docker engine ({exc.message})", "bash scripts/docker_up.sh starts one")
    if engine.image_id(BASE_IMAGE) is None:
        need(f"no base image {BASE_IMAGE}", "bash scripts/make_base_image.sh makes it")
    return engine


@pytest.fixture(scope="session")
def host_install() -> Path:
    """The bin folder of a virtualenv holding ddsp-launch without the training stack, as most
    users install it (scripts/test.sh makes .venv-host; DDSP_LAUNCH_HOST_VENV to name another)."""
    venv = Path(os.environ.get("DDSP_LAUNCH_HOST_VENV") or ROOT / ".venv-host")
    python = venv / "bin" / "python"
    if not (venv / "bin" / "ddsp-launch").exists():
        need(f"no host-only virtualenv at {venv}", "bash scripts/test.sh creates it (ddsp-launch and its test tools only)")
    probe = subprocess.run([str(python), "-c", "import importlib.util as u; print(u.find_spec('tensorflow') is None)"],
                           capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "True", f"{venv} holds TensorFlow: it is no host-only install"
    return venv / "bin"


@pytest.fixture(scope="session")
def build_ca_bundle(tmp_path_factory) -> Path:
    """This machine's CA bundle (pip needs it behind the proxy) plus a marker certificate
    that must never show up in an image. Same bytes every run, so the build cache holds."""
    system = next((Path(p) for p in (os.environ.get("PIP_CERT"), os.environ.get("SSL_CERT_FILE"),
                                     "/etc/ssl/certs/ca-certificates.crt") if p and Path(p).is_file()), None)
    bundle = tmp_path_factory.mktemp("ca") / "bundle.pem"
    bundle.write_bytes((system.read_bytes() if system else b"") + TEST_CA_MARKER.read_bytes())
    return bundle


@pytest.fixture(scope="session")
def cpu_image(docker_engine, build_ca_bundle) -> str:
    """The CPU training image, built by `ddsp-launch build` from this checkout."""
    with one_worker_at_a_time("build"):  # one builds, the others find it built
        proc = ddsp_launch("build", "--cpu", "--base-image", BASE_IMAGE, "--ca-bundle", str(build_ca_bundle), check=True)
    [line] = [l for l in proc.stdout.splitlines() if l.startswith("image:")]
    return line.split()[1]


# ---- Google Cloud ---------------------------------------------------------------------------
@pytest.fixture
def fake_gcp(monkeypatch):
    """The local Vertex AI + Cloud Logging server (tests/cloud/fake_gcp.py), the client pointed at it."""
    from tests.cloud.fake_gcp import FakeGcp

    with FakeGcp() as fake:
        monkeypatch.setenv("DDSP_LAUNCH_VERTEX_ENDPOINT", fake.url)
        monkeypatch.setenv("DDSP_LAUNCH_LOGGING_ENDPOINT", fake.url)
        yield fake
