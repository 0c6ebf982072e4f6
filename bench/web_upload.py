#!/usr/bin/env python3
"""`ddsp-launch web` uploads: throughput, and the server's memory while it receives a large
recording, against the same server idle (the baseline, same session).

An upload is streamed to disk chunk by chunk, so the server's resident memory should not
grow with the file's size. The file is sent by a second process (urllib, streaming from
disk with a Content-Length), as the browser's XMLHttpRequest sends a File.

    python bench/web_upload.py [--mb 300]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import soundfile as sf


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=300, help="size of the uploaded wav")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-web-"))
    wav = tmp / "long take.wav"
    seconds = args.mb * 1e6 / (44100 * 2 * 2)  # 16-bit stereo
    with sf.SoundFile(str(wav), "w", 44100, 2, "PCM_16") as f:
        rng = np.random.default_rng(0)
        for _ in range(int(seconds / 10) + 1):
            f.write((0.1 * rng.standard_normal((441000, 2))).astype(np.float32))
    size = wav.stat().st_size
    port = free_port()
    env = {**os.environ, "DDSP_LAUNCH_HOME": str(tmp / "home")}
    exe = Path(sys.executable).parent / "ddsp-launch"
    token = secrets.token_urlsafe(24)  # the server always wants one; scripts send it as a Bearer token, with its Origin
    server = subprocess.Popen([str(exe), "web", "--port", str(port), "--no-browser", "--token", token,
                               "--max-upload-mb", str(args.mb * 2), "--max-upload-total-mb", str(args.mb * 2)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        page = {"Authorization": f"Bearer {token}", "Origin": url}
        deadline = time.monotonic() + 30
        while True:
            try:
                req = urllib.request.Request(url + "/api/uploads", data=b"{}", method="POST",
                                             headers={**page, "Content-Type": "application/json"})
                upload = json.loads(urllib.request.urlopen(req, timeout=5).read())["upload"]
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        idle = rss_mib(server.pid)
        peak = [idle]
        done = threading.Event()

        def watch():
            while not done.is_set():
                peak[0] = max(peak[0], rss_mib(server.pid))
                time.sleep(0.02)

        watcher = threading.Thread(target=watch)
        watcher.start()
        t = time.perf_counter()
        with open(wav, "rb") as body:
            req = urllib.request.Request(f"{url}/api/uploads/{upload}/long%20take.wav", data=body, method="PUT",
                                         headers={**page, "Content-Length": str(size), "Content-Type": "audio/wav"})
            answer = json.loads(urllib.request.urlopen(req, timeout=600).read())
        wall = time.perf_counter() - t
        done.set()
        watcher.join()
        assert answer["bytes"] == size, answer
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=20)
    print(f"upload of {size / 1e6:.0f} MB: {wall:.2f} s, {size / 1e6 / wall:.0f} MB/s")
    print(f"server RSS: idle {idle:.0f} MiB (baseline), peak while receiving {peak[0]:.0f} MiB "
          f"(+{peak[0] - idle:.0f} MiB, {peak[0] / idle:.2f}x; the file is {size / 2**20:.0f} MiB)")
    subprocess.run(["rm", "-rf", str(tmp)], check=False)


if __name__ == "__main__":
    main()
