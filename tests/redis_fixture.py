"""Pytest fixtures that run throwaway redis-server instances on free loopback ports.

Load with ``pytest_plugins = ["redis_fixture"]`` in tests/conftest.py (tests/ is on sys.path
under pytest's default import mode).  Servers bind to 127.0.0.1, never persist (``--save ''``),
write their own pidfile in a temp dir and are stopped at the end.  Without ``redis-server`` or
redis-py the Redis tests are skipped locally but FAIL in CI (environment ``CI=true``), so a
broken CI image cannot silently drop the Redis coverage.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import pytest

__all__ = ["RedisServer", "redis_server", "redis_password_server", "redis_url",
           "redis_password_url", "redis_server_factory", "require_redis", "in_ci", "free_port"]

PASSWORD = "s3cret-jug-test"


def in_ci() -> bool:
    """True when running in CI, where missing Redis must fail the run instead of skipping."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require_redis() -> str:
    """Path of redis-server; skip (fail in CI) if it or redis-py is missing."""
    exe = shutil.which("redis-server")
    problem = None
    if exe is None:
        problem = "redis-server not found (Debian: apt-get install -y redis-server)"
    else:
        try:
            import redis  # noqa: F401
        except ImportError:
            problem = "redis-py not installed (pip install 'jug[redis]')"
    if problem:
        if in_ci():
            pytest.fail(f"{problem}; Redis is required in CI", pytrace=False)
        pytest.skip(problem)
    return exe  # type: ignore[return-value]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RedisServer:
    """One redis-server process on 127.0.0.1 with its own directory and pidfile."""

    exe: str
    password: str | None = None
    extra_args: list[str] = field(default_factory=list)
    port: int = 0
    host: str = "127.0.0.1"
    proc: subprocess.Popen | None = None
    workdir: str = ""

    @property
    def url(self) -> str:
        """The jugdir URL of this server (db 0, with password if any)."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    @property
    def pidfile(self) -> str:
        """Where redis-server writes its pid."""
        return os.path.join(self.workdir, "redis.pid")

    def start(self, port: int | None = None, timeout: float = 10.0) -> RedisServer:
        """Start the server (on ``port``, or a fresh free one) and wait until it answers."""
        if not self.workdir:
            self.workdir = tempfile.mkdtemp(prefix="jug-redis-")
        for attempt in range(5):
            self.port = port or free_port()
            args = [self.exe, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                    "--appendonly", "no", "--daemonize", "no", "--pidfile", self.pidfile,
                    "--dir", self.workdir, "--logfile", os.path.join(self.workdir, "redis.log"),
                    *self.extra_args]
            if self.password:
                args += ["--requirepass", self.password]
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if self._wait_ready(timeout):
                return self
            self.stop()
            if port is not None or attempt == 4:
                break
        raise RuntimeError(f"redis-server did not start on port {self.port}: {self._log_tail()}")

    def _wait_ready(self, timeout: float) -> bool:
        """Poll with a raw PING until the server answers (True) or exits / times out (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    reply = s.recv(64)
                if reply.startswith((b"+PONG", b"-NOAUTH")):
                    return True
            except OSError:
                pass
            time.sleep(0.02)
        return False

    def _log_tail(self) -> str:
        """The end of the server log, for start-up failure messages."""
        try:
            with open(os.path.join(self.workdir, "redis.log")) as f:
                return f.read()[-2000:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and wait for it to exit."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if proc.stderr:
            proc.stderr.close()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): clients see an unresponsive connection."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Unfreeze a paused server (SIGCONT)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def client(self) -> Any:
        """A raw redis-py client (``redis.Redis``) for direct inspection of the server."""
        import redis

        return redis.Redis(host=self.host, port=self.port, password=self.password)

    def cleanup(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A session-wide redis-server without password."""
    server = RedisServer(require_redis()).start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def redis_password_server() -> Iterator[RedisServer]:
    """A session-wide redis-server that requires the password :data:`PASSWORD`."""
    server = RedisServer(require_redis(), password=PASSWORD).start()
    yield server
    server.cleanup()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """URL of the session server, flushed so each test starts from an empty database."""
    if redis_server.proc is None or redis_server.proc.poll() is not None:
        redis_server.start()
    c = redis_server.client()
    c.flushall()
    c.close()
    return redis_server.url


@pytest.fixture
def redis_password_url(redis_password_server: RedisServer) -> str:
    """URL (with password) of the password-protected server, flushed for this test."""
    c = redis_password_server.client()
    c.flushall()
    c.close()
    return redis_password_server.url


@pytest.fixture
def redis_server_factory() -> Iterator:
    """Start private servers (``factory(password=None, extra_args=None)``) that a test may kill."""
    exe = require_redis()
    servers: list[RedisServer] = []

    def make(password: str | None = None, extra_args: list[str] | None = None,
             port: int | None = None) -> RedisServer:
        server = RedisServer(exe, password=password, extra_args=list(extra_args or []))
        servers.append(server)
        return server.start(port)

    yield make
    for server in servers:
        server.cleanup()
