"""Pure parsing of SMTP replies and EHLO extensions. Never raises on server data."""

from __future__ import annotations

import re

from .model import Reply

#: RFC 3463 status code at the start of a reply line: class.subject.detail
_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$|[^\w.])")
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
    enhanced = find_enhanced(lines[0]) if lines else None
    return Reply(code=code, enhanced=enhanced, lines=lines)


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
