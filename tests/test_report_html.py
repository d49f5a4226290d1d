"""HTML reports (issue 13), opened in a real headless Chromium: what a reader sees (the
verdict, the deciding reply, the catalog card), that a hostile server's HTML and script
payloads render as text and run nothing, that no request leaves the page, and Thai.

Without /usr/bin/chromium these tests skip, unless SMTPDIAG_REQUIRE_CHROMIUM is set (CI):
then they fail.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from smtpdiag.render.html import SORT_SCRIPT, csp, esc, sort_script_hash
from smtpdiag.render.report import kind, parse_documents, render
from smtpdiag.testing.mx import MxConfig
from smtpdiag.testing.rig import Rig, Scenario

from .conftest import FIXTURES, base_args, run_cli

CHROMIUM = "/usr/bin/chromium"
#: the browser's own background traffic (updates, time, accounts): never the page's
BROWSER_HOSTS = re.compile(r"^https?://([a-z0-9-]+\.)*(google\.com|googleapis\.com|gvt1\.com)/")
#: flags that quiet most of the browser's own traffic
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-features=Translate,OptimizationHints,MediaRouter,SpellCheck",
]

PWNED = "document.title='PWNED'"
#: what a hostile server puts in its replies: script, event handlers, a javascript: link,
#: a style breakout, a remote image, backticks for the Markdown fence. Braces are doubled
#: for the fake MX's str.format.
PAYLOAD_RCPT = (
    "550 5.1.1 <script>" + PWNED + "</script> no such user "
    '<img src=http://127.0.0.1:9/pwned.png onerror="' + PWNED + '"> '
    '<a href="javascript:alert(1)">click here</a> '
    "</style><style>body{{display:none}}</style> <svg onload=alert(1)></svg> ``` x"
)
PAYLOAD_GREETING = (
    "220 mx-hostile.example.test ESMTP <script>" + PWNED + "</script>"
    ' <iframe src="http://127.0.0.1:9/frame"></iframe>'
)
PAYLOAD_MAIL = '250 2.1.0 Ok <meta http-equiv="refresh" content="0;url=http://127.0.0.1:9/">'


def chromium() -> str:
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    if os.environ.get("SMTPDIAG_REQUIRE_CHROMIUM"):
        pytest.fail(f"SMTPDIAG_REQUIRE_CHROMIUM is set and {CHROMIUM} is missing")
    pytest.skip(f"{CHROMIUM} is not installed (Debian package chromium)")
    raise AssertionError("unreachable")


def open_in_browser(path: Path) -> tuple[str, list[str]]:
    """The DOM Chromium built from ``path`` (after its scripts ran), and every URL the page
    requested (from the browser's net log, its own background traffic left out)."""
    browser = chromium()
    with tempfile.TemporaryDirectory(prefix="smtpdiag-chromium-") as tmp:
        netlog = Path(tmp) / "net.json"
        done = subprocess.run(
            [
                browser,
                *FLAGS,
                f"--user-data-dir={tmp}/profile",
                f"--log-net-log={netlog}",
                "--net-log-capture-mode=Everything",
                "--virtual-time-budget=2000",
                "--dump-dom",
                path.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        log = netlog.read_text(encoding="utf-8", errors="replace") if netlog.exists() else ""
    urls = set(re.findall(r'"url": ?"([^"]+)"', log))
    return done.stdout, sorted(u for u in urls if not BROWSER_HOSTS.match(u))


def screenshot(path: Path, out: Path) -> bytes:
    subprocess.run(
        [
            chromium(),
            *FLAGS,
            f"--user-data-dir={out.parent}/profile-shot",
            "--window-size=1100,1600",
            f"--screenshot={out}",
            path.resolve().as_uri(),
        ],
        capture_output=True,
        timeout=90,
        check=True,
    )
    return out.read_bytes()


class Dom(HTMLParser):
    """Every element (tag, attributes) and the visible text of a dumped DOM."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text_parts: list[str] = []
        self.scripts: list[str] = []
        self.title = ""
        self._in: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))
        self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        while self._in:
            if self._in.pop() == tag:
                break

    def handle_data(self, data: str) -> None:
        where = self._in[-1] if self._in else ""
        if where == "script":
            self.scripts.append(data)
        elif where == "title" and "svg" not in self._in:  # the page's, not a bar's
            self.title += data
        elif where != "style":
            self.text_parts.append(data)

    @property
    def text(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.text_parts))

    def tags(self, name: str) -> list[dict[str, str]]:
        return [attrs for tag, attrs in self.elements if tag == name]


def assert_inert(dom: Dom, requests: list[str], page: str, own_script: bool) -> None:
    """Nothing from a server became an element, ran, or fetched anything."""
    assert "PWNED" not in dom.title, dom.title
    for tag in ("img", "iframe", "object", "embed", "link", "base", "form", "input", "video"):
        assert dom.tags(tag) == [], f"a <{tag}> element came from server text"
    assert len(dom.tags("style")) == 1, "a <style> element came from server text"
    metas = dom.tags("meta")
    assert [m for m in metas if m.get("http-equiv", "").lower() == "refresh"] == []
    for tag, attrs in dom.elements:
        for name, value in attrs.items():
            assert not name.startswith("on"), f"<{tag} {name}=...> came from server text"
            if name in ("href", "src", "action", "xlink:href"):
                assert value.startswith("#"), f"<{tag} {name}={value!r}>"
    if own_script:
        assert dom.scripts == [SORT_SCRIPT]
    else:
        assert dom.scripts == [] and dom.tags("script") == []
    assert requests == [u for u in requests if u.startswith("file://")], requests
    # the file itself: no URL in any attribute, no external stylesheet, font or script
    assert not re.search(
        r"""(src|href|action)\s*=\s*["']?\s*(https?:|//|javascript:)""", page, re.I
    )
    assert "@import" not in page and "url(" not in page and "@font-face" not in page
    if "PWNED" in page:  # a hostile page: not even its source holds a server's URL
        assert not re.search(r"(?i)(https?|javascript):", page), "a scheme in the source"


# -- fixtures ------------------------------------------------------------------------------


def hostile_mx(rcpt_extra: str = "") -> Iterator[Rig]:
    """A fake MX whose greeting, MAIL and RCPT replies carry HTML and script (and, for the
    Markdown tests, ``rcpt_extra`` lines after the RCPT reply's first)."""
    cfg = MxConfig(
        address="127.0.0.41",
        hostname="mx-hostile.example.test",
        greeting=PAYLOAD_GREETING,
        mail=PAYLOAD_MAIL,
        rcpt_default=PAYLOAD_RCPT + rcpt_extra,
    )
    with Rig(Scenario(zones=FIXTURES / "dns" / "probe", servers=(cfg,))) as running:
        yield running


@pytest.fixture(scope="module")
def hostile() -> Iterator[Rig]:
    yield from hostile_mx()


def hostile_args(rig: Rig) -> list[str]:
    return [*base_args(rig), "--server", f"127.0.0.41:{rig.smtp_port}", "--dnsbl", "bl.invalid"]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- the escaping itself (no browser) ----------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        "<script>alert(1)</script>",
        '"><img src=x onerror=alert(1)>',
        "'><svg onload=alert(1)>",
        "</style><style>*{display:none}</style>",
        "javascript:alert(1)",
        "\u202eevil\x1b[31m",
    ],
)
def test_esc_leaves_no_markup(payload: str) -> None:
    out = esc(payload)
    assert not set("<>\"'") & set(out)
    assert "\u202e" not in out and "\x1b" not in out


def test_csp_allows_only_our_own_script_by_its_hash() -> None:
    digest = base64.b64encode(hashlib.sha256(SORT_SCRIPT.encode()).digest()).decode()
    assert f"sha256-{digest}" == sort_script_hash()
    assert csp(False) == (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'none'; "
        "base-uri 'none'; form-action 'none'"
    )
    assert f"script-src '{sort_script_hash()}';" in csp(True)


# -- in the browser ----------------------------------------------------------------------------


def test_a_hostile_server_renders_as_text_and_runs_nothing(hostile: Rig, tmp_path: Path) -> None:
    result = run_cli(["probe", *hostile_args(hostile), "--format", "html", "user@example.test"])
    assert result.exit_code == 1, result.output
    page = result.output
    path = write(tmp_path, "hostile.html", page)
    assert page.count("<script") == 0  # a single address: no script of ours either
    assert f'<meta http-equiv="Content-Security-Policy" content="{csp(False)}">' in page
    dumped, requests = open_in_browser(path)
    dom = Dom(dumped)
    policies = [m for m in dom.tags("meta") if m.get("http-equiv") == "Content-Security-Policy"]
    assert [m["content"] for m in policies] == [csp(False)]
    assert_inert(dom, requests, page, own_script=False)
    text = dom.text
    # what a reader sees: the payloads, as text
    assert "<script>" + PWNED + "</script> no such user" in text
    assert '<img src=http://127.0.0.1:9/pwned.png onerror="' + PWNED + '">' in text
    assert '<a href="javascript:alert(1)">click here</a>' in text
    assert "</style><style>body{display:none}</style>" in text
    assert "<iframe src=" in text and '<meta http-equiv="refresh"' in text
    assert "Undeliverable (undeliverable)" in text
    assert dom.title == "Delivery report: user@example.test"


def test_the_hostile_report_made_later_is_inert_too(hostile: Rig, tmp_path: Path) -> None:
    """The same server through probe --format jsonl and smtpdiag report, as a list."""
    results = tmp_path / "results.jsonl"
    args = [*hostile_args(hostile), "--format", "jsonl", "-o", str(results)]
    run_cli(["probe", *args, "a@example.test", "b@example.test"])
    out = tmp_path / "report.html"
    done = run_cli(["report", str(results), "-o", str(out)])
    assert done.exit_code == 0, done.output
    page = out.read_text(encoding="utf-8")
    dumped, requests = open_in_browser(out)
    dom = Dom(dumped)
    assert_inert(dom, requests, page, own_script=True)  # the list table's sort script
    assert dom.text.count("<script>" + PWNED + "</script>") >= 2
    # our script ran: it made the headings sort buttons (and nothing else)
    assert len(dom.tags("button")) == 7


def test_what_a_reader_sees_for_an_unknown_user(rig: Rig, tmp_path: Path) -> None:
    result = run_cli(["probe", *base_args(rig), "--format", "html", "nobody@example.test"])
    assert result.exit_code == 1
    path = write(tmp_path, "unknown.html", result.output)
    dumped, requests = open_in_browser(path)
    dom = Dom(dumped)
    assert_inert(dom, requests, result.output, own_script=False)
    text = dom.text
    assert dom.tags("html")[0]["lang"] == "en"
    # the banner: verdict in words and icon, reason, who must act, next step
    assert "\u2716 Undeliverable (undeliverable)" in text
    assert "Mailbox does not exist (mailbox-unknown)" in text
    assert "Who must act the recipient (mailbox, domain or its mail server)" in text
    assert "Next step Check the address with the recipient" in text
    # the deciding reply, marked in the transcript, and its full catalog card
    deciding = "550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown"
    assert (
        f"\u25c6 the deciding reply \u2192 C: RCPT TO:<nobody@example.test> \u2190 S: {deciding}"
        in text
    )
    assert "Catalog card: 5.1.1 Bad Destination Mailbox Address" in text
    assert "Catalog card: SMTP 550 Mailbox Not Found" in text
    assert "How to fix Check the address for typos" in text
    assert "MX plan" in text and "mx1.example.test" in text
    # one timeline per session: a bar per step, each with its time as a title
    assert len(dom.tags("svg")) == 1
    assert len(dom.tags("rect")) == 6
    # headings in order: one h1, then h2, h3, h4 without skipping a level
    levels = [int(tag[1]) for tag, _ in dom.elements if re.fullmatch(r"h[1-6]", tag)]
    assert levels.count(1) == 1 and levels[0] == 1
    assert all(b - a <= 1 for a, b in itertools.pairwise(levels)), levels
    assert "@media print" in result.output


def test_a_screenshot_is_drawn(rig: Rig, tmp_path: Path) -> None:
    result = run_cli(["probe", *base_args(rig), "--format", "html", "alice@example.test"])
    assert result.exit_code == 0
    path = write(tmp_path, "deliverable.html", result.output)
    png = screenshot(path, tmp_path / "shot.png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_thai_report(rig: Rig, tmp_path: Path) -> None:
    args = ["probe", *base_args(rig), "--format", "html", "--lang", "th", "nobody@example.test"]
    result = run_cli(args)
    path = write(tmp_path, "th.html", result.output)
    dumped, _ = open_in_browser(path)
    dom = Dom(dumped)
    assert dom.tags("html")[0]["lang"] == "th"
    text = dom.text
    assert "รายงานการส่งอีเมล: nobody@example.test" in dom.title
    assert "\u2716 ส่งไม่ได้ (undeliverable)" in text
    assert "บันทึกการสนทนา SMTP" in text  # transcript
    # the catalog's Thai headings, as on the reference page
    for heading in ("คำอธิบาย", "เมื่อคุณพบเห็น", "วิธีแก้ไข", "ใครต้องดำเนินการ"):
        assert heading in text
    assert "ไม่มีกล่องจดหมายนี้ (mailbox-unknown)" in text


def test_a_list_report_links_each_address_to_its_details(rig: Rig, tmp_path: Path) -> None:
    out = tmp_path / "list.html"
    addresses = ["alice@example.test", "nobody@example.test", "full@example.test"]
    result = run_cli(["probe", *base_args(rig), "--format", "html", "-o", str(out), *addresses])
    assert result.exit_code == 1
    dumped, requests = open_in_browser(out)
    dom = Dom(dumped)
    assert_inert(dom, requests, out.read_text(encoding="utf-8"), own_script=True)
    ids = {a["id"] for _, a in dom.elements if "id" in a}
    links = [a["href"] for a in dom.tags("a")]
    assert links == ["#addr-2", "#addr-3", "#addr-1"]  # worst first, then input order
    assert {link[1:] for link in links} <= ids
    text = dom.text
    assert "Delivery report: 3 addresses" in dom.title
    assert "Undeliverable (undeliverable) 2" in text and "Deliverable (deliverable) 1" in text
    assert "mailbox-full" in text and "example.test 3" in text


def test_explain_message_and_auth_reports(tmp_path: Path) -> None:
    eml = FIXTURES / "bounces" / "found" / "postfix" / "gmail-nosuchuser.eml"
    result = run_cli(["explain", "--message", str(eml), "--format", "html"])
    assert result.exit_code == 0
    path = write(tmp_path, "bounce.html", result.output)
    dumped, requests = open_in_browser(path)
    dom = Dom(dumped)
    assert_inert(dom, requests, result.output, own_script=False)
    assert "Recipient: mgit@example.com" in dom.text
    assert "Mailbox does not exist (Gmail)" in dom.text
    # the URL in the bounce is text, never a link
    assert "https://support.google.com/mail/?p=NoSuchUser" in dom.text
    assert dom.tags("a") == []


def test_report_reads_json_jsonl_and_stdin_and_detects_kinds(rig: Rig, tmp_path: Path) -> None:
    one = run_cli(["probe", *base_args(rig), "--format", "json", "nobody@example.test"]).output
    eml = FIXTURES / "bounces" / "found" / "postfix" / "gmail-nosuchuser.eml"
    bounce = run_cli(["explain", "--message", str(eml), "--format", "json"]).output
    a = write(tmp_path, "one.json", one)
    b = write(tmp_path, "bounce.json", bounce)
    done = run_cli(["report", str(a), str(b)])
    assert done.exit_code == 0
    jsonl = json.dumps(json.loads(one)) + "\n" + json.dumps(json.loads(bounce)) + "\n"
    assert [kind(doc) for doc in parse_documents(jsonl, "x")] == ["probe", "message"]
    assert "Catalog card: 5.1.1" in done.output and "Recipient: mgit@example.com" in done.output
    piped = run_cli(["report", "-", "--format", "markdown"], input=one)
    assert piped.exit_code == 0 and piped.output.startswith("# Delivery report")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ("not json at all\n", "line 1 is not JSON"),
        ("[1, 2]", "no probe, message, auth or explain results"),
        ('{"schema": 2, "codes": []}', "found: compare"),
        ("42", "not smtpdiag results"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, content: str, message: str) -> None:
    path = write(tmp_path, "bad.json", content)
    done = subprocess.run(
        [sys.executable, "-m", "smtpdiag", "report", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_missing_file_and_bad_bytes(tmp_path: Path) -> None:
    done = run_cli(["report", str(tmp_path / "nope.jsonl")])
    assert done.exit_code == 2 and "no such file" in done.output
    path = tmp_path / "bin.jsonl"
    path.write_bytes(b'{"schema": 2, "address": "\xff"}\n')
    done = run_cli(["report", str(path)])
    assert done.exit_code == 2 and "not UTF-8" in done.output


def test_older_or_odd_documents_are_shown_as_far_as_they_go(tmp_path: Path) -> None:
    odd = [
        {"schema": 1, "address": "a@b.example", "verdict": "undeliverable", "attempts": "x"},
        {"schema": 2, "address": 5, "verdict": ["?"], "mx": [], "attempts": [{"steps": [1]}]},
        {"schema": 2, "doctor": True, "checks": []},
    ]
    path = write(tmp_path, "odd.jsonl", "\n".join(json.dumps(d) for d in odd) + '\n{"trunc')
    done = run_cli(["report", str(path), "--format", "markdown"])
    assert done.exit_code == 0, done.output
    assert "schema 1" in done.output and "doctor" in done.output
    html_out = render(odd, "html", "en")
    assert "a@b.example" in html_out


def test_the_cli_does_not_import_the_report_renderers() -> None:
    code = (
        "import sys, smtpdiag.cli\n"
        "print([m for m in sys.modules if m.startswith('smtpdiag.render')])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def test_a_control_page_that_fetches_is_caught(tmp_path: Path) -> None:
    """The browser checks can fail: a page with a remote image and a script is seen."""
    page = '<!DOCTYPE html><title>t</title><style></style><img src="http://127.0.0.1:9/x.png">'
    page += "<script>" + PWNED + "</script>"
    path = write(tmp_path, "control.html", page)
    dumped, requests = open_in_browser(path)
    dom = Dom(dumped)
    assert dom.title == "PWNED"
    assert "http://127.0.0.1:9/x.png" in requests
    with pytest.raises(AssertionError):
        assert_inert(dom, requests, page, own_script=False)
