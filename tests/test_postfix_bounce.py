"""A real Postfix makes a real bounce, and `smtpdiag explain --message` reads it.

A private Postfix instance (fixtures/postfix-bounce/) relays a message to a fake remote MX
(aiosmtpd, 127.0.0.44:2526) that refuses two of its three recipients with the wording Postfix
and Dovecot use; Postfix sends its DSN back to the sender's domain, whose fake MX (a sink on
127.0.0.45:2526) keeps it. Needs Debian's postfix package and root, like the interop tests;
CI sets SMTPDIAG_REQUIRE_POSTFIX=1, which makes a missing Postfix a failure, never a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from .conftest import FIXTURES, run_cli
from .postfix_rig import postfix_binary

REQUIRED = os.environ.get("SMTPDIAG_REQUIRE_POSTFIX") == "1"
CONFIG = FIXTURES / "postfix-bounce"
REFUSALS = {
    "unknown@remote.test": "550 5.1.1 <unknown@remote.test>: Recipient address rejected: "
    "User unknown in virtual mailbox table",
    "full@remote.test": "552 5.2.2 <full@remote.test>: Recipient address rejected: Mailbox full",
}


class RemoteMX:
    """The remote domain's MX: refuses the recipients of REFUSALS, takes the others."""

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        refusal = REFUSALS.get(address.lower())
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 2.0.0 Ok: queued"


class Sink:
    """The sender's MX: keeps every message it is given (the bounces)."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(bytes(envelope.original_content or envelope.content))
        return "250 2.0.0 Ok: kept"


@pytest.fixture(scope="module")
def bounce() -> Iterator[bytes]:
    binary = postfix_binary()
    if binary is None or os.geteuid() != 0:
        message = "real-bounce tests need the postfix package and root"
        if REQUIRED:
            pytest.fail(message + " (SMTPDIAG_REQUIRE_POSTFIX=1)")
        pytest.skip(message + ": apt-get install postfix, then run as root")
    sink = Sink()
    remote = Controller(RemoteMX(), hostname="127.0.0.44", port=2526)
    keeper = Controller(sink, hostname="127.0.0.45", port=2526)
    remote.start()
    keeper.start()
    work = Path(tempfile.mkdtemp(prefix="smtpdiag-postfix-bounce-"))
    try:
        _start_postfix(binary, work)
        message = (
            "From: Alice <sender@sender.test>\nTo: unknown@remote.test, full@remote.test, "
            "ok@remote.test\nSubject: Quarterly figures\nMessage-ID: <q4.live@sender.test>\n"
            "\nHello.\n"
        )
        sendmail = shutil.which("sendmail", path="/usr/sbin:/usr/bin") or "/usr/sbin/sendmail"
        subprocess.run(
            [sendmail, "-C", str(work), "-f", "sender@sender.test", "-t"],
            input=message.encode(),
            check=True,
            timeout=30,
        )
        deadline = time.monotonic() + 60
        while not sink.messages:
            if time.monotonic() > deadline:
                log = (work / "maillog").read_text(errors="replace")[-3000:]
                raise AssertionError(f"no bounce from Postfix within 60 s:\n{log}")
            time.sleep(0.2)
        yield sink.messages[0]
    finally:
        subprocess.run([binary, "-c", str(work), "stop"], capture_output=True, timeout=60)
        remote.stop()
        keeper.stop()
        shutil.rmtree(work, ignore_errors=True)


def _start_postfix(binary: str, work: Path) -> None:
    os.chmod(work, 0o755)
    for sub in ("queue", "data"):
        (work / sub).mkdir()
    shutil.chown(work / "data", user="postfix")
    for name in ("main.cf", "master.cf", "transport"):
        text = (CONFIG / name).read_text()
        text = text.replace("@CONF@", str(work)).replace("@QUEUE@", str(work / "queue"))
        (work / name).write_text(text.replace("@DATA@", str(work / "data")))
    for command in ("check", "start"):
        proc = subprocess.run(
            [binary, "-c", str(work), command], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, f"postfix {command}: {proc.stderr}"


def test_a_real_postfix_bounce_is_explained(bounce: bytes, tmp_path: Path) -> None:
    path = tmp_path / "bounce.eml"
    path.write_bytes(bounce)
    result = run_cli(["explain", "--message", str(path), "--format", "json"])
    assert result.exit_code == 0
    doc = json.loads(result.output)
    assert (doc["kind"], doc["format"]) == ("bounce", "postfix")
    assert doc["reporting_mta"] == "mail.bounce.test"
    assert doc["original"]["subject"] == "Quarterly figures"
    assert doc["original"]["message_id"] == "<q4.live@sender.test>"
    by_address = {r["address"]: r for r in doc["recipients"]}
    assert set(by_address) == {"unknown@remote.test", "full@remote.test"}  # ok@ was delivered
    unknown, full = by_address["unknown@remote.test"], by_address["full@remote.test"]
    assert (unknown["action"], unknown["status"], unknown["reason"]) == (
        "failed",
        "5.1.1",
        "mailbox-unknown",
    )
    assert unknown["remote_mta"] == "127.0.0.44"
    assert unknown["diagnostic"].startswith("550 5.1.1 <unknown@remote.test>: Recipient address")
    assert unknown["stage"] == "rcpt"
    assert (full["status"], full["reason"], full["code"]) == ("5.2.2", "mailbox-full", 552)
    assert doc["reason"] in ("mailbox-unknown", "mailbox-full")  # the first failed recipient's


def test_the_text_report_of_a_real_bounce(bounce: bytes) -> None:
    out = run_cli(["explain", "-"], input=bounce.decode("utf-8", "replace")).output
    assert "Bounce: delivery failed" in out
    assert "unknown@remote.test  (failed, 5.1.1)" in out
    assert "Reason: mailbox-full" in out
