"""A throwaway redis-server on a free loopback port, for the Redis rows of the benchmark."""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


class RedisServer:
    """``with RedisServer(folder) as s:`` -- a server for the block, its URL, a client."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.client: Any = None

    def __enter__(self) -> RedisServer:
        import redis

        exe = shutil.which("redis-server")
        if exe is None:
            sys.exit("redis-server not found (apt-get install -y redis-server)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.proc = subprocess.Popen(
            [exe, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.__exit__()
                    sys.exit("redis-server did not start")
                time.sleep(0.02)
        self.client = redis.Redis.from_url(self.url)
        return self

    def flush(self) -> None:
        """Empty the database (between runs)."""
        self.client.flushdb()

    def round_trip(self, repeat: int = 2000) -> float:
        """Median seconds of one SET of a small value (one round trip) from this process."""
        samples = []
        for i in range(repeat):
            t0 = time.perf_counter()
            self.client.set("bench:rt", i)
            samples.append(time.perf_counter() - t0)
        return statistics.median(samples)

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
        for name in ("dump.rdb",):
            try:
                os.unlink(self.folder / name)
            except FileNotFoundError:
                pass
