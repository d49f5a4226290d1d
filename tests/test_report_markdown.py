"""Markdown reports (issue 13): golden outputs in English and Thai, the same content from
``--format markdown`` and from ``smtpdiag report``, and server text that cannot break out of
its code block or become markup, a link or HTML.

To accept a deliberate change of output:
SMTPDIAG_UPDATE_GOLDEN=1 python -m pytest tests/test_report_markdown.py
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from smtpdiag.core.datafiles import load
from smtpdiag.render.markdown import fence, md
from smtpdiag.testing.rig import Rig

from .conftest import FIXTURES, base_args, run_cli
from .test_golden import normalise as normalise_text
from .test_report_html import hostile_args, hostile_mx

GOLDEN = FIXTURES / "golden"
BOUNCE = FIXTURES / "bounces" / "found" / "postfix" / "gmail-nosuchuser.eml"
CASES = {
    "unknown-user": ["nobody@example.test"],
    "starttls": ["user@tls.example.test"],
    "list": ["alice@example.test", "nobody@example.test", "full@example.test"],
}


def normalise(text: str, rig: Rig | None) -> str:
    """Run-dependent parts made stable: ports, timings, the random catch-all address,
    timestamps, certificate dates, the timeline's bars."""
    if rig is not None:
        text = normalise_text(text, rig)
        text = text.replace(f"port {rig.smtp_port}", "port PORT")
        text = text.replace(f"พอร์ต {rig.smtp_port}", "พอร์ต PORT")
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:LOCALPORT", text)
    text = re.sub(r"\d+(\.\d+)? ms\b", "N ms", text)
    text = re.sub(r"\| \d+(\.\d+)? \| █+ \|", "| N | █ |", text)
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", "TIMESTAMP", text)
    return text


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / f"report-{name}.md"
    if os.environ.get("SMTPDIAG_UPDATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"{path} missing: run with SMTPDIAG_UPDATE_GOLDEN=1"
    assert actual == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("lang", ["en", "th"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_probe_report(rig: Rig, name: str, lang: str) -> None:
    args = ["probe", *base_args(rig), "--format", "markdown", "--lang", lang, *CASES[name]]
    result = run_cli(args)
    output = result.output
    if name == "list":  # the list summary on stderr is mixed in by the test runner
        output = output.split("\nsmtpdiag: ", 1)[0].rstrip("\n") + "\n"
    check_golden(f"{name}.{lang}", normalise(output, rig))


@pytest.mark.parametrize("lang", ["en", "th"])
def test_golden_bounce_report(lang: str) -> None:
    result = run_cli(["explain", "--message", str(BOUNCE), "--format", "markdown", "--lang", lang])
    assert result.exit_code == 0
    check_golden(f"bounce.{lang}", result.output)


def test_report_of_saved_json_is_the_same_report(rig: Rig, tmp_path: Path) -> None:
    """One code path: probe --format markdown and smtpdiag report of probe --format json."""
    direct = run_cli(["probe", *base_args(rig), "--format", "markdown", "nobody@example.test"])
    saved = run_cli(["probe", *base_args(rig), "--format", "json", "nobody@example.test"])
    path = tmp_path / "r.json"
    path.write_text(saved.output, encoding="utf-8")
    later = run_cli(["report", str(path), "-o", str(tmp_path / "r.md")])
    assert later.exit_code == 0 and later.output == ""
    made = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert normalise(made, rig) == normalise(direct.output, rig)
    assert made.startswith("# Delivery report: nobody\\@example.test\n")


def test_thai_report_of_english_results_uses_thai_headings_and_cards(
    rig: Rig, tmp_path: Path
) -> None:
    saved = run_cli(["probe", *base_args(rig), "--format", "json", "nobody@example.test"])
    path = tmp_path / "r.json"
    path.write_text(saved.output, encoding="utf-8")
    out = run_cli(["report", str(path), "--format", "markdown", "--lang", "th"]).output
    assert "### บันทึกการสนทนา SMTP" in out
    assert "ข้อมูลรหัสจากแคตตาล็อก: 5\\.1\\.1" not in out  # dots are not escaped
    assert "ข้อมูลรหัสจากแคตตาล็อก: 5.1.1" in out
    assert "**คำอธิบาย:**" in out  # the catalog's Thai card, though the JSON was English


# -- server text cannot break out -------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile() -> Iterator[Rig]:
    yield from hostile_mx("\n550 5.1.1 ````` five | pipes | [x](javascript:y)")


def blocks(text: str) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """The lines outside fenced code, and each fenced block (its fence, its lines)."""
    outside: list[str] = []
    fenced: list[tuple[str, list[str]]] = []
    current: tuple[str, list[str]] | None = None
    for line in text.split("\n"):
        if current is None:
            m = re.match(r"^(`{3,})", line)
            if m:
                current = (m.group(1), [])
                continue
            outside.append(line)
        else:
            if re.fullmatch(rf"{current[0]}`*\s*", line):
                fenced.append(current)
                current = None
                continue
            current[1].append(line)
    assert current is None, "a code block is never closed"
    return outside, fenced


def unescaped(line: str) -> str:
    return re.sub(r"\\.", "", line)


def test_hostile_replies_stay_inside_their_code_block(hostile: Rig) -> None:
    result = run_cli(["probe", *hostile_args(hostile), "--format", "markdown", "user@example.test"])
    assert result.exit_code == 1
    outside, fenced = blocks(result.output)
    transcript = next(lines for bar, lines in fenced if any("RCPT TO" in x for x in lines))
    bar = next(bar for bar, lines in fenced if lines is transcript)
    assert len(bar) == 6  # longer than the reply's run of five backticks
    assert any("S: 550-5.1.1 <script>document.title='PWNED'</script>" in x for x in transcript)
    assert any("````` five | pipes | [x](javascript:y)" in x for x in transcript)
    for line in outside:
        bare = unescaped(line)
        if line.startswith(">"):  # our blockquote (the verdict banner)
            bare = bare[1:]
        if len(bare) > 1 and bare[0] == bare[-1] == "_":  # a note of ours, in italics
            bare = bare[1:-1]
        assert not re.search(r"[<>`\[\]*_~]", bare.replace("**", "")), line
        assert not re.search(r"(?i)(https?|mailto):", bare), line
    # every row of a table has as many cells as its header: no pipe from a server counts
    tables: list[list[str]] = [[]]
    for line in outside:
        if line.startswith("|"):
            tables[-1].append(unescaped(line))
        elif tables[-1]:
            tables.append([])
    tables = [t for t in tables if t]
    assert len(tables) >= 2
    for table in tables:
        assert len({row.count("|") for row in table}) == 1, table


def test_fence_is_longer_than_any_backtick_run() -> None:
    assert fence(["a"]) == ["```text", "a", "```"]
    assert fence(["x ```` y", "``"])[0] == "`````text"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<script>x</script>", r"\<script\>x\</script\>"),
        ("[a](javascript:b) ![i](c)", r"\[a\](javascript:b) \!\[i\](c)"),
        ("a|b `c` *d* _e_ ~f~ &lt;", r"a\|b \`c\` \*d\* \_e\_ \~f\~ \&lt;"),
        (
            "see https://x.test and www.y.test, mail a@b.test",
            r"see https\://x.test and www\.y.test, mail a\@b.test",
        ),
        ("\x1b[31m\u202e", r"\\x1b\[31m\\u202e"),
    ],
)
def test_md_escapes_markup(raw: str, expected: str) -> None:
    assert md(raw) == expected


def test_md_escapes_a_line_start_only_where_asked() -> None:
    assert md("1. x", line_start=True) == r"1\. x"
    assert md("- x", line_start=True) == r"\- x"
    assert md("127.0.0.1") == "127.0.0.1"


def test_report_strings_exist_in_both_languages() -> None:
    data = load("smtpdiag.core.data", "report")
    assert set(data["en"]) == set(data["th"])
    assert all(isinstance(v, str) and v for v in [*data["en"].values(), *data["th"].values()])
    for key, text in data["en"].items():  # the same placeholders in both
        assert set(re.findall(r"{(\w+)}", text)) == set(re.findall(r"{(\w+)}", data["th"][key]))


def test_jsonl_with_a_cut_last_line_is_read(rig: Rig, tmp_path: Path) -> None:
    saved = run_cli(["probe", *base_args(rig), "--format", "json", "alice@example.test"])
    line = json.dumps(json.loads(saved.output))
    path = tmp_path / "r.jsonl"
    path.write_text(line + "\n" + line[:40], encoding="utf-8")
    done = run_cli(["report", str(path), "-o", str(tmp_path / "r.md")])
    assert done.exit_code == 0, done.output
    assert "Deliverable (deliverable)" in (tmp_path / "r.md").read_text(encoding="utf-8")


def test_a_long_list_report_holds_the_details_of_its_first_results_only(
    rig: Rig, tmp_path: Path
) -> None:
    from smtpdiag.render.report import MAX_DETAILS

    saved = json.loads(run_cli(["probe", *base_args(rig), "--format", "json",
                                "nobody@example.test"]).output)  # fmt: skip
    extra = 3
    with (tmp_path / "r.jsonl").open("w", encoding="utf-8") as fh:
        for n in range(MAX_DETAILS + extra):
            fh.write(json.dumps({**saved, "address": f"user{n}@example.test"}) + "\n")
    done = run_cli(["report", str(tmp_path / "r.jsonl"), "-o", str(tmp_path / "r.md")])
    assert done.exit_code == 0, done.output
    made = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert f"Delivery report: {MAX_DETAILS + extra} addresses" in made
    assert f"user{MAX_DETAILS + extra - 1}\\@example.test" in made  # its row is in the table
    details = [ln for ln in made.splitlines() if ln.startswith("## user")]
    assert len(details) == MAX_DETAILS
    assert f"The details of {extra} more addresses are not in this report" in made
