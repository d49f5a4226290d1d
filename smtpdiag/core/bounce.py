"""Pure parsing of whole bounce messages: RFC 3464 delivery status notifications, the
plain-text and HTML reports of MTAs and providers that send none, and Amazon SES
notifications. A message in, its failed recipients (each with what the report says of
it) and the returned original's headers out. No I/O; never raises on message data.

MIME is left to the standard library's :mod:`email` package (``policy.default``). What
this module adds is the knowledge of how bounces are laid out, which lives as data in
``data/bounce.toml``: where the returned original starts, which lines name a failed
recipient, what a delay warning or an auto-reply looks like.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from html.parser import HTMLParser
from typing import Any

from smtpdiag.core.datafiles import load as load_data
from smtpdiag.core.records import record

#: At most this much of a message is parsed: a bounce's report comes before the returned
#: original, so a cut copy still holds everything that matters.
MAX_MESSAGE = 4_000_000
MAX_PARTS = 200
MAX_DEPTH = 6
MAX_TEXT = 200_000
MAX_RECIPIENTS = 500
MAX_DIAGNOSTIC = 4_000
MAX_HEADER = 2_000
MAX_LINE = 1_000

Kind = str  # "bounce" | "delay" | "delivered" | "auto-reply" | "feedback-report" | ...
KINDS = (
    "bounce",
    "delay",
    "delivered",
    "auto-reply",
    "feedback-report",
    "read-receipt",
    "not-a-bounce",
)


@record
class AuthVerdict:
    """One result from an Authentication-Results or Received-SPF header."""

    method: str  # spf, dkim, dmarc, arc, compauth, iprev, ...
    result: str  # pass, fail, softfail, none, ...
    detail: str  # the rest of the clause: "smtp.mailfrom=example.com"
    header: str  # the header it came from
    authserv_id: str | None = None


@record
class Original:
    """The headers of the returned original message."""

    from_: str | None
    to: str | None
    subject: str | None
    date: str | None
    message_id: str | None
    return_path: str | None
    auth: tuple[AuthVerdict, ...]
    dkim_domains: tuple[str, ...]  # d= of each DKIM-Signature
    source: str  # "message/rfc822", "text/rfc822-headers", "inline"


@record
class Recipient:
    """What a report says about one recipient."""

    address: str
    original_recipient: str | None = None
    action: str | None = None  # failed, delayed, delivered, relayed, expanded
    status: str | None = None  # the DSN Status (or the enhanced code the text gives)
    remote_mta: str | None = None
    diagnostic: str | None = None  # verbatim, unfolded, "smtp;" stripped
    diagnostic_type: str | None = None  # smtp, x-postfix, x-unix, ...
    last_attempt: str | None = None
    will_retry_until: str | None = None
    text: str = ""  # the report's own paragraph about this recipient
    source: str = "dsn"  # dsn | text | header | json | original-to


@record
class ParsedBounce:
    kind: Kind
    format: str  # the layout recognised: rfc3464, exim, qmail, exchange, gmail, ...
    subject: str | None
    from_: str | None
    date: str | None
    reporting_mta: str | None
    arrival_date: str | None
    received_from_mta: str | None
    recipients: tuple[Recipient, ...]
    original: Original | None
    text: str  # the human-readable report (bounded)
    notes: tuple[str, ...] = ()
    forwarded: bool = False  # the bounce was found attached to another message

    @property
    def failed(self) -> tuple[Recipient, ...]:
        return tuple(r for r in self.recipients if r.action in (None, "failed"))


# -- data --------------------------------------------------------------------------------


@record
class _Anchor:
    id: str
    pattern: re.Pattern[str]


@record
class _Layout:
    original_markers: re.Pattern[str]
    forward_markers: re.Pattern[str]
    anchors: tuple[_Anchor, ...]
    not_recipient_lines: re.Pattern[str]
    not_recipient_locals: frozenset[str]
    delay: re.Pattern[str]
    auto_reply_subject: re.Pattern[str]
    boilerplate: re.Pattern[str]
    bounce_subject: re.Pattern[str]


def _any(patterns: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE | re.MULTILINE)


@functools.cache
def _layout() -> _Layout:
    data = load_data("smtpdiag.core.data", "bounce")
    return _Layout(
        original_markers=_any(data["original_markers"]),
        forward_markers=_any(data["forward_markers"]),
        anchors=tuple(
            _Anchor(str(a["id"]), re.compile(str(a["match"]), re.IGNORECASE))
            for a in data["anchor"]
        ),
        not_recipient_lines=_any(data["not_recipient_lines"]),
        not_recipient_locals=frozenset(str(x).lower() for x in data["not_recipient_locals"]),
        delay=_any(data["delay_markers"]),
        auto_reply_subject=_any(data["auto_reply_subjects"]),
        boilerplate=_any(data["boilerplate"]),
        bounce_subject=_any(data["bounce_subjects"]),
    )


# -- decoding ----------------------------------------------------------------------------

#: charset names seen in real mail -> the Python codec to try first, and wider ones after
_CHARSET_CHAIN: dict[str, tuple[str, ...]] = {
    "iso-2022-jp": ("iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2", "iso2022_jp_3"),
    "shift_jis": ("cp932", "shift_jis_2004"),
    "shift-jis": ("cp932", "shift_jis_2004"),
    "sjis": ("cp932",),
    "x-sjis": ("cp932",),
    "windows-31j": ("cp932",),
    "cp932": ("cp932",),
    "euc-jp": ("euc_jp", "euc_jis_2004", "cp932"),
    "x-euc-jp": ("euc_jp", "euc_jis_2004"),
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "x-gbk": ("gb18030",),
    "gb18030": ("gb18030",),
    "cp936": ("gb18030",),
    "hz-gb-2312": ("hz",),
    "big5": ("big5hkscs", "cp950"),
    "big5-hkscs": ("big5hkscs",),
    "cp950": ("cp950", "big5hkscs"),
    "euc-kr": ("cp949",),
    "ks_c_5601-1987": ("cp949",),
    "ks_c_5601": ("cp949",),
    "koi8-r": ("koi8_r",),
    "koi8-u": ("koi8_u",),
    "us-ascii": ("utf-8", "cp1252"),
    "ascii": ("utf-8", "cp1252"),
    "iso-8859-1": ("cp1252",),
    "latin1": ("cp1252",),
    "latin-1": ("cp1252",),
    "unknown-8bit": ("utf-8", "cp1252"),
    "x-unknown": ("utf-8", "cp1252"),
    "utf8": ("utf-8",),
}


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes to text by the declared charset, with the wider codecs real mail needs
    (ISO-2022-JP extensions, GB18030 for GB2312, CP932 for Shift_JIS ...). Never raises:
    a byte no codec can read becomes U+FFFD."""
    name = (charset or "").strip().strip('"').lower()
    chain: list[str] = list(_CHARSET_CHAIN.get(name, (name,) if name else ()))
    if not name:
        chain = ["utf-8"]
        if b"\x1b$" in data or b"\x1b(" in data:
            chain.append("iso2022_jp_ext")
        chain.append("cp1252")
    for codec in chain:
        try:
            return data.decode(codec)
        except (LookupError, UnicodeDecodeError):
            continue
    first = chain[0] if chain else "utf-8"
    try:
        return data.decode(first, "replace")
    except LookupError:
        return data.decode("utf-8", "replace")


class _HtmlText(HTMLParser):
    """The text a reader sees in an HTML body, with line breaks at block elements."""

    _BLOCK = frozenset(
        (
            "br",
            "p",
            "div",
            "tr",
            "li",
            "ul",
            "ol",
            "table",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "blockquote",
            "pre",
            "hr",
            "dt",
            "dd",
            "section",
        )
    )
    _SKIP = frozenset(("script", "style", "head", "title"))

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.size = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skip += 1
        elif tag in self._BLOCK:
            self.out.append("\n")
        elif tag == "td":
            self.out.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in self._BLOCK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip and self.size < MAX_TEXT:
            self.out.append(data)
            self.size += len(data)


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    try:
        parser.feed(html[: MAX_TEXT * 4])
        parser.close()
    except Exception:  # a broken document keeps the text read so far
        pass
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in "".join(parser.out).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _part_text(part: Message) -> str:
    """A text part's content as str, whatever its transfer encoding and charset."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if isinstance(payload, bytes):
        try:
            charset = part.get_content_charset()
        except Exception:
            charset = None
        return decode_bytes(payload[: MAX_TEXT * 4], charset)
    raw = part.get_payload()
    return raw if isinstance(raw, str) else ""


def _header(msg: Message, name: str) -> str | None:
    """A header's value, decoded; the raw value if the header does not parse."""
    try:
        value = msg.get(name)
    except Exception:
        value = None
        for key, raw in msg.raw_items():
            if key.lower() == name.lower():
                value = raw
                break
    if value is None:
        return None
    text = _unfold(str(value))
    return text[:MAX_HEADER]


def _headers(msg: Message, name: str) -> list[str]:
    out: list[str] = []
    try:
        values = msg.get_all(name) or []
    except Exception:
        values = [v for k, v in msg.raw_items() if k.lower() == name.lower()]
    for value in values[:50]:
        try:
            out.append(_unfold(str(value))[:MAX_HEADER])
        except Exception:
            continue
    return out


def _unfold(value: str) -> str:
    text = re.sub(r"\r?\n[ \t]+", " ", value).replace("\r", "").replace("\n", " ").strip()
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        # raw 8-bit bytes (UTF-8 in a message/global-delivery-status part, RFC 6533)
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text


# -- addresses ---------------------------------------------------------------------------

_ADDR = re.compile(
    r"(?<![\w.!#$%&'*+/=?^`{|}~\-@])"
    r"([\w.!#$%&'*+/=?^`{|}~\-]{1,128}@(?:[\w\-]{1,63}\.)+[\w\-]{2,63}|"
    r"[\w.!#$%&'*+/=?^`{|}~\-]{1,128}@\[[0-9a-fA-F.:IPv]{3,60}\])"
)


# East Asian text written against an address ("无法发送到admin@example.com"): the run of
# CJK letters is the sentence, not the local part
_CJK_LEAD = re.compile(
    r"^[\u3000-\u30ff\u3400-\u9fff\uac00-\ud7af\uff00-\uffef]+(?=[A-Za-z0-9._%+=-])"
)


def clean_address(value: str) -> str:
    """``rfc822; <A@b.example>`` -> ``A@b.example`` (the DSN address type stripped)."""
    text = value.strip()
    if ";" in text:
        kind, _, rest = text.partition(";")
        if kind.strip().lower() in ("rfc822", "utf-8", "x-local", "unknown", "x400", "x-notes"):
            text = rest.strip()
    m = re.search(r"<([^<>]+@[^<>]+)>", text)
    if m:
        text = m.group(1)
    text = text.strip().strip("<>").strip().strip("'\"").strip()
    return _CJK_LEAD.sub("", text.rstrip("."))[:320]


def _addresses(text: str) -> list[str]:
    # "'a@b'" (Exchange quotes addresses): the quotes are not part of the local part
    return [_CJK_LEAD.sub("", m.group(1).rstrip(".").lstrip("'")) for m in _ADDR.finditer(text)]


# -- MIME walk ---------------------------------------------------------------------------


@dataclass
class _Collected:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    dsn_blocks: list[list[tuple[str, str]]] = field(default_factory=list)
    original: Original | None = None
    attached: list[Message] = field(default_factory=list)
    feedback: bool = False
    disposition: bool = False
    json_docs: list[Any] = field(default_factory=list)
    parts: int = 0


def _walk(part: Message, out: _Collected, depth: int = 0) -> None:
    out.parts += 1
    if out.parts > MAX_PARTS or depth > MAX_DEPTH:
        return
    try:
        ctype = part.get_content_type()
    except Exception:
        ctype = "text/plain"
    if ctype in ("message/delivery-status", "message/global-delivery-status"):
        out.dsn_blocks.extend(_dsn_blocks(part))
        return
    if ctype in ("message/rfc822", "message/global"):
        inner = part.get_payload()
        msg = inner[0] if isinstance(inner, list) and inner else None
        if isinstance(msg, Message):
            out.attached.append(msg)
            if out.original is None:
                out.original = _original_from(msg, "message/rfc822")
        return
    if ctype in ("text/rfc822-headers", "message/global-headers", "message/rfc822-headers"):
        if out.original is None:
            out.original = _original_from_text(_part_text(part), "text/rfc822-headers")
        return
    if ctype == "message/feedback-report":
        out.feedback = True
        return
    if ctype == "message/disposition-notification":
        out.disposition = True
        return
    if part.is_multipart():
        subparts = part.get_payload()
        if not isinstance(subparts, list):
            return
        if ctype == "multipart/alternative":
            _walk_alternative([p for p in subparts if isinstance(p, Message)], out, depth)
            return
        for sub in subparts:
            if isinstance(sub, Message):
                _walk(sub, out, depth + 1)
        return
    if ctype == "text/html":
        out.html.append(html_to_text(_part_text(part)))
    elif ctype == "application/json" or (ctype == "text/plain" and _looks_json(part)):
        text = _part_text(part)
        doc = _json(text)
        if doc is not None:
            out.json_docs.append(doc)
        elif ctype == "text/plain":
            out.plain.append(text)
    elif ctype.startswith("text/"):
        text = _part_text(part)
        out.plain.append(text)
        out.json_docs.extend(_embedded_json(text))


#: where a webhook payload pasted into a mail starts: a line that opens a JSON array/object
_JSON_START = re.compile(r"^[ \t]*[\[{][ \t]*$|^[ \t]*[\[{][ \t]*[\"{]", re.M)
_EVENT_KEYS = ('"event"', '"type"', '"RecordType"', '"event-data"', '"msys"')


def _embedded_json(text: str) -> list[Any]:
    """ESP webhook payloads (SendGrid, Mailgun, SparkPost, Postmark) pasted into a mail's
    text: the JSON documents found at line starts, at most a few, bounded."""
    if not any(k in text[:200_000] for k in _EVENT_KEYS):
        return []
    docs: list[Any] = []
    decoder = json.JSONDecoder()
    for m in _JSON_START.finditer(text[:MAX_TEXT]):
        start = m.start() + len(m.group(0)) - len(m.group(0).lstrip())
        try:
            doc, _ = decoder.raw_decode(text[start : start + MAX_TEXT])
        except ValueError:
            continue
        if isinstance(doc, dict | list):
            docs.append(doc)
        if len(docs) >= 5:
            break
    return docs


def _walk_alternative(subparts: list[Message], out: _Collected, depth: int) -> None:
    """Of the alternatives, the plain text when it says something, else the HTML."""
    trial = _Collected()
    for sub in subparts:
        _walk(sub, trial, depth + 1)
    plain = "\n".join(trial.plain).strip()
    html = "\n".join(trial.html).strip()
    if len(plain) >= 40 and len(plain) * 3 >= len(html):
        out.plain.append(plain)
    elif html:
        out.html.append(html)
    elif plain:
        out.plain.append(plain)
    out.dsn_blocks.extend(trial.dsn_blocks)
    out.attached.extend(trial.attached)
    out.original = out.original or trial.original
    out.json_docs.extend(trial.json_docs)
    out.parts += trial.parts


def _looks_json(part: Message) -> bool:
    text = _part_text(part).lstrip()
    head = text[:5000]
    return text.startswith("{") and ("notificationType" in head or '"eventType"' in head)


def _json(text: str) -> Any:
    """The JSON document a text starts with (SNS mails append a trailer after it)."""
    start = text.find("{")
    if start < 0 or start > 200:
        return None
    try:
        doc, _ = json.JSONDecoder().raw_decode(text[start : start + MAX_TEXT * 5])
    except ValueError:
        return None
    return doc


# -- RFC 3464 fields ---------------------------------------------------------------------


def _dsn_blocks(part: Message) -> list[list[tuple[str, str]]]:
    """The field blocks of a delivery-status part: first per-message, then per-recipient."""
    payload = part.get_payload()
    blocks: list[list[tuple[str, str]]] = []
    if isinstance(payload, list):
        for sub in payload:
            if isinstance(sub, Message):
                fields = [(k, _unfold(str(v))) for k, v in sub.raw_items()]
                if fields:
                    blocks.append(fields)
    if any(name.lower() in _RECIPIENT_KEYS for b in blocks for name, _ in b):
        return blocks
    # not split into blocks by the parser (encoded, or not blank-line separated): read it
    if isinstance(payload, list):
        chunks = []
        for sub in payload:
            if isinstance(sub, Message):
                try:
                    chunks.append(sub.as_bytes().decode("utf-8", "replace"))
                except Exception:
                    chunks.append(sub.as_string())
        text = "\n".join(chunks)
    else:
        text = payload if isinstance(payload, str) else ""
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding in ("base64", "quoted-printable"):
        text = decode_bytes(_transfer_decode(text, encoding), "utf-8")
    return parse_dsn_fields(text)


def _transfer_decode(text: str, encoding: str) -> bytes:
    import base64
    import binascii
    import quopri

    data = text.encode("ascii", "replace")
    if encoding == "quoted-printable":
        return quopri.decodestring(data)
    try:
        return base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", data) + b"==")
    except (binascii.Error, ValueError):
        return data


_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9\-]{0,60})[ \t]*:[ \t]*(.*)$")
_RECIPIENT_KEYS = frozenset(("final-recipient", "original-recipient", "x-actual-recipient"))


def parse_dsn_fields(text: str) -> list[list[tuple[str, str]]]:
    """RFC 3464 field blocks from text: blank lines separate blocks, a new
    Final-Recipient starts one too (for reports that leave the blank line out)."""
    blocks: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    for raw in text[:MAX_TEXT].replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not raw.strip():
            if current:
                blocks.append(current)
                current = []
            continue
        if raw[:1] in (" ", "\t") and current:
            name, value = current[-1]
            current[-1] = (name, f"{value} {raw.strip()}".strip())
            continue
        m = _FIELD.match(raw)
        if not m:
            continue
        name = m.group(1)
        if name.lower() == "final-recipient" and any(
            k.lower() == "final-recipient" for k, _ in current
        ):
            blocks.append(current)
            current = []
        current.append((name, m.group(2).strip()))
        if len(blocks) > MAX_RECIPIENTS:
            break
    if current:
        blocks.append(current)
    return blocks


def _field(block: list[tuple[str, str]], name: str) -> str | None:
    for key, value in block:
        if key.lower() == name:
            return value.strip() or None
    return None


_ENHANCED_IN = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")


def _status(value: str | None) -> str | None:
    if not value:
        return None
    m = _ENHANCED_IN.search(value)
    return f"{m.group(1)}.{int(m.group(2))}.{int(m.group(3))}" if m else None


def _diagnostic(value: str | None) -> tuple[str | None, str | None]:
    """``smtp; 550 5.1.1 ...`` -> (``smtp``, ``550 5.1.1 ...``)."""
    if not value:
        return None, None
    m = re.match(r"^\s*([A-Za-z][\w\-]{0,30})\s*;\s*(.*)$", value, re.DOTALL)
    if m:
        return m.group(1).lower(), m.group(2).strip()[:MAX_DIAGNOSTIC] or None
    return None, value.strip()[:MAX_DIAGNOSTIC] or None


def _mta(value: str | None) -> str | None:
    if not value:
        return None
    kind, _, rest = value.partition(";")
    return (rest if rest else kind).strip()[:MAX_HEADER] or None


def _dsn_recipients(blocks: list[list[tuple[str, str]]]) -> list[Recipient]:
    out: list[Recipient] = []
    for block in blocks:
        final = _field(block, "final-recipient") or _field(block, "x-actual-recipient")
        original = _field(block, "original-recipient")
        if not final and not original:
            continue
        address = clean_address(final or original or "")
        if "@" not in address and original and "@" in original:
            address = clean_address(original)
        dtype, diag = _diagnostic(_field(block, "diagnostic-code"))
        out.append(
            Recipient(
                address=address,
                original_recipient=clean_address(original) if original else None,
                action=(_field(block, "action") or "").split()[0].lower().strip(";") or None
                if _field(block, "action")
                else None,
                status=_status(_field(block, "status")),
                remote_mta=_mta(_field(block, "remote-mta")),
                diagnostic=diag,
                diagnostic_type=dtype,
                last_attempt=_field(block, "last-attempt-date"),
                will_retry_until=_field(block, "will-retry-until"),
                source="dsn",
            )
        )
        if len(out) >= MAX_RECIPIENTS:
            break
    return out


# -- the returned original ---------------------------------------------------------------

_AR_CLAUSE = re.compile(
    r"\b(spf|dkim|dmarc|arc|compauth|iprev|auth|sender-id|dkim-adsp|bimi|x-[\w\-]+)"
    r"\s*=\s*([A-Za-z]+)\b([^;]*)",
    re.IGNORECASE,
)


def parse_auth_results(value: str, header: str = "Authentication-Results") -> list[AuthVerdict]:
    """``mx.example; spf=fail smtp.mailfrom=a.example; dmarc=fail header.from=a.example``."""
    text = value[:MAX_HEADER]
    first, _, rest = text.partition(";")
    authserv = first.strip().split()[0] if first.strip() and "=" not in first else None
    body = rest if authserv else text
    out = []
    for m in _AR_CLAUSE.finditer(body):
        detail = re.sub(r"\s+", " ", m.group(3)).strip()
        out.append(AuthVerdict(m.group(1).lower(), m.group(2).lower(), detail, header, authserv))
    return out


def _received_spf(value: str) -> AuthVerdict | None:
    m = re.match(r"\s*(pass|fail|softfail|neutral|none|temperror|permerror)\b(.*)", value, re.I)
    if not m:
        return None
    return AuthVerdict("spf", m.group(1).lower(), m.group(2).strip()[:300], "Received-SPF")


def _original_from(msg: Message, source: str) -> Original:
    auth: list[AuthVerdict] = []
    for name in ("Authentication-Results", "ARC-Authentication-Results"):
        for value in _headers(msg, name):
            auth.extend(parse_auth_results(value, name))
    for value in _headers(msg, "Received-SPF"):
        verdict = _received_spf(value)
        if verdict is not None:
            auth.append(verdict)
    dkim = []
    for value in _headers(msg, "DKIM-Signature"):
        m = re.search(r"(?:^|;)\s*d\s*=\s*([^;\s]+)", value)
        if m:
            dkim.append(m.group(1).lower())
    return Original(
        from_=_header(msg, "From"),
        to=_header(msg, "To"),
        subject=_header(msg, "Subject"),
        date=_header(msg, "Date"),
        message_id=_header(msg, "Message-ID"),
        return_path=_header(msg, "Return-Path"),
        auth=tuple(auth[:50]),
        dkim_domains=tuple(dict.fromkeys(dkim)),
        source=source,
    )


def _original_from_text(text: str, source: str) -> Original | None:
    """Headers given as text (a text/rfc822-headers part, or an inline copy)."""
    from email import policy
    from email.parser import Parser

    lines = text.replace("\r\n", "\n").lstrip("\n").split("\n")
    # an indented copy (some MTAs indent the returned headers): take the indentation off
    indent = min((len(x) - len(x.lstrip(" ")) for x in lines[:5] if x.strip()), default=0)
    if indent:
        lines = [x[indent:] if x[:indent].strip() == "" else x for x in lines]
    head = "\n".join(lines[:400])
    try:
        msg = Parser(policy=policy.default).parsestr(head, headersonly=True)
    except Exception:
        return None
    if not any(_header(msg, h) for h in ("From", "To", "Subject", "Message-ID", "Date")):
        return None
    return _original_from(msg, source)


# -- the plain-text report: recipients and their paragraphs --------------------------------


_HEADER_LINE = re.compile(
    r"^(From|To|Cc|Subject|Date|Message-ID|Received|Return-Path|MIME-Version|Content-Type|"
    r"X-Mailer|Reply-To|DKIM-Signature|Authentication-Results)\s*:",
    re.IGNORECASE,
)


def cut_original(text: str) -> tuple[str, str]:
    """(the report, the returned original) of a plain-text bounce: from a marker line
    ("--- Below this line is a copy of the message.") on, or else from where a block of
    the original's header lines starts."""
    m = _layout().original_markers.search(text)
    if m:
        line_end = text.find("\n", m.end())
        return text[: m.start()], text[line_end + 1 :] if line_end >= 0 else ""
    lines = text.split("\n")
    offset = 0
    for i, line in enumerate(lines[:5000]):
        if (
            _HEADER_LINE.match(line)
            and sum(1 for x in lines[i : i + 6] if _HEADER_LINE.match(x)) >= 3
        ):
            return text[:offset], text[offset:]
        offset += len(line) + 1
    return text, ""


@record
class _Mention:
    address: str
    line: int
    anchor: str  # anchor id, or "" for an address merely mentioned
    rest: str


def _excluded(addr: str, excluded: set[str], lay: _Layout) -> bool:
    local = addr.split("@", 1)[0].lower()
    return addr.lower() in excluded or local in lay.not_recipient_locals


def find_mentions(report: str, excluded: set[str]) -> list[_Mention]:
    """Every place the report names an address that could be a failed recipient."""
    lay = _layout()
    out: list[_Mention] = []
    for index, full_line in enumerate(report.split("\n")[:5000]):
        line = full_line[:MAX_LINE]  # a line naming a recipient is short; bound the search
        if "@" not in line or lay.not_recipient_lines.search(line):
            continue
        anchored: set[str] = set()
        for anchor in lay.anchors:
            m = anchor.pattern.search(line)
            if not m:
                continue
            addr = clean_address(m.group("addr"))
            if "@" not in addr or not _ADDR.fullmatch(addr) or _excluded(addr, excluded, lay):
                continue
            rest = m.groupdict().get("rest") or ""
            out.append(_Mention(addr, index, anchor.id, rest.strip()))
            anchored.add(addr.lower())
            break
        for addr in _addresses(line):
            if addr.lower() not in anchored and not _excluded(addr, excluded, lay):
                out.append(_Mention(addr, index, "", ""))
    return out


_EXPANDED = re.compile(r"\((?:expanded|generated) from:?\s*<?([^<>\s)]+@[^<>\s)]+)>?\)", re.I)


def recipients_from_text(report: str, excluded: set[str]) -> list[Recipient]:
    """Failed recipients of a report without a delivery-status part, each with its
    paragraph. Anchored mentions (an address on a line of its own, ``<a@b>:`` ...) win;
    an address only mentioned inside a sentence counts when nothing is anchored."""
    mentions = find_mentions(report, excluded)
    lines = report.split("\n")
    expanded_from = {m.group(1).lower() for m in _EXPANDED.finditer(report)}
    anchored = [m for m in mentions if m.anchor and m.address.lower() not in expanded_from]
    chosen = anchored or [
        m for m in mentions if m.anchor == "" and m.address.lower() not in expanded_from
    ]
    if not anchored and chosen:
        # no listed recipient: addresses that lead their lines, else those in sentences
        # about delivery, else the first address mentioned
        chosen = (
            [m for m in chosen if _leads_line(lines[m.line], m.address)]
            or [m for m in chosen if _sentence_about_delivery(lines[m.line])]
            or chosen[:1]
        )
    order: list[str] = []
    for m in chosen:
        if m.address.lower() not in (a.lower() for a in order):
            order.append(m.address)
    blocks = paragraphs_for(report, [a for a in order])
    out = []
    for addr in order[:MAX_RECIPIENTS]:
        m2 = re.search(
            r"<?" + re.escape(addr) + r">?\s*\((?:expanded|generated) from:?\s*<?([^<>\s)]+)>?\)",
            report,
            re.IGNORECASE,
        )
        out.append(
            Recipient(
                address=addr,
                original_recipient=m2.group(1) if m2 else None,
                action="failed",
                text=blocks.get(addr.lower(), ""),
                source="text",
            )
        )
    return out


_DELIVERY_WORDS = re.compile(
    r"deliver|reach|recipient|address|failed|reject|bounce|unknown|not found|destinat|"
    r"zustell|empfänger|remis|entreg|достав|配信|送信|宛先|投递|投遞|收件|수신|전송",
    re.IGNORECASE,
)


def _leads_line(line: str, address: str) -> bool:
    return line.strip().lstrip("<\"'").lower().startswith(address.lower())


def _sentence_about_delivery(line: str) -> bool:
    return bool(_DELIVERY_WORDS.search(line))


def paragraphs_for(report: str, addresses: list[str]) -> dict[str, str]:
    """For each address, the report's text about it: from each line naming it up to the
    next line naming another of the addresses (several passages are joined). Reports that
    name recipients by display name ("Carol on 10/3/2023") are matched by local part."""
    lines = report.split("\n")
    wanted = {a.lower() for a in addresses}
    owner: list[str | None] = []
    for line in lines:
        found = None
        if "@" in line:
            for addr in _addresses(line):
                if addr.lower() in wanted:
                    found = addr.lower()
                    break
        owner.append(found)
    missing = wanted - {o for o in owner if o}
    if missing:
        locals_ = {}
        for addr in missing:
            local = addr.split("@", 1)[0]
            if len(local) >= 3 and sum(1 for a in wanted if a.startswith(local + "@")) == 1:
                locals_[addr] = re.compile(rf"^\s*['\"]?{re.escape(local)}\b", re.IGNORECASE)
        for i, line in enumerate(lines):
            if owner[i] is None:
                for addr, pattern in locals_.items():
                    if pattern.search(line):
                        owner[i] = addr
                        break
    out: dict[str, list[str]] = {}
    current: str | None = None
    for line, who in zip(lines, owner, strict=True):
        if who is not None and who != current:
            current = who
        if current is not None:
            out.setdefault(current, []).append(line)
    return {addr: "\n".join(chunk).strip()[: MAX_DIAGNOSTIC * 2] for addr, chunk in out.items()}


def strip_boilerplate(text: str) -> str:
    """The report without its generic bounce wording ("could not be delivered", "this is
    a permanent error" ...): what is left says why, if anything does."""
    lay = _layout()
    keep = []
    for line in text.split("\n"):
        rest = lay.boilerplate.sub(" ", line).strip(" \t.,:;-*=")
        if len(rest) >= 4 and re.search(r"\w{3}", rest):
            keep.append(rest)
    return "\n".join(keep)


def without_others(report: str, paragraphs: dict[str, str], address: str) -> str:
    """The report minus the paragraphs about the other recipients."""
    out = report
    for other, text in paragraphs.items():
        if other != address.lower() and text:
            out = out.replace(text, "")
    return out


# -- Amazon SES notifications ------------------------------------------------------------


def _ses_recipients(doc: Any) -> tuple[str | None, list[Recipient]]:
    if not isinstance(doc, dict):
        return None, []
    if isinstance(doc.get("Message"), str):  # an SNS envelope around the notification
        inner = _json(doc["Message"])
        if inner is not None:
            return _ses_recipients(inner)
    kind = str(doc.get("notificationType") or doc.get("eventType") or "")
    out: list[Recipient] = []
    if kind == "Bounce" and isinstance(doc.get("bounce"), dict):
        bounce = doc["bounce"]
        mta = bounce.get("reportingMTA")
        for r in bounce.get("bouncedRecipients") or []:
            if not isinstance(r, dict) or not r.get("emailAddress"):
                continue
            dtype, diag = _diagnostic(str(r.get("diagnosticCode") or "") or None)
            transient = str(bounce.get("bounceType", "")).lower() == "transient"
            out.append(
                Recipient(
                    address=clean_address(str(r["emailAddress"])),
                    action=str(r.get("action") or ("delayed" if transient else "failed")).lower(),
                    status=_status(str(r.get("status") or "")),
                    remote_mta=_mta(str(mta)) if mta else None,
                    diagnostic=diag,
                    diagnostic_type=dtype,
                    text=" ".join(
                        str(bounce.get(k, "")) for k in ("bounceType", "bounceSubType")
                    ).strip(),
                    source="json",
                )
            )
        return "bounce", out
    if kind == "Complaint":
        return "feedback-report", []
    if kind == "Delivery" and isinstance(doc.get("delivery"), dict):
        for addr in doc["delivery"].get("recipients") or []:
            out.append(Recipient(clean_address(str(addr)), action="delivered", source="json"))
        return "delivered", out
    return None, []


# ESP event webhooks: the event names that mean a failure, a delay or a delivery
_ESP_FAILED = frozenset(
    {
        "bounce",
        "bounced",
        "failed",
        "dropped",
        "blocked",
        "out_of_band",
        "policy_rejection",
        "hardbounce",
        "hard_bounce",
        "generation_failure",
        "generation_rejection",
        "rejected",
    }
)
_ESP_DELAYED = frozenset({"deferred", "delay", "delayed", "softbounce", "soft_bounce", "transient"})
_ESP_DELIVERED = frozenset({"delivered", "delivery"})
_ESP_ADDRESS = ("email", "recipient", "rcpt_to", "raw_rcpt_to", "Email", "emailAddress", "To")
_ESP_REASON = ("raw_reason", "reason", "Details", "diagnosticCode", "response", "Description")


def _esp_events(doc: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """The event objects of a webhook payload: lists, SparkPost's msys wrappers and
    Mailgun's event-data unwrapped."""
    if depth > 4:
        return
    if isinstance(doc, list):
        for item in doc[:1000]:
            yield from _esp_events(item, depth + 1)
    elif isinstance(doc, dict):
        if isinstance(doc.get("msys"), dict):
            for value in doc["msys"].values():
                yield from _esp_events(value, depth + 1)
        elif isinstance(doc.get("event-data"), dict):
            yield from _esp_events(doc["event-data"], depth + 1)
        else:
            yield doc


def _esp_recipients(doc: Any) -> tuple[str | None, list[Recipient]]:
    """Recipients of an ESP webhook payload (SendGrid, Mailgun, SparkPost, Postmark)."""
    out: list[Recipient] = []
    for event in _esp_events(doc):
        message = event.get("Message")
        if event.get("ErrorCode") == 406 and isinstance(message, str):
            # Postmark's API refusal: "... Found inactive addresses: a@b, c@d. ..."
            listed = message.partition("addresses:")[2].partition(". ")[0]
            out.extend(
                Recipient(a, action="failed", diagnostic=message[:MAX_DIAGNOSTIC], source="json")
                for a in _addresses(listed)
            )
            continue
        kind = str(event.get("event") or event.get("RecordType") or event.get("type") or "")
        kind = kind.lower().replace("-", "_")
        severity = str(event.get("severity") or "").lower()
        if kind in _ESP_FAILED:
            action = "delayed" if severity == "temporary" else "failed"
        elif kind in _ESP_DELAYED:
            action = "delayed"
        elif kind in _ESP_DELIVERED:
            action = "delivered"
        else:
            continue
        address = next((str(event[k]) for k in _ESP_ADDRESS if isinstance(event.get(k), str)), "")
        address = clean_address(address)
        if "@" not in address or not _ADDR.fullmatch(address):
            continue
        reason = next(
            (str(event[k]) for k in _ESP_REASON if isinstance(event.get(k), str) and event[k]), ""
        )
        status = event.get("delivery-status")  # Mailgun: its "reason" is only a token
        if (not reason or " " not in reason) and isinstance(status, dict):
            reason = str(status.get("message") or status.get("description") or reason)
        dtype, diag = _diagnostic(reason or None)
        out.append(
            Recipient(
                address=address,
                action=action,
                status=_status(str(event.get("status") or "")) or _status(reason[:40]),
                diagnostic=diag,
                diagnostic_type=dtype,
                text=str(event.get("bounce_classification") or event.get("Type") or ""),
                source="json",
            )
        )
    if not out:
        return None, []
    actions = {r.action for r in out}
    kind = "bounce" if "failed" in actions else "delay" if "delayed" in actions else "delivered"
    return kind, out


# -- the whole message -------------------------------------------------------------------


def _message(data: bytes | str) -> EmailMessage | None:
    from email import policy
    from email.parser import BytesParser, Parser

    try:
        if isinstance(data, bytes):
            msg = BytesParser(policy=policy.default).parsebytes(data[:MAX_MESSAGE])
        else:
            msg = Parser(policy=policy.default).parsestr(data[:MAX_MESSAGE])
    except Exception:
        return None
    return msg if isinstance(msg, EmailMessage) else None


def _looks_like_bounce(msg: Message, text: str) -> bool:
    lay = _layout()
    sender = (_header(msg, "From") or "").lower()
    subject = _header(msg, "Subject") or ""
    ctype = ""
    try:
        ctype = msg.get_content_type()
        report = msg.get_param("report-type") if ctype == "multipart/report" else None
    except Exception:
        report = None
    return bool(
        report
        or _header(msg, "X-Failed-Recipients")
        or re.search(r"mailer-daemon|postmaster|mail delivery|mail administrator", sender)
        or lay.bounce_subject.search(subject)
        or re.search(
            r"final-recipient:|delivery to the following recipient|following address(es)? failed|"
            r"could not be delivered|wasn.t delivered|not be delivered|"
            r"permanent fatal errors|qmail-send program|delivery has failed",
            text[:20000],
            re.IGNORECASE,
        )
    )


def parse_message(data: bytes | str, size: int | None = None) -> ParsedBounce:
    """Read a bounce message. Never raises; a message that is no bounce gets a kind
    that says what it is instead (auto-reply, feedback-report, not-a-bounce ...).
    ``size`` is the whole input's size when ``data`` is only its beginning."""
    notes: list[str] = []
    size = max(size or 0, len(data))
    if size > MAX_MESSAGE:
        notes.append(
            f"only the first {MAX_MESSAGE // 1_000_000} MB of {size:,} bytes were read "
            "(a bounce's report comes before the returned message)"
        )
    msg = _message(data)
    if msg is None:
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        return _from_text_only(text[:MAX_TEXT], tuple(notes))
    result = _parse(msg, notes)
    if any(r.source in ("dsn", "json", "header") for r in result.recipients):
        return result
    # a forwarded bounce: the report is attached to the mail that forwards it (a real
    # bounce's own attachment is the returned original, which reports nothing)
    for inner in _attached_bounces(msg):
        nested = _parse(inner, [*notes, "the bounce was found attached to the message given"])
        if nested.kind in ("bounce", "delay", "delivered") and (
            result.kind not in ("bounce", "delay", "delivered")
            or any(r.source in ("dsn", "json", "header") for r in nested.recipients)
        ):
            return dataclasses.replace(nested, forwarded=True)
    if not result.recipients:
        quoted = _inline_forward(msg)
        if quoted is not None:
            nested = _parse(quoted, [*notes, "the bounce was found quoted in a forwarded message"])
            if nested.kind in ("bounce", "delay") and nested.recipients:
                return dataclasses.replace(nested, forwarded=True)
    return result


_QUOTED_HEADER = re.compile(
    r"^[A-Za-z\u00c0-\u024f\u0400-\u04ff][\w\u00c0-\u024f\u0400-\u04ff-]{0,40}\s*:"
)


def _inline_forward(msg: Message) -> EmailMessage | None:
    """The message quoted after a "-----Original Message-----" or "Forwarded message"
    line of a forwarded mail, parsed as a message of its own (its quoted From/Sent/To/
    Subject lines are its header), or None."""
    collected = _Collected()
    _walk(msg, collected)
    text = _human_text(collected)
    m = _layout().forward_markers.search(text)
    if m is None:
        return None
    lines = text[m.end() :].lstrip("\n").split("\n")
    lines = [re.sub(r"^[ \t]*> ?", "", line) for line in lines]
    head: list[str] = []
    for i, line in enumerate(lines[:40]):  # the quoted header: "Name: value" lines
        if not line.strip():
            if head:
                return _message("\n".join(head) + "\n\n" + "\n".join(lines[i + 1 :]))
            continue
        if _QUOTED_HEADER.match(line.strip()) or (head and line[:1] in " \t"):
            head.append(line.strip() if not head or line[:1] not in " \t" else line)
        else:
            break
    return None


def _attached_bounces(msg: Message) -> Iterator[Message]:
    collected = _Collected()
    _walk(msg, collected)
    yield from collected.attached[:5]


def _from_text_only(text: str, notes: tuple[str, ...]) -> ParsedBounce:
    report, rest = cut_original(text)
    recipients = recipients_from_text(report, set())
    original = _original_from_text(rest, "inline") if rest else None
    kind = "bounce" if recipients else "not-a-bounce"
    return ParsedBounce(
        kind,
        "text",
        None,
        None,
        None,
        None,
        None,
        None,
        tuple(recipients),
        original,
        report[:MAX_TEXT],
        notes,
    )


def _format_of(msg: Message, text: str, has_dsn: bool) -> str:
    """A name for the layout, for the reader (and for tests): not used to decide."""
    probes = (
        ("qmail", r"qmail-send program|I'm afraid I wasn't able to deliver"),
        ("exim", r"This message was created automatically by mail delivery software"),
        ("postfix", r"This is the mail system at host"),
        ("sendmail", r"The following addresses had permanent fatal errors|Transcript of session"),
        ("exchange", r"Diagnostic information for administrators|Delivery has failed to these"),
        ("exchange", r"Your message did not reach some or all of the intended recipients"),
        ("microsoft365", r"couldn't be delivered|Office 365|outlook\.com|protection\.outlook"),
        (
            "gmail",
            r"Delivery to the following recipient failed|The response from the remote server"
            r"|Address not found|Google tried to deliver",
        ),
        ("yahoo", r"Sorry, we were unable to deliver your message to the following address"),
        ("domino", r"was not delivered to:|Domino"),
        ("opensmtpd", r"This is the MAILER-DAEMON, please DO NOT REPLY"),
        ("courier", r"Courier mail server"),
        ("amazonses", r"amazonses\.com"),
        ("googlegroups", r"Google Groups|googlegroups\.com"),
    )
    head = text[:20000]
    for name, pattern in probes:
        if re.search(pattern, head, re.IGNORECASE):
            return name
    return "rfc3464" if has_dsn else "text"


_FINAL_RECIPIENT = re.compile(r"^[ \t]*Final-Recipient[ \t]*:", re.I | re.M)
_INLINE_DSN = re.compile(r"^[ \t]*(Reporting-MTA|Final-Recipient)[ \t]*:", re.I | re.M)


def _human_text(collected: _Collected) -> str:
    """The message's human-readable text: its plain parts, else its HTML read as text."""
    plain = "\n\n".join(t for t in collected.plain if t.strip())
    human = plain if plain.strip() else "\n\n".join(collected.html)
    return human.replace("\r\n", "\n").replace("\r", "\n")[:MAX_TEXT]


def _parse(msg: Message, notes: list[str]) -> ParsedBounce:
    lay = _layout()
    collected = _Collected()
    _walk(msg, collected)
    human = _human_text(collected)
    report, inline_original = cut_original(human)
    original = collected.original
    if original is None and inline_original.strip():
        original = _original_from_text(inline_original, "inline")
    subject = _header(msg, "Subject")
    per_message = collected.dsn_blocks[0] if collected.dsn_blocks else []
    dsn_blocks = collected.dsn_blocks
    has_fields = not dsn_blocks and _FINAL_RECIPIENT.search(report)
    inline_dsn = _INLINE_DSN.search(report) if has_fields else None
    if inline_dsn is not None:
        # delivery-status fields pasted into the text (a flattened or forwarded report)
        dsn_blocks = parse_dsn_fields(report[inline_dsn.start() :])
        per_message = dsn_blocks[0] if dsn_blocks else []
        report = report[: inline_dsn.start()]
    excluded = _excluded_addresses(msg, original, report)
    recipients = _dsn_recipients(dsn_blocks)
    kind: str | None = None
    fmt = _format_of(msg, human, bool(recipients))
    for doc in collected.json_docs:
        ses_kind, ses = _ses_recipients(doc)
        if ses_kind:
            kind = kind or ses_kind
            recipients.extend(ses)
            fmt = "amazonses"
        elif not dsn_blocks:
            esp_kind, esp = _esp_recipients(doc)
            if esp_kind:
                seen = {r.address.lower() for r in recipients}
                recipients.extend(r for r in esp if r.address.lower() not in seen)
                kind = esp_kind if kind in (None, "delivered") else kind
                fmt = "esp-webhook"
    if recipients:
        texts = paragraphs_for(report, [r.address for r in recipients])
        if len(recipients) == 1 and not texts:
            texts = {recipients[0].address.lower(): report.strip()[: MAX_DIAGNOSTIC * 2]}
        recipients = [
            _expiry_is_failure(r if r.text else _with_text(r, texts.get(r.address.lower(), "")))
            for r in recipients
        ]
    elif collected.feedback or collected.disposition:
        pass  # an abuse report or a read receipt names no failed recipient
    elif _looks_like_bounce(msg, human) or collected.dsn_blocks:
        recipients = recipients_from_text(report, excluded)
        failed_hdr = [
            clean_address(a)
            for v in _headers(msg, "X-Failed-Recipients")
            for a in re.split(r"[,\s]+", v)
            if "@" in a
        ]
        if failed_hdr:
            # the header is the MTA's own list of who failed: it decides
            by_address = {r.address.lower(): r for r in recipients}
            texts = paragraphs_for(report, failed_hdr)
            recipients = [
                by_address.get(a.lower())
                or Recipient(a, action="failed", text=texts.get(a.lower(), ""), source="header")
                for a in dict.fromkeys(failed_hdr)
            ]
        if not recipients:
            listed = _list_address(_header(msg, "From") or "")
            if listed:  # a mailing list's own notice: the list refused the post
                text = report.strip()[: MAX_DIAGNOSTIC * 2]
                recipients = [Recipient(listed, action="failed", text=text, source="header")]
        if not recipients and original is not None and original.to:
            to = [a for a in _addresses(original.to) if not _excluded(a, excluded, lay)]
            if len(to) == 1:
                text = report.strip()[: MAX_DIAGNOSTIC * 2]
                recipients = [Recipient(to[0], action="failed", text=text, source="original-to")]
        if recipients and lay.delay.search(report[:20000]):
            recipients = [_with_action(r, "delayed") for r in recipients]
    kind = kind or _kind(msg, collected, recipients, subject)
    return ParsedBounce(
        kind=kind,
        format=fmt,
        subject=subject,
        from_=_header(msg, "From"),
        date=_header(msg, "Date"),
        reporting_mta=_mta(_field(per_message, "reporting-mta")),
        arrival_date=_field(per_message, "arrival-date"),
        received_from_mta=_mta(_field(per_message, "received-from-mta")),
        recipients=tuple(recipients[:MAX_RECIPIENTS]),
        original=original,
        text=report.strip()[:MAX_TEXT],
        notes=tuple(notes),
    )


_LIST_ROLE = re.compile(r"^(.+?)-(owner|bounces|request|admin)(\+[^@]*)?@(.+)$", re.IGNORECASE)


def _list_address(sender: str) -> str | None:
    """``tenants-owner@lists.example`` (a list server's notice) -> ``tenants@lists.example``."""
    for addr in _addresses(sender):
        m = _LIST_ROLE.match(addr)
        if m:
            return f"{m.group(1)}@{m.group(4)}"
    return None


def _expiry_is_failure(r: Recipient) -> Recipient:
    """A "delayed" recipient whose envelope expired was dropped: OpenSMTPD words its final
    expiry notice as a delay (Action: delayed, Status: 4.4.7, "Envelope expired")."""
    if r.action == "delayed" and r.status == "4.4.7" and "envelope expired" in r.text.lower():
        return dataclasses.replace(r, action="failed")
    return r


def _with_text(r: Recipient, text: str) -> Recipient:
    return dataclasses.replace(r, text=text)


def _with_action(r: Recipient, action: str) -> Recipient:
    return dataclasses.replace(r, action=action)


def _excluded_addresses(msg: Message, original: Original | None, report: str) -> set[str]:
    """Addresses that are the bounce's own sender and addressee, or the original's sender."""
    out: set[str] = set()
    for name in (
        "From",
        "To",
        "Cc",
        "Reply-To",
        "Return-Path",
        "Sender",
        "Delivered-To",
        "X-Original-To",
        "Envelope-To",
    ):
        for value in _headers(msg, name):
            out.update(a.lower() for a in _addresses(value))
    if original is not None:
        for sender in (original.from_, original.return_path):
            if sender:
                out.update(a.lower() for a in _addresses(sender))
    for m in re.finditer(r"MAIL FROM:?\s*<([^<>\s]+)>", report, re.IGNORECASE):
        out.add(m.group(1).lower())
    return out


def _kind(
    msg: Message, collected: _Collected, recipients: list[Recipient], subject: str | None
) -> str:
    actions = {r.action or "failed" for r in recipients}
    if recipients:
        if "failed" in actions:
            return "bounce"
        if "delayed" in actions:
            return "delay"
        return "delivered"
    if collected.feedback:
        return "feedback-report"
    if collected.disposition:
        return "read-receipt"
    auto = (_header(msg, "Auto-Submitted") or "").lower()
    lay = _layout()
    if (
        (subject and lay.auto_reply_subject.search(subject))
        or auto.startswith("auto-replied")
        or _header(msg, "X-Autoreply")
        or _header(msg, "X-Autorespond")
        or (_header(msg, "Precedence") or "").lower() == "auto_reply"
    ):
        return "auto-reply"
    return "not-a-bounce"
