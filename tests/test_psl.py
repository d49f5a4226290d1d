"""The public suffix lookup (auth/psl.py) against the list's own test cases (shipped with
the publicsuffixlist package, public domain) and, rule by rule, against that package."""

from __future__ import annotations

import os
import re

import publicsuffixlist
import pytest

from smtpdiag.auth.psl import organizational_domain

HERE = os.path.dirname(publicsuffixlist.__file__)


def _official_cases() -> list[tuple[str, str | None]]:
    with open(os.path.join(HERE, "test_psl.txt"), encoding="utf-8") as fh:
        text = fh.read()
    found = re.findall(r"^checkPublicSuffix\((null|'[^']*'), (null|'[^']*')\);", text, re.M)
    return [(d[1:-1], None if e == "null" else e[1:-1]) for d, e in found if d != "null"]


def test_the_lists_own_test_cases() -> None:
    cases = _official_cases()
    assert len(cases) > 60
    wrong = [(d, want, organizational_domain(d)) for d, want in cases]
    assert [w for w in wrong if w[1] != w[2]] == []


def test_every_rule_agrees_with_the_publicsuffixlist_package() -> None:
    oracle = publicsuffixlist.PublicSuffixList()
    with open(os.path.join(HERE, "public_suffix_list.dat"), encoding="utf-8") as fh:
        rules = [line.split()[0] for line in fh if line.strip() and not line.startswith("//")]
    assert len(rules) > 5000
    wrong = []
    for rule in rules:
        base = rule.lstrip("!").replace("*", "w")
        for name in (base, "x." + base, "a.b." + base):
            if organizational_domain(name) != oracle.privatesuffix(name):
                wrong.append((name, organizational_domain(name), oracle.privatesuffix(name)))
    assert wrong[:10] == []


@pytest.mark.parametrize(
    ("name", "org"),
    [
        ("Mail.Example.CO.UK", "example.co.uk"),
        ("example.com.", "example.com"),
        ("com", None),
        ("a..example.com", None),
        ("", None),
        ("mail.xn--85x722f.xn--55qx5d.cn", "xn--85x722f.xn--55qx5d.cn"),
        ("mail.食狮.公司.cn", "食狮.公司.cn"),
        ("unlisted-tld.zz", "unlisted-tld.zz"),
    ],
)
def test_forms_and_edges(name: str, org: str | None) -> None:
    assert organizational_domain(name) == org
