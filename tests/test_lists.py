"""Lists: probe --file, the batch scheduler, JSONL/CSV/JUnit/Markdown, expectations, resume,
greylist retries. Real fake servers (fixtures/scenarios/lists.toml) and the fake DNS."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import smtpdiag
from smtpdiag.core.errors import UsageError
from smtpdiag.core.listinput import parse_expect, parse_list, parse_rate, parse_schedule
from smtpdiag.testing.rig import Rig, load_scenario
from tests.conftest import FIXTURES, run_cli


@pytest.fixture(scope="module")
def lists_rig() -> Iterator[Rig]:
    with Rig(load_scenario(FIXTURES / "scenarios" / "lists.toml")) as running:
        yield running
        assert running.forbidden_commands() == []


def args(rig: Rig) -> list[str]:
    return [
        "probe",
        "--resolver",
        rig.resolver,
        "--port",
        str(rig.smtp_port),
        "--helo",
        "probe.lists.test",
        "--timeout",
        "5",
        "--no-progress",
    ]


def jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def rcpts(rig: Rig, ip: str) -> list[str]:
    return [c for c in rig.logs[ip].commands if c.startswith("RCPT")]


# -- the list parser (pure) --------------------------------------------------------------


def test_plain_list_comments_expectations_and_bad_lines() -> None:
    text = (
        "# smoke list\n"
        "\n"
        "alice@example.com\n"
        "bob@example.com   deliverable   # the CEO\n"
        "carol@example.com,undeliverable\n"
        "dan@example.com deliverable|accept-all\n"
        "eve@example.com maybe\n"
        "a b c\n"
    )
    lines = parse_list(text)
    assert [(x.line, x.text, x.expect, x.error is None) for x in lines] == [
        (3, "alice@example.com", None, True),
        (4, "bob@example.com", ("deliverable",), True),
        (5, "carol@example.com", ("undeliverable",), True),
        (6, "dan@example.com", ("deliverable", "accept-all"), True),
        (7, "eve@example.com", None, False),
        (8, "a b c", None, False),
    ]
    assert "maybe" in (lines[4].error or "")


def test_csv_list_with_header_and_column() -> None:
    text = 'name,E-Mail,expected\n"Doe, Jane",jane@example.com,deliverable\nBob,,\n'
    lines = parse_list(text, csv_format=True)
    assert lines[0].text == "jane@example.com" and lines[0].expect == ("deliverable",)
    assert lines[0].line == 2
    assert lines[1].error == "the address column is empty"
    assert parse_list("id,who\n1,x@example.com\n", csv_format=True, column="who")[0].text == (
        "x@example.com"
    )
    with pytest.raises(UsageError, match="column 'nope'"):
        parse_list("id,who\n", csv_format=True, column="nope")
    with pytest.raises(UsageError, match="no address column"):
        parse_list("id,who\n1,x@example.com\n", csv_format=True)


def test_rate_schedule_and_expect_parsers() -> None:
    assert parse_rate("10/s") == 10
    assert parse_rate("600/min") == 10
    assert parse_rate("7") == 7
    assert parse_schedule("60,300,900") == (60, 300, 900)
    assert parse_expect("Deliverable, accept-all") == ("deliverable", "accept-all")
    for bad in ("0/s", "ten/s", "5/week"):
        with pytest.raises(UsageError):
            parse_rate(bad)
    for bad in ("", "a,b", "-1", ",".join(["1"] * 21)):
        with pytest.raises(UsageError):
            parse_schedule(bad)


# -- the scheduler, through the CLI ------------------------------------------------------


def test_sessions_carry_several_recipients_and_one_catch_all_check(lists_rig: Rig) -> None:
    log = lists_rig.logs["127.0.0.60"]
    before = log.connections
    log.session_rcpts.clear()
    log.session_refused.clear()
    known = [f"u{i}@known.lists.test" for i in range(12)]
    unknown = [f"nobody{i}@known.lists.test" for i in range(12)]
    result = run_cli([*args(lists_rig), "--format", "jsonl", *known, *unknown])
    docs = jsonl(result.stdout)
    verdicts = {d["address"]: d["verdict"] for d in docs}
    assert verdicts == {
        **dict.fromkeys(known, "deliverable"),
        **dict.fromkeys(unknown, "undeliverable"),
    }
    assert result.exit_code == 1
    sessions = log.connections - before
    assert sessions <= 4  # 24 recipients (+1 catch-all check), at most 9 refused a session
    assert sum(log.session_rcpts) == 25  # each sent once
    # Postfix slows down after 10 refused RCPTs in a session: never more than 9 ...
    assert max(log.session_refused) <= 9 and sum(log.session_refused) == 13
    # ... while a session whose RCPTs were accepted carried more than 9
    assert max(log.session_rcpts) > 9
    randoms = [c for c in rcpts(lists_rig, "127.0.0.60") if "smtpdiag-nonexistent" in c]
    assert len(set(randoms)) == 1  # one random address for the domain, checked once
    assert all(d["catch_all"]["tested"] for d in docs if d["verdict"] == "deliverable")
    assert all(len(d["attempts"][0]["steps"]) < 10 for d in docs)  # its own RCPT, not others'


def test_lock_step_sessions_stop_at_the_refusal_budget_too(lists_rig: Rig) -> None:
    log = lists_rig.logs["127.0.0.60"]
    log.session_refused.clear()
    log.session_rcpts.clear()
    known = [f"u{i}@known.lists.test" for i in range(10)]
    unknown = [f"nobody{i}@known.lists.test" for i in range(30)]
    result = run_cli(
        [*args(lists_rig), "--format", "jsonl", "--no-pipelining", "--refusals-per-session",
         "4", *unknown, *known]
    )  # fmt: skip
    verdicts = {d["address"]: d["verdict"] for d in jsonl(result.stdout)}
    assert verdicts == {
        **dict.fromkeys(known, "deliverable"),
        **dict.fromkeys(unknown, "undeliverable"),
    }
    assert log.session_refused and max(log.session_refused) <= 4, log.session_refused
    assert sum(log.session_rcpts) >= 40  # every address sent (and the catch-all check)


def test_duplicates_are_probed_once_and_reported_per_line(lists_rig: Rig, tmp_path: Path) -> None:
    listing = tmp_path / "dups.txt"
    listing.write_text("u20@known.lists.test\nu21@known.lists.test\nu20@known.lists.test\n")
    log = lists_rig.logs["127.0.0.60"]
    start = len(log.commands)
    result = run_cli([*args(lists_rig), "--file", str(listing), "--format", "jsonl"])
    docs = jsonl(result.stdout)
    assert sorted(d["line"] for d in docs) == [1, 2, 3]
    sent = [c for c in log.commands[start:] if c.startswith("RCPT") and "u20@" in c]
    assert len(sent) == 1


def test_bad_lines_are_reported_with_their_numbers(lists_rig: Rig, tmp_path: Path) -> None:
    listing = tmp_path / "bad.txt"
    listing.write_text("u22@known.lists.test\nnot-an-address\nu23@known.lists.test x y\n")
    result = run_cli([*args(lists_rig), "--file", str(listing), "--format", "jsonl"])
    docs = {d["line"]: d for d in jsonl(result.stdout)}
    assert docs[1]["verdict"] == "deliverable"
    assert docs[2]["error"] == "usage" and docs[2]["summary"].startswith("line 2:")
    assert docs[3]["error"] == "usage" and "columns" in docs[3]["summary"]
    assert result.exit_code == 2  # bad input, after probing the rest
    assert "bad line 2" in result.stderr


def test_452_too_many_recipients_are_sent_again(lists_rig: Rig) -> None:
    addresses = [f"a{i}@small.lists.test" for i in range(8)]
    result = run_cli([*args(lists_rig), "--format", "jsonl", *addresses])
    docs = jsonl(result.stdout)
    assert len(docs) == 8
    assert {d["verdict"] for d in docs} == {"accept-all"}  # no 452 leaks into a verdict
    assert all(d["deciding"]["reply"]["code"] == 250 for d in docs)


def test_a_server_error_limit_ends_sessions_but_every_address_gets_its_answer(
    lists_rig: Rig,
) -> None:
    # mx-strict says 421 after 3 refused RCPTs in a session, as Postfix does after 20
    log = lists_rig.logs["127.0.0.67"]
    log.session_refused.clear()
    known = [f"s{i}@strict.lists.test" for i in range(3)]
    unknown = [f"zz{i}@strict.lists.test" for i in range(9)]
    # known ones first: the first session is cut after 3 accepted and 2 refused
    result = run_cli([*args(lists_rig), "--format", "jsonl", *known, *unknown])
    verdicts = {d["address"]: d["verdict"] for d in jsonl(result.stdout)}
    assert verdicts == {
        **dict.fromkeys(known, "deliverable"),
        **dict.fromkeys(unknown, "undeliverable"),
    }
    # the run learns the server's limit from the first 421 (it came after 2 refused RCPTs):
    # the domain's first session runs alone (its other addresses wait for the catch-all
    # answer it carries), and no later session is cut off again (the 421 counts here too)
    cut = [n for n in log.session_refused if n >= 3]
    assert len(cut) == 1 and log.session_refused[0] >= 3, log.session_refused
    assert max(log.session_refused[1:]) <= 2, log.session_refused


def test_failover_and_a_down_host_is_not_tried_again(lists_rig: Rig) -> None:
    addresses = [f"f{i}@failover.lists.test" for i in range(12)]
    result = run_cli(
        [*args(lists_rig), "--format", "jsonl", "--rcpts-per-session", "3", *addresses]
    )
    docs = jsonl(result.stdout)
    assert {d["verdict"] for d in docs} == {"accept-all"}
    for d in docs:  # every result shows the way it went: the down MX first, then the backup
        hosts = [a["address"] for a in d["attempts"]]
        assert hosts == ["127.0.0.63", "127.0.0.64"], hosts
    # the down host's failure is shared (one attempt object, the same local port: one try)
    assert len({json.dumps(d["attempts"][0], sort_keys=True) for d in docs}) <= 2


def test_a_busy_server_is_backed_off_and_every_address_answered(lists_rig: Rig) -> None:
    log = lists_rig.logs["127.0.0.62"]  # greets a second concurrent connection with 421
    busy_before = log.busy
    addresses = [f"b{i}@busy.lists.test" for i in range(6)]
    result = run_cli(
        [
            *args(lists_rig),
            "--format",
            "jsonl",
            "--rcpts-per-session",
            "2",
            "--max-per-host",
            "2",
            *addresses,
        ]
    )
    docs = jsonl(result.stdout)
    assert {d["verdict"] for d in docs} == {"accept-all"}, [d["summary"] for d in docs]
    assert log.busy > busy_before  # it did say "too many connections"
    assert log.max_live <= 2
    # the addresses whose session was turned away say so (the 421 is not their verdict)
    waited = [d for d in docs if "turned away" in d["summary"]]
    assert waited, [d["summary"] for d in docs]
    assert all("421" in d["summary"] and "backed off" in d["summary"] for d in waited)


def test_max_per_host_is_a_hard_cap(lists_rig: Rig) -> None:
    log = lists_rig.logs["127.0.0.64"]
    log.max_live = 0
    addresses = [f"cap{i}@failover.lists.test" for i in range(30)]
    run_cli([*args(lists_rig), "--rcpts-per-session", "2", "--max-per-host", "3", *addresses])
    assert 1 <= log.max_live <= 3


def test_rate_limit_spreads_the_addresses(lists_rig: Rig) -> None:
    addresses = [f"rate{i}@failover.lists.test" for i in range(6)]
    started = time.monotonic()
    result = run_cli(
        [
            *args(lists_rig),
            "--rate",
            "10/s",
            "--rcpts-per-session",
            "1",
            "--no-catch-all",
            *addresses,
        ]
    )
    elapsed = time.monotonic() - started
    assert result.exit_code == 0
    assert elapsed >= 0.45  # 6 addresses at 10 a second: the last one starts 0.5 s in


def test_greylisting_is_retried_on_schedule(lists_rig: Rig) -> None:
    grey = ["g1@grey.lists.test", "g2@grey.lists.test"]
    once = run_cli([*args(lists_rig), "--format", "jsonl", *grey])
    assert {d["verdict"] for d in jsonl(once.stdout)} == {"temporary"}
    assert once.exit_code == 3
    grey2 = ["g3@grey.lists.test", "g4@grey.lists.test"]
    retried = run_cli([*args(lists_rig), "--format", "jsonl", "--retry-temporary", "0.3", *grey2])
    docs = jsonl(retried.stdout)
    assert {d["verdict"] for d in docs} == {"accept-all"}, [d["summary"] for d in docs]
    for d in docs:
        assert [r["verdict"] for r in d["retries"]] == ["temporary"]
        assert d["retries"][0]["code"] == 450
        assert "the retry cleared it" in d["summary"]
    assert retried.exit_code == 0


def test_retry_stays_within_the_deadline(lists_rig: Rig) -> None:
    grey = ["g5@grey.lists.test", "g6@grey.lists.test"]
    result = run_cli(
        [*args(lists_rig), "--format", "jsonl", "--retry-temporary", "60", "--deadline", "5", *grey]
    )
    docs = jsonl(result.stdout)
    assert {d["verdict"] for d in docs} == {"temporary"}
    assert all(d["retries"] == [] for d in docs)  # a 60 s wait does not fit in 5 s


# -- outputs, expectations, CI ------------------------------------------------------------


def test_expectations_junit_and_markdown(lists_rig: Rig, tmp_path: Path) -> None:
    listing = tmp_path / "ci.txt"
    listing.write_text(
        "u30@known.lists.test deliverable\n"
        "ghost@known.lists.test undeliverable\n"
        "u31@known.lists.test undeliverable\n"  # fails: u31 exists
        "r@relay.lists.test deliverable\n"  # fails: relay denied
        "@@@\n"  # a bad line: an error
    )
    junit = tmp_path / "junit.xml"
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    result = run_cli(
        [
            *args(lists_rig),
            "--file",
            str(listing),
            "--format",
            "csv",
            "--junit",
            str(junit),
            "--summary-md",
            str(summary),
        ]
    )
    assert result.exit_code == 5
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["met"] for r in sorted(rows, key=lambda r: int(r["line"]))] == [
        "yes",
        "yes",
        "no",
        "no",
        "no",
    ]
    suite = ET.parse(junit).getroot()
    assert suite.tag == "testsuites"
    assert suite.attrib["tests"] == "5"
    assert suite.attrib["failures"] == "2" and suite.attrib["errors"] == "1"
    cases = {c.attrib["name"]: c for c in suite.iter("testcase")}
    failed = sorted(n for n, c in cases.items() if c.find("failure") is not None)
    assert failed == ["r@relay.lists.test (line 4)", "u31@known.lists.test (line 3)"]
    failure = cases["u31@known.lists.test (line 3)"].find("failure")
    assert failure is not None
    assert failure.attrib["message"] == "expected undeliverable, got deliverable (accepted)"
    assert "Deciding reply: 250" in (failure.text or "")
    md = summary.read_text()
    assert md.startswith("# earlier step\n")  # appended, as $GITHUB_STEP_SUMMARY wants
    assert "| undeliverable |" in md and "Expectations: 2 of 5 held." in md


def test_expect_for_every_address(lists_rig: Rig) -> None:
    ok = run_cli(
        [
            *args(lists_rig),
            "--expect",
            "deliverable",
            "u32@known.lists.test",
            "u33@known.lists.test",
        ]
    )
    assert ok.exit_code == 0
    bad = run_cli(
        [
            *args(lists_rig),
            "--expect",
            "deliverable",
            "u34@known.lists.test",
            "gone@known.lists.test",
        ]
    )
    assert bad.exit_code == 5
    assert "gone@known.lists.test: expected deliverable, got undeliverable" in bad.stderr


def test_order_input_keeps_the_list_order(lists_rig: Rig) -> None:
    addresses = ["b9@busy.lists.test", "u35@known.lists.test", "f30@failover.lists.test"]
    result = run_cli([*args(lists_rig), "--format", "jsonl", "--order", "input", *addresses])
    assert [d["address"] for d in jsonl(result.stdout)] == addresses


def test_library_probe_stream(lists_rig: Rig) -> None:
    async def collect() -> list[smtpdiag.ProbeResult]:
        out = []
        async for r in smtpdiag.probe_stream(
            ["u36@known.lists.test", "nobody99@known.lists.test", "u36@known.lists.test"],
            resolvers=(lists_rig.resolver,),
            port=lists_rig.smtp_port,
            helo="probe.lists.test",
        ):
            out.append(r)
        return out

    results = asyncio.run(collect())
    assert sorted((r.address.original, r.verdict) for r in results) == [
        ("nobody99@known.lists.test", "undeliverable"),
        ("u36@known.lists.test", "deliverable"),
        ("u36@known.lists.test", "deliverable"),
    ]


def test_resume_after_a_killed_run_loses_and_repeats_nothing(
    lists_rig: Rig, tmp_path: Path
) -> None:
    addresses = [f"k{i}@slow.lists.test" for i in range(14)]
    listing = tmp_path / "long.txt"
    listing.write_text("\n".join(addresses) + "\n")
    out = tmp_path / "out.jsonl"
    # mx-slow greets after 0.2 s: one address a session, one session at a time, ~3 s in all
    cmd = [
        sys.executable,
        "-m",
        "smtpdiag",
        *args(lists_rig)[0:],
        "--file",
        str(listing),
        "--format",
        "jsonl",
        "-o",
        str(out),
        "--rcpts-per-session",
        "1",
        "--max-per-host",
        "1",
        "--no-catch-all",
    ]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if out.exists() and out.read_text().count("\n") >= 4:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    first = out.read_text()
    done_first = [json.loads(line)["address"] for line in first.splitlines()]
    assert 4 <= len(done_first) < len(addresses)
    with out.open("a") as fh:  # a line cut in the middle by the kill
        fh.write('{"schema": 2, "input": "k13@slow.lis')
    again = subprocess.run(
        [*cmd, "--resume", str(out)], env=env, capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 0, again.stderr
    lines = out.read_text().splitlines()
    docs = [json.loads(line) for line in lines]  # every line whole again
    assert sorted(d["address"] for d in docs) == sorted(addresses)  # nothing lost or repeated
    assert f"resumed: {len(done_first)} addresses were already in" in again.stderr


def test_bad_options_are_one_line_errors(lists_rig: Rig, tmp_path: Path) -> None:
    for extra, needle in (
        (["--rate", "fast", "a@known.lists.test"], "rate 'fast'"),
        (["--retry-temporary", "soon", "a@known.lists.test"], "retry schedule"),
        (["--expect", "fine", "a@known.lists.test"], "expected verdict 'fine'"),
        (["--file", str(tmp_path / "missing.txt")], "missing.txt"),
        (["--file", str(tmp_path / "x.txt"), "a@known.lists.test"], "not both"),
        ([], "give ADDRESS... or --file"),
        (["--concurrency", "0", "a@known.lists.test", "b@known.lists.test"], "concurrency 0"),
        (
            ["--refusals-per-session", "0", "a@known.lists.test", "b@known.lists.test"],
            "--refusals-per-session 0: must be from 1 to 100",
        ),
        (
            ["--rcpts-per-session", "101", "a@known.lists.test", "b@known.lists.test"],
            "--rcpts-per-session 101: must be from 1 to 100",
        ),
    ):
        (tmp_path / "x.txt").write_text("a@known.lists.test\n")
        result = run_cli([*args(lists_rig), *extra])
        assert result.exit_code == 2, (extra, result.output)
        assert needle in result.output, (extra, result.output)
        assert "Traceback" not in result.output


def test_a_backup_shared_with_another_domain_is_used_when_it_frees_up(lists_rig: Rig) -> None:
    # shared.lists.test: a dead primary, then mx.lists.test, which known.lists.test uses
    # too; with one session per server at a time the backup's sessions must still go round
    known = [f"u{i}@known.lists.test" for i in range(18)]
    shared = [f"sh{i}@shared.lists.test" for i in range(5)]
    result = run_cli(
        [*args(lists_rig), "--format", "jsonl", "--max-per-host", "1", *known, *shared]
    )
    docs = jsonl(result.stdout)
    assert len(docs) == len(known) + len(shared)
    assert {d["verdict"] for d in docs if d["address"] in shared} == {"undeliverable"}


def test_a_list_on_stdin(lists_rig: Rig) -> None:
    result = run_cli(
        [*args(lists_rig), "--file", "-", "--format", "csv"],
        input="# from a pipe\nu37@known.lists.test deliverable\nnobody37@known.lists.test\n",
    )
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert sorted((r["line"], r["verdict"], r["met"]) for r in rows) == [
        ("2", "deliverable", "yes"),
        ("3", "undeliverable", ""),
    ]
    assert result.exit_code == 0  # the one expectation held


def test_a_list_with_server_goes_to_that_server(lists_rig: Rig) -> None:
    log = lists_rig.logs["127.0.0.60"]
    start = len(log.commands)
    addresses = ["u38@known.lists.test", "x@grey.lists.test", "y@relay.lists.test"]
    result = run_cli(
        [
            *args(lists_rig),
            "--server",
            f"127.0.0.60:{lists_rig.smtp_port}",
            "--format",
            "jsonl",
            *addresses,
        ]
    )
    docs = {d["address"]: d for d in jsonl(result.stdout)}
    assert docs["u38@known.lists.test"]["verdict"] == "deliverable"
    assert docs["x@grey.lists.test"]["verdict"] == "undeliverable"  # mx.lists.test knows no x
    sent = [c for c in log.commands[start:] if c.startswith("RCPT")]
    assert {c.split("<")[1].split(">")[0] for c in sent} >= set(addresses)
    assert all(d["mx"]["source"] == "server-option" for d in docs.values())


def test_shared_json_fragments_give_the_same_bytes(lists_rig: Rig) -> None:
    """A list run's JSONL encodes the parts addresses share once (render.text.Fragments):
    every line must be byte for byte the document's own encoding, across many results
    sharing one cache."""
    from smtpdiag.render.text import Fragments, dumps, to_dict

    addresses = [f"u{i}@known.lists.test" for i in range(0, 12)]
    addresses += [f"nobody{i}@known.lists.test" for i in range(12)]
    addresses += ["a@grey.lists.test", "b@strict.lists.test", "c@relay.lists.test"]
    results = asyncio.run(
        smtpdiag.probe_many(
            addresses,
            resolvers=(lists_rig.resolver,),
            port=lists_rig.smtp_port,
            helo="probe.lists.test",
            timeout=5.0,
        )
    )
    shared = Fragments(limit=8)  # small: entries are evicted and rebuilt along the way
    seen = set()
    for lang in ("en", "th"):
        for result in results:
            line = shared.line(to_dict(result, lang, shared))
            assert line == dumps(to_dict(result, lang), indent=None).encode()
            seen.add(json.loads(line)["verdict"])
    assert {"deliverable", "undeliverable"} <= seen


def test_a_placeholder_lookalike_stays_text(lists_rig: Rig) -> None:
    """Text shaped like a fragment placeholder is not replaced: the nonce is random per
    run, so a server cannot guess it, and a placeholder is only good for its document."""
    from smtpdiag.core.records import evolve
    from smtpdiag.render.text import Fragments, to_dict

    result = asyncio.run(
        smtpdiag.probe(
            "nobody1@known.lists.test",
            resolvers=(lists_rig.resolver,),
            port=lists_rig.smtp_port,
            helo="probe.lists.test",
        )
    )
    shared = Fragments()

    def saying(summary: str) -> smtpdiag.ProbeResult:
        return evolve(result, diagnosis=evolve(result.diagnosis, summary=summary))

    lookalike = "\x000:1\x00"
    doc = json.loads(shared.line(to_dict(saying(lookalike), shared=shared)))
    assert doc["summary"] == lookalike
    stale = shared.ref("k", None, lambda: {"n": 1})  # made for a document never encoded
    shared.line(to_dict(result, shared=shared))
    later = json.loads(shared.line(to_dict(saying(stale), shared=shared)))
    assert later["summary"] == stale and later["mx"] == doc["mx"]


def test_summaries_count_in_the_singular_and_plural() -> None:
    from smtpdiag.core.listinput import ListLine
    from smtpdiag.render.lists import bad_line_outcome, summary_markdown, summary_text

    one = [bad_line_outcome(ListLine(1, "not an address", None, "bad address"), None)]
    assert "smtpdiag: 1 address in 0.5 s" in summary_text(one, 0.5, 1)
    assert "(2.0/s, 1 SMTP session)" in summary_text(one, 0.5, 1)
    assert "smtpdiag: 2 addresses in" in summary_text(one * 2, 0.5, 3)
    assert "3 SMTP sessions)" in summary_text(one * 2, 0.5, 3)
    from smtpdiag.render.lists import Outcome

    def ok(address: str) -> Outcome:
        return Outcome(None, address, "deliverable", "accepted", 250, "2.1.5", "mx", "", "",
                       0.1, None, None)  # fmt: skip

    text = summary_text([ok("a@one.test"), ok("b@two.test"), *one], 0.5, 2)
    assert "  domains:  one.test 1, two.test 1\n" in text + "\n"  # a bad line is no domain
    assert "1 address in 0.5 s" in summary_markdown(one, 0.5)
    assert "2 addresses in 0.5 s" in summary_markdown(one * 2, 0.5)
