"""Reports a support engineer can hand over (``--format html|markdown``, ``smtpdiag report``).

Pure: schema-2 documents (the dicts ``--format json`` prints) in, text out. A report is built
once as neutral blocks (:class:`Heading`, :class:`Facts`, :class:`Table`, ...) holding plain,
unescaped strings; :mod:`smtpdiag.render.html` and :mod:`smtpdiag.render.markdown` only
serialise them, escaping *every* string they are given. So both formats carry the same content,
and no string from a server, a bounce or a saved file reaches the output unescaped: there is no
way to mark a string as trusted markup.

The documents may come from a file (``smtpdiag report``): every field is read defensively (a
missing or mistyped field shows as empty, never raises).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

from smtpdiag.core import catalog
from smtpdiag.core.records import record

FORMATS = ("html", "markdown")

# -- the neutral blocks --------------------------------------------------------------------


@record
class Heading:
    level: int  # 1..4
    text: str
    anchor: str | None = None  # an id we make (addr-3), never from a document


@record
class Para:
    text: str
    role: str = ""  # "", "note", "warn", "bad", "ok"


@record
class Facts:
    items: tuple[tuple[str, str], ...]  # (label, value)


@record
class Cell:
    text: str
    link: str | None = None  # an anchor we made ("addr-3"); never a URL
    sort: str | None = None  # sort key for the list table's script
    role: str = ""


@record
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    sortable: bool = False
    caption: str = ""


@record
class Banner:
    """The verdict of one address (or recipient): a word and an icon, never colour alone."""

    tone: str  # ok | warn | bad | none
    icon: str
    label: str
    facts: tuple[tuple[str, str], ...]


@record
class Line:
    kind: str  # sent | received | error | note
    text: str


@record
class Step:
    lines: tuple[Line, ...]
    ms: float | None
    deciding: bool = False
    tone: str = ""


@record
class Transcript:
    steps: tuple[Step, ...]
    marker: str = ""  # the words that mark the deciding step


@record
class Bar:
    label: str
    ms: float
    tone: str


@record
class Timeline:
    title: str
    bars: tuple[Bar, ...]
    headers: tuple[str, str, str] = ("step", "ms", "")  # Markdown's table: step, ms, bar


@record
class Pre:
    lines: tuple[str, ...]


@record
class Section:
    """A group (an address's details): HTML wraps it in <section>."""

    anchor: str | None
    blocks: tuple[Any, ...]


Block = Heading | Para | Facts | Table | Banner | Transcript | Timeline | Pre | Section


class Report:
    """A whole report: its language, title and blocks."""

    def __init__(self, lang: str, title: str) -> None:
        self.lang = lang
        self.title = title
        self.blocks: list[Any] = []
        self.notices: list[str] = []
        self.sortable = False  # a list table the HTML may sort with its own small script


# -- strings -------------------------------------------------------------------------------


def strings(lang: str) -> dict[str, str]:
    """The report's labels in ``lang`` (English where a key is missing), with the text
    renderer's interface strings underneath."""
    from smtpdiag.core.datafiles import load
    from smtpdiag.render.text import ui

    data = load("smtpdiag.core.data", "report")
    own = data.get(lang, {}) if lang != "en" else {}
    return {**ui(lang), **data.get("en", {}), **own}


def _auth_strings(lang: str) -> dict[str, str]:
    base = catalog.load("en").data.get("auth", {})
    own = catalog.load(lang).data.get("auth", {}) if lang != "en" else {}
    return {**base, **own}


# -- reading documents defensively -----------------------------------------------------------


def s(value: Any) -> str:
    """A field as text: strings as they are, numbers formatted, anything else empty."""
    if value is None or isinstance(value, bool):
        return "" if value is None else ("true" if value else "false")
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return num(value)
    return ""


def num(value: Any) -> str:
    """A number as we print it (1.7, 212, 0.3): never a server's string."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "?"
    if isinstance(value, float) and not math.isfinite(value):
        return "?"
    return f"{value:g}" if isinstance(value, float) else str(value)


def ms_of(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    v = float(value)
    return v if math.isfinite(v) and v >= 0 else None


def d(doc: Any, key: str) -> dict[str, Any]:
    value = doc.get(key) if isinstance(doc, dict) else None
    return value if isinstance(value, dict) else {}


def ls(doc: Any, key: str) -> list[Any]:
    value = doc.get(key) if isinstance(doc, dict) else None
    return value if isinstance(value, list) else []


def g(doc: Any, key: str) -> str:
    return s(doc.get(key)) if isinstance(doc, dict) else ""


def kind(doc: Any) -> str:
    """Which document this is: probe, bad-line, message, auth, explain, compare, doctor,
    tls-report, usage, or unknown."""
    if not isinstance(doc, dict):
        return "unknown"
    if "attempts" in doc or ("verdict" in doc and "mx" in doc):
        return "probe"
    if doc.get("error") == "usage":
        return "bad-line" if "line" in doc else "usage"
    if "recipients" in doc:
        return "message"
    if "spf" in doc and "dnsbl" in doc:
        return "auth"
    if "codes" in doc:
        return "compare"
    if "doctor" in doc:
        return "doctor"
    if "tls_report" in doc:
        return "tls-report"
    if "cards" in doc and "kind" in doc:
        return "explain"
    return "unknown"


class ReportInputError(ValueError):
    """Input that is not smtpdiag results (one line, for the CLI)."""


def parse_documents(text: str, name: str) -> list[Any]:
    """The documents of one file: a JSON object, a JSON array of them, or JSONL. An
    incomplete last line (a run killed mid-write) is dropped; any other bad line raises."""
    stripped = text.strip()
    if not stripped:
        raise ReportInputError(f"{name}: empty: give the JSON or JSONL output of smtpdiag")
    try:
        whole = json.loads(stripped)
    except ValueError:
        whole = None
    else:
        if isinstance(whole, list):
            return whole
        if isinstance(whole, dict):
            return [whole]
        raise ReportInputError(f"{name}: not smtpdiag results (a JSON {type(whole).__name__})")
    docs: list[Any] = []
    lines = text.split("\n")
    complete = text.endswith("\n")
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            docs.append(json.loads(raw))
        except json.JSONDecodeError as exc:
            if number == len(lines) and not complete and docs:
                break  # cut by a kill: what came before is whole
            raise ReportInputError(
                f"{name}: line {number} is not JSON ({exc.msg}): give the JSON or JSONL "
                "output of smtpdiag"
            ) from None
    return docs


# -- verdicts -------------------------------------------------------------------------------

#: verdict -> (tone, icon); the icon is a word's companion, never the only signal
VERDICTS: dict[str, tuple[str, str]] = {
    "deliverable": ("ok", "\u2714"),  # heavy check mark
    "accept-all": ("warn", "\u26a0"),  # warning sign
    "temporary": ("warn", "\u23f3"),  # hourglass
    "undeliverable": ("bad", "\u2716"),  # heavy multiplication x
    "unknown": ("bad", "?"),
}
SEVERITY = ("undeliverable", "unknown", "temporary", "accept-all", "deliverable")


def verdict_view(verdict: str, t: dict[str, str]) -> tuple[str, str, str]:
    """(tone, icon, label) of a verdict: the label says it in words, with the identifier."""
    tone, icon = VERDICTS.get(verdict, ("none", "\u2014"))
    if not verdict:
        return "none", "\u2014", t["verdict_none"]
    word = t.get(f"verdict_{verdict}", verdict)
    return tone, icon, f"{word} ({verdict})" if word != verdict else verdict


def _reply_tone(code: Any) -> str:
    if isinstance(code, int) and not isinstance(code, bool):
        return {2: "ok", 3: "ok", 4: "warn"}.get(code // 100, "bad")
    return "bad"


def reply_lines(reply: dict[str, Any]) -> list[str]:
    """A reply as the server sent it: ``550-...`` / ``550 ...``."""
    code = num(reply.get("code")) if reply.get("code") is not None else ""
    lines = [s(x) for x in ls(reply, "lines")] or [""]
    n = len(lines)
    return [f"{code}{'-' if i < n - 1 else ' '}{line}".rstrip() for i, line in enumerate(lines)]


def reply_text(reply: dict[str, Any]) -> str:
    return " ".join(reply_lines(reply))


# -- building a report ----------------------------------------------------------------------


def build(docs: Sequence[Any], lang: str) -> Report:
    """The report of ``docs`` (any mix of kinds), in ``lang``."""
    t = strings(lang)
    kinds = [kind(doc) for doc in docs]
    probes = [i for i, k in enumerate(kinds) if k in ("probe", "bad-line")]
    shown = {k for k in kinds if k in ("probe", "bad-line", "message", "auth", "explain")}
    if len(probes) == 1 and shown <= {"probe"}:
        title = t["title_probe"].format(address=g(docs[probes[0]], "address"))
    elif probes and shown <= {"probe", "bad-line"}:
        title = t["title_list"].format(count=len(probes))
    elif shown == {"message"}:
        title = t["title_message"]
    elif shown == {"auth"} and len(docs) == 1:
        title = t["title_auth"].format(domain=g(docs[0], "domain"))
    elif shown == {"explain"}:
        title = t["title_explain"]
    else:
        title = t["title_mixed"]
    rep = Report(lang=lang, title=title)
    rep.blocks.append(Heading(1, title))
    rep.blocks.append(Para(t["made_by"], "note"))
    if len(probes) > 1:
        rep.blocks.extend(_list_summary([docs[i] for i in probes], probes, t))
        rep.sortable = True
    numbering = {i: n for n, i in enumerate(probes, 1)}
    left_out = 0
    for i, (doc, k) in enumerate(zip(docs, kinds, strict=True)):
        body: list[Any]
        if isinstance(doc, dict) and doc.get(_THIN):
            left_out += 1
            continue
        anchor = f"addr-{numbering[i]}" if i in numbering else None
        if k == "probe":
            body = _probe(doc, lang, t, len(probes) > 1)
        elif k == "bad-line":
            body = _bad_line(doc, t)
        elif k == "message":
            body = _message(doc, lang, t)
        elif k == "auth":
            body = [
                Heading(2, t["title_auth"].format(domain=g(doc, "domain"))),
                *_auth(doc, lang, t, 3),
            ]
        elif k == "explain":
            body = _explain(doc, lang, t)
        else:
            rep.notices.append(t["skipped_kind"].format(kind=k))
            continue
        schema = doc.get("schema")
        if schema != 2 and k != "bad-line":  # older or newer: shown as far as it goes
            body.insert(1, Para(t["older_schema"].format(schema=s(schema) or "?"), "warn"))
        rep.blocks.append(Section(anchor, tuple(body)))
    if left_out:
        rep.notices.append(t["left_out"].format(count=left_out, shown=MAX_DETAILS))
    for notice in rep.notices:
        rep.blocks.append(Para(notice, "warn"))
    return rep


def renderable(docs: Iterable[Any]) -> bool:
    return any(kind(doc) in ("probe", "bad-line", "message", "auth", "explain") for doc in docs)


# -- a list's summary ------------------------------------------------------------------------


def _severity(verdict: str) -> int:
    return SEVERITY.index(verdict) if verdict in SEVERITY else len(SEVERITY)


def _verdict_cell(verdict: str, t: dict[str, str]) -> Cell:
    tone, icon, label = verdict_view(verdict, t)
    return Cell(f"{icon} {label}", sort=str(_severity(verdict)), role=tone)


def _deciding_short(doc: dict[str, Any]) -> str:
    reply = d(d(doc, "deciding"), "reply")
    return reply_text(reply)[:200] if reply else ""


def _list_summary(docs: list[Any], indexes: list[int], t: dict[str, str]) -> list[Any]:
    out: list[Any] = [Heading(2, t["summary"])]
    verdicts: dict[str, int] = {}
    reasons: dict[str, int] = {}
    domains: dict[str, list[str]] = {}
    for doc in docs:
        verdict = g(doc, "verdict")
        verdicts[verdict] = verdicts.get(verdict, 0) + 1
        reason = g(doc, "reason")
        reasons[reason] = reasons.get(reason, 0) + 1
        domain = g(doc, "domain_unicode") or g(doc, "domain")
        if not domain and "@" in g(doc, "address"):
            domain = g(doc, "address").rsplit("@", 1)[1]
        domains.setdefault(domain, []).append(verdict)
    out.append(Heading(3, t["by_verdict"]))
    rows = [
        (_verdict_cell(v, t), Cell(str(n)))
        for v, n in sorted(verdicts.items(), key=lambda p: (_severity(p[0]), p[0]))
    ]
    out.append(Table((t["col_verdict"], t["col_count"]), tuple(rows)))
    out.append(Heading(3, t["by_reason"]))
    rows = [
        (Cell(r), Cell(str(n))) for r, n in sorted(reasons.items(), key=lambda p: (-p[1], p[0]))
    ]
    out.append(Table((t["col_reason"], t["col_count"]), tuple(rows)))
    out.append(Heading(3, t["by_domain"]))
    rows3 = [
        (Cell(dom), Cell(str(len(vs))), _verdict_cell(min(vs, key=_severity), t))
        for dom, vs in sorted(domains.items(), key=lambda p: (-len(p[1]), p[0]))
    ]
    out.append(Table((t["col_domain"], t["col_count"], t["col_worst"]), tuple(rows3)))
    out.append(Heading(3, t["addresses"]))
    out.append(Para(t["sorted_note"], "note"))
    order = sorted(range(len(docs)), key=lambda n: (_severity(g(docs[n], "verdict")), n))
    table_rows = []
    for n in order:
        doc = docs[n]
        host = ""
        for att in ls(doc, "attempts"):
            host = g(att, "host") or host
        expect = ""
        if isinstance(doc.get("expect"), list):
            wanted = "|".join(s(x) for x in doc["expect"])
            expect = t["expected"].format(
                expect=wanted, state=t["met"] if doc.get("met") else t["not_met"]
            )
        number = str(n + 1)
        table_rows.append(
            (
                Cell(number, sort=number.zfill(8)),
                Cell(
                    g(doc, "address") or g(doc, "input"),
                    link=None if doc.get(_THIN) else f"addr-{n + 1}",
                ),
                _verdict_cell(g(doc, "verdict"), t),
                Cell(g(doc, "reason")),
                Cell(_deciding_short(doc)),
                Cell(host),
                Cell(expect, role="" if not expect or doc.get("met") else "bad"),
            )
        )
    headers = (
        t["col_number"],
        t["col_address"],
        t["col_verdict"],
        t["col_reason"],
        t["col_reply"],
        t["col_mx"],
        t["col_expect"],
    )
    out.append(Table(headers, tuple(table_rows), sortable=True))
    return out


def _bad_line(doc: dict[str, Any], t: dict[str, str]) -> list[Any]:
    line = g(doc, "line") or "?"
    return [
        Heading(2, g(doc, "input") or g(doc, "address")),
        Banner("none", "\u2014", t["verdict_none"], ((t["what_happened"], g(doc, "summary")),)),
        Para(t["bad_line"].format(line=line), "note"),
    ]


# -- one probe ---------------------------------------------------------------------------------


def _cards_for(keys: Sequence[str], carried: list[Any], lang: str) -> list[dict[str, Any]]:
    """The catalog cards of a reply's codes, in the report's language, from the packaged
    catalog; a card the document carries but the catalog lacks is kept as carried."""
    import dataclasses

    from smtpdiag.core.explanation import card

    out: list[dict[str, Any]] = []
    for key in keys:
        found = card(key, lang) if key else None
        if found is not None:
            out.append(dataclasses.asdict(found))
            continue
        for c in carried:
            if isinstance(c, dict) and g(c, "key") == key:
                out.append(c)
    if not out:
        out = [c for c in carried if isinstance(c, dict)]
    return out


def _reply_keys(reply: dict[str, Any]) -> list[str]:
    keys = []
    if g(reply, "enhanced"):
        keys.append(g(reply, "enhanced"))
    code = reply.get("code")
    if isinstance(code, int) and not isinstance(code, bool):
        keys.append(str(code))
    return keys


def _side(side: str, t: dict[str, str]) -> str:
    if not side:
        return t["side_none"]
    return t.get(f"side_{side}", side)


def _probe(doc: dict[str, Any], lang: str, t: dict[str, str], in_list: bool) -> list[Any]:
    out: list[Any] = []
    address = g(doc, "address")
    head = address
    if (
        g(doc, "domain_unicode")
        and g(doc, "domain")
        and g(doc, "domain_unicode") != g(doc, "domain")
    ):
        head += f" ({g(doc, 'domain_unicode')} = {g(doc, 'domain')})"
    out.append(Heading(2, head))
    verdict = g(doc, "verdict")
    tone, icon, label = verdict_view(verdict, t)
    deciding = d(doc, "deciding")
    reply = d(deciding, "reply")
    cards = _cards_for(_reply_keys(reply), ls(deciding, "cards"), lang) if deciding else []
    provider = d(deciding, "provider")
    reason = g(doc, "reason")
    reason_title = catalog.load(lang).reason(reason)[0] if reason else ""
    facts: list[tuple[str, str]] = [
        (t["reason"], _titled(reason_title, reason)),
        (t["who_must_act"], _side(g(doc, "blocked_side"), t)),
        (t["what_happened"], g(doc, "summary")),
    ]
    step = _next_step(provider, cards, reply)
    if step:
        facts.append((t["next_step"], step))
    if reply:
        facts.append((t["deciding"], reply_text(reply)))
    if in_list and isinstance(doc.get("expect"), list):
        wanted = "|".join(s(x) for x in doc["expect"])
        state = t["met"] if doc.get("met") else t["not_met"]
        facts.append((t["col_expect"], t["expected"].format(expect=wanted, state=state)))
    out.append(Banner(tone, icon, label, tuple(facts)))
    more: list[tuple[str, str]] = []
    ca = d(doc, "catch_all")
    if ca.get("tested"):
        state = {True: t["catch_all_yes"], False: t["catch_all_no"]}.get(
            ca.get("accepted"),  # type: ignore[arg-type]
            t["catch_all_unclear"],
        )
        more.append((t["catch_all"], f"{g(ca, 'address')} {state}".strip()))
    client = d(doc, "client")
    if g(client, "seen_ip") and g(client, "seen_ip") != g(client, "local_ip"):
        how = t["seen_public_ip"] if g(client, "seen_from") == "public-ip" else t["seen_reply"]
        seen = t["client_seen"].format(
            seen=g(client, "seen_ip"), how=how, local=g(client, "local_ip") or "?"
        )
        if client.get("nat"):
            seen += "; " + t["client_nat"].format(seen=g(client, "seen_ip"))
        more.append((t["client"], seen))
    if g(doc, "started_at"):
        more.append(
            ("", t["started"].format(started=g(doc, "started_at"), ms=num(doc.get("elapsed_ms"))))
        )
    for r in ls(doc, "retries"):
        line = t["retry_line"].format(
            after=num(r.get("after_s")) if isinstance(r, dict) else "?",
            verdict=g(r, "verdict"),
            reason=g(r, "reason"),
            summary=g(r, "summary"),
        )
        more.append((t["retries"], line))
    if more:
        out.append(Facts(tuple(more)))
    out.extend(_transcript(doc, deciding, t, lang))
    out.extend(_card_blocks(cards, provider, lang, t, 3, reply))
    auth = d(doc, "auth")
    if auth:
        out.append(Heading(3, t["auth"]))
        out.extend(_auth(auth, lang, t, 4))
    transport = d(doc, "transport")
    if transport:
        out.append(Heading(3, t["transport"]))
        out.extend(_transport(transport, t))
    out.extend(_mx_plan(doc, t))
    return out


def _titled(title: str, ident: str) -> str:
    if title and ident and title != ident:
        return f"{title} ({ident})"
    return ident or title


def _next_step(provider: dict[str, Any], cards: list[dict[str, Any]], reply: dict[str, Any]) -> str:
    if g(provider, "remedy"):
        return g(provider, "remedy")
    if cards and reply:
        return g(cards[0], "fix")
    return ""


def _same_step(a: Any, deciding: dict[str, Any]) -> bool:
    if not isinstance(a, dict) or not deciding:
        return False
    return all(a.get(k) == deciding.get(k) for k in ("stage", "command", "reply", "error"))


def _transcript(
    doc: dict[str, Any], deciding: dict[str, Any], t: dict[str, str], lang: str
) -> list[Any]:
    out: list[Any] = [Heading(3, t["transcript"])]
    attempts = [a for a in ls(doc, "attempts") if isinstance(a, dict)]
    if not attempts:
        out.append(Para(t["no_sessions"], "note"))
        return out
    # the deciding step: the last step equal to it
    where: tuple[int, int] | None = None
    for ai, att in enumerate(attempts):
        for si, st in enumerate(ls(att, "steps")):
            if _same_step(st, deciding):
                where = (ai, si)
    for ai, att in enumerate(attempts):
        out.append(
            Heading(
                4,
                t["attempt"].format(
                    host=g(att, "host"), address=g(att, "address"), port=g(att, "port")
                ),
            )
        )
        facts: list[tuple[str, str]] = []
        if g(att, "route"):
            facts.append(("", t["attempt_route"].format(route=g(att, "route"))))
        elif g(att, "local_address"):
            local = f"{g(att, 'local_address')}:{g(att, 'local_port')}"
            facts.append(("", t["attempt_from"].format(local=local)))
        facts.append(
            (
                "",
                t["attempt_facts"].format(
                    flights=num(att.get("flights")),
                    ms=num(att.get("elapsed_ms")),
                    pipelined=t["yes"] if att.get("pipelined") else t["no"],
                ),
            )
        )
        tls = d(att, "tls")
        if tls:
            facts.append((t["tls"], _tls_text(tls, t)))
        out.append(Facts(tuple(facts)))
        steps = [st for st in ls(att, "steps") if isinstance(st, dict)]
        bars = []
        total = 0.0
        for st in steps:
            ms = ms_of(st.get("elapsed_ms")) or 0.0
            total += ms
            command = g(st, "command")
            verb = command.split(" ", 1)[0].split(":", 1)[0] if command else ""
            name = g(st, "stage") + (f" {verb}" if verb and verb.lower() != g(st, "stage") else "")
            tone = "bad" if g(st, "error") else _reply_tone(d(st, "reply").get("code"))
            bars.append(Bar(name, ms, tone))
        if bars:
            title = t["timeline"].format(count=len(bars), ms=num(round(total, 1)))
            headers = (t["col_step"], t["col_ms"], t["col_bar"])
            out.append(Timeline(title, tuple(bars), headers))
        marked = tuple(_step(st, t, (ai, si) == where) for si, st in enumerate(steps))
        out.append(Transcript(marked, t["deciding_marker"]))
        if g(att, "error"):
            out.append(Para(t["session_error"].format(error=g(att, "error")), "bad"))
        if g(att, "verdict"):
            out.append(
                Para(
                    t["attempt_verdict"].format(verdict=g(att, "verdict"), reason=g(att, "reason")),
                    VERDICTS.get(g(att, "verdict"), ("", ""))[0],
                )
            )
    return out


def _step(st: dict[str, Any], t: dict[str, str], deciding: bool) -> Step:
    lines: list[Line] = []
    if g(st, "command"):
        lines.append(Line("sent", g(st, "command")))
    reply = d(st, "reply")
    if reply:
        lines.extend(Line("received", text) for text in reply_lines(reply))
    if g(st, "error"):
        lines.append(Line("error", g(st, "error")))
    ann = d(st, "annotation")
    if ann:
        note = f"{g(ann, 'title')}: {g(ann, 'meaning')}"
        code = reply.get("code")
        if isinstance(code, int) and code >= 400 and g(ann, "reason"):
            note += f" [{g(ann, 'reason')}]"
        lines.append(Line("note", note))
    tone = "bad" if g(st, "error") else (_reply_tone(reply.get("code")) if reply else "")
    return Step(tuple(lines), ms_of(st.get("elapsed_ms")), deciding, tone)


def _tls_text(tls: dict[str, Any], t: dict[str, str]) -> str:
    parts = [f"{g(tls, 'version') or '?'}, {g(tls, 'cipher') or '?'}"]
    if g(tls, "subject"):
        parts.append(t["certificate"].format(subject=g(tls, "subject"), issuer=g(tls, "issuer")))
        parts.append(t["valid"].format(start=g(tls, "not_before"), end=g(tls, "not_after")))
    trusted = tls.get("trusted")
    if trusted is True:
        store = t["system_store"] if g(tls, "trust_store") == "system" else g(tls, "trust_store")
        parts.append(t["tls_trusted"].format(store=store))
    elif trusted is False:
        parts.append(t["tls_untrusted"].format(error=g(tls, "trust_error")))
    else:
        parts.append(t["tls_unchecked"].format(error=g(tls, "trust_error")))
    key = {True: "name_matches", False: "name_mismatch"}.get(
        tls.get("hostname_matches"),  # type: ignore[arg-type]
        "name_unchecked",
    )
    parts.append(t[key].format(name=g(tls, "checked_name")))
    return "; ".join(parts)


def _card_blocks(
    cards: list[dict[str, Any]],
    provider: dict[str, Any],
    lang: str,
    t: dict[str, str],
    level: int,
    reply: dict[str, Any] | None,
) -> list[Any]:
    if reply is not None and not reply and not cards:
        return []
    cat = catalog.load(lang)
    out: list[Any] = []
    if provider:
        out.append(Heading(level, t["provider"].format(provider=g(provider, "provider"))))
        items = [
            (t["card_meaning"], g(provider, "explanation")),
            (t["remedy"], g(provider, "remedy")),
        ]
        if g(provider, "source"):
            items.append((t["source"], g(provider, "source")))
        out.append(Facts(tuple(items)))
    for c in cards:
        prefix = "SMTP " if g(c, "kind") == "basic" else ""
        out.append(Heading(level, f"{t['card']}: {prefix}{g(c, 'key')} {g(c, 'title')}"))
        out.append(
            Facts(
                (
                    (t["card_class"], g(c, "class_name")),
                    (t["card_meaning"], g(c, "meaning")),
                    (cat.heading("description"), g(c, "description")),
                    (cat.heading("when"), g(c, "when")),
                    (cat.heading("fix"), g(c, "fix")),
                    (cat.heading("actor"), g(c, "actor_text") or g(c, "actor")),
                    (cat.heading("retry"), g(c, "retry")),
                    (cat.heading("reference"), g(c, "rfc")),
                )
            )
        )
    if not cards and reply:
        out.append(Heading(level, t["card"]))
        out.append(Para(t["no_card"], "note"))
    return out


def _mx_plan(doc: dict[str, Any], t: dict[str, str]) -> list[Any]:
    mx = d(doc, "mx")
    if not mx:
        return []
    out: list[Any] = [Heading(3, t["mx_plan"])]
    source = g(mx, "source") or "none"
    key = "mx_" + source.replace("server-option", "server").replace("ip-literal", "literal")
    label = t.get(key, source)
    out.append(Para(label.format(domain=g(doc, "domain"))))
    hosts = [h for h in ls(mx, "hosts") if isinstance(h, dict)]
    if hosts and source != "null":
        rows = tuple(
            (
                Cell(num(h.get("preference")) if h.get("preference") is not None else ""),
                Cell(g(h, "host")),
                Cell(", ".join(s(a) for a in ls(h, "addresses")) or t["no_addresses"]),
                Cell(g(h, "error"), role="bad" if g(h, "error") else ""),
            )
            for h in hosts
        )
        headers = (t["col_preference"], t["col_host"], t["col_addresses"], t["col_problem"])
        out.append(Table(headers, rows))
    if g(mx, "error") and source != "null":
        out.append(Para(g(mx, "error"), "bad"))
    return out


def _transport(tr: dict[str, Any], t: dict[str, str]) -> list[Any]:
    out: list[Any] = []
    sts = d(tr, "mta_sts")
    if sts:
        out.append(Para(g(sts, "summary")))
        items = [
            ("MTA-STS", g(c, "text")) for c in ls(sts, "mx") if isinstance(c, dict) and g(c, "text")
        ]
        if items:
            out.append(Facts(tuple(items)))
    dane = d(tr, "dane")
    if dane:
        out.extend(_dane(dane, t))
    rpt = d(tr, "tls_rpt")
    if rpt:
        out.append(_rpt(rpt, t["tlsrpt_none"], t["tlsrpt_rua"]))
    return out


def _rpt(rpt: dict[str, Any], none: str, found: str) -> Para:
    """A TLS-RPT record in one paragraph: missing, broken, or where reports go."""
    if not rpt.get("found"):
        return Para(none, "note")
    if ls(rpt, "problems"):
        return Para("TLS-RPT: " + "; ".join(s(p) for p in ls(rpt, "problems")), "bad")
    return Para(found.format(rua=", ".join(s(r) for r in ls(rpt, "rua"))))


def _dane(dane: dict[str, Any], t: dict[str, str]) -> list[Any]:
    """DANE: the summary, each MX host's finding, and its TLSA records beside their DNSSEC
    status, which one matched, or what the live certificate gives instead."""
    summary = g(dane, "summary")
    out: list[Any] = [Para(summary if summary.startswith("DANE") else "DANE: " + summary)]
    items = []
    rows: list[tuple[Cell, ...]] = []
    for h in ls(dane, "hosts"):
        if not isinstance(h, dict):
            continue
        items.append((g(h, "host"), g(h, "text")))
        presented = [p for p in ls(h, "presented") if isinstance(p, dict)]
        for rec in ls(h, "records")[:8]:
            text = s(rec)
            if text == g(h, "matched"):
                state = t["dane_matched"]
            else:
                gives = [
                    t["dane_gives"].format(depth=g(p, "depth"), value=g(p, "value"))
                    for p in presented
                    if g(p, "record") == text
                ]
                state = "; ".join(gives[:4])
            role = "ok" if text == g(h, "matched") else ""
            rows.append(
                (Cell(g(h, "host")), Cell(text), Cell(g(h, "tlsa_dnssec")), Cell(state, role=role))
            )
    if items:
        out.append(Facts(tuple(items)))
    if rows:
        headers = (t["col_host"], t["col_tlsa"], t["col_dnssec"], t["col_cert"])
        out.append(Table(headers, tuple(rows)))
    return out


# -- the auth report -------------------------------------------------------------------------


def _auth(a: dict[str, Any], lang: str, t: dict[str, str], level: int) -> list[Any]:
    at = _auth_strings(lang)
    out: list[Any] = []
    finding = d(a, "finding")
    if finding:
        out.append(
            Para(
                f"{t['auth_finding'].format(source=g(finding, 'source'))}: {g(finding, 'text')}",
                "bad",
            )
        )
    spf = d(a, "spf")
    if spf:
        out.append(Heading(level, t["spf"]))
        if spf.get("evaluated"):
            head = at["spf_head"].format(
                result=g(spf, "result"), sender=g(spf, "sender"), ip=g(spf, "ip")
            )
            role = {"pass": "ok", "none": "warn", "neutral": "warn"}.get(g(spf, "result"), "bad")
        else:
            head = at["spf_unevaluated"].format(domain=g(spf, "domain"))
            role = ""
        out.append(Para(head, role))
        items = [(at["record"], g(spf, "record") or at["none"])]
        if spf.get("evaluated") and g(spf, "mechanism"):
            items.append((at["decided_by"], g(spf, "mechanism")))
        if g(spf, "explanation"):
            items.append((at["explanation"], g(spf, "explanation")))
        items.append(
            ("", at["lookups"].format(lookups=g(spf, "lookups"), void=g(spf, "void_lookups")))
        )
        out.append(Facts(tuple(items)))
        trace = [x for x in ls(spf, "trace") if isinstance(x, dict) and g(x, "term") != "(record)"]
        if trace:
            rows = tuple(
                (
                    Cell(g(x, "domain")),
                    Cell(g(x, "term")),
                    Cell(at["match"] if x.get("matched") else at["no_match"]),
                )
                for x in trace
            )
            out.append(Table((t["col_domain"], t["col_term"], t["col_matched"]), rows))
        out.extend(Para(s(p), "warn") for p in ls(spf, "problems"))
    dm = d(a, "dmarc")
    if dm:
        out.append(Heading(level, t["dmarc"]))
        if g(dm, "record"):
            head = at["dmarc_head"].format(
                location=g(dm, "location"), policy=g(dm, "policy"), source=g(dm, "policy_source")
            )
            out.append(Para(head))
            align = at["dmarc_alignment"].format(
                dkim=g(dm, "alignment_dkim"), spf=g(dm, "alignment_spf")
            )
            if dm.get("testing"):
                align += "; " + at["testing_mode"]
            out.append(Facts(((at["record"], g(dm, "record")), ("", align))))
        else:
            out.append(Para(at["dmarc_none"].format(domain=g(dm, "domain")), "warn"))
        out.extend(Para(s(p), "warn") for p in ls(dm, "problems"))
    keys = [k for k in ls(a, "dkim") if isinstance(k, dict)]
    if keys:
        out.append(Heading(level, t["dkim"]))
        items = []
        for k in keys:
            if k.get("found"):
                state = (
                    at["revoked"]
                    if k.get("revoked")
                    else at["bits"].format(type=g(k, "key_type"), bits=g(k, "bits"))
                    if k.get("bits")
                    else g(k, "key_type")
                )
                if k.get("testing"):
                    state += " " + at["testing"]
            else:
                state = g(k, "error") or at["none"]
            problems = "; ".join(s(p) for p in ls(k, "problems"))
            items.append((g(k, "name"), f"{state}; {problems}" if problems else state))
        out.append(Facts(tuple(items)))
    general = [s(p) for p in ls(a, "problems")]
    if general:
        out.append(Heading(level, t["problems"]))
        out.extend(Para(p, "warn") for p in general)
    ptr = d(a, "ptr")
    if ptr:
        out.append(Heading(level, t["ptr"]))
        names = ", ".join(s(n) for n in ls(ptr, "names")) or at["none"]
        state = at["fcrdns_yes"] if ls(ptr, "confirmed") else at["fcrdns_no"]
        text = at["ptr_head"].format(ip=g(ptr, "ip"), names=names, state=state)
        out.append(Para(text, "ok" if ls(ptr, "confirmed") else "warn"))
        if g(ptr, "error"):
            out.append(Para(g(ptr, "error"), "warn"))
        out.extend(Para(s(p), "warn") for p in ls(ptr, "problems"))
    lists = [b for b in ls(a, "dnsbl") if isinstance(b, dict)]
    if lists:
        out.append(Heading(level, t["dnsbl"]))
        bl_rows: list[tuple[Cell, ...]] = []
        for b in lists:
            listed = b.get("listed")
            if listed is True:
                status, role = t["listed"], "bad"
                meaning = "; ".join(
                    f"{s(x)} {s(m)}"
                    for x, m in zip(ls(b, "answers"), ls(b, "meanings"), strict=False)
                )
                if g(b, "text"):
                    meaning += f" ({g(b, 'text')})"
            elif listed is False:
                status, role, meaning = t["not_listed"], "ok", ""
            else:
                status, role, meaning = t["unchecked"], "warn", g(b, "error")
            bl_rows.append(
                (
                    Cell(g(b, "name")),
                    Cell(g(b, "zone")),
                    Cell(status, role=role),
                    Cell(meaning),
                    Cell(g(b, "delist") if listed else ""),
                )
            )
        headers = (t["col_list"], t["col_zone"], t["col_status"], t["col_meaning"], t["col_delist"])
        out.append(Table(headers, tuple(bl_rows)))
    sts, rpt, dane = d(a, "mta_sts_record"), d(a, "tls_rpt_record"), d(a, "dane")
    if sts or rpt or dane:
        out.append(Heading(level, t["records"]))
        if sts:
            if not sts.get("found"):
                out.append(Para(at["sts_none"], "note"))
            elif ls(sts, "problems"):
                out.append(Para("MTA-STS: " + "; ".join(s(p) for p in ls(sts, "problems")), "bad"))
            else:
                out.append(Para(at["sts_ok"].format(id=g(sts, "id"))))
        if rpt:
            out.append(_rpt(rpt, at["rpt_none"], at["rpt_ok"]))
        if dane:
            out.extend(_dane(dane, t))
    return out


# -- a bounce message ------------------------------------------------------------------------


def _verdicts_text(verdicts: list[Any]) -> str:
    parts = []
    for v in verdicts:
        if not isinstance(v, dict):
            continue
        detail = f" ({g(v, 'detail')})" if g(v, "detail") else ""
        by = f" by {g(v, 'authserv_id')}" if g(v, "authserv_id") else ""
        parts.append(f"{g(v, 'method')}={g(v, 'result')}{detail}{by}")
    return "; ".join(parts)


def _message(m: dict[str, Any], lang: str, t: dict[str, str]) -> list[Any]:
    out: list[Any] = [Heading(2, t["bounce"])]
    kind_text = t.get(f"msg_kind_{g(m, 'kind')}", g(m, "kind"))
    out.append(Para(kind_text, "bad" if g(m, "kind") == "bounce" else ""))
    items: list[tuple[str, str]] = [(t["msg_format"], g(m, "format"))]
    for label, key in (
        ("msg_subject", "subject"),
        ("msg_from", "from"),
        ("msg_date", "date"),
        ("msg_reported_by", "reporting_mta"),
        ("msg_arrived", "arrival_date"),
    ):
        if g(m, key):
            items.append((t[label], g(m, key)))
    if m.get("forwarded"):
        items.append(("", t["msg_forwarded"]))
    for note in ls(m, "notes"):
        items.append((t["msg_note"], s(note)))
    out.append(Facts(tuple(items)))
    o = d(m, "original")
    if o:
        out.append(Heading(3, t["msg_returned"]))
        rows = [
            (label, g(o, key))
            for label, key in (
                ("From", "from"),
                ("To", "to"),
                ("Subject", "subject"),
                ("Date", "date"),
                ("Message-ID", "message_id"),
            )
            if g(o, key)
        ]
        if ls(o, "auth"):
            rows.append((t["msg_original_auth"], _verdicts_text(ls(o, "auth"))))
        out.append(Facts(tuple(rows)))
    recipients = [r for r in ls(m, "recipients") if isinstance(r, dict)]
    if len(recipients) > 1:
        out.append(Heading(3, t["recipients"]))
        rows2 = tuple(
            (
                Cell(str(i)),
                Cell(g(r, "address"), link=f"rcpt-{i}"),
                Cell(t.get(f"msg_action_{g(r, 'action')}", g(r, "action"))),
                Cell(g(r, "reason")),
                Cell(" ".join(x for x in (s(r.get("code")), g(r, "enhanced")) if x)),
            )
            for i, r in enumerate(recipients, 1)
        )
        headers = (t["col_number"], t["col_address"], t["status"], t["col_reason"], t["code"])
        out.append(Table(headers, rows2))
    for i, r in enumerate(recipients, 1):
        out.append(Section(f"rcpt-{i}", tuple(_recipient(r, lang, t))))
    return out


def _recipient(r: dict[str, Any], lang: str, t: dict[str, str]) -> list[Any]:
    out: list[Any] = [Heading(3, f"{t['recipient']}: {g(r, 'address')}")]
    action = g(r, "action")
    tone = {"failed": "bad", "delayed": "warn", "delivered": "ok", "relayed": "ok"}.get(
        action, "bad"
    )
    icon = {"bad": "\u2716", "warn": "\u23f3", "ok": "\u2714"}[tone]
    label = t.get(f"msg_action_{action}", action) or t["msg_no_diagnostic"]
    reason = g(r, "reason")
    reason_title = catalog.load(lang).reason(reason)[0] if reason else ""
    keys = [k for k in (g(r, "enhanced"), s(r.get("code"))) if k]
    cards = _cards_for(keys, ls(r, "cards"), lang)
    provider = d(r, "provider")
    facts: list[tuple[str, str]] = [
        (t["reason"], _titled(reason_title, reason)),
        (t["who_must_act"], g(cards[0], "actor_text") if cards else t["side_none"]),
    ]
    step = g(provider, "remedy") or (g(cards[0], "fix") if cards else "")
    if step:
        facts.append((t["next_step"], step))
    if g(r, "status"):
        facts.append((t["status"], g(r, "status")))
    out.append(Banner(tone, icon, label, tuple(facts)))
    items: list[tuple[str, str]] = []
    if g(r, "original_recipient") and g(r, "original_recipient").lower() != g(r, "address").lower():
        items.append((t["msg_original_recipient"], g(r, "original_recipient")))
    if g(r, "remote_mta"):
        items.append((t["msg_remote_mta"], g(r, "remote_mta")))
    if g(r, "stage"):
        items.append((t["stage"], g(r, "stage")))
    for label_key, key in (
        ("msg_last_attempt", "last_attempt_date"),
        ("msg_retry_until", "will_retry_until"),
    ):
        if g(r, key):
            items.append((t[label_key], g(r, key)))
    if g(r, "title") or g(r, "meaning"):
        items.append((g(r, "title"), g(r, "meaning")))
    items.append((t["evidence"], g(r, "evidence")))
    items.append((t["confidence"], g(r, "confidence")))
    out.append(Facts(tuple(items)))
    out.append(Heading(4, t["diagnostic"]))
    text = g(r, "diagnostic") or g(r, "text")
    if text:
        out.append(Pre(tuple(text.split("\n"))))
    else:
        out.append(Para(t["msg_no_diagnostic"], "note"))
    if r.get("expired"):
        out.append(Para(t["msg_expired"], "warn"))
    if ls(r, "auth"):
        out.append(Para(t["msg_auth_tie"].format(verdicts=_verdicts_text(ls(r, "auth"))), "warn"))
    out.extend(_card_blocks(cards, provider, lang, t, 4, None))
    return out


# -- explain (a code or a reply text) ---------------------------------------------------------


def _explain(e: dict[str, Any], lang: str, t: dict[str, str]) -> list[Any]:
    shown = g(e, "input")
    out: list[Any] = [Heading(2, f"{t['reply']}: {shown[:200]}")]
    items: list[tuple[str, str]] = []
    code = " ".join(x for x in (s(e.get("code")), g(e, "enhanced")) if x)
    if code:
        items.append((t["code"], code))
    if g(e, "stage"):
        items.append((t["stage"], g(e, "stage")))
    reason = g(e, "reason")
    reason_title = catalog.load(lang).reason(reason)[0] if reason else ""
    items.append((t["reason"], _titled(reason_title, reason)))
    if g(e, "title"):
        items.append((g(e, "title"), g(e, "meaning")))
    items.append((t["evidence"], g(e, "evidence")))
    out.append(Facts(tuple(items)))
    keys = [k for k in (g(e, "enhanced"), s(e.get("code"))) if k]
    cards = _cards_for(keys, ls(e, "cards"), lang)
    out.extend(_card_blocks(cards, d(e, "provider"), lang, t, 3, None))
    return out


#: Addresses of a list whose whole details a report holds; the others get their row in the
#: summary table only (a 100,000-address report would not open, nor fit in memory)
MAX_DETAILS = 500
_ROW_KEYS = ("schema", "address", "input", "line", "domain", "domain_unicode", "verdict",
             "reason", "blocked_side", "expect", "met", "error")  # fmt: skip


def thin(doc: Any) -> Any:
    """What the summary table needs of a probe document (its row), nothing more."""
    if not isinstance(doc, dict) or kind(doc) not in ("probe", "bad-line"):
        return doc
    out = {k: doc[k] for k in _ROW_KEYS if k in doc}
    reply = d(d(doc, "deciding"), "reply")
    out["deciding"] = {"reply": reply} if reply else None
    hosts = [g(a, "host") for a in ls(doc, "attempts")]
    out["attempts"] = [{"host": hosts[-1]}] if hosts and hosts[-1] else []
    out[_THIN] = True
    return out


_THIN = "\x00thin"  # a key no JSON document of ours has


def render(docs: Sequence[Any], fmt: str, lang: str) -> str:
    """``docs`` as one report in ``fmt`` (html or markdown)."""
    report = build(docs, lang)
    if fmt == "html":
        from smtpdiag.render.html import to_html

        return to_html(report)
    from smtpdiag.render.markdown import to_markdown

    return to_markdown(report)
