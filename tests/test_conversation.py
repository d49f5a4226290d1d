"""The sans-IO conversation, driven by hand: no sockets, every decision checked.

Each case is a server script: the reply (or failure) for each command, by verb. The driver
plays the I/O edge: it executes the machine's actions against the script and records the
flights (what was written together)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from smtpdiag.core.conversation import (
    Close,
    Command,
    Connect,
    Conversation,
    NoReply,
    Plan,
    ProtocolViolation,
    Recipient,
    Replied,
    Send,
    TlsDone,
    Unsolicited,
    UpgradeTls,
)
from smtpdiag.core.reply import make_reply, parse_wire

EHLO_PIPE = "250-mx.test\n250-PIPELINING\n250-STARTTLS\n250 SMTPUTF8"
EHLO_PLAIN = "250-mx.test\n250 8BITMIME"


def reply(text: str) -> Replied:
    if "\n" in text:
        lines = text.split("\n")
        wire = "\n".join(f"{ln[:3]}-{ln[4:]}" for ln in lines[:-1]) + f"\n{lines[-1]}"
        parsed = parse_wire(wire)
        assert parsed is not None
        return Replied(parsed)
    return Replied(make_reply(int(text[:3]), text[4:]))


@dataclass
class Server:
    """Replies by verb; a value may be a list (one per use) or a NoReply."""

    greeting: str | NoReply = "220 mx.test ESMTP"
    replies: dict[str, object] = field(default_factory=dict)
    tls: bool = True

    def answer(self, cmd: Command) -> Replied | NoReply:
        verb = cmd.line.split(" ", 1)[0].upper()
        if verb == "RCPT":
            key = cmd.line
            value = self.replies.get(key, self.replies.get("RCPT", "250 2.1.5 Ok"))
        else:
            default = {
                "EHLO": EHLO_PLAIN,
                "HELO": "250 mx.test",
                "MAIL": "250 2.1.0 Ok",
                "RSET": "250 Ok",
                "QUIT": "221 Bye",
                "STARTTLS": "220 go ahead",
            }[verb]
            value = self.replies.get(verb, default)
        if isinstance(value, list):
            value = value.pop(0) if len(value) > 1 else value[0]
        if isinstance(value, NoReply):
            return value
        assert isinstance(value, str)
        return reply(value)


def drive(plan: Plan, server: Server) -> tuple[Conversation, list[list[str]]]:
    conv = Conversation(plan)
    flights: list[list[str]] = []
    for _ in range(100):
        action = conv.next_action()
        if isinstance(action, Close):
            return conv, flights
        if isinstance(action, Connect):
            greeting = server.greeting
            conv.receive(greeting if isinstance(greeting, NoReply) else reply(greeting))
        elif isinstance(action, Send):
            flights.append([c.line for c in action.commands])
            for cmd in action.commands:
                event = server.answer(cmd)
                conv.receive(event)
                if conv.done or isinstance(event, NoReply):
                    break
        elif isinstance(action, UpgradeTls):
            conv.receive(TlsDone(None) if server.tls else NoReply("handshake", "tls-failed"))
    raise AssertionError("the conversation never ended")


def plan(*addresses: str, catch_all: str | None = "random@d.test", **kw: object) -> Plan:
    rcpts = [Recipient(a, needs_smtputf8=not a.split("@")[0].isascii()) for a in addresses]
    if catch_all:
        rcpts.append(Recipient(catch_all, random=True))
    return Plan(helo="probe.test", recipients=tuple(rcpts), **kw)  # type: ignore[arg-type]


CASES = [
    # name, plan, server, expected flights, expected error kind
    (
        "pipelined: MAIL, both RCPTs and QUIT in one flight",
        plan("a@d.test"),
        Server(replies={"EHLO": EHLO_PIPE}),
        [
            ["EHLO probe.test"],
            ["STARTTLS"],
            ["EHLO probe.test"],
            ["MAIL FROM:<>", "RCPT TO:<a@d.test>", "RCPT TO:<random@d.test>", "QUIT"],
        ],
        None,
    ),
    (
        "pipelining turned off: lock-step",
        plan("a@d.test", starttls="never", pipelining=False),
        Server(replies={"EHLO": EHLO_PIPE}),
        [
            ["EHLO probe.test"],
            ["MAIL FROM:<>"],
            ["RCPT TO:<a@d.test>"],
            ["RCPT TO:<random@d.test>"],
            ["QUIT"],
        ],
        None,
    ),
    (
        "lock-step: no catch-all RCPT after the address was refused",
        plan("a@d.test"),
        Server(replies={"RCPT TO:<a@d.test>": "550 5.1.1 no such user"}),
        [["EHLO probe.test"], ["MAIL FROM:<>"], ["RCPT TO:<a@d.test>"], ["QUIT"]],
        None,
    ),
    (
        "lock-step: MAIL FROM refused, no RCPT",
        plan("a@d.test"),
        Server(replies={"MAIL": "553 5.7.1 sender rejected"}),
        [["EHLO probe.test"], ["MAIL FROM:<>"], ["QUIT"]],
        None,
    ),
    (
        "EHLO unknown: HELO, and no extensions",
        plan("a@d.test", catch_all=None),
        Server(replies={"EHLO": "502 5.5.2 Error: command not recognized"}),
        [
            ["EHLO probe.test"],
            ["HELO probe.test"],
            ["MAIL FROM:<>"],
            ["RCPT TO:<a@d.test>"],
            ["QUIT"],
        ],
        None,
    ),
    (
        "EHLO refused for policy: no HELO, QUIT",
        plan("a@d.test"),
        Server(replies={"EHLO": "550 5.7.1 go away"}),
        [["EHLO probe.test"], ["QUIT"]],
        "ehlo",
    ),
    (
        "STARTTLS required but not offered",
        plan("a@d.test", starttls="require"),
        Server(),
        [["EHLO probe.test"], ["QUIT"]],
        "tls-required",
    ),
    (
        "STARTTLS refused",
        plan("a@d.test"),
        Server(replies={"EHLO": EHLO_PIPE, "STARTTLS": "454 4.7.0 TLS not available"}),
        [["EHLO probe.test"], ["STARTTLS"], ["QUIT"]],
        "tls-failed",
    ),
    (
        "TLS handshake fails: no more commands in the clear",
        plan("a@d.test"),
        Server(replies={"EHLO": EHLO_PIPE}, tls=False),
        [["EHLO probe.test"], ["STARTTLS"]],
        "tls-failed",
    ),
    (
        "STARTTLS never: not sent even when offered",
        plan("a@d.test", starttls="never"),
        Server(replies={"EHLO": EHLO_PIPE}),
        [
            ["EHLO probe.test"],
            ["MAIL FROM:<>", "RCPT TO:<a@d.test>", "RCPT TO:<random@d.test>", "QUIT"],
        ],
        None,
    ),
    (
        "421 at the greeting: nothing sent",
        plan("a@d.test"),
        Server(greeting="421 4.3.2 shutting down"),
        [],
        "greeting",
    ),
    (
        "554 at the greeting: QUIT (RFC 5321 3.1)",
        plan("a@d.test"),
        Server(greeting="554 5.7.1 no thanks"),
        [["QUIT"]],
        "greeting",
    ),
    (
        "no greeting: nothing sent",
        plan("a@d.test"),
        Server(greeting=NoReply("no greeting within 2s", "timeout")),
        [],
        "timeout",
    ),
    (
        "421 at RCPT (lock-step): stop at once",
        plan("a@d.test"),
        Server(replies={"RCPT": "421 4.7.0 too many errors"}),
        [["EHLO probe.test"], ["MAIL FROM:<>"], ["RCPT TO:<a@d.test>"]],
        "server-closed",
    ),
    (
        "connection lost after MAIL (pipelined): the rest is not answered",
        plan("a@d.test", starttls="never"),
        Server(replies={"EHLO": EHLO_PIPE, "RCPT": NoReply("closed", "network")}),
        [
            ["EHLO probe.test"],
            ["MAIL FROM:<>", "RCPT TO:<a@d.test>", "RCPT TO:<random@d.test>", "QUIT"],
        ],
        "network",
    ),
    (
        "non-ASCII local part without SMTPUTF8: nothing to send, no MAIL",
        plan("δοκιμή@d.test"),
        Server(),
        [["EHLO probe.test"], ["QUIT"]],
        None,
    ),
    (
        "non-ASCII local part with SMTPUTF8: MAIL carries SMTPUTF8",
        plan("δοκιμή@d.test", starttls="never"),
        Server(replies={"EHLO": EHLO_PIPE}),
        [
            ["EHLO probe.test"],
            [
                "MAIL FROM:<> SMTPUTF8",
                "RCPT TO:<δοκιμή@d.test>",
                "RCPT TO:<random@d.test>",
                "QUIT",
            ],
        ],
        None,
    ),
]


@pytest.mark.parametrize(
    ("name", "plan_", "server", "flights", "kind"), CASES, ids=[c[0] for c in CASES]
)
def test_conversation(
    name: str, plan_: Plan, server: Server, flights: list[list[str]], kind: str | None
) -> None:
    conv, sent = drive(plan_, server)
    assert sent == flights
    out = conv.outcome()
    assert out.error_kind == kind
    assert out.flights == len(flights)
    # every command written has a step, in order, after the greeting
    commands = [s.command for s in out.steps if s.command is not None]
    assert commands == [line for flight in sent for line in flight][: len(commands)]


def test_many_recipients_are_split_into_transactions_with_rset() -> None:
    rcpts = tuple(Recipient(f"u{i}@d.test") for i in range(5))
    p = Plan(helo="probe.test", recipients=rcpts, starttls="never", max_rcpts=2)
    conv, sent = drive(p, Server(replies={"EHLO": EHLO_PIPE}))
    assert sent[1:] == [
        ["MAIL FROM:<>", "RCPT TO:<u0@d.test>", "RCPT TO:<u1@d.test>"],
        ["RSET", "MAIL FROM:<>", "RCPT TO:<u2@d.test>", "RCPT TO:<u3@d.test>"],
        ["RSET", "MAIL FROM:<>", "RCPT TO:<u4@d.test>", "QUIT"],
    ]
    assert [r.address for r in conv.outcome().recipients] == [r.address for r in rcpts]


# -- the refusal budget: servers count refused RCPTs as errors ------------------------------


def _refusing(*refused: int) -> Server:
    """A pipelining server refusing u<i>@d.test for each i given, accepting the rest."""
    replies: dict[str, object] = {"EHLO": EHLO_PIPE}
    for i in refused:
        replies[f"RCPT TO:<u{i}@d.test>"] = "550 5.1.1 no such user"
    return Server(replies=replies)


def _users(n: int) -> tuple[Recipient, ...]:
    return tuple(Recipient(f"u{i}@d.test") for i in range(n))


def test_a_flight_carries_no_more_rcpts_than_may_still_be_refused() -> None:
    p = Plan(helo="h", recipients=_users(12), starttls="never", max_refusals=4, min_flight=1)
    conv, sent = drive(p, _refusing(0, 1, 5, 6, 7))
    # 4 may be refused: u0-u3 (2 refused) -> 2 more: u4, u5 (1 refused) -> 1 more: u6
    # (refused: the budget is spent); u7 ... u11 are left for another session
    assert sent[1:] == [
        ["MAIL FROM:<>", *(f"RCPT TO:<u{i}@d.test>" for i in range(4))],
        ["RCPT TO:<u4@d.test>", "RCPT TO:<u5@d.test>"],
        ["RCPT TO:<u6@d.test>"],
        ["QUIT"],
    ]
    out = conv.outcome()
    assert [r.address for r in out.unsent] == [f"u{i}@d.test" for i in range(7, 12)]
    assert sum(1 for r in out.recipients if r.step.reply and r.step.reply.code >= 400) == 4
    assert out.error is None  # not a failure: the session did what it could


def test_an_accepting_server_gets_the_whole_list_in_one_transaction() -> None:
    p = Plan(helo="h", recipients=_users(7), starttls="never", max_refusals=3)
    conv, sent = drive(p, _refusing())
    assert sent[1:] == [
        ["MAIL FROM:<>", "RCPT TO:<u0@d.test>", "RCPT TO:<u1@d.test>", "RCPT TO:<u2@d.test>"],
        ["RCPT TO:<u3@d.test>", "RCPT TO:<u4@d.test>", "RCPT TO:<u5@d.test>"],
        ["RCPT TO:<u6@d.test>", "QUIT"],  # the last flight says QUIT: no round trip more
    ]
    assert conv.outcome().unsent == ()


def test_no_flight_smaller_than_min_flight_unless_it_is_all_that_is_left() -> None:
    # budget 4, u0 and u1 refused: room for 2, but 5 are left and a flight must carry 3
    p = Plan(helo="h", recipients=_users(9), starttls="never", max_refusals=4, min_flight=3)
    conv, sent = drive(p, _refusing(0, 1))
    assert sent[1:] == [["MAIL FROM:<>", *(f"RCPT TO:<u{i}@d.test>" for i in range(4))], ["QUIT"]]
    assert len(conv.outcome().unsent) == 5
    # the same with only 2 left: they fit, so they are sent
    p = Plan(helo="h", recipients=_users(6), starttls="never", max_refusals=4, min_flight=3)
    conv, sent = drive(p, _refusing(0, 1))
    assert sent[-1] == ["RCPT TO:<u4@d.test>", "RCPT TO:<u5@d.test>", "QUIT"]
    assert conv.outcome().unsent == ()


def test_the_refusal_budget_lock_step() -> None:
    p = Plan(helo="h", recipients=_users(5), starttls="never", pipelining=False, max_refusals=2)
    conv, sent = drive(p, _refusing(1, 2, 3))
    assert sent[1:] == [
        ["MAIL FROM:<>"],
        ["RCPT TO:<u0@d.test>"],
        ["RCPT TO:<u1@d.test>"],
        ["RCPT TO:<u2@d.test>"],
        ["QUIT"],
    ]
    assert [r.address for r in conv.outcome().unsent] == ["u3@d.test", "u4@d.test"]


def test_the_catch_all_check_is_never_left_unsent_as_an_address() -> None:
    rcpts = (*_users(3), Recipient("random@d.test", random=True), *_users(6)[3:])
    p = Plan(helo="h", recipients=rcpts, starttls="never", max_refusals=2, min_flight=1)
    conv, sent = drive(p, _refusing(0, 1))
    assert sent[-2:] == [["MAIL FROM:<>", "RCPT TO:<u0@d.test>", "RCPT TO:<u1@d.test>"], ["QUIT"]]
    out = conv.outcome()
    assert [r.address for r in out.unsent] == ["u2@d.test", "u3@d.test", "u4@d.test", "u5@d.test"]


def test_a_refusal_budget_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Plan(helo="h", recipients=(), max_refusals=0)
    with pytest.raises(ValueError):
        Plan(helo="h", recipients=(), min_flight=0)


def test_many_recipients_lock_step() -> None:
    rcpts = tuple(Recipient(f"u{i}@d.test") for i in range(3))
    p = Plan(helo="probe.test", recipients=rcpts, pipelining=False, max_rcpts=2)
    _, sent = drive(p, Server())
    assert sent[1:] == [
        ["MAIL FROM:<>"],
        ["RCPT TO:<u0@d.test>"],
        ["RCPT TO:<u1@d.test>"],
        ["RSET"],
        ["MAIL FROM:<>"],
        ["RCPT TO:<u2@d.test>"],
        ["QUIT"],
    ]


def test_recipients_are_tied_to_their_replies() -> None:
    server = Server(
        replies={
            "EHLO": EHLO_PIPE,
            "RCPT TO:<a@d.test>": "250 2.1.5 Ok",
            "RCPT TO:<random@d.test>": "550 5.1.1 unknown",
        }
    )
    conv, _ = drive(plan("a@d.test", starttls="never"), server)
    got = [
        (r.address, r.random, r.step.reply.code if r.step.reply else None)
        for r in conv.outcome().recipients
    ]
    assert got == [("a@d.test", False, 250), ("random@d.test", True, 550)]


def test_unsolicited_data_ends_the_session() -> None:
    conv = Conversation(plan("a@d.test"))
    assert isinstance(conv.next_action(), Connect)
    conv.receive(reply("220 mx.test"))
    conv.receive(Unsolicited("250 nobody asked\r\n"))
    assert isinstance(conv.next_action(), Close)
    out = conv.outcome()
    assert out.error_kind == "protocol-error"
    assert any("nobody asked" in (s.error or "") for s in out.steps)


def test_abort_records_what_was_pending() -> None:
    conv = Conversation(plan("a@d.test", starttls="never"))
    conv.next_action()
    conv.receive(reply("220 mx.test"))
    conv.receive(reply(EHLO_PIPE))
    action = conv.next_action()
    assert isinstance(action, Send) and len(action.commands) == 4
    conv.abort("the overall deadline was reached", "timeout")
    out = conv.outcome()
    assert out.error_kind == "timeout"
    assert [s.error_kind for s in out.steps[-4:]] == ["timeout"] * 4
    assert isinstance(conv.next_action(), Close)


@pytest.mark.parametrize("verb", ["DATA", "BDAT 10 LAST", "data", "VRFY x", "AUTH PLAIN x"])
def test_commands_a_probe_never_sends_are_refused(verb: str) -> None:
    with pytest.raises(ValueError, match="refusing to send"):
        Command("mail", verb)


def test_a_command_cannot_smuggle_a_second_line() -> None:
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        Command("rcpt", "RCPT TO:<a@d.test>\r\nDATA")


def test_events_out_of_turn_are_a_bug_of_the_edge() -> None:
    conv = Conversation(plan("a@d.test"))
    conv.next_action()
    conv.receive(reply("220 mx.test"))
    conv.receive(reply(EHLO_PLAIN))
    conv.receive(reply("250 Ok"))  # MAIL
    conv.receive(reply("250 Ok"))  # RCPT a@
    conv.receive(reply("250 Ok"))  # RCPT random
    conv.receive(reply("221 Bye"))  # QUIT
    assert conv.done
    with pytest.raises(ProtocolViolation):
        conv.receive(reply("250 Ok"))


def test_bad_plans_are_refused() -> None:
    with pytest.raises(ValueError):
        Plan(helo="h", recipients=(), starttls="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Plan(helo="h", recipients=(), max_rcpts=0)


def test_every_error_kind_stands_for_a_reason() -> None:
    from smtpdiag.core.diagnose import error_reason
    from smtpdiag.core.model import ERROR_KINDS, REASONS

    assert {error_reason(k) for k in ERROR_KINDS} <= set(REASONS)
    assert error_reason("server-closed") == "server-error"  # once silently "unknown"
    assert error_reason(None) == "unknown"


def test_the_first_flight_goes_whatever_min_flight_says() -> None:
    # a budget of 1 (a server that cut us off after one refusal) still sends one RCPT
    p = Plan(helo="h", recipients=_users(5), starttls="never", max_refusals=1, min_flight=3)
    conv, sent = drive(p, _refusing(0))
    assert sent[1:] == [["MAIL FROM:<>", "RCPT TO:<u0@d.test>"], ["QUIT"]]
    assert len(conv.outcome().unsent) == 4
    conv, sent = drive(p, _refusing())  # accepted: the budget is still whole
    assert sent[2:] == [["RCPT TO:<u1@d.test>"], ["RCPT TO:<u2@d.test>"], *sent[4:]]
