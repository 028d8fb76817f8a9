"""A local S3-compatible endpoint (moto's server, in its own process), for machines without AWS and for tests."""

from __future__ import annotations

import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path


class LocalS3Error(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_moto(port: int, timeout_s: float = 30) -> subprocess.Popen:
    """moto's S3 server on 127.0.0.1:``port``, answering when this returns."""
    return _start_moto(port, timeout_s)[0]


def start_moto_on_a_free_port(timeout_s: float = 30) -> tuple[subprocess.Popen, int]:
    """moto's S3 server on 127.0.0.1 on a port the server binds itself, answering when this returns, and that port.

    Choosing a free port first and starting the server on it later leaves the port to any process that binds one
    in between (an engine, a code server, another moto): the endpoint then answers from that process, and stops
    when it ends."""
    return _start_moto(0, timeout_s)


def _start_moto(port: int, timeout_s: float) -> tuple[subprocess.Popen, int]:
    server = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    if server is None:
        raise LocalS3Error("moto is not installed: pip install -e '.[local-s3]'")
    process = subprocess.Popen(
        [server, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    bound: queue.Queue[int] = queue.Queue()

    def read_log() -> None:
        # the server logs every request: its pipe is read to the end, or a full pipe would stop the server
        assert process.stderr is not None
        for line in process.stderr:
            if match := _RUNNING_ON.search(line):
                bound.put(int(match.group(1)))

    threading.Thread(target=read_log, name="moto-log", daemon=True).start()
    deadline = time.monotonic() + timeout_s
    bound_port = None
    while True:
        if bound_port is None:
            # the port this server bound: only then is the endpoint known to be this process's
            try:
                bound_port = bound.get(timeout=0.2)
                continue
            except queue.Empty:
                pass
        else:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{bound_port}", timeout=1)
                return process, bound_port
            except OSError:
                time.sleep(0.2)
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise LocalS3Error(f"moto's server did not start on 127.0.0.1:{bound_port or port or 'any port'}")


# what the server (Werkzeug) prints once it listens
_RUNNING_ON = re.compile(r"Running on http://127\.0\.0\.1:(\d+)")
