"""A real IMAP server for the tests: Debian's Dovecot, started unprivileged with its own
configuration, maildir and port on 127.0.0.1, and stopped by its pid.

Dovecot's login processes refuse to run as root, so when the tests run as root (CI) the whole
server runs as `nobody` (setpriv), in a folder of its own under /tmp that nobody may write;
otherwise it runs as the user running the tests. Install it with .ci/install-dovecot.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DOVECOT = "/usr/sbin/dovecot"
USER = "poller"
PASSWORD = "poller-secret"

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = {uid}
passdb {{
  driver = passwd-file
  args = {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


@dataclass(frozen=True)
class ImapServer:
    host: str
    port: int
    user: str
    password: str
    root: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def dovecot() -> Iterator[ImapServer]:
    if not os.access(DOVECOT, os.X_OK):
        raise RuntimeError("Dovecot is not installed: run `sh .ci/install-dovecot` (needs root)")
    as_root = os.geteuid() == 0
    account = pwd.getpwnam("nobody") if as_root else pwd.getpwuid(os.geteuid())
    group = grp.getgrgid(account.pw_gid).gr_name
    root = Path(tempfile.mkdtemp(prefix="outreach-dovecot-"))
    port = _free_port()
    for sub in ("run", "state", "mail"):
        (root / sub).mkdir()
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    (root / "dovecot.conf").write_text(
        CONFIG.format(
            root=root, user=account.pw_name, group=group, uid=account.pw_uid,
            gid=account.pw_gid, port=port,
        )
    )  # fmt: skip
    command = [DOVECOT, "-F", "-c", str(root / "dovecot.conf")]
    if as_root:
        for path in [root, *root.rglob("*")]:
            os.chown(path, account.pw_uid, account.pw_gid)
        command = ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}",
                   "--clear-groups", *command]  # fmt: skip
    with open(root / "stderr.log", "wb") as errors:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (root / "stderr.log").read_text(errors="replace")
                    raise RuntimeError(f"Dovecot did not start: {log}") from None
                time.sleep(0.05)
        yield ImapServer("127.0.0.1", port, USER, PASSWORD, root)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)
