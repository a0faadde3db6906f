"""Start and stop a fresh triaged for a benchmark run.

Each scenario gets its own daemon on a free loopback port with a new temporary data dir
(so its embedded Redis starts empty and runs from one run do not leak into the next), and
is stopped with SIGTERM like an operator would, so a run also shows whether shutdown is
clean. The daemon's CPU time (and its Redis child's) is read with psutil, which tells
whether the two cores went to the daemon, to Redis or to the load generator.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

import psutil

REPO = Path(__file__).resolve().parent.parent
DEFAULT_COMMAND = f"{shlex.quote(sys.executable)} -m daemon serve"
#: A fresh daemon must start on its embedded Redis, whatever the caller's shell holds.
_DROPPED_ENV = ("TRIAGED_REDIS_URL", "REDIS_URL")


def export_revision(revision: str, into: Path) -> str:
    """Write the tree of a git revision into ``into`` (read-only for the repository: no
    worktree, no checkout) and return the revision's short hash.

    Benchmarking a commit rather than the working tree gives figures that belong to a
    known state of the code, even while someone is editing it.
    """
    short = subprocess.run(
        ["git", "rev-parse", "--short", f"{revision}^{{commit}}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", short], cwd=REPO, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return short


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """Status of a GET, or None when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return None


class CpuMeter:
    """CPU seconds used by the daemon process and by its redis-server child, each with
    the forks it has already reaped (Redis rewrites its append-only file in a fork)."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)

    def read(self) -> tuple[float, float]:
        """(daemon, redis) CPU seconds so far; processes that vanished count as 0."""
        daemon = redis = 0.0
        try:
            processes = [self._process, *self._process.children(recursive=True)]
        except psutil.Error:
            return 0.0, 0.0
        for process in processes:
            try:
                times = process.cpu_times()
                is_redis = "redis" in process.name()
            except psutil.Error:
                continue
            # children_*: reaped children, e.g. Redis's forks for AOF rewrites
            used = times.user + times.system + times.children_user + times.children_system
            if is_redis:
                redis += used
            else:
                daemon += used
        return daemon, redis


class Daemon:
    """A triaged process of our own: ``with Daemon(...) as d:`` starts it and waits for
    ``/readyz``; leaving the block sends SIGTERM and waits for it to exit."""

    def __init__(self, log_path: Path, command: str = DEFAULT_COMMAND, source: Path = REPO) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.exit_code: int | None = None
        self.stop_seconds: float | None = None
        self._command = command
        self._source = source
        self._data = tempfile.TemporaryDirectory(prefix="triaged-bench-")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self, ready_timeout: float = 60.0) -> None:
        argv = [
            *shlex.split(self._command),
            *("--host", "127.0.0.1", "--port", str(self.port)),
            *("--data-dir", self._data.name),
        ]
        env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                argv, cwd=self._source, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"triaged exited with {self._process.returncode} while starting:\n"
                    + self.log_tail()
                )
            if http_status(self.url + "/readyz") == 200:
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"triaged not ready after {ready_timeout:.0f} s:\n{self.log_tail()}")

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM, then wait; SIGKILL only if it does not exit within ``timeout``."""
        if self._process is None:
            return None
        if self._process.poll() is None:
            began = time.monotonic()
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self.stop_seconds = time.monotonic() - began
        self.exit_code = self._process.returncode
        self._process = None
        self._data.cleanup()
        return self.exit_code

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Daemon:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
