"""The SMTP conversation as a pure state machine (sans-IO, after h11).

:class:`Conversation` owns every decision of a probe session and does no I/O. The I/O edge
(:mod:`smtpdiag.io.smtp`) asks it what to do next (:meth:`Conversation.next_action`),
does it, and feeds back what happened (:meth:`Conversation.receive`):

    conv = Conversation(plan)
    action = conv.next_action()          # Connect
    ...                                   # connect; the greeting arrives
    conv.receive(Replied(reply, 12.5))    # then Send(EHLO), Replied(...), ...

Decisions made here, and only here: EHLO, and HELO when EHLO is refused as unknown;
STARTTLS by mode (auto / require / never); SMTPUTF8 on MAIL when an address needs it, and
refusing to send a non-ASCII address to a server without it; PIPELINING (RFC 2920: MAIL,
every RCPT and QUIT in one flight when the server offers it); the catch-all RCPT (lock-step:
only after the real address was accepted); 421 ends the session; how many recipients one
transaction carries, and RSET between transactions; how many refused RCPTs one session may
collect (``max_refusals``: servers count them as errors and slow down or disconnect), the
recipients it did not get to being left unsent for another session; QUIT at the end. DATA
and BDAT cannot be sent: :class:`Command` refuses them.

Replies, refusals, timeouts and closed connections are events, recorded as :class:`Step`
data in order; nothing here raises on server behaviour.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from smtpdiag.core.model import ErrorKind, RecipientResult, Reply, Stage, Step, TlsInfo
from smtpdiag.core.records import record
from smtpdiag.core.reply import parse_extensions

StartTls = Literal["auto", "require", "never"]

#: Commands a conversation may send. DATA and BDAT are deliberately absent.
ALLOWED_VERBS = frozenset({"EHLO", "HELO", "STARTTLS", "MAIL", "RCPT", "RSET", "QUIT", "NOOP"})

#: RCPT commands per transaction (RFC 5321 4.5.3.1.8: servers must take at least 100).
MAX_RCPTS_PER_TRANSACTION = 100


# -- the plan -------------------------------------------------------------------------------


@record
class Recipient:
    """One address to try with RCPT TO. ``random`` marks the catch-all check."""

    address: str
    random: bool = False
    needs_smtputf8: bool = False


@record
class Plan:
    """What one session is asked to do."""

    helo: str
    recipients: tuple[Recipient, ...]
    mail_from: str = ""  # "" is the null reverse-path <>
    starttls: StartTls = "auto"
    pipelining: bool = True
    max_rcpts: int = MAX_RCPTS_PER_TRANSACTION
    #: refused RCPTs (4xx/5xx) the session may collect; None: no limit. With pipelining, a
    #: flight carries at most as many RCPTs as may still be refused, so even a flight
    #: refused whole stays within it; the recipients left when it is spent are not sent.
    max_refusals: int | None = None
    #: with ``max_refusals``, a flight after the first is sent only when this many RCPTs (or
    #: all that are left) fit into what may still be refused; below that, a new session is
    #: cheaper than a round trip for one or two recipients
    min_flight: int = 3

    def __post_init__(self) -> None:
        if self.starttls not in ("auto", "require", "never"):
            raise ValueError(f"starttls must be auto, require or never, not {self.starttls!r}")
        if not 1 <= self.max_rcpts <= 1000:
            raise ValueError("max_rcpts must be from 1 to 1000")
        if self.max_refusals is not None and self.max_refusals < 1:
            raise ValueError("max_refusals must be at least 1")
        if self.min_flight < 1:
            raise ValueError("min_flight must be at least 1")


# -- actions: what the I/O edge must do -----------------------------------------------------


@record
class Command:
    """One command line to send (without CRLF) and the stage it belongs to."""

    stage: Stage
    line: str

    def __post_init__(self) -> None:
        verb = self.line.split(" ", 1)[0].upper()
        if verb not in ALLOWED_VERBS:  # the one gate every command passes
            raise ValueError(f"refusing to send {verb}: a probe never sends it")
        line = self.line
        if "\r" in line or "\n" in line or "\0" in line:
            raise ValueError("a command line cannot contain CR, LF or NUL")

    @property
    def data(self) -> bytes:
        return self.line.encode("utf-8") + b"\r\n"


@record
class Connect:
    """Open the connection and read the greeting (feed it as :class:`Replied`)."""


@record
class Send:
    """Write these commands in one flight, then read one reply per command, in order
    (feed each as :class:`Replied` or :class:`NoReply`)."""

    commands: tuple[Command, ...]


@record
class UpgradeTls:
    """Do the TLS handshake now (the server said 220 to STARTTLS); feed :class:`TlsDone`
    or :class:`NoReply` with kind ``tls-failed``."""


@record
class Close:
    """The conversation is over: close the connection."""


Action = Connect | Send | UpgradeTls | Close


# -- events: what happened ------------------------------------------------------------------


@record
class Replied:
    """A complete reply arrived (the greeting, or the reply to the oldest pending command)."""

    reply: Reply
    elapsed_ms: float = 0.0


@record
class NoReply:
    """No usable reply: timeout, connection refused or closed, garbage, TLS failure.

    ``kind`` is the reason it stands for (``timeout``, ``network``, ``protocol-error``,
    ``tls-failed``). ``connected`` is False when the connection never opened.
    """

    error: str
    kind: ErrorKind
    elapsed_ms: float = 0.0
    connected: bool = True


@record
class TlsDone:
    """The TLS handshake completed."""

    info: TlsInfo | None
    elapsed_ms: float = 0.0


@record
class Unsolicited:
    """The server sent bytes no command asked for (they would pair replies wrongly)."""

    text: str


Event = Replied | NoReply | TlsDone | Unsolicited


# -- the outcome ----------------------------------------------------------------------------


@record
class Outcome:
    """Everything the conversation recorded."""

    steps: tuple[Step, ...]
    recipients: tuple[RecipientResult, ...]
    extensions: tuple[tuple[str, str], ...]
    tls: TlsInfo | None
    error: str | None
    error_kind: ErrorKind | None
    flights: int
    pipelined: bool
    #: recipients of the plan never sent: the session's refusal budget was spent first
    unsent: tuple[Recipient, ...] = ()


class ProtocolViolation(Exception):
    """The I/O edge fed an event the conversation cannot take in its state (a bug)."""


_HELO_FALLBACK = frozenset({500, 501, 502, 504})

_State = Literal[
    "start",
    "greeting",
    "ehlo",
    "helo",
    "starttls",
    "tls",
    "ehlo-tls",
    "transaction",
    "closing",
    "done",
]


@record
class _Pending:
    command: Command
    recipient: Recipient | None = None


class Conversation:
    """One SMTP session's decisions. Not thread-safe; one per connection.

    A plain class, not a record: it is the one mutable thing in the core (h11's
    ``Connection`` is the model), and its state is private.
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._state: _State = "start"
        self._pending: list[_Pending] = []
        self._steps: list[Step] = []
        self._recipients: list[RecipientResult] = []
        self._extensions: tuple[tuple[str, str], ...] = ()
        self._tls: TlsInfo | None = None
        self._error: str | None = None
        self._error_kind: ErrorKind | None = None
        self._next: Action | None = None
        self._flights = 0
        self._pipelined = False
        self._queue: list[Recipient] = []
        self._in_transaction = 0  # RCPTs sent in the open transaction
        self._mail_ok = False
        self._closing_sent = False
        self._refused = 0  # RCPTs answered 4xx/5xx in this session
        self._unsent: list[Recipient] = []

    def __repr__(self) -> str:
        return f"Conversation(state={self._state!r}, steps={len(self._steps)})"

    # -- public ------------------------------------------------------------------------------

    def next_action(self) -> Action:
        """What the I/O edge must do now. Calling it twice returns the same action."""
        if self._state == "start":
            self._state = "greeting"
            self._next = Connect()
        if self._next is None:
            raise ProtocolViolation(f"no action: waiting for {len(self._pending)} replies")
        return self._next

    @property
    def done(self) -> bool:
        return self._state == "done"

    @property
    def pending(self) -> int:
        """Replies still owed by the server for the commands sent."""
        return len(self._pending)

    def receive(self, event: Event) -> None:
        """Take in what happened; :meth:`next_action` then says what to do next."""
        if self._state == "done":
            raise ProtocolViolation(f"{type(event).__name__} after the conversation ended")
        if isinstance(event, Unsolicited):
            self._unsolicited(event)
            return
        if self._state == "greeting":
            self._on_greeting(event)
        elif self._state == "tls":
            self._on_tls(event)
        else:
            if not self._pending:
                raise ProtocolViolation(f"{type(event).__name__} with no command pending")
            pending = self._pending.pop(0)
            self._on_reply(pending, event)

    def outcome(self) -> Outcome:
        return Outcome(
            steps=tuple(self._steps),
            recipients=tuple(self._recipients),
            extensions=self._extensions,
            tls=self._tls,
            error=self._error,
            error_kind=self._error_kind,
            flights=self._flights,
            pipelined=self._pipelined,
            unsent=tuple(self._unsent),
        )

    def abort(self, error: str, kind: ErrorKind) -> None:
        """End at once (the overall deadline passed): record it; the edge closes."""
        if self._state == "done":
            return
        self._unanswered(error, kind)
        self._fail(error, kind)

    # -- helpers -----------------------------------------------------------------------------

    @property
    def _offered(self) -> frozenset[str]:
        return frozenset(name for name, _ in self._extensions)

    def _send(self, *commands: Command, recipients: Sequence[Recipient | None] = ()) -> None:
        rcpts = list(recipients) + [None] * (len(commands) - len(recipients))
        self._pending = [_Pending(c, r) for c, r in zip(commands, rcpts, strict=True)]
        self._flights += 1
        self._next = Send(tuple(commands))

    def _fail(self, error: str, kind: ErrorKind) -> None:
        """The session cannot go on: keep the first error, close without more commands."""
        if self._error is None:
            self._error, self._error_kind = error, kind
        self._close()

    def _close(self) -> None:
        self._state = "done"
        self._pending.clear()
        self._next = Close()

    def _quit_or_close(self, error: str | None = None, kind: ErrorKind | None = None) -> None:
        """Say QUIT if the connection is still good, then close."""
        if error is not None and kind is not None and self._error is None:
            self._error, self._error_kind = error, kind
        self._state = "closing"
        self._send(Command("quit", "QUIT"))

    def _record(
        self, stage: Stage, command: str | None, event: Replied | NoReply | TlsDone
    ) -> Step:
        if isinstance(event, Replied):
            step = Step(stage, command, event.reply, event.elapsed_ms)
        elif isinstance(event, NoReply):
            step = Step(stage, command, None, event.elapsed_ms, event.error, event.kind)
        else:
            step = Step(stage, command, None, event.elapsed_ms)
        self._steps.append(step)
        return step

    def _record_command(self, pending: _Pending, event: Replied | NoReply) -> Step:
        step = self._record(pending.command.stage, pending.command.line, event)
        if pending.recipient is not None:
            self._recipients.append(
                RecipientResult(pending.recipient.address, step, pending.recipient.random)
            )
            if step.reply is not None and step.reply.code >= 400:
                self._refused += 1
        return step

    def _unanswered(self, error: str, kind: ErrorKind) -> None:
        """Record every command still waiting for a reply as unanswered, and drop them."""
        for pending in self._pending:
            self._record_command(pending, NoReply(error, kind))
        self._pending.clear()

    def _unsolicited(self, event: Unsolicited) -> None:
        stage = self._steps[-1].stage if self._steps else "banner"
        self._steps.append(
            Step(
                stage,
                None,
                None,
                0.0,
                f"the server sent data nobody asked for: {event.text[:300]!r}",
                "protocol-error",
            )
        )
        self._unanswered("not read: the replies were out of step", "protocol-error")
        self._fail("the server sent replies before any command asked for them", "protocol-error")

    # -- states ------------------------------------------------------------------------------

    def _on_greeting(self, event: Event) -> None:
        if isinstance(event, NoReply):
            if event.connected:  # connected, but no valid greeting
                self._record("banner", None, event)
            self._fail(event.error, event.kind)
            return
        if not isinstance(event, Replied):
            raise ProtocolViolation(f"{type(event).__name__} while waiting for the greeting")
        self._record("banner", None, event)
        code = event.reply.code
        if code == 220:
            self._state = "ehlo"
            self._send(Command("ehlo", f"EHLO {self.plan.helo}"))
        elif code == 421:  # the server is closing the channel: nothing more to say
            self._fail(f"the server refused the session in its greeting ({code})", "greeting")
        elif code // 100 in (4, 5):
            # RFC 5321 3.1: after a 554 greeting the client should QUIT
            self._quit_or_close(
                f"the server refused the session in its greeting ({code})", "greeting"
            )
        else:
            self._fail(f"the greeting has code {code}, not 220", "protocol-error")

    def _on_tls(self, event: Event) -> None:
        if isinstance(event, TlsDone):
            self._tls = event.info
            self._state = "ehlo-tls"
            self._extensions = ()
            self._send(Command("ehlo", f"EHLO {self.plan.helo}"))
        elif isinstance(event, NoReply):
            self._fail(event.error, event.kind if event.kind != "timeout" else "tls-failed")
        else:
            raise ProtocolViolation(f"{type(event).__name__} during the TLS handshake")

    def _on_reply(self, pending: _Pending, event: Event) -> None:
        if not isinstance(event, Replied | NoReply):
            raise ProtocolViolation(f"{type(event).__name__} where a reply was due")
        step = self._record_command(pending, event)
        state = self._state
        if state == "closing":
            if not self._pending:
                self._close()
            return
        if isinstance(event, NoReply):
            # no reply: what was still pending will not come either
            self._unanswered("not answered: the session had already failed", event.kind)
            self._fail(event.error, event.kind)
            return
        reply = event.reply
        if state in ("ehlo", "helo", "ehlo-tls"):
            self._on_hello(state, reply)
        elif state == "starttls":
            if reply.code == 220:
                self._state = "tls"
                self._next = UpgradeTls()
            else:
                self._quit_or_close(f"the server refused STARTTLS ({reply.code})", "tls-failed")
        elif state == "transaction":
            self._on_transaction(pending, step, reply)

    def _on_hello(self, state: _State, reply: Reply) -> None:
        if reply.code == 250:
            self._extensions = parse_extensions(reply) if state != "helo" else ()
            if state == "ehlo" and self._starttls_wanted():
                return
            self._begin_transactions()
            return
        if reply.code == 421:
            self._fail("the server closed the session (421)", "server-closed")
        elif state == "ehlo" and reply.code in _HELO_FALLBACK:
            self._state = "helo"
            self._send(Command("helo", f"HELO {self.plan.helo}"))
        elif state == "ehlo-tls":
            self._quit_or_close("the server did not accept EHLO after STARTTLS", "ehlo")
        else:
            self._quit_or_close("the server did not accept EHLO or HELO", "ehlo")

    def _starttls_wanted(self) -> bool:
        """Start STARTTLS if the mode wants it; True when the conversation went on there."""
        mode = self.plan.starttls
        if mode == "never":
            return False
        if "STARTTLS" not in self._offered:
            if mode == "require":
                self._quit_or_close(
                    "the server does not offer STARTTLS, and STARTTLS is required",
                    "tls-required",
                )
                return True
            return False
        self._state = "starttls"
        self._send(Command("starttls", "STARTTLS"))
        return True

    # -- transactions ------------------------------------------------------------------------

    def _can_send(self, rcpt: Recipient) -> bool:
        return not rcpt.needs_smtputf8 or "SMTPUTF8" in self._offered

    def _mail_command(self) -> Command:
        wants_utf8 = any(r.needs_smtputf8 for r in self._queue) or not self.plan.mail_from.isascii()
        params = " SMTPUTF8" if wants_utf8 and "SMTPUTF8" in self._offered else ""
        return Command("mail", f"MAIL FROM:<{self.plan.mail_from}>{params}")

    def _not_sent(self, rcpt: Recipient) -> None:
        step = Step(
            "rcpt",
            None,
            None,
            0.0,
            f"not sent: {rcpt.address} has a non-ASCII local part and the server does not "
            "offer SMTPUTF8 (RFC 6531), so it cannot receive mail for it this way",
            "smtputf8-unsupported",
        )
        self._steps.append(step)
        self._recipients.append(RecipientResult(rcpt.address, step, rcpt.random))

    def _begin_transactions(self) -> None:
        self._state = "transaction"
        self._pipelined = self.plan.pipelining and "PIPELINING" in self._offered
        self._queue = list(self.plan.recipients)
        self._start_transaction(first=True)

    def _room(self) -> int | None:
        """RCPTs that may still be refused in this session (None: no limit)."""
        if self.plan.max_refusals is None:
            return None
        return max(0, self.plan.max_refusals - self._refused)

    def _leave_unsent(self) -> None:
        """The refusal budget is spent: what is left goes to another session."""
        self._unsent.extend(r for r in self._queue if not r.random)
        self._queue.clear()

    def _take_batch(self, limit: int) -> list[Recipient]:
        """The recipients of the next flight, at most ``limit`` sendable ones; the
        unsendable ones are recorded as such on the way."""
        batch: list[Recipient] = []
        while self._queue and len(batch) < limit:
            rcpt = self._queue[0]
            if not self._can_send(rcpt):
                self._queue.pop(0)
                self._not_sent(rcpt)
                continue
            batch.append(self._queue.pop(0))
        if not any(not r.random for r in batch):
            return []  # a catch-all check alone says nothing
        return batch

    def _flight_size(self, in_transaction: int) -> int:
        """RCPTs the next pipelined flight may carry: what the transaction and the refusal
        budget leave room for (0: send no more, a new session is better)."""
        size = self.plan.max_rcpts - in_transaction
        room = self._room()
        if room is not None:
            left = len(self._queue)  # unsendable ones too: they are recorded on the way
            later = bool(self._recipients)  # the session's first flight always goes
            # (and a budget smaller than min_flight allows no bigger flights anyway)
            least = min(self.plan.min_flight, left, self.plan.max_refusals or 1)
            if room == 0 or (later and room < least):
                return 0
            size = min(size, room)
        return size

    def _start_transaction(self, first: bool) -> None:
        if not any(self._can_send(r) and not r.random for r in self._queue):
            self._take_batch(len(self._queue))  # records every unsendable recipient
            self._quit_or_close()
            return
        mail = self._mail_command()
        self._mail_ok = False
        self._in_transaction = 0
        prefix = [] if first else [Command("rset", "RSET")]
        if not self._pipelined:
            self._send(*(prefix or [mail]))  # lock-step: RSET first, MAIL on its reply
            return
        size = self._flight_size(0)
        if size == 0:
            self._leave_unsent()
            self._quit_or_close()
            return
        batch = self._take_batch(size)
        rcpts = [Command("rcpt", f"RCPT TO:<{r.address}>") for r in batch]
        self._in_transaction = len(batch)
        end = [Command("quit", "QUIT")] if not self._queue else []
        self._send(*prefix, mail, *rcpts, *end, recipients=[None] * (len(prefix) + 1) + list(batch))

    def _next_flight(self) -> None:
        """Pipelined, after a flight's last reply: more RCPTs in the open transaction
        while it and the refusal budget have room; a new transaction when it is full."""
        if not any(self._can_send(r) and not r.random for r in self._queue):
            self._take_batch(len(self._queue))  # records every unsendable recipient
            self._quit_or_close()
            return
        if not self._mail_ok or self._in_transaction >= self.plan.max_rcpts:
            self._start_transaction(first=False)
            return
        size = self._flight_size(self._in_transaction)
        if size == 0:
            self._leave_unsent()
            self._quit_or_close()
            return
        batch = self._take_batch(size)
        if not batch:
            self._quit_or_close()
            return
        self._in_transaction += len(batch)
        rcpts = [Command("rcpt", f"RCPT TO:<{r.address}>") for r in batch]
        end = [Command("quit", "QUIT")] if not self._queue else []
        self._send(*rcpts, *end, recipients=list(batch))

    def _on_transaction(self, pending: _Pending, step: Step, reply: Reply) -> None:
        stage = pending.command.stage
        if reply.code == 421:
            self._unanswered("not answered: the server closed the session (421)", "server-closed")
            self._fail("the server closed the session (421)", "server-closed")
            return
        if stage == "mail":
            self._mail_ok = reply.code // 100 == 2
            if not self._pipelined:
                if not self._mail_ok:
                    self._quit_or_close()
                    return
                self._next_lockstep_rcpt()
            return
        if stage == "quit":  # the pipelined flight's last reply
            if not self._pending:
                self._close()
            return
        if self._pipelined:
            if self._pending:
                return  # more replies of this flight to come
            if self._queue:
                self._next_flight()
            else:
                self._quit_or_close()
            return
        if stage == "rset":
            if reply.code // 100 != 2:
                self._quit_or_close("the server refused RSET", "protocol-error")
            elif not self._pipelined:
                self._send(self._mail_command())
            return
        self._next_lockstep_rcpt()

    def _next_lockstep_rcpt(self) -> None:
        """Lock-step: the next RCPT, skipping the catch-all check unless a real address of
        this session was accepted; a new transaction when this one is full."""
        while self._queue:
            rcpt = self._queue[0]
            if not self._can_send(rcpt):
                self._queue.pop(0)
                self._not_sent(rcpt)
                continue
            if rcpt.random and not self._any_accepted():
                self._queue.pop(0)
                continue
            if self._room() == 0:
                self._leave_unsent()
                break
            if self._in_transaction >= self.plan.max_rcpts:
                self._start_transaction(first=False)
                return
            self._queue.pop(0)
            self._in_transaction += 1
            self._send(Command("rcpt", f"RCPT TO:<{rcpt.address}>"), recipients=[rcpt])
            return
        self._quit_or_close()

    def _any_accepted(self) -> bool:
        return any(
            not r.random and r.step.reply is not None and r.step.reply.code // 100 == 2
            for r in self._recipients
        )
