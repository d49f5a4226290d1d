"""Pure parsing of SMTP replies and EHLO extensions. Never raises on server data."""

from __future__ import annotations

import re

from smtpdiag.core.lazyre import LazyPattern, lazy
from smtpdiag.core.model import Reply
from smtpdiag.core.records import record

#: RFC 3463 status code at the start of a reply line: class.subject.detail
_ENHANCED = re.compile(r"^#?([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$|[^\w.])")
#: A reply line as sent on the wire: three digits, then space, dash or end.
_WIRE_LINE = re.compile(r"^(\d{3})([ -]?)(.*)$", re.DOTALL)

MAX_LINES = 1000
MAX_LINE_CHARS = 2000


def find_enhanced(text: str) -> str | None:
    """The enhanced status code at the start of ``text``, e.g. ``5.1.1``, or None."""
    m = _ENHANCED.match(text.lstrip())
    if not m:
        return None
    return f"{m.group(1)}.{int(m.group(2))}.{int(m.group(3))}"


_QMAIL_STYLE = lazy(r"\(#([245]\.\d{1,3}\.\d{1,3})\)")


def find_trailing_enhanced(text: str) -> str | None:
    """qmail and some gateways put the status code at the end: "... (#5.1.1)"."""
    m = _QMAIL_STYLE.search(text)
    return find_enhanced(m.group(1)) if m else None


def make_reply(code: int, message: str) -> Reply:
    """Build a :class:`Reply` from a code and the reply text (lines joined by LF).

    ``message`` is what follows the code on each line, as aiosmtplib hands it over.
    Very long replies are cut to a bound so that a hostile server cannot make
    the transcript grow without limit.
    """
    raw_lines = message.split("\n") if message else [""]
    lines = tuple(line[:MAX_LINE_CHARS] for line in raw_lines[:MAX_LINES])
    if len(raw_lines) > MAX_LINES:
        lines += (f"[... {len(raw_lines) - MAX_LINES} more lines not shown]",)
    enhanced = _enhanced_for(code, lines)
    return Reply(code=code, enhanced=enhanced, lines=lines)


def _enhanced_for(code: int, lines: tuple[str, ...]) -> str | None:
    """The enhanced code of a reply: the first line's, if its class matches the basic code
    (RFC 3463); a line whose class does match otherwise; else None."""
    found = [e for e in (find_enhanced(line) for line in lines[:50]) if e]
    for enhanced in found:
        if enhanced[0] == str(code)[:1]:
            return enhanced
    # Exchange writes "#550 4.4.7 QUEUE.Expired" (a final failure of a temporary cause):
    # a 5xx with a 4.x.x code on its first line keeps it
    first = find_enhanced(lines[0]) if lines else None
    if first and code // 100 == 5 and first[0] == "4":
        return first
    return None


def parse_wire(text: str) -> Reply | None:
    """Parse reply lines as they appear on the wire (``250-first`` ... ``250 last``).

    Returns None when no line starts with a three-digit code.
    """
    code: int | None = None
    lines: list[str] = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        m = _WIRE_LINE.match(raw.strip())
        if not m:
            continue
        if code is None:
            code = int(m.group(1))
        lines.append(m.group(3).strip())
        if m.group(2) != "-":
            break
    if code is None:
        return None
    return make_reply(code, "\n".join(lines))


def parse_extensions(reply: Reply) -> tuple[tuple[str, str], ...]:
    """ESMTP extensions from an EHLO reply: ``(("SIZE", "35882577"), ("PIPELINING", ""))``.

    The first line is the server's greeting name and is skipped. Keywords are upper-cased;
    lines that are not valid ehlo-keywords are ignored.
    """
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for line in reply.lines[1:]:
        parts = line.strip().split(None, 1)
        if not parts:
            continue
        keyword = parts[0].upper()
        # AUTH=LOGIN is an old form of AUTH LOGIN
        if "=" in keyword and keyword.startswith("AUTH="):
            keyword, extra = "AUTH", parts[0][5:]
            params = (extra + " " + (parts[1] if len(parts) > 1 else "")).strip()
        else:
            params = parts[1].strip() if len(parts) > 1 else ""
        if not re.fullmatch(r"[A-Z0-9][A-Z0-9-]{0,63}", keyword) or keyword in seen:
            continue
        seen.add(keyword)
        out.append((keyword, params[:MAX_LINE_CHARS]))
    return tuple(out)


# -- replies quoted in bounces and pasted text -----------------------------------------------

#: where a bounce says the reply came from -> SMTP stage
_STAGE_HINTS: tuple[tuple[LazyPattern, str], ...] = tuple(
    (lazy(p, re.IGNORECASE), stage)
    for p, stage in (
        (
            r"in reply to (the )?RCPT TO\b|after (pipelined )?RCPT TO\b|\bRCPT TO:?\s*<[^>]*>:\s*$|"
            r"(during|at|while sending|in response to|for) (the )?RCPT( TO)?\b|"
            r"\bdoes not like recipient|\bdidn.t like recipient|\[RCPT_TO\]|"
            r"after (the )?recipient (command|address)",
            "rcpt",
        ),
        (
            r"in reply to (the )?MAIL FROM\b|after (pipelined )?MAIL FROM\b|"
            r"(during|at|while sending|in response to) (the )?MAIL FROM\b|"
            r"\bdoes not like sender|\bdidn.t like sender|\[MAIL_FROM\]",
            "mail",
        ),
        (
            r"in reply to (the )?end of DATA|after end of data|after (pipelined )?DATA\b|"
            r"in reply to (the )?DATA\b|after (the )?message (body|content)|"
            r"(during|while sending|in response to) (the )?(DATA (command|phase)|end of data)\b|"
            r"\bfailed after I sent the message|\[END_OF_DATA\]|\[DATA\]",
            "data",
        ),
        (
            r"in reply to (the )?(initial )?greeting|after (the )?initial connection|"
            r"\bin the (SMTP )?greeting|\bbanner\b",
            "banner",
        ),
        (r"in reply to (the )?(EHLO|HELO|LHLO)\b|after (EHLO|HELO)\b", "ehlo"),
        (r"in reply to (the )?STARTTLS|after STARTTLS\b", "starttls"),
        (r"in reply to (the )?AUTH\b|after AUTH\b", "auth"),
    )
)
# A reply code where a reply starts: at a line start or after a quote, colon, "said",
# "returned" ... but never inside a number (IP octets, ports, dates).
_CODE_AT = lazy(r"(?<![\w.\-/])([2-5][0-5]\d)(?=[ \-]|$)", re.MULTILINE)
_LINE_CODE = lazy(r"^\s*([2-5][0-5]\d)([ \-])\s?(.*)$")
_TRAILERS = lazy(r"\s*\((in reply to|after)\b[^)]*\)\s*$|\s*['\"]\s*$", re.IGNORECASE)
MAX_INPUT = 100_000


@record
class Extracted:
    """A reply found in pasted text: code (if any), enhanced code, text, stage hint."""

    code: int | None
    enhanced: str | None
    text: str
    stage: str | None


#: a Sendmail-style session transcript: ">>> RCPT To:<a@b>" then "<<< 550 ..."
_TRANSCRIPT = lazy(r"^\s*>>>\s*(MAIL|RCPT|DATA|EHLO|HELO|STARTTLS|AUTH|\.)\b", re.I | re.M)
_TRANSCRIPT_REPLY = lazy(r"^\s*<<<\s*[45]\d\d", re.M)
_TRANSCRIPT_STAGE = {
    "mail": "mail",
    "rcpt": "rcpt",
    "data": "data",
    ".": "data",
    "ehlo": "ehlo",
    "helo": "ehlo",
    "starttls": "starttls",
    "auth": "auth",
}


def detect_stage(text: str) -> str | None:
    refusal = _TRANSCRIPT_REPLY.search(text)
    if refusal:
        commands = [m for m in _TRANSCRIPT.finditer(text, 0, refusal.start())]
        if commands:
            return _TRANSCRIPT_STAGE[commands[-1].group(1).lower()]
    for pattern, stage in _STAGE_HINTS:
        if pattern.search(text):
            return stage
    return None


_INTRO_WORDS = lazy(
    r"(said|returned|was|error|response|reply|answered|smtp;?)\s*:?\s*$", re.IGNORECASE
)


def _plausible_reply_start(text: str, start: int, code: str) -> bool:
    """A number is taken for a reply code only where replies start: at a line start,
    after a quote, colon or semicolon, or after words like "said:" and "returned"."""
    line = text[text.rfind("\n", 0, start) + 1 : start]
    if not line.strip():
        return True
    if code[0] == "3":
        return False
    before = line.rstrip()
    if before.endswith(":") and "=" in before.split()[-1]:
        return False  # a log field ("X=TLS1.3:TLS_AES_256_GCM_SHA384:256"), not a reply
    return before.endswith((":", "'", '"', ";", "(", "<", "[", "#")) or bool(
        _INTRO_WORDS.search(before)
    )


def extract_reply(pasted: str) -> Extracted:
    """Find the SMTP reply in a pasted reply, bounce or NDR. Never raises.

    Handles bare replies ("550 5.1.1 ..."), multi-line replies ("550-5.1.1 ...\\n550 ..."),
    replies quoted inside bounces ("host mx[192.0.2.9] said: 550 ... (in reply to RCPT TO
    command)", "Remote Server returned '550 5.1.10 ...'"), and texts without any code.
    """
    text = pasted[:MAX_INPUT].replace("\r\n", "\n").replace("\r", "\n")
    stage = detect_stage(text)
    # a refusal beats a positive reply (a session transcript shows many "250 ok" before
    # the reply that failed); a code followed by its matching enhanced code beats one
    # that is merely plausible
    ranked: dict[int, re.Match[str]] = {}
    for m in _CODE_AT.finditer(text):
        negative = m.group(1)[0] in "45"
        after = text[m.end() : m.end() + 16].lstrip(" -")
        enhanced = find_enhanced(after)
        if enhanced is not None and enhanced[0] == m.group(1)[0]:
            rank = 0 if negative else 2
        elif _plausible_reply_start(text, m.start(), m.group(1)):
            rank = 1 if negative else 3
        else:
            continue
        ranked.setdefault(rank, m)
        if rank == 0:
            break
    best = ranked[min(ranked)] if ranked else None
    if best is None:
        body = " ".join(line.strip() for line in text.split("\n") if line.strip())
        body = _TRAILERS.sub("", body)
        return Extracted(None, find_enhanced(body), body, stage)
    code = int(best.group(1))
    rest = text[best.start() :]
    lines: list[str] = []
    for raw in rest.split("\n"):
        line_match = _LINE_CODE.match(raw)
        if line_match and int(line_match.group(1)) == code:
            lines.append(line_match.group(3).strip())
            if line_match.group(2) == " " and len(lines) > 1:
                break
            continue
        if not lines:
            continue
        folded = raw.strip() and len(lines) == 1 and not lines[-1].endswith(")")
        if (
            folded
            and not _LINE_CODE.match(raw)
            and not raw.strip().startswith(("--", "Reporting-"))
        ):
            # a wrapped continuation of a single-line reply (bounces fold long lines)
            lines.append(raw.strip())
            continue
        break
    if not lines:
        lines = [rest[len(best.group(1)) :].strip(" -")]
    body = " ".join(x for x in lines if x)
    body = _TRAILERS.sub("", body).strip()
    enhanced = find_enhanced(body)
    return Extracted(code, enhanced, body, stage)


# -- framing: bytes from the wire to replies (sans-IO) --------------------------------------

#: Bounds on what one reply may be: longer lines or replies are a protocol error, never
#: an ever-growing buffer (RFC 5321 4.5.3.1.5 allows 512 octets a line).
MAX_WIRE_LINE = 8192
MAX_WIRE_REPLY = 64 * 1024


@record
class BadReply:
    """Bytes that are not a valid SMTP reply; the connection cannot be trusted after it."""

    error: str


class ReplyReader:
    """Turn bytes as they arrive into complete replies, in order, with bounded memory.

    ``feed`` takes any chunk; ``next_reply`` returns the oldest complete reply, a
    :class:`BadReply` for garbage (after which the reader stays broken), or None when more
    bytes are needed. Lines end in CRLF or a bare LF; the final line's code is the reply's
    code (as servers whose code changes mid-reply are read by most clients); non-UTF-8
    bytes are kept as surrogate escapes.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._lines: list[bytes] = []
        self._size = 0
        self._broken: BadReply | None = None

    @property
    def buffered(self) -> bool:
        """True when bytes of a reply nobody has taken yet are waiting."""
        return bool(self._buffer.strip()) or bool(self._lines)

    def peek(self, limit: int = 300) -> str:
        data = b"\n".join(self._lines) + bytes(self._buffer)
        return data[:limit].decode("utf-8", "surrogateescape")

    def feed(self, data: bytes) -> None:
        if self._broken is None:
            self._buffer.extend(data)
            if len(self._buffer) > MAX_WIRE_REPLY + MAX_WIRE_LINE:
                self._break("the server sent a reply longer than 64 KB")

    def _break(self, error: str) -> BadReply:
        self._broken = BadReply(error)
        self._buffer.clear()
        self._lines.clear()
        return self._broken

    def next_reply(self) -> Reply | BadReply | None:
        if self._broken is not None:
            return self._broken
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > MAX_WIRE_LINE:
                    return self._break(
                        f"the server sent a reply line longer than {MAX_WIRE_LINE} bytes"
                    )
                return None
            raw = bytes(self._buffer[:end]).rstrip(b"\r")
            del self._buffer[: end + 1]
            if len(raw) > MAX_WIRE_LINE:
                return self._break(
                    f"the server sent a reply line longer than {MAX_WIRE_LINE} bytes"
                )
            if len(raw) < 3 or not raw[:3].isdigit() or raw[3:4] not in (b"", b" ", b"-"):
                text = raw[:300].decode("utf-8", "surrogateescape")
                return self._break(f"the server's reply is not valid SMTP: {text}")
            self._lines.append(raw)
            self._size += len(raw)
            if self._size > MAX_WIRE_REPLY:
                return self._break("the server sent a reply longer than 64 KB")
            if raw[3:4] != b"-":
                return self._complete()

    def _complete(self) -> Reply | BadReply:
        lines, self._lines, self._size = self._lines, [], 0
        code = int(lines[-1][:3])
        text = "\n".join(
            line[4:].strip(b" \t").decode("utf-8", "surrogateescape") for line in lines
        )
        if not 200 <= code <= 599:
            return self._break(
                f"the server's reply has code {code}, which SMTP does not define: {text[:300]}"
            )
        return make_reply(code, text)
