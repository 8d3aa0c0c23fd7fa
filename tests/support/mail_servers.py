"""Real mail servers for tests: dovecot (IMAP) run in the foreground, and an aiosmtpd sink.

Both listen on 127.0.0.1 and are stopped at the end: dovecot by its PID (SIGTERM, then SIGKILL
after a deadline), the SMTP sink by its controller. No port is guessed in a race:

- the SMTP sink serves a socket this process has already bound and listens on;
- dovecot cannot be handed a socket, so it is started on a port that was free a moment ago,
  and started again on another when its bind fails ("Address already in use");

and nothing waits with a sleep: dovecot says on its log stream when it listens ("starting
up"), which is read line by line.
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
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest

DOVECOT_CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = /dev/stderr
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal_user}
default_login_user = {login_user}
mail_location = maildir:~/Maildir
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = create
  }}
  mailbox Drafts {{
    special_use = \\Drafts
    auto = create
  }}
  mailbox Archive {{
    special_use = \\Archive
    auto = create
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = create
  }}
}}
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (it may be taken later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def dovecot_binary() -> str:
    """The dovecot executable; skips the test outside CI, fails it under CI (CI=true)."""
    found = shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.path.exists(p)), None
    )
    if found:
        return found
    reason = "dovecot is not installed (Debian: apt-get install dovecot-imapd)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; .ci/run must install it")
    pytest.skip(reason)


@dataclass
class Dovecot:
    """A running dovecot: its port, one user and its password."""

    port: int
    user: str
    password: str
    root: Path
    process: subprocess.Popen[str]


@contextmanager
def run_dovecot(user: str = "alex", password: str = "s3cret") -> Iterator[Dovecot]:
    """Start dovecot on 127.0.0.1 with a passwd-file user and a maildir under a temp dir."""
    binary = dovecot_binary()
    # a short path: dovecot's unix sockets live under base_dir (sun_path holds 108 bytes)
    root = Path(tempfile.mkdtemp(prefix="morrow-dc-", dir="/tmp"))
    (root / "passwd").write_text(f"{user}:{{PLAIN}}{password}\n")
    # dovecot's auth process reads it as its own user: readable whatever this process's umask
    (root / "passwd").chmod(0o644)
    (root / "home").mkdir()
    settings = _identity(root)
    process, port, drain = None, 0, None
    try:
        for _ in range(5):  # another program may take the port first: then take another
            port = free_port()
            config = DOVECOT_CONFIG.format(root=root, port=port, **settings)
            (root / "dovecot.conf").write_text(config)
            process = subprocess.Popen(
                [binary, "-F", "-c", str(root / "dovecot.conf")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            drain = _started(process)
            if drain is not None:
                break
        else:
            raise RuntimeError("dovecot found no free port in 5 tries")
        yield Dovecot(port, user, password, root, process)
    finally:
        if process is not None:
            stop_process(process)
            if drain is not None:  # the drain ends at the pipe's end; then it is closed
                drain.join(timeout=10)
            if process.stderr is not None:
                process.stderr.close()
        shutil.rmtree(root, ignore_errors=True)


def _started(process: subprocess.Popen[str]) -> threading.Thread | None:
    """Read dovecot's log until it listens or gave up on a taken port (then None).

    Once it listens, a thread keeps reading its log (a full pipe would stall it): returned.
    """
    assert process.stderr is not None
    lines = []
    for line in process.stderr:
        lines.append(line)
        if "starting up" in line:  # the master has bound its listeners before saying so
            drain = threading.Thread(target=process.stderr.read, daemon=True)  # keep it flowing
            drain.start()
            return drain
    process.wait()
    process.stderr.close()
    if any("Address already in use" in line for line in lines):
        return None
    raise RuntimeError(f"dovecot exited with {process.returncode}: {''.join(lines)[-2000:]}")


def _identity(root: Path) -> dict[str, Any]:
    """Dovecot never runs mail processes as root: as root, use nobody for the mail."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid()).pw_name
        return {"uid": os.geteuid(), "gid": os.getegid(), "internal_user": me, "login_user": me}
    nobody = pwd.getpwnam("nobody")
    os.chmod(root, 0o755)
    os.chown(root / "home", nobody.pw_uid, nobody.pw_gid)
    internal = "dovecot" if _user_exists("dovecot") else "nobody"
    login = "dovenull" if _user_exists("dovenull") else "nobody"
    gid = grp.getgrgid(nobody.pw_gid).gr_gid
    return {"uid": nobody.pw_uid, "gid": gid, "internal_user": internal, "login_user": login}


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def stop_process(process: subprocess.Popen[Any]) -> None:
    """SIGTERM by PID, then SIGKILL if it has not ended within 10 s."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@dataclass
class Received:
    """One message the sink accepted."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        """The message as parsed by the stdlib."""
        parsed = BytesParser(policy=policy.default).parsebytes(self.data)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class SmtpSink:
    """An aiosmtpd server that keeps every message it accepts."""

    port: int
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """aiosmtpd's hook: keep the message, accept it."""
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
            )
        return "250 OK"


@contextmanager
def run_smtp_sink() -> Iterator[SmtpSink]:
    """An SMTP sink on 127.0.0.1 (plain text, no auth) in a thread of this process."""
    from aiosmtpd.controller import Controller

    class HeldSocketController(Controller):  # type: ignore[misc]
        """aiosmtpd on a socket this process already listens on: no port is guessed."""

        def _create_server(self) -> Any:
            return self.loop.create_server(self._factory_invoker, sock=held, ssl=self.ssl_context)

    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen(16)
    sink = SmtpSink(port=held.getsockname()[1])
    controller = HeldSocketController(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()
        held.close()
