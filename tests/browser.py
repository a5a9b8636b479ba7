"""Browser test helpers: the app on a real HTTP server; Debian's Chromium driven by Playwright.

`LiveServer` serves a Flask app with werkzeug's threaded server on 127.0.0.1 (a port the kernel
chooses, so two runs never race for one) in a background thread, and records every exception a view
raised, so a test can fail on a 500 the page may not show. `launch_chromium` starts the system
Chromium (never a downloaded one) with flags fit for containers and CI.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from flask import Flask, got_request_exception
from playwright.sync_api import Browser, Page, Playwright
from werkzeug.serving import BaseWSGIServer, make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = Path("/tmp/outreach-shots")
TIMEOUT_MS = 10_000  # every Playwright action and auto-waiting assertion gives up after this


class LiveServer:
    """A Flask app served over real HTTP from a background thread, until `stop()`."""

    def __init__(self, app: Flask, host: str = "127.0.0.1") -> None:
        self.app = app
        self.errors: list[BaseException] = []
        self._server: BaseWSGIServer = make_server(host, 0, app, threaded=True)
        self.url = f"http://{host}:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="live-server",
            daemon=True,
        )

    def _record(self, _sender: Any, exception: BaseException, **_extra: Any) -> None:
        self.errors.append(exception)

    def start(self) -> LiveServer:
        got_request_exception.connect(self._record, self.app)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        got_request_exception.disconnect(self._record, self.app)
        assert not self._thread.is_alive(), "the live server thread did not stop"


def launch_chromium(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def sign_in(page: Page, base_url: str, email: str, password: str) -> None:
    """Sign in through the real form; fails unless it lands on the dashboard."""
    page.goto(f"{base_url}/login")
    page.get_by_label("E-mail", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(f"{base_url}/")


def shoot(page: Page, name: str) -> Path:
    """A full-page screenshot into /tmp/outreach-shots/<name>.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
