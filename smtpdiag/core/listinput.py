"""Address lists for ``probe --file``: plain lists and CSV, with expectations. Pure.

Plain list: one address per line; blank lines and ``#`` comments are ignored; an optional
second column is the verdict the line expects (``alice@example.com deliverable``;
alternatives with ``|`` or ``,``: ``deliverable|accept-all``). CSV (a header row, then
rows): the address column is ``--column`` or the first header named like ``email`` or
``address``; an ``expect``/``expected`` column, if any, holds expectations.

Bad lines never stop a run: each becomes a :class:`ListLine` with ``error`` set and its
line number, for the report.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from smtpdiag.core.errors import UsageError
from smtpdiag.core.model import VERDICTS, Verdict
from smtpdiag.core.records import record

#: header names taken for the address column, in this order, when --column is not given
ADDRESS_HEADERS = ("email", "e-mail", "email_address", "address", "mail", "recipient", "to")
EXPECT_HEADERS = ("expect", "expected", "expected_verdict", "verdict")
#: the longest line read (a longer one is a bad line, not a memory problem)
MAX_LINE = 4096


@record
class ListLine:
    """One usable or bad line of an address list."""

    line: int  # 1-based line number in the file (CSV: the row's first line)
    text: str  # the address as written (or the whole bad line)
    expect: tuple[Verdict, ...] | None = None  # verdicts that satisfy the line
    error: str | None = None  # why the line cannot be probed


def parse_expect(value: str) -> tuple[Verdict, ...]:
    """``deliverable|accept-all`` -> ("deliverable", "accept-all"). Raises UsageError."""
    out: list[Verdict] = []
    for part in value.replace("|", ",").split(","):
        name = part.strip().lower()
        if not name:
            continue
        match = next((v for v in VERDICTS if v == name), None)
        if match is None:
            raise UsageError(
                f"expected verdict {part.strip()!r}: must be one of {', '.join(VERDICTS)}",
                "expect",
            )
        if match not in out:
            out.append(match)
    if not out:
        raise UsageError("expected verdict is empty", "expect")
    return tuple(out)


def parse_plain(lines: Iterable[str]) -> list[ListLine]:
    """A plain list: address [expected-verdict] per line."""
    out: list[ListLine] = []
    for number, raw in enumerate(lines, 1):
        text = raw.rstrip("\r\n")
        if len(text) > MAX_LINE:
            out.append(ListLine(number, text[:80] + "...", None, f"line longer than {MAX_LINE}"))
            continue
        body = text.strip().lstrip("\ufeff")
        if not body or body.startswith("#"):
            continue
        if " #" in body or "\t#" in body:  # a trailing comment
            body = body[: min(i for i in (body.find(" #"), body.find("\t#")) if i >= 0)].strip()
        fields = body.replace(";", " ").replace("\t", " ").split()
        if len(fields) == 1 and body.count(",") == 1:  # "alice@x.example,deliverable"
            fields = [f.strip() for f in body.split(",")]
        if len(fields) > 2:
            out.append(
                ListLine(number, body, None, "more than two columns (address [expected verdict])")
            )
            continue
        expect: tuple[Verdict, ...] | None = None
        if len(fields) == 2:
            try:
                expect = parse_expect(fields[1])
            except UsageError as exc:
                out.append(ListLine(number, fields[0], None, str(exc)))
                continue
        out.append(ListLine(number, fields[0], expect))
    return out


def parse_csv(lines: Sequence[str], column: str | None = None) -> list[ListLine]:
    """A CSV list with a header row. Raises UsageError when the address column is unknown."""
    import csv  # only for CSV lists: not on every probe's start-up

    reader = csv.reader(lines)
    try:
        header = [h.strip().lstrip("\ufeff") for h in next(reader)]
    except StopIteration:
        return []
    except csv.Error as exc:
        raise UsageError(f"the CSV header cannot be read: {exc}", "file") from exc
    lowered = [h.lower() for h in header]
    if column is not None:
        if column.lower() not in lowered:
            raise UsageError(
                f"column {column!r} is not in the CSV header ({', '.join(header) or 'empty'})",
                "column",
            )
        at = lowered.index(column.lower())
    else:
        at = next((lowered.index(h) for h in ADDRESS_HEADERS if h in lowered), -1)
        if at < 0:
            raise UsageError(
                f"no address column in the CSV header ({', '.join(header) or 'empty'}): "
                "name it with --column",
                "column",
            )
    expect_at = next(
        (lowered.index(h) for h in EXPECT_HEADERS if h in lowered and lowered.index(h) != at),
        -1,
    )
    out: list[ListLine] = []
    while True:
        number = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            out.append(ListLine(number, "", None, f"bad CSV: {exc}"))
            continue
        if not any(cell.strip() for cell in row):
            continue
        if at >= len(row):
            out.append(ListLine(number, ",".join(row)[:80], None, "the address column is empty"))
            continue
        text = row[at].strip()
        if len(text) > MAX_LINE:
            out.append(ListLine(number, text[:80] + "...", None, f"cell longer than {MAX_LINE}"))
            continue
        if not text:
            out.append(ListLine(number, ",".join(row)[:80], None, "the address column is empty"))
            continue
        expect: tuple[Verdict, ...] | None = None
        if 0 <= expect_at < len(row) and row[expect_at].strip():
            try:
                expect = parse_expect(row[expect_at])
            except UsageError as exc:
                out.append(ListLine(number, text, None, str(exc)))
                continue
        out.append(ListLine(number, text, expect))
    return out


def parse_list(text: str, csv_format: bool = False, column: str | None = None) -> list[ListLine]:
    """Every line of an address list, plain or CSV."""
    lines = text.splitlines()
    if csv_format:
        return parse_csv(lines, column)
    return parse_plain(lines)


def parse_rate(value: str) -> float:
    """``10/s``, ``600/min``, ``5`` (per second) -> addresses per second. Raises UsageError."""
    text = value.strip().lower().replace(" ", "")
    count, _, unit = text.partition("/")
    per = {"": 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hour": 3600.0}
    try:
        number = float(count)
    except ValueError:
        number = -1.0
    if unit not in per or not 0 < number <= 100_000:
        raise UsageError(
            f"rate {value!r}: write it as N/s, N/min or N/h (e.g. 10/s), N from 0 to 100000",
            "rate",
        )
    return number / per[unit]


def parse_schedule(value: str) -> tuple[float, ...]:
    """``60,300,900`` -> waits in seconds before each retry. Raises UsageError."""
    out: list[float] = []
    for part in value.split(","):
        try:
            seconds = float(part.strip())
        except ValueError:
            seconds = -1.0
        if not 0 <= seconds <= 86_400:
            raise UsageError(
                f"retry schedule {value!r}: seconds separated by commas (e.g. 60,300,900), "
                "each from 0 to 86400",
                "retry_temporary",
            )
        out.append(seconds)
    if not out or len(out) > 20:
        raise UsageError(f"retry schedule {value!r}: from 1 to 20 waits", "retry_temporary")
    return tuple(out)
