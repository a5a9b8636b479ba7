"""`make run`: the whole service on one machine, as supervised child processes.

Order: migrations and first-run set-up (bundled directory, first admin), then the embedded Redis
and the development SMTP capture server (unless OUTREACH_REDIS_URL / OUTREACH_SMTP_URL point
elsewhere), a Dramatiq worker and the web server. Ctrl-C (or SIGTERM) stops every child, by pid;
if any child dies, the others are stopped too and the exit status says so.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from types import FrameType

from outreach.embedded import EmbeddedRedis, port_is_open
from outreach.settings import Settings


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]


class Supervisor:
    def __init__(self) -> None:
        self.children: list[Child] = []
        self.redis: EmbeddedRedis | None = None
        self.stopping = False

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> Child:
        # A session of its own: the terminal's Ctrl-C reaches only us, and we stop children in order.
        proc = subprocess.Popen(args, env=env, start_new_session=True)  # noqa: S603
        child = Child(name, proc)
        self.children.append(child)
        return child

    def stop_all(self) -> None:
        self.stopping = True
        for child in reversed(self.children):
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in reversed(self.children):
            remaining = max(0.1, deadline - time.monotonic())
            try:
                child.process.wait(remaining)
            except subprocess.TimeoutExpired:
                print(
                    f"  {child.name} did not stop in time; killing pid {child.process.pid}",
                    flush=True,
                )
                child.process.kill()
                child.process.wait()
        if self.redis is not None:
            self.redis.stop()

    def watch(self) -> int:
        while True:
            for child in self.children:
                code = child.process.poll()
                if code is not None:
                    print(
                        f"\n{child.name} (pid {child.process.pid}) exited with status {code}; stopping.",
                        flush=True,
                    )
                    return 1
            time.sleep(0.5)


def _wait_for_port(port: int, what: str, child: Child, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_is_open("127.0.0.1", port):
            return
        if child.process.poll() is not None:
            raise SystemExit(f"{what} exited before it was ready")
        time.sleep(0.1)
    raise SystemExit(f"{what} did not open port {port} within {timeout}s")


def main() -> int:
    settings = Settings.from_env().with_secret()
    settings.instance.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("OUTREACH_INSTANCE_PATH", str(settings.instance))
    env.setdefault("FLASK_APP", "outreach")
    python = sys.executable
    bin_dir = os.path.dirname(python)

    sup = Supervisor()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a shell that starts `make run` in the background sets it to "ignore", which
    # Python would inherit, and Ctrl-C or kill -INT would then stop nothing.
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    status = 0
    try:
        print("Applying migrations and first-run set-up ...", flush=True)
        subprocess.run([python, "-m", "flask", "--app", "outreach", "setup"], env=env, check=True)  # noqa: S603

        if not settings.redis_url:
            print(
                f"Starting the embedded Redis on 127.0.0.1:{settings.embedded_redis_port} ...",
                flush=True,
            )
            sup.redis = EmbeddedRedis(
                settings.instance / "redis", settings.embedded_redis_port
            ).start()
        if settings.uses_embedded_smtp:
            if port_is_open("127.0.0.1", settings.dev_smtp_port):
                raise SystemExit(
                    f"port {settings.dev_smtp_port} is in use; set OUTREACH_DEV_SMTP_PORT"
                )
            smtp = sup.spawn(
                "SMTP capture server",
                [
                    python,
                    "-m",
                    "outreach.devmail",
                    "--port",
                    str(settings.dev_smtp_port),
                    "--maildir",
                    str(settings.devmail_path),
                    # Replies and bounces to the service's own addresses go to the pipeline.
                    "--inbound",
                ],
                env,
            )
            _wait_for_port(settings.dev_smtp_port, "the SMTP capture server", smtp)
        sup.spawn(
            "worker",
            [
                os.path.join(bin_dir, "dramatiq"),
                "workers:setup",
                "--processes",
                "1",
                "--threads",
                "4",
            ],
            env,
        )
        if port_is_open("127.0.0.1", settings.web_port):
            raise SystemExit(f"port {settings.web_port} is in use; set OUTREACH_WEB_PORT")
        web = sup.spawn(
            "web server",
            [
                python,
                "-m",
                "flask",
                "--app",
                "outreach",
                "run",
                "--host",
                "127.0.0.1",
                "--port",
                str(settings.web_port),
                "--no-reload",
            ],
            env,
        )
        _wait_for_port(settings.web_port, "the web server", web)
        url = f"http://127.0.0.1:{settings.web_port}"
        print("", flush=True)
        print(f"  Outreach is running:   {url}/", flush=True)
        if settings.uses_embedded_smtp:
            print(
                f"  Captured mail:         {url}/dev/mailbox  (SMTP on 127.0.0.1:{settings.dev_smtp_port})",
                flush=True,
            )
        print(f"  Database:              {settings.effective_database_url}", flush=True)
        print(f"  Redis:                 {settings.effective_redis_url}", flush=True)
        print("  Press Ctrl-C to stop everything.\n", flush=True)
        status = sup.watch()
    except KeyboardInterrupt:
        print("\nStopping ...", flush=True)
    except subprocess.CalledProcessError as exc:
        print(f"set-up failed: {exc}", file=sys.stderr)
        status = 1
    except SystemExit as exc:
        print(f"error: {exc.code}", file=sys.stderr)
        status = 1
    finally:
        sup.stop_all()
    print("All stopped.", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
