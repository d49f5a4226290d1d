"""Renderers: a probe result as an annotated text transcript or as JSON.

Every string that came from the network passes through :func:`escape` before it
reaches a terminal, so a server can never emit control sequences on the user's screen.
"""

from __future__ import annotations

import binascii
import functools
import json
import os
import re
from collections.abc import Callable, Sequence
from typing import Any

from smtpdiag.core import catalog
from smtpdiag.core.model import (
    SCHEMA_VERSION,
    Annotation,
    Attempt,
    MxPlan,
    ProbeResult,
    Reply,
    Step,
    TlsInfo,
)


def ui(lang: str) -> dict[str, str]:
    """The interface strings of one language (English where a key is missing)."""
    base = catalog.load("en").data.get("ui", {})
    own = catalog.load(lang).data.get("ui", {}) if lang != "en" else {}
    return {**base, **own}


# C0 controls, DEL, C1 controls, and Unicode format characters that reorder or hide
# text (bidi overrides, zero-width characters), plus lone surrogates from bad UTF-8.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]"
)


def _escape_char(m: re.Match[str]) -> str:
    ch = m.group()
    code = ord(ch)
    if ch == "\t":
        return "\\t"
    if ch == "\r":
        return "\\r"
    if ch == "\n":
        return "\\n"
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def escape(text: str) -> str:
    """Make ``text`` safe to print: control and invisible characters become escapes."""
    if text.isascii() and text.isprintable():  # the common case, without the regex
        return text
    return _UNSAFE.sub(_escape_char, text)


# -- JSON ------------------------------------------------------------------------------------


def _reply_json(reply: Reply | None) -> dict[str, Any] | None:
    if reply is None:
        return None
    out: dict[str, Any] = {
        "code": reply.code,
        "enhanced": reply.enhanced,
        "lines": list(reply.lines),
    }
    if any(not line.isascii() and _SURROGATE.search(line) for line in reply.lines):
        # the lines show such bytes as \\xHH; here they are, exactly (base64 of the
        # lines' bytes after the code, joined by CRLF)
        data = "\r\n".join(reply.lines).encode("utf-8", "surrogateescape")
        out["raw"] = binascii.b2a_base64(data, newline=False).decode("ascii")
    return out


def _step_json(step: Step) -> dict[str, Any]:
    ann = step.annotation
    return {
        "stage": step.stage,
        "command": step.command,
        "reply": _reply_json(step.reply),
        "elapsed_ms": step.elapsed_ms,
        "error": step.error,
        "error_kind": step.error_kind,
        "annotation": None
        if ann is None
        else {
            "title": ann.title,
            "meaning": ann.meaning,
            "reason": ann.reason,
            "confidence": ann.confidence,
            "evidence": ann.evidence,
            "rule": ann.rule,
            "provider": ann.provider,
        },
    }


def _tls_json(tls: TlsInfo | None) -> dict[str, Any] | None:
    if tls is None:
        return None
    return {
        "version": tls.version,
        "cipher": tls.cipher,
        "cipher_bits": tls.cipher_bits,
        "subject": tls.subject,
        "issuer": tls.issuer,
        "sans": list(tls.sans),
        "not_before": tls.not_before,
        "not_after": tls.not_after,
        "trusted": tls.trusted,
        "trust_error": tls.trust_error,
        "hostname_matches": tls.hostname_matches,
        "checked_name": tls.checked_name,
        "trust_store": tls.trust_store,
    }


class Fragments:
    """The JSON of what many documents of a run share, encoded once: a session's greeting,
    EHLO and MAIL steps (9 addresses' documents carry them), a domain's MX plan, an auth
    report, a code's catalog cards. ``to_dict(result, shared=fragments)`` leaves a
    placeholder where each goes and :meth:`line` splices the encoded parts in, so a list
    run encodes ~1 KB per address instead of ~10 KB. Parts are kept as UTF-8: one card's
    "—" would otherwise make every line a two-byte-per-character string to encode again.
    The output is byte for byte ``dumps(to_dict(result), indent=None)``, UTF-8 encoded.

    A placeholder is a string no server can send: it holds a random nonce, and NUL (which
    JSON escapes); a placeholder is only good for the document it was made for. Entries are
    kept with the object they were built from, so an id is never mistaken for a reused one;
    the oldest go first past ``limit``.
    """

    def __init__(self, limit: int = 4096) -> None:
        nonce = binascii.hexlify(os.urandom(8)).decode()
        self._mark = f"\x00{nonce}:"
        self._find = re.compile(rf'"\\u0000{nonce}:(\d+)\\u0000"'.encode())
        self._parts: dict[Any, tuple[object, bytes]] = {}
        self._limit = limit
        self._pending: dict[bytes, bytes] = {}  # this document's placeholders, by number
        self._count = 0

    def data(self, key: Any, keep: object, build: Callable[[], Any]) -> bytes:
        """``build()``'s JSON (UTF-8), built once per ``key`` (valid while the entry still
        holds ``keep``)."""
        hit = self._parts.get(key)
        if hit is None or hit[0] is not keep:
            if len(self._parts) >= self._limit:
                del self._parts[next(iter(self._parts))]
            hit = self._parts[key] = (keep, _encode(build(), None).encode())
        return hit[1]

    def raw(self, data: bytes) -> str:
        """A placeholder for JSON ``data`` in the next document :meth:`line` encodes."""
        self._count += 1
        number = str(self._count)
        self._pending[number.encode()] = data
        return f"{self._mark}{number}\x00"

    def ref(self, key: Any, keep: object, build: Callable[[], Any]) -> str:
        """A placeholder for ``build()``'s JSON (see :meth:`data`)."""
        return self.raw(self.data(key, keep, build))

    def line(self, doc: dict[str, Any]) -> bytes:
        """``doc`` (built with this instance's placeholders) as one line of JSON, UTF-8."""
        pending, self._pending = self._pending, {}

        def splice(m: re.Match[bytes]) -> bytes:
            return pending.get(m.group(1), m.group())

        return self._find.sub(splice, _encode(doc, None).encode())


def _shared(shared: Fragments | None, key: Any, keep: object, build: Callable[[], Any]) -> Any:
    return build() if shared is None else shared.ref(key, keep, build)


def _attempt_json(att: Attempt, shared: Fragments | None = None) -> dict[str, Any]:
    return {
        "host": att.host,
        "address": att.address,
        "port": att.port,
        "error": att.error,
        "error_kind": att.error_kind,
        "local_address": att.local_address,
        "local_port": att.local_port,
        "extensions": _shared(
            shared, id(att.extensions), att.extensions, lambda: dict(att.extensions)
        ),
        "tls": _shared(shared, id(att.tls), att.tls, lambda: _tls_json(att.tls)),
        "verdict": att.verdict,
        "reason": att.reason,
        "elapsed_ms": att.elapsed_ms,
        "pipelined": att.pipelined,
        "flights": att.flights,
        "route": att.route,
        "steps": _steps_json(att.steps, shared),
    }


def _steps_json(steps: Sequence[Step], shared: Fragments | None) -> Any:
    if shared is None:
        return [_step_json(s) for s in steps]
    # one placeholder for the whole array: its steps' JSON, each encoded once a session
    data = shared.data
    return shared.raw(
        b"[" + b", ".join(data(id(s), s, functools.partial(_step_json, s)) for s in steps) + b"]"
    )


def _deciding_json(result: ProbeResult, lang: str, shared: Fragments | None = None) -> Any:
    """The reply that decided the verdict, with its full catalog card(s) and any
    provider pattern's explanation and remedy."""
    step = result.diagnosis.deciding
    if step is None:
        return None
    keys: tuple[str, ...] = ()
    if step.reply is not None:
        keys = tuple(k for k in (step.reply.enhanced, str(step.reply.code)) if k)
    ann = step.annotation
    rule = ann.rule if ann is not None and ann.rule and ann.provider else None
    if shared is not None:  # the step's own JSON (its attempt has it encoded already), extended
        body = shared.data(id(step), step, functools.partial(_step_json, step))
        cards = shared.data(("cards", keys, lang), None, lambda: _cards(keys, lang))
        pattern = b"null"
        if rule is not None:
            pattern = shared.data(("pattern", rule, lang), None, lambda: _pattern_dict(rule, lang))
        parts = (body[:-1], b', "cards": ', cards, b', "provider": ', pattern, b"}")
        return shared.raw(b"".join(parts))
    return {
        **_step_json(step),
        "cards": _cards(keys, lang),
        "provider": None if rule is None else _pattern_dict(rule, lang),
    }


def _cards(keys: tuple[str, ...], lang: str) -> list[dict[str, Any]]:
    return [c for c in (_card_dict(k, lang) for k in keys) if c is not None]


@functools.lru_cache(maxsize=512)
def _card_dict(key: str, lang: str) -> dict[str, Any] | None:
    # built once per code: a list run's thousand 550s share the same cards
    import dataclasses

    from smtpdiag.core.explanation import card

    found = card(key, lang)
    return dataclasses.asdict(found) if found is not None else None


@functools.lru_cache(maxsize=512)
def _pattern_dict(rule: str, lang: str) -> dict[str, Any] | None:
    import dataclasses

    from smtpdiag.core.classify import pattern_info

    info = pattern_info(rule, lang)
    return dataclasses.asdict(info) if info is not None else None


def _auth_json(result: ProbeResult, shared: Fragments | None = None) -> dict[str, Any] | None:
    if result.auth is None:
        return None
    from smtpdiag.render.auth import auth_dict, report_dict

    # a list run shares one report among many refusals: its JSON is built once
    report = result.auth
    return _shared(  # type: ignore[no-any-return]
        shared,
        ("auth", id(report), result.finding),
        report,
        lambda: auth_dict(report, result.finding, report_dict(report)),
    )


def to_dict(
    result: ProbeResult, lang: str = "en", shared: Fragments | None = None
) -> dict[str, Any]:
    """The documented JSON shape (schema 2) of one probe result; with ``shared``, ready
    for ``shared.line`` (see :class:`Fragments`)."""
    addr = result.address
    mx = result.mx
    return {
        "schema": SCHEMA_VERSION,
        "address": addr.original,
        "address_ascii": addr.ascii,
        "domain": addr.domain,
        "domain_unicode": addr.domain_unicode,
        "verdict": result.verdict,
        "reason": result.reason,
        "summary": result.summary,
        "blocked_side": result.blocked_side,
        "mx": _shared(shared, id(mx), mx, lambda: _mx_json(mx)),
        "attempts": [_attempt_json(a, shared) for a in result.attempts],
        "deciding": _deciding_json(result, lang, shared),
        "auth": _auth_json(result, shared),
        "client": _client_json(result),
        "transport": _transport_json(result),
        "catch_all": {
            "tested": result.catch_all.tested,
            "address": result.catch_all.address,
            "accepted": result.catch_all.accepted,
            "code": result.catch_all.code,
        },
        "started_at": result.started_at,
        "elapsed_ms": result.elapsed_ms,
        "options": _shared(
            shared, ("options", id(result.options)), result.options, lambda: dict(result.options)
        ),
        "retries": [
            {
                "after_s": r.after_s,
                "verdict": r.verdict,
                "reason": r.reason,
                "code": r.code,
                "enhanced": r.enhanced,
                "summary": r.summary,
            }
            for r in result.retries
        ],
    }


def _transport_json(result: ProbeResult) -> dict[str, Any] | None:
    transport = result.transport
    if transport is None:
        return None
    rpt = transport.tls_rpt
    rpt_json = (
        None
        if rpt is None
        else {"found": rpt.found, "rua": list(rpt.rua), "problems": list(rpt.problems)}
    )
    sts = transport.mta_sts
    dane = dane_json(transport.dane)
    if sts is None:
        return {"mta_sts": None, "tls_rpt": rpt_json, "dane": dane}
    policy = sts.policy
    return {
        "tls_rpt": rpt_json,
        "dane": dane,
        "mta_sts": {
            "domain": sts.domain,
            "record": {
                "found": sts.record.found,
                "id": sts.record.id,
                "problems": list(sts.record.problems),
            },
            "policy_url": sts.policy_url,
            "http_status": sts.http_status,
            "fetch_error": sts.fetch_error,
            "fetch_error_kind": sts.fetch_error_kind,
            "policy": None
            if policy is None
            else {
                "version": policy.version,
                "mode": policy.mode,
                "mx": list(policy.mx),
                "max_age": policy.max_age,
                "problems": list(policy.problems),
            },
            "mx": [
                {
                    "host": c.host,
                    "pattern": c.pattern,
                    "tls": c.tls,
                    "cert_ok": c.cert_ok,
                    "cert_error": c.cert_error,
                    "status": c.status,
                    "text": c.text,
                }
                for c in sts.mx
            ],
            "summary": sts.summary,
        },
    }


def _validated_json(v: Any) -> dict[str, Any] | None:
    if v is None:
        return None
    return {
        "name": v.name,
        "type": v.rdtype,
        "dnssec": v.security,
        "found": v.found,
        "records": list(v.values),
        "reason": v.reason,
        "zone": v.zone,
    }


def dane_json(dane: Any) -> dict[str, Any] | None:
    if dane is None:
        return None
    return {
        "mode": dane.mode,
        "trust_anchor": dane.anchor,
        "mx_records": _validated_json(dane.mx),
        "summary": dane.summary,
        "hosts": [
            {
                "host": h.host,
                "tlsa_name": h.tlsa_name,
                "status": h.status,
                "text": h.text,
                "address_dnssec": h.address.security if h.address is not None else None,
                "tlsa_dnssec": h.tlsa.security if h.tlsa is not None else None,
                "tlsa_lookup": _validated_json(h.tlsa),
                "records": list(h.records),
                "usable": list(h.usable),
                "session": h.session,
                "matched": h.matched,
                "matched_depth": h.matched_depth,
                "presented": [
                    {"record": p.record, "depth": p.depth, "subject": p.subject, "value": p.value}
                    for p in h.presented
                ],
            }
            for h in dane.hosts
        ],
    }


def _client_json(result: ProbeResult) -> dict[str, Any] | None:
    view = result.client
    if view is None:
        return None
    return {
        "local_ip": view.local_ip,
        "seen_ip": view.seen_ip,
        "seen_from": view.seen_from,
        "nat": view.nat,
        "checked_ip": result.auth.ip if result.auth is not None else None,
    }


def _mx_json(mx: MxPlan) -> dict[str, Any]:
    return {
        "source": mx.source,
        "error": mx.error,
        "hosts": [
            {
                "host": h.host,
                "preference": h.preference,
                "addresses": list(h.addresses),
                "error": h.error,
            }
            for h in mx.hosts
        ],
    }


_JSON_UNSAFE = re.compile("[\x7f-\x9f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


_SURROGATE = re.compile("[\ud800-\udfff]")


def json_safe(obj: Any) -> Any:
    """``obj`` with every lone surrogate (a server byte that was not UTF-8) made a visible
    escape: ``\\xff`` as four characters. Strict JSON parsers (Rust serde, Go) reject lone
    surrogates; the bytes themselves stay available, losslessly, in a reply's ``raw``."""
    if isinstance(obj, str):
        return _SURROGATE.sub(_escape_char, obj) if _SURROGATE.search(obj) else obj
    if isinstance(obj, dict):
        return {json_safe(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj


def dumps(obj: dict[str, Any], indent: int | None = 2) -> str:
    """JSON text that every parser accepts (valid UTF-8, no lone surrogates) and that is
    safe on a terminal: control and invisible characters are \\u-escaped."""
    return _encode(obj, indent)


def _encode(obj: Any, indent: int | None) -> str:
    text = json.dumps(obj, ensure_ascii=False, indent=indent)
    if text.isascii():  # most documents: of the characters escaped below, only DEL is ASCII
        return text.replace("\x7f", "\\u007f") if "\x7f" in text else text
    if _SURROGATE.search(text):  # rare: walk the document only when a server sent such bytes
        text = json.dumps(json_safe(obj), ensure_ascii=False, indent=indent)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def to_json(result: ProbeResult, indent: int | None = 2, lang: str = "en") -> str:
    """JSON text for one result (schema 2)."""
    return dumps(to_dict(result, lang), indent)


# -- text ------------------------------------------------------------------------------------

Style = Callable[[str, str], str]


def plain(text: str, _role: str) -> str:
    return text


_COLOURS = {
    "ok": "\x1b[32m",
    "warn": "\x1b[33m",
    "bad": "\x1b[31m",
    "dim": "\x1b[2m",
    "head": "\x1b[1m",
    "sent": "\x1b[36m",
}


def colour(text: str, role: str) -> str:
    code = _COLOURS.get(role)
    return f"{code}{text}\x1b[0m" if code else text


def _reply_role(reply: Reply) -> str:
    return {2: "ok", 3: "ok", 4: "warn"}.get(reply.code // 100, "bad")


_VERDICT_ROLE = {
    "deliverable": "ok",
    "accept-all": "warn",
    "temporary": "warn",
    "undeliverable": "bad",
    "unknown": "bad",
}


def _reply_lines(reply: Reply) -> list[str]:
    n = len(reply.lines)
    return [f"{reply.code}{'-' if i < n - 1 else ' '}{line}" for i, line in enumerate(reply.lines)]


def render_step(step: Step, style: Style = plain) -> list[str]:
    out: list[str] = []
    if step.command is not None:
        out.append(style(f"-> {escape(step.command)}", "sent"))
    if step.reply is not None:
        role = _reply_role(step.reply)
        lines = _reply_lines(step.reply)
        for i, line in enumerate(lines):
            timing = f"  ({step.elapsed_ms:g} ms)" if i == len(lines) - 1 else ""
            out.append(style(f"<- {escape(line)}", role) + style(timing, "dim"))
    if step.error is not None:
        out.append(
            style(f"!! {escape(step.error)}", "bad") + style(f"  ({step.elapsed_ms:g} ms)", "dim")
        )
    if step.annotation is not None:
        ann = step.annotation
        line = f"   {escape(ann.title)}: {escape(ann.meaning)}"
        if step.reply is not None and not step.reply.is_positive:
            line += f" [{ann.reason}]"
        out.append(style(line, "dim"))
    return out


def _tls_lines(tls: TlsInfo, t: dict[str, str]) -> list[str]:
    lines = [
        f"   TLS {tls.version or '?'}, {tls.cipher or '?'}"
        + (f" ({tls.cipher_bits} bits)" if tls.cipher_bits else "")
    ]
    if tls.subject is not None:
        lines.append("   " + t["certificate"].format(subject=tls.subject, issuer=tls.issuer))
        lines.append("   " + t["valid"].format(start=tls.not_before, end=tls.not_after))
        if tls.sans:
            shown = ", ".join(tls.sans[:8]) + (" ..." if len(tls.sans) > 8 else "")
            lines.append("   " + t["names"].format(names=shown))
    if tls.trusted:
        store = t["system_store"] if tls.trust_store == "system" else tls.trust_store
        trust = t["tls_trusted"].format(store=store)
    elif tls.trusted is False:
        trust = t["tls_untrusted"].format(error=tls.trust_error)
    else:
        trust = t["tls_unchecked"].format(error=tls.trust_error)
    key = {True: "name_matches", False: "name_mismatch", None: "name_unchecked"}[
        tls.hostname_matches
    ]
    lines.append(f"   {trust}; " + t[key].format(name=tls.checked_name))
    lines.append("   " + t["tls_note"])
    return [escape(line) for line in lines]


def render_text(result: ProbeResult, style: Style = plain, lang: str = "en") -> str:
    """The annotated transcript and the verdict block."""
    t = ui(lang)
    addr = result.address
    out: list[str] = []
    head = t["probing"].format(address=escape(addr.original))
    if addr.domain != addr.domain_unicode:
        head += "  " + t["idn"].format(unicode=escape(addr.domain_unicode), ascii=addr.domain)
    out.append(style(head, "head"))
    out.extend(_mx_lines(result, t))
    for att in result.attempts:
        out.append("")
        src = f" from {att.local_address}:{att.local_port}" if att.local_address else ""
        if att.route:
            src = f" {t['via']} {escape(att.route)}"
        out.append(style(f"-- {escape(att.host)} [{att.address}]:{att.port}{src}", "head"))
        tls_shown = False
        for step in att.steps:
            out.extend(render_step(step, style))
            if step.stage == "starttls" and att.tls is not None and not tls_shown:
                out.extend(style(line, "dim") for line in _tls_lines(att.tls, t))
                tls_shown = True
        if att.error:
            out.append(style(f"!! {escape(att.error)}", "bad"))
        if att.verdict:
            out.append(style(f"   => {att.verdict} ({att.reason})", _VERDICT_ROLE[att.verdict]))
    out.append("")
    out.extend(render_verdict(result, style, lang))
    return "\n".join(out)


def _mx_lines(result: ProbeResult, t: dict[str, str]) -> list[str]:
    mx = result.mx
    domain = escape(result.address.domain)
    label = t[f"mx_{mx.source.replace('server-option', 'server').replace('ip-literal', 'literal')}"]
    out = [label.format(domain=domain)]
    for h in mx.hosts:
        if mx.source == "null":
            break
        pref = f"{h.preference:>5} " if h.preference is not None else "      "
        addrs = ", ".join(h.addresses) if h.addresses else t["no_addresses"]
        line = f"  {pref}{escape(h.host)}  {addrs}"
        if h.error:
            line += f"  !! {escape(h.error)}"
        out.append(line)
    if mx.error and mx.source != "null":
        out.append(f"  !! {escape(mx.error)}")
    return out


def render_verdict(result: ProbeResult, style: Style = plain, lang: str = "en") -> list[str]:
    t = ui(lang)
    role = _VERDICT_ROLE[result.verdict]
    out = [
        style(f"{t['verdict']}: {result.verdict}", role) + f"   {t['reason']}: {result.reason}",
        f"  {escape(result.summary)}",
    ]
    if result.blocked_side is not None:
        side = t[f"side_{result.blocked_side}"]
        out.append(style(f"  {t['blocked_by']}: {side}", role))
    view = result.client
    if view is not None and view.seen_ip and view.seen_ip != view.local_ip:
        how = t["seen_public_ip"] if view.seen_from == "public-ip" else t["seen_reply"]
        seen = t["client_seen"].format(seen=view.seen_ip, how=how, local=view.local_ip or "?")
        out.append(f"  {escape(seen)}")
        if view.nat:
            out.append(f"  {escape(t['client_nat'].format(seen=view.seen_ip))}")
    ca = result.catch_all
    if ca.tested:
        state = {True: t["catch_all_yes"], False: t["catch_all_no"], None: t["catch_all_unclear"]}[
            ca.accepted
        ]
        out.append(f"  {t['catch_all']}: {escape(ca.address or '')} {state}")
    deciding = result.diagnosis.deciding
    if deciding is not None and deciding.reply is not None and deciding.annotation is not None:
        ann = deciding.annotation
        line = escape(_reply_lines(deciding.reply)[-1])
        out.append(style(f"  {t['deciding']}: {line}", "dim"))
        out.append(style(f"  {t['why']}: {escape(ann.evidence)}", "dim"))
        if not deciding.reply.is_positive:
            out.extend(_deciding_card(deciding.reply, ann, lang, style))
    transport = result.transport
    if transport is not None and (transport.mta_sts is not None or transport.dane is not None):
        out.append("")
        out.append(style(f"  {t['transport']}", "head"))
        sts = transport.mta_sts
        if sts is not None:
            out.append(f"  {escape(sts.summary)}")
            for c in sts.mx:
                role = "ok" if c.status == "ok" else "dim" if c.status == "unchecked" else "bad"
                out.append(style(f"    {escape(c.text)}", role))
        if transport.dane is not None:
            out.extend(dane_lines(transport.dane, style, t))
        rpt = transport.tls_rpt
        if rpt is not None:
            if not rpt.found:
                out.append(style(f"  {t['tlsrpt_none']}", "dim"))
            elif rpt.problems:
                out.append(style(f"  TLS-RPT: {escape('; '.join(rpt.problems))}", "bad"))
            else:
                out.append(f"  {escape(t['tlsrpt_rua'].format(rua=', '.join(rpt.rua)))}")
    if result.auth is not None:
        from smtpdiag.render.auth import auth_summary, render_auth

        if result.finding is not None or dict(result.options).get("auth") == "always":
            out.append("")
            lines = render_auth(result.auth, style, result.finding, lang)
            out.extend("  " + line for line in lines)
        else:
            out.append(style("  " + auth_summary(result.auth, lang), "dim"))
    n, ms = len(result.attempts), f"{result.elapsed_ms:g}"
    out.append(style("  " + t["connections"].format(count=n, ms=ms), "dim"))
    return out


_DANE_ROLE = {"ok": "ok", "no-tlsa": "dim", "unchecked": "dim", "insecure": "dim"}


def dane_lines(dane: Any, style: Style, t: dict[str, str], indent: str = "  ") -> list[str]:
    """DANE: the summary, then each MX host: its finding, DNSSEC states and records; when
    nothing matched, the records beside what the certificate gives."""
    out = [f"{indent}{escape(dane.summary)}"]
    for h in dane.hosts:
        out.append(style(f"{indent}  {escape(h.text)}", _DANE_ROLE.get(h.status, "bad")))
        states = t["dane_states"].format(
            address=h.address.security if h.address is not None else "?",
            tlsa=h.tlsa.security if h.tlsa is not None else "?",
        )
        out.append(style(f"{indent}    {states}", "dim"))
        for rec in h.records[:8]:
            mark = " <=" if rec == h.matched else ""
            out.append(style(f"{indent}    TLSA {escape(rec)}{mark}", "dim"))
            for p in h.presented[:8]:
                if p.record == rec:
                    line = t["dane_presented"].format(depth=p.depth, value=p.value)
                    out.append(style(f"{indent}      {escape(line)}", "dim"))
    if dane.mx is not None:
        line = t["dane_mx"].format(state=dane.mx.security, anchor=dane.anchor)
        out.append(style(f"{indent}  {escape(line)}", "dim"))
    return out


def _deciding_card(reply: Reply, ann: Annotation, lang: str, style: Style) -> list[str]:
    """The full catalog card (and any provider advice) for the reply that decided."""
    from smtpdiag.core.classify import pattern_info
    from smtpdiag.core.explanation import card

    t = ui(lang)
    cat = catalog.load(lang)
    out: list[str] = []
    if ann.rule and ann.provider:
        info = pattern_info(ann.rule, lang)
        if info is not None:
            out.append(f"  {t['known_pattern']} ({escape(info.provider)}): {info.explanation}")
            out.append(f"  {t['remedy']}: {info.remedy}")
            out.append(style(f"  {t['source']}: {info.source}", "dim"))
    keys = [reply.enhanced] if reply.enhanced else []
    keys.append(str(reply.code))
    shown = [c for c in (card(k, lang) for k in keys) if c is not None]
    if shown:
        c = shown[0]
        out.append(style(f"  {c.key} {c.title}", "head"))
        for field in ("description", "when", "fix"):
            out.append(f"    {cat.heading(field)}: {getattr(c, field)}")
        out.append(f"    {cat.heading('actor')}: {c.actor_text}")
    return out
