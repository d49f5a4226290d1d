"""A list run of ``smtpdiag probe``: read the list, probe it, stream the results, write
the reports, compute the exit code. Orchestration between the CLI and the batch scheduler.

Output is written as each result completes (``--order completion``) or as soon as every
earlier line is done (``--order input``), and flushed line by line: a run killed midway
loses nothing it printed, and ``--resume`` picks up after the last complete line.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import IO, Any

from smtpdiag.core.errors import UsageError
from smtpdiag.core.listinput import ListLine
from smtpdiag.core.model import Address, ProbeResult, Verdict
from smtpdiag.prober import ProbeOptions

#: formats written as one report at the end of the run (smtpdiag/render/report.py)
REPORT_FORMATS = ("html", "markdown")
#: the most a --file may hold (a bigger one is refused, not read into memory)
MAX_LIST_BYTES = 256 * 1024 * 1024


class ListRun:
    """Everything one list run needs; see the module's docstring."""

    def __init__(
        self,
        *,
        fmt: str,
        order: str,
        output: str | None,
        resume: str | None,
        junit: str | None,
        summary_md: str | None,
        progress: bool,
        colour: bool,
        lang: str,
    ) -> None:
        self.fmt = fmt
        self.order = order
        self.output = output
        self.resume = resume
        self.junit = junit
        self.summary_md = summary_md
        self.progress = progress
        self.colour = colour
        self.lang = lang
        self.expect: tuple[Verdict, ...] | None = None
        self.entries: list[ListLine] = []  # every input line, good and bad, in order
        self.parsed: list[Address] = []  # the good ones
        self.probe_index: list[int] = []  # parsed[i] is entries[probe_index[i]]
        self.bad: dict[int, str] = {}  # entry index -> why (parse errors of good-looking lines)
        self.skipped = 0
        self.out: IO[str] = sys.stdout
        self.outcomes: list[Any] = []  # (index, Outcome): kept only for --junit/--summary-md
        self.tally: Any = None
        self._fragments: Any = None  # render.text.Fragments, made on the first JSON line
        self._any_failed = False
        self._any_bad = False
        self._verdicts: set[Verdict] = set()
        self.sessions = 0
        self.started = time.monotonic()
        self._pending: dict[int, str | bytes] = {}
        self._next = 0
        self._done = 0
        self._last_progress = 0.0
        self._progress_shown = False
        self._finished = False
        self._from_file = False
        self._docs: list[tuple[int, dict[str, Any]]] = []  # --format html/markdown

    # -- input ---------------------------------------------------------------------------

    def plain_single(self) -> bool:
        """One command-line address, no list options: the plain single probe."""
        return (
            self.fmt in ("text", "json")
            and not (self.output or self.resume or self.junit or self.summary_md)
            and self.expect is None
            and not self.bad
            and self.entries[0].error is None
            and len(self.parsed) == 1
        )

    def set_addresses(self, texts: Sequence[str], parsed: Sequence[Address]) -> None:
        self.parsed = list(parsed)
        self.probe_index = list(range(len(parsed)))
        self.entries = [ListLine(i + 1, t) for i, t in enumerate(texts)]

    def read_file(self, path: str, column: str | None) -> None:
        from smtpdiag.cli import read_bounded
        from smtpdiag.core.addresses import parse_address
        from smtpdiag.core.listinput import parse_list

        try:
            data = read_bounded(path, MAX_LIST_BYTES)
        except OSError as exc:
            raise UsageError(f"--file {path}: {exc.strerror or exc}", "file") from None
        if len(data) > MAX_LIST_BYTES:
            raise UsageError(f"--file {path}: larger than {MAX_LIST_BYTES >> 20} MB", "file")
        text = data.decode("utf-8", errors="replace")
        is_csv = column is not None or path.lower().endswith(".csv")
        self.entries = parse_list(text, csv_format=is_csv, column=column)
        self._from_file = True
        done = self._already_done()
        kept: list[ListLine] = []
        for entry in self.entries:
            if entry.error is None and entry.text in done:
                self.skipped += 1
                continue
            kept.append(entry)
        self.entries = kept
        for i, entry in enumerate(self.entries):
            if entry.error is not None:
                continue
            try:
                addr = parse_address(entry.text)
            except UsageError as exc:
                self.entries[i] = ListLine(entry.line, entry.text, entry.expect, str(exc))
                continue
            self.parsed.append(addr)
            self.probe_index.append(i)
        if not self.entries and not self.skipped:
            raise UsageError(f"--file {path}: no addresses in it", "file")

    def _already_done(self) -> set[str]:
        """The inputs an earlier run already wrote (complete JSONL lines only)."""
        if self.resume is None:
            return set()
        try:
            with open(self.resume, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            return set()
        except OSError as exc:
            raise UsageError(f"--resume {self.resume}: {exc.strerror or exc}", "resume") from None
        done: set[str] = set()
        for raw in data.split(b"\n")[:-1]:  # the part after the last newline is incomplete
            try:
                doc = json.loads(raw)
            except ValueError:
                continue
            if isinstance(doc, dict) and isinstance(doc.get("input"), str):
                done.add(doc["input"])
        return done

    def open_outputs(self) -> None:
        if self.output is None:
            return
        same = self.resume is not None and os.path.abspath(self.resume) == os.path.abspath(
            self.output
        )
        try:
            if same and os.path.exists(self.output):
                _drop_partial_line(self.output)
                self.out = open(self.output, "a", encoding="utf-8")  # noqa: SIM115
            else:
                self.out = open(self.output, "w", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise UsageError(f"--output {self.output}: {exc.strerror or exc}", "output") from None

    # -- the run -------------------------------------------------------------------------

    def _expectation(self, entry: ListLine) -> tuple[Verdict, ...] | None:
        return entry.expect if entry.expect is not None else self.expect

    async def run(self, opts: ProbeOptions) -> int:
        if self.fmt == "csv" and not self._resuming_csv():
            from smtpdiag.render.lists import csv_header

            self._write_line(csv_header())
        for i, entry in enumerate(self.entries):
            if entry.error is not None:
                outcome = self._bad_outcome(entry)
                self._emit(i, self._bad_text(entry, outcome), outcome)
        try:
            async for index, result in self._results(opts):
                entry_index = self.probe_index[index]
                entry = self.entries[entry_index]
                self._emit(entry_index, *self._render(result, entry))
                # let the sessions read and answer between two results: a session's nine
                # results rendered in a row would hold up the other sessions' replies
                await asyncio.sleep(0)
        finally:
            self._finish()
        return self.exit_code()

    async def _results(self, opts: ProbeOptions) -> Any:
        from smtpdiag.batch import Batch
        from smtpdiag.prober import probe

        if len(self.parsed) == 1:
            yield 0, await probe(self.parsed[0], opts)
            self.sessions = 1
            return
        if not self.parsed:
            return
        batch = Batch(opts)
        try:
            async for pair in batch.run(self.parsed):
                yield pair
        finally:
            self.sessions = batch.sessions

    def _resuming_csv(self) -> bool:
        return self.out is not sys.stdout and self.out.tell() > 0

    def _render(
        self, result: ProbeResult, entry: ListLine
    ) -> tuple[str | bytes | dict[str, Any], Any]:
        from smtpdiag.render import lists

        expect = self._expectation(entry)
        outcome = lists.outcome(result, entry if self._from_file else None, expect)
        if self.fmt in REPORT_FORMATS:  # kept for the one report written at the end
            from smtpdiag.render.text import json_safe

            doc = lists.jsonl_record(result, entry if self._from_file else None, expect, self.lang)
            return json_safe(doc), outcome
        if self.fmt in ("json", "jsonl"):
            if self._fragments is None:
                from smtpdiag.render.text import Fragments

                self._fragments = Fragments()
            doc = lists.jsonl_record(result, entry, expect, self.lang, self._fragments)
            return self._fragments.line(doc), outcome
        if self.fmt == "csv":
            return lists.csv_row(outcome), outcome
        from smtpdiag.render import text as render

        style = render.colour if self.colour else render.plain
        return render.render_text(result, style, self.lang) + "\n", outcome

    def _bad_text(self, entry: ListLine, outcome: Any) -> str | dict[str, Any]:
        from smtpdiag.core.model import SCHEMA_VERSION
        from smtpdiag.render import lists

        if self.fmt in REPORT_FORMATS:
            return lists.bad_line_record(entry, SCHEMA_VERSION)
        if self.fmt in ("json", "jsonl"):
            from smtpdiag.render.text import dumps

            return dumps(lists.bad_line_record(entry, SCHEMA_VERSION), indent=None)
        if self.fmt == "csv":
            return lists.csv_row(outcome)
        from smtpdiag.render.text import escape

        return f"smtpdiag: line {entry.line}: {escape(entry.text)}: {entry.error}\n"

    def _bad_outcome(self, entry: ListLine) -> Any:
        from smtpdiag.render import lists

        expect = self._expectation(entry)
        if expect is None and self._expecting():
            expect = lists.DEFAULT_PASS  # a bad line fails a run that checks expectations
        return lists.bad_line_outcome(entry, expect)

    def _expecting(self) -> bool:
        return self.expect is not None or any(e.expect is not None for e in self.entries)

    def _emit(self, index: int, text: str | bytes | dict[str, Any], outcome: Any) -> None:
        if self.tally is None:
            from smtpdiag.render.lists import Tally

            self.tally = Tally()
        self.tally.add(outcome)
        if self.junit or self.summary_md:
            self.outcomes.append((index, outcome))
        if outcome.met is False:
            self._any_failed = True
        if outcome.verdict is None:
            self._any_bad = True
        else:
            self._verdicts.add(outcome.verdict)
        self._done += 1
        if isinstance(text, dict):
            from smtpdiag.render.report import MAX_DETAILS, thin

            # the report holds the details of its first MAX_DETAILS results: keep only the
            # table row of the others (bounded memory for a long list)
            self._docs.append((index, text if len(self._docs) < MAX_DETAILS else thin(text)))
        elif self.order == "completion":
            self._write_line(text)
        else:
            self._pending[index] = text
            while self._next in self._pending:
                self._write_line(self._pending.pop(self._next))
                self._next += 1
        self._show_progress()

    def _write_line(self, text: str | bytes) -> None:
        """One line out, flushed (a killed run loses nothing already printed). A JSONL
        line comes as UTF-8 (render.text.Fragments) and goes to the byte stream as is."""
        self._clear_progress()
        if isinstance(text, bytes):
            binary = getattr(self.out, "buffer", None)
            if binary is not None:
                self.out.flush()  # anything written as text first stays first
                binary.write(text)
                binary.write(b"\n")
                binary.flush()
                return
            text = text.decode()
        self.out.write(text if text.endswith("\n") else text + "\n")
        self.out.flush()

    # -- progress and reports --------------------------------------------------------------

    def _progress_on(self) -> bool:
        return self.progress and sys.stderr.isatty() and len(self.entries) > 1

    def _show_progress(self) -> None:
        if not self._progress_on():
            return
        now = time.monotonic()
        if now - self._last_progress < 0.1 and self._done < len(self.entries):
            return
        from smtpdiag.render.lists import progress_line

        self._last_progress = now
        line = progress_line(self._done, len(self.entries), now - self.started)
        sys.stderr.write("\r" + line)
        sys.stderr.flush()
        self._progress_shown = True

    def _clear_progress(self) -> None:
        if self._progress_shown:
            sys.stderr.write("\r\x1b[K")
            self._progress_shown = False

    def interrupted(self) -> None:
        self._finish()

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        for index in sorted(self._pending):  # --order input: what is done, in order
            self._write_line(self._pending.pop(index))
        self._clear_progress()
        if self.fmt in REPORT_FORMATS:
            from smtpdiag.render.report import render

            docs = [doc for _, doc in sorted(self._docs, key=lambda p: p[0])]
            if docs:
                self.out.write(render(docs, self.fmt, self.lang))
                self.out.flush()
        if self.out is not sys.stdout:
            self.out.close()
        from smtpdiag.render import lists

        outcomes = [o for _, o in sorted(self.outcomes, key=lambda p: p[0])]
        elapsed = time.monotonic() - self.started
        if (len(self.entries) > 1 or self._from_file) and self.tally is not None:
            text = self.tally.text(elapsed, self.sessions)
            if self.skipped:
                text += f"\n  resumed: {self.skipped} addresses were already in {self.resume}"
            print(text, file=sys.stderr)
        if self.junit:
            import datetime

            stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
            _write_file(self.junit, lists.junit_xml(outcomes, elapsed, stamp), "w")
        if self.summary_md:
            _write_file(self.summary_md, lists.summary_markdown(outcomes, elapsed), "a")

    def exit_code(self) -> int:
        if self.tally is not None and self.tally.expected:
            return 5 if self._any_failed else 0
        if self._any_bad:
            return 2
        from smtpdiag.cli import exit_code_of

        return exit_code_of(self._verdicts)


def _write_file(path: str, text: str, mode: str) -> None:
    try:
        with open(path, mode, encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        print(f"smtpdiag: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)


def _drop_partial_line(path: str) -> None:
    """Cut an incomplete last line (a run killed mid-write) so appended lines stay whole."""
    with open(path, "rb+") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size == 0:
            return
        back = min(size, 1 << 20)
        fh.seek(size - back)
        tail = fh.read(back)
        if tail.endswith(b"\n"):
            return
        cut = tail.rfind(b"\n")
        fh.truncate(size - back + cut + 1 if cut >= 0 else (0 if back == size else size))
