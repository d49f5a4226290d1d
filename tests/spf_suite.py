"""Serve the OpenSPF RFC 7208 test suite's zone data from the fake DNS server.

The suite (tests/conformance/rfc7208-tests.yml, vendored with its BSD licence) describes
each scenario's DNS as
``name: [{TYPE: value}, ...]``. Here each scenario becomes one root zone: ``SPF``
entries are also served as TXT when the name has no TXT entry of its own, ``TXT: NONE``
means no TXT, and ``TIMEOUT`` makes every query for the name go unanswered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.zone
import yaml

from smtpdiag.testing.dns_server import Behaviour

SUITE = Path(__file__).resolve().parent / "conformance" / "rfc7208-tests.yml"


def load_suite(path: Path = SUITE) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc]


def _txt(value: Any) -> dns.rdata.Rdata:
    strings = value if isinstance(value, list) else [value]
    chunks: list[bytes] = []
    for s in strings:
        raw = str(s).encode("utf-8")
        chunks.extend(raw[i : i + 255] for i in range(0, len(raw), 255))
    return dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, chunks or [b""])


def _fqdn(value: Any) -> str:
    text = str(value or "").rstrip(".")
    return f"{text}." if text else "."


def build_zone(zonedata: dict[str, list[Any]]) -> tuple[dns.zone.Zone, Behaviour]:
    zone = dns.zone.Zone(dns.name.root, relativize=False)
    timeouts: list[str] = []
    for owner, entries in zonedata.items():
        try:
            name = dns.name.from_text(owner)
        except dns.exception.DNSException:
            continue  # e.g. a label over 63 octets: such a name cannot be served
        rdatas: dict[str, list[dns.rdata.Rdata]] = {}
        spf_values: list[Any] = []
        txt_none = False
        for entry in entries:
            if entry == "TIMEOUT":
                timeouts.append(owner)
                continue
            ((rtype, value),) = entry.items()
            if rtype == "SPF":
                spf_values.append(value)
            elif rtype == "TXT":
                if value == "NONE":
                    txt_none = True
                else:
                    rdatas.setdefault("TXT", []).append(_txt(value))
            elif rtype == "MX":
                pref, exchange = value
                rd = dns.rdata.from_text("IN", "MX", f"{pref} {_fqdn(exchange)}")
                rdatas.setdefault("MX", []).append(rd)
            elif rtype in ("A", "AAAA", "PTR", "CNAME"):
                text = str(value) if rtype in ("A", "AAAA") else _fqdn(value)
                rdatas.setdefault(rtype, []).append(dns.rdata.from_text("IN", rtype, text))
            else:
                raise ValueError(f"unsupported zonedata type {rtype}")
        if spf_values and "TXT" not in rdatas and not txt_none:
            rdatas["TXT"] = [_txt(v) for v in spf_values]
        if owner in timeouts and "TXT" in rdatas:
            timeouts.remove(owner)  # only the (no longer used) SPF-type query times out
        node = zone.find_node(name, create=True)
        for rtype, items in rdatas.items():
            rds = dns.rdataset.Rdataset(dns.rdataclass.IN, dns.rdatatype.from_text(rtype))
            for rd in items:
                rds.add(rd, 300)
            node.replace_rdataset(rds)
    return zone, Behaviour.of(timeout=timeouts)
