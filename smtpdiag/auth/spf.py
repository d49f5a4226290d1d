"""SPF (RFC 7208): record parsing, ``check_host()`` with a full trace, and record checks.

Pure logic: DNS answers come from an injected async ``Query`` function, so the real
resolver, the tests and the RFC 7208 conformance suite drive it the same way. Every
limit of the RFC is enforced: 10 DNS-querying terms, 2 void lookups, 10 MX or PTR names
per term, include/redirect loops (they hit the lookup limit).
"""

from __future__ import annotations

import ipaddress
import re
import time
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote

from smtpdiag.core.dnstypes import Answer as Answer  # the DNS vocabulary, shared with the DNS edge
from smtpdiag.core.dnstypes import Query as Query
from smtpdiag.core.errors import RecordError
from smtpdiag.core.records import record

Result = Literal["pass", "fail", "softfail", "neutral", "none", "temperror", "permerror"]
QUALIFIERS: dict[str, Result] = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
MAX_LOOKUPS = 10
MAX_VOID = 2
MAX_NAMES = 10  # MX or PTR names looked at per term
MAX_RECORD_BYTES = 512


class SpfError(RecordError):
    """An SPF record that does not parse (:func:`parse_record`), or what ends an evaluation
    with temperror or permerror. A :class:`smtpdiag.SmtpdiagError`."""

    def __init__(self, result: Result, message: str) -> None:
        super().__init__(result, message)
        self.result: Result = result


@record
class Term:
    text: str
    kind: str  # "mechanism" or "modifier"
    name: str  # all, include, a, mx, ptr, ip4, ip6, exists; redirect, exp, or other
    qualifier: str = "+"
    arg: str | None = None  # domain-spec / ip / modifier value
    cidr4: int | None = None
    cidr6: int | None = None
    position: int = 0


@dataclass
class TraceStep:
    """One term's evaluation, for the trace."""

    domain: str
    term: str
    queries: list[str] = field(default_factory=list)
    matched: bool = False
    note: str = ""
    depth: int = 0


@dataclass
class _State:
    query: Query
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    sender: str
    helo: str
    lookups: int = 0
    void: int = 0
    trace: list[TraceStep] = field(default_factory=list)
    costs: dict[str, int] = field(default_factory=dict)  # domain of include/redirect -> lookups
    deadline: float = 0.0
    upper_hex: bool = False  # the IP was written in upper case: keep that in %{i}
    default_explanation: str | None = None

    async def ask(self, name: str, rdtype: str) -> Answer:
        """One DNS query, refused once the evaluation's time budget is spent."""
        if self.deadline and time.monotonic() > self.deadline:
            raise SpfError("temperror", "SPF evaluation ran out of time (DNS too slow)")
        return await self.query(name, rdtype)


@record
class SpfResult:
    """The outcome of check_host() and everything learned on the way."""

    result: Result
    domain: str
    ip: str
    sender: str
    record: str | None
    mechanism: str | None  # the term that decided (None: default or error)
    explanation: str | None
    lookups: int
    void_lookups: int
    trace: tuple[TraceStep, ...]
    problems: tuple[str, ...]
    error: str | None = None
    include_costs: tuple[tuple[str, int], ...] = ()


# -- parsing ---------------------------------------------------------------------------------

_MECHANISMS = {"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9\-_.]*$")
_MACRO_LETTERS = "slodiphvcrt"
_DUAL_CIDR = re.compile(r"^(.*?)(?:/(\d+))?(?://(\d+))?$", re.DOTALL)


def is_spf_record(txt: str) -> bool:
    return txt[:6].lower() == "v=spf1" and (len(txt) == 6 or txt[6] == " ")


def parse_record(record: str) -> list[Term]:
    """Parse a whole record; raises SpfError(permerror) for any syntax error anywhere."""
    if not record.isascii():
        raise SpfError("permerror", "the record contains non-ASCII characters")
    terms: list[Term] = []
    seen: set[str] = set()
    position = 6
    for raw in record[6:].split(" "):
        if not raw:
            position += 1
            continue
        term = _parse_term(raw, position)
        if term.kind == "modifier" and term.name in ("redirect", "exp"):
            if term.name in seen:
                raise SpfError("permerror", f"{term.name}= appears twice (column {position})")
            seen.add(term.name)
        terms.append(term)
        position += len(raw) + 1
    return terms


def _parse_term(raw: str, position: int) -> Term:
    eq = raw.find("=")
    colon = raw.find(":")
    slash = raw.find("/")
    cut = min(i for i in (colon, slash, len(raw)) if i >= 0)
    if eq > 0 and eq < cut:
        name, value = raw[:eq], raw[eq + 1 :]
        if not _NAME.match(name):
            raise SpfError("permerror", f"bad modifier name {name!r} at column {position}")
        _check_macro_string(value, position, allow_exp=False)
        if name.lower() in ("redirect", "exp"):
            if not value:
                raise SpfError("permerror", f"{name}= needs a domain (column {position})")
            _check_domain_spec(value, position)
        return Term(raw, "modifier", name.lower(), arg=value, position=position)
    qualifier = "+"
    body = raw
    if body[0] in QUALIFIERS:
        qualifier, body = body[0], body[1:]
    m = re.match(r"^([A-Za-z][A-Za-z0-9]*)", body)
    if not m:
        raise SpfError("permerror", f"unknown term {raw!r} at column {position}")
    name = m.group(1).lower()
    rest = body[m.end() :]
    if name not in _MECHANISMS:
        raise SpfError("permerror", f"unknown mechanism {raw!r} at column {position}")
    arg: str | None = None
    cidr4 = cidr6 = None
    if name == "all":
        if rest:
            raise SpfError("permerror", f"'all' takes no argument: {raw!r} (column {position})")
    elif name in ("ip4", "ip6"):
        if not rest.startswith(":"):
            raise SpfError("permerror", f"{name} needs an address: {raw!r} (column {position})")
        arg, cidr = _split_cidr(rest[1:], raw, position)
        try:
            if name == "ip4":
                net = ipaddress.IPv4Network(
                    f"{arg}/{cidr if cidr is not None else 32}", strict=False
                )
                cidr4 = net.prefixlen
                if not re.fullmatch(r"\d+\.\d+\.\d+\.\d+", arg):
                    raise ValueError(arg)
            else:
                net6 = ipaddress.IPv6Network(
                    f"{arg}/{cidr if cidr is not None else 128}", strict=False
                )
                cidr6 = net6.prefixlen
        except ValueError:
            raise SpfError("permerror", f"bad address in {raw!r} (column {position})") from None
    elif name in ("a", "mx"):
        if rest.startswith(":"):
            spec = rest[1:]
            m2 = _DUAL_CIDR.match(spec)
            assert m2 is not None
            arg = m2.group(1)
            cidr4 = _cidr(m2.group(2), 32, raw, position)
            cidr6 = _cidr(m2.group(3), 128, raw, position)
            if not arg:
                raise SpfError("permerror", f"empty domain in {raw!r} (column {position})")
            _check_domain_spec(arg, position)
        elif rest.startswith("/") or not rest:
            m2 = _DUAL_CIDR.match(rest)
            assert m2 is not None
            if m2.group(1):
                raise SpfError("permerror", f"bad term {raw!r} at column {position}")
            cidr4 = _cidr(m2.group(2), 32, raw, position)
            cidr6 = _cidr(m2.group(3), 128, raw, position)
        else:
            raise SpfError("permerror", f"bad term {raw!r} at column {position}")
    else:  # include, exists, ptr
        if rest.startswith(":"):
            arg = rest[1:]
            if not arg:
                raise SpfError("permerror", f"empty domain in {raw!r} (column {position})")
            _check_domain_spec(arg, position)
        elif rest or name in ("include", "exists"):
            raise SpfError("permerror", f"{name} needs a domain: {raw!r} (column {position})")
    return Term(raw, "mechanism", name, qualifier, arg, cidr4, cidr6, position)


def _split_cidr(value: str, raw: str, position: int) -> tuple[str, int | None]:
    if "/" in value:
        addr, _, length = value.partition("/")
        if not length.isdigit() or (len(length) > 1 and length.startswith("0")):
            raise SpfError("permerror", f"bad prefix length in {raw!r} (column {position})")
        return addr, int(length)
    return value, None


def _cidr(text: str | None, top: int, raw: str, position: int) -> int | None:
    if text is None:
        return None
    if (len(text) > 1 and text.startswith("0")) or int(text) > top:
        raise SpfError("permerror", f"bad prefix length in {raw!r} (column {position})")
    return int(text)


def _check_domain_spec(spec: str, position: int) -> None:
    _check_macro_string(spec, position, allow_exp=False)
    if "%" in spec:
        return
    # RFC 7208 §7.1: domain-end is "." toplabel [ "." ] (a toplabel is not all digits)
    name = spec[:-1] if spec.endswith(".") else spec
    labels = name.split(".")
    if len(labels) < 2 or not labels[-1] or labels[-1].isdigit():
        raise SpfError("permerror", f"bad domain {spec!r} at column {position}")
    if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?", labels[-1]):
        raise SpfError("permerror", f"bad domain {spec!r} at column {position}")


def _check_macro_string(value: str, position: int, allow_exp: bool) -> None:
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "%":
            nxt = value[i + 1 : i + 2]
            if nxt in ("%", "_", "-"):
                i += 2
                continue
            if nxt != "{":
                raise SpfError("permerror", f"bad macro at column {position + i}")
            end = value.find("}", i)
            if end < 0:
                raise SpfError("permerror", f"unterminated macro at column {position + i}")
            body = value[i + 2 : end]
            if not re.fullmatch(r"[A-Za-z]\d*r?[.\-+,/_=]*", body, re.IGNORECASE):
                raise SpfError("permerror", f"bad macro %{{{body}}} at column {position + i}")
            letter = body[0].lower()
            allowed = _MACRO_LETTERS if allow_exp else _MACRO_LETTERS[:8]
            if letter not in allowed:
                raise SpfError("permerror", f"macro %{{{body[0]}}} not allowed here")
            i = end + 1
            continue
        if not (0x21 <= ord(ch) <= 0x7E):
            raise SpfError("permerror", f"bad character in {value!r} at column {position + i}")
        i += 1


# -- macros ----------------------------------------------------------------------------------


async def expand(spec: str, st: _State, domain: str, exp: bool = False) -> str:
    """Expand macros of RFC 7208 §7."""
    out: list[str] = []
    i = 0
    while i < len(spec):
        ch = spec[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        nxt = spec[i + 1 : i + 2]
        if nxt == "%":
            out.append("%")
            i += 2
            continue
        if nxt == "_":
            out.append(" ")
            i += 2
            continue
        if nxt == "-":
            out.append("%20")
            i += 2
            continue
        end = spec.find("}", i)
        body = spec[i + 2 : end]
        i = end + 1
        m = re.fullmatch(r"([A-Za-z])(\d*)(r?)([.\-+,/_=]*)", body, re.IGNORECASE)
        if m is None:
            raise SpfError("permerror", f"bad macro %{{{body}}}")
        letter, digits, reverse, delims = m.groups()
        value = await _macro_value(letter.lower(), st, domain, exp)
        parts = re.split("[" + re.escape(delims or ".") + "]", value)
        if reverse:
            parts.reverse()
        if digits:
            count = int(digits)
            if count == 0:
                raise SpfError("permerror", f"macro %{{{body}}} keeps zero labels")
            parts = parts[-count:]
        text = ".".join(parts)
        if letter.isupper():
            text = quote(text, safe="")
        out.append(text)
    return "".join(out)


async def expand_domain(spec: str, st: _State, domain: str) -> str:
    """Expand a domain-spec; over 253 characters, drop labels from the left (RFC 7208 §7.3)."""
    target = await expand(spec, st, domain)
    while len(target.rstrip(".")) > 253 and "." in target:
        target = target.split(".", 1)[1]
    return target.rstrip(".")


async def _macro_value(letter: str, st: _State, domain: str, exp: bool) -> str:
    local, _, sender_domain = st.sender.rpartition("@")
    if letter == "s":
        return st.sender
    if letter == "l":
        return local or "postmaster"
    if letter == "o":
        return sender_domain
    if letter == "d":
        return domain
    if letter == "i":
        if st.ip.version == 4:
            return str(st.ip)
        nibbles = ".".join(st.ip.exploded.replace(":", ""))
        return nibbles.upper() if st.upper_hex else nibbles
    if letter == "v":
        return "in-addr" if st.ip.version == 4 else "ip6"
    if letter == "h":
        return st.helo
    if letter == "p":
        return await _validated_name(st, domain) or "unknown"
    if exp and letter == "c":
        return str(st.ip)
    if exp and letter == "r":
        return "unknown"
    if exp and letter == "t":
        return str(int(time.time()))
    raise SpfError("permerror", f"macro %{{{letter}}} not allowed here")


async def _validated_name(st: _State, target: str) -> str | None:
    """The "p" macro / ptr mechanism: a PTR name of the IP that resolves back to it,
    preferring one at or under ``target``."""
    names = await _ptr_names(st)
    found = None
    for name in names:
        if name.lower() == target.lower() or name.lower().endswith("." + target.lower()):
            return name
        if found is None:
            found = name
    return found


async def _ptr_names(st: _State) -> list[str]:
    answer = await st.ask(st.ip.reverse_pointer, "PTR")
    if answer.failed:
        return []
    rtype = "A" if st.ip.version == 4 else "AAAA"
    out = []
    for name in [str(v).rstrip(".") for v in answer.values][:MAX_NAMES]:
        forward = await st.ask(name, rtype)
        if any(_same_ip(str(a), st.ip) for a in forward.values):
            out.append(name)
    return out


def _same_ip(text: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    try:
        return ipaddress.ip_address(text) == ip
    except ValueError:
        return False


# -- evaluation ------------------------------------------------------------------------------


_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?$")


def _valid_domain(domain: str, strict: bool = False) -> bool:
    """A multi-label DNS name (RFC 7208 §4.3: otherwise the result is none). ``strict``
    (for the identity's domain) also refuses odd labels such as a domain literal
    [192.0.2.1]; names built from a record's domain-spec may hold any visible character."""
    name = domain[:-1] if domain.endswith(".") else domain
    if not name or len(name) > 253 or "." not in name:
        return False
    labels = name.split(".")
    if strict:
        return all(len(label) <= 63 and _LABEL.match(label) for label in labels)
    return all(0 < len(label) <= 63 for label in labels)


def to_ascii(domain: str) -> str:
    """A-label form of an internationalised domain (unchanged if not convertible)."""
    if domain.isascii():
        return domain
    try:
        import idna

        return str(idna.encode(domain, uts46=True).decode("ascii"))
    except Exception:
        return domain


async def _count_lookup(st: _State, term: str, budget_owner: str | None) -> None:
    st.lookups += 1
    if budget_owner:
        st.costs[budget_owner] = st.costs.get(budget_owner, 0) + 1
    if st.lookups > MAX_LOOKUPS:
        raise SpfError(
            "permerror",
            f"more than {MAX_LOOKUPS} DNS-querying terms (include, a, mx, ptr, exists, "
            f"redirect): {term} is number {st.lookups}",
        )


def _note_void(st: _State, answer: Answer) -> None:
    if answer.void:
        st.void += 1
        if st.void > MAX_VOID:
            raise SpfError("permerror", f"more than {MAX_VOID} void DNS lookups (RFC 7208 §4.6.4)")


async def _get_record(st: _State, domain: str, step: TraceStep) -> tuple[str | None, Answer]:
    answer = await st.ask(domain, "TXT")
    step.queries.append(f"TXT {domain} -> {_summarise(answer)}")
    if answer.failed:
        raise SpfError("temperror", f"DNS {answer.error} looking up TXT {domain}")
    records = []
    for value in answer.values:
        raw = value if isinstance(value, bytes) else str(value).encode()
        text = raw.decode("utf-8", "replace")
        if is_spf_record(text):
            if not raw.isascii():
                raise SpfError("permerror", f"the SPF record of {domain} is not ASCII")
            records.append(text)
    if len(records) > 1:
        raise SpfError("permerror", f"{domain} has {len(records)} SPF records; it must have one")
    return (records[0] if records else None), answer


def _summarise(answer: Answer) -> str:
    if answer.error:
        return answer.error
    shown = []
    for v in answer.values[:5]:
        shown.append(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v))
    more = f" (+{len(answer.values) - 5} more)" if len(answer.values) > 5 else ""
    return "; ".join(shown) + more


def _in_net(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
    addr: str,
    cidr4: int | None,
    cidr6: int | None,
) -> bool:
    try:
        other = ipaddress.ip_address(addr)
    except ValueError:
        return False
    if other.version != ip.version:
        return False
    prefix = (
        (cidr4 if cidr4 is not None else 32)
        if ip.version == 4
        else (cidr6 if cidr6 is not None else 128)
    )
    net = ipaddress.ip_network(f"{other}/{prefix}", strict=False)
    return ip in net


async def _check_host(
    st: _State, domain: str, depth: int, owner: str | None
) -> tuple[Result, str | None, str | None, str | None]:
    """Returns (result, record, deciding term, explanation)."""
    if depth > 20:
        raise SpfError("permerror", "include/redirect nesting too deep")
    step = TraceStep(domain, "(record)", depth=depth)
    st.trace.append(step)
    if not _valid_domain(domain, strict=depth == 0):
        step.note = "not a valid domain name: result none"
        return "none", None, None, None
    record, answer = await _get_record(st, domain, step)
    if record is None:
        if answer.void:
            _note_void(st, answer)
        step.note = "no SPF record"
        return "none", None, None, None
    step.note = record
    terms = parse_record(record)
    redirect = next((t for t in terms if t.name == "redirect"), None)
    exp = next((t for t in terms if t.name == "exp"), None)
    for term in terms:
        if term.kind != "mechanism":
            continue
        tstep = TraceStep(domain, term.text, depth=depth)
        st.trace.append(tstep)
        matched = await _match(st, term, domain, depth, tstep, owner)
        tstep.matched = matched
        if matched:
            result = QUALIFIERS[term.qualifier]
            explanation = None
            if result == "fail":
                explanation = (
                    await _explanation(st, exp.arg or "", domain)
                    if exp is not None
                    else st.default_explanation
                )
            return result, record, term.text, explanation
    if redirect is not None:
        await _count_lookup(st, redirect.text, owner)
        target = await expand_domain(redirect.arg or "", st, domain)
        rstep = TraceStep(domain, redirect.text, depth=depth, note=f"-> {target}")
        st.trace.append(rstep)
        result, _sub_record, mech, explanation = await _check_host(
            st, target, depth + 1, owner or target
        )
        if result == "none":
            raise SpfError("permerror", f"redirect={target} has no SPF record")
        return result, record, mech, explanation
    return "neutral", record, None, None


async def _explanation(st: _State, spec: str, domain: str) -> str | None:
    """The exp= text (RFC 7208 §6.2), or the default explanation when it cannot be had."""
    try:
        target = await expand_domain(spec, st, domain)
        answer = await st.ask(target, "TXT")
        if answer.error or len(answer.values) != 1:
            return st.default_explanation
        value = answer.values[0]
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        if not text.isascii():
            return st.default_explanation
        _check_macro_string(text.replace(" ", "%_"), 0, allow_exp=True)
        return await expand(text, st, domain, exp=True)
    except SpfError:
        return st.default_explanation


async def _match(
    st: _State, term: Term, domain: str, depth: int, step: TraceStep, owner: str | None
) -> bool:
    name = term.name
    if name == "all":
        return True
    if name in ("ip4", "ip6"):
        return _in_net(st.ip, term.arg or "", term.cidr4, term.cidr6)
    await _count_lookup(st, term.text, owner)
    target = await expand_domain(term.arg, st, domain) if term.arg else domain
    if name == "include":
        step.note = f"-> {target}"
        result, _, _, _ = await _check_host(st, target, depth + 1, owner or target)
        if result == "pass":
            return True
        if result in ("fail", "softfail", "neutral"):
            return False
        if result == "temperror":
            raise SpfError("temperror", f"include:{target} gave temperror")
        raise SpfError("permerror", f"include:{target} gave {result}")
    if name == "a":
        return await _match_a(st, target, term, step)
    if name == "mx":
        answer = await st.ask(target, "MX")
        step.queries.append(f"MX {target} -> {_summarise(answer)}")
        if answer.failed:
            raise SpfError("temperror", f"DNS {answer.error} looking up MX {target}")
        _note_void(st, answer)
        exchanges = [str(v).split(" ", 1)[-1].rstrip(".") for v in answer.values]
        if len(exchanges) > MAX_NAMES:
            raise SpfError("permerror", f"MX {target} has more than {MAX_NAMES} names")
        for exchange in exchanges:
            if await _match_a(st, exchange, term, step, count_void=False):
                return True
        return False
    if name == "ptr":
        names = await _ptr_names(st)
        step.queries.append(f"PTR {st.ip.reverse_pointer} -> validated {names or 'none'}")
        t = target.lower().rstrip(".")
        return any(n.lower() == t or n.lower().endswith("." + t) for n in names)
    if name == "exists":
        answer = await st.ask(target, "A")
        step.queries.append(f"A {target} -> {_summarise(answer)}")
        if answer.failed:
            raise SpfError("temperror", f"DNS {answer.error} looking up A {target}")
        _note_void(st, answer)
        return bool(answer.values)
    raise SpfError("permerror", f"unknown mechanism {term.text}")  # pragma: no cover


async def _match_a(
    st: _State, target: str, term: Term, step: TraceStep, count_void: bool = True
) -> bool:
    rtype = "A" if st.ip.version == 4 else "AAAA"
    if not _valid_domain(target):
        return False
    answer = await st.ask(target, rtype)
    step.queries.append(f"{rtype} {target} -> {_summarise(answer)}")
    if answer.failed:
        raise SpfError("temperror", f"DNS {answer.error} looking up {rtype} {target}")
    if count_void:
        _note_void(st, answer)
    return any(_in_net(st.ip, str(a), term.cidr4, term.cidr6) for a in answer.values)


async def check_host(
    query: Query,
    ip: str,
    domain: str,
    sender: str,
    helo: str = "",
    timeout: float = 20.0,
    default_explanation: str | None = None,
) -> SpfResult:
    """RFC 7208 check_host(): never raises; errors are temperror/permerror results.

    ``sender`` is the MAIL FROM address, or ``postmaster@<helo>`` for the null sender
    (see :func:`identity`).
    """
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return _result(
            "permerror",
            domain,
            ip,
            sender,
            None,
            None,
            None,
            _State(query, ipaddress.ip_address("0.0.0.0"), sender, helo),
            f"{ip!r} is not an IP address",
        )
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    local, _, _dom = sender.rpartition("@")
    if not local:
        sender = f"postmaster@{sender.lstrip('@') or domain}"
    st = _State(
        query,
        addr,
        sender,
        helo,
        deadline=time.monotonic() + timeout,
        upper_hex=any(c in "ABCDEF" for c in ip),
        default_explanation=default_explanation,
    )
    domain = to_ascii(domain.rstrip("."))
    try:
        result, record, mech, explanation = await _check_host(st, domain, 0, None)
    except SpfError as exc:
        first = st.trace[0].note if st.trace and st.trace[0].depth == 0 else None
        record = first if first and is_spf_record(first) else None
        return _result(exc.result, domain, str(addr), sender, record, None, None, st, exc.message)
    return _result(result, domain, str(addr), sender, record, mech, explanation, st, None)


def _result(
    result: Result,
    domain: str,
    ip: str,
    sender: str,
    record: str | None,
    mech: str | None,
    explanation: str | None,
    st: _State,
    error: str | None,
) -> SpfResult:
    return SpfResult(
        result=result,
        domain=domain,
        ip=ip,
        sender=sender,
        record=record,
        mechanism=mech,
        explanation=explanation,
        lookups=st.lookups,
        void_lookups=st.void,
        trace=tuple(st.trace),
        problems=tuple(record_problems(record, st, error)),
        error=error,
        include_costs=tuple(sorted(st.costs.items(), key=lambda kv: -kv[1])),
    )


def identity(mail_from: str, helo: str) -> tuple[str, str]:
    """The SPF identity (sender, domain) for MAIL FROM, or postmaster@HELO for <>."""
    if mail_from:
        domain = mail_from.rpartition("@")[2]
        return mail_from, domain
    return f"postmaster@{helo}", helo


def record_problems(record: str | None, st: _State, error: str | None) -> list[str]:
    """Checks on the record a postmaster should act on."""
    out: list[str] = []
    if error:
        out.append(error)
    if record is None:
        return out
    if len(record.encode()) > MAX_RECORD_BYTES:
        out.append(
            f"the record is {len(record.encode())} bytes; over {MAX_RECORD_BYTES} it may not fit "
            "a UDP DNS answer (RFC 7208 §3.4)"
        )
    for raw in record[6:].split():
        low = raw.lower()
        if low in ("+all", "all"):
            out.append("'+all' authorises every host on the internet: it makes SPF useless")
        elif low == "?all":
            out.append("'?all' (neutral) gives receivers nothing to act on; end with ~all or -all")
        elif low.lstrip("+-~?").startswith("ptr"):
            out.append("'ptr' is slow and discouraged (RFC 7208 §5.5); use ip4/ip6 or a instead")
    if st.lookups > MAX_LOOKUPS or (error and "more than 10" in error):
        costs = ", ".join(f"{d}: {n}" for d, n in st.costs.items())
        out.append(f"too many DNS lookups; cost by include/redirect: {costs or 'n/a'}")
    return out
