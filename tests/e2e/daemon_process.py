"""Run the real ``triaged serve`` process for end-to-end tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def triaged_command() -> list[str]:
    script = shutil.which("triaged")
    return [script] if script else [sys.executable, "-m", "daemon"]


class Daemon:
    """One ``triaged serve`` process on a data directory; restartable on the same files."""

    def __init__(
        self, data_dir: Path, config: Path, *, port: int | None = None, redis_url: str | None = None
    ):
        self.redis_url = redis_url
        self.data_dir = data_dir
        self.config = config
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"daemon-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGED_")}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                *triaged_command(),
                "serve",
                "--config",
                str(self.config),
                "--data-dir",
                str(self.data_dir),
                "--port",
                str(self.port),
                *(["--redis-url", self.redis_url] if self.redis_url else []),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"triaged exited with {self.proc.returncode}: {self.log_tail()}"
                )
            if http_status(f"{self.url}/readyz") == 200:
                return
            time.sleep(0.1)
        raise AssertionError(f"triaged not ready in {timeout}s: {self.log_tail()}")

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
