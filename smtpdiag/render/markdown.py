"""The Markdown report (GitHub-flavoured): the same content as the HTML one, safe to paste
into a ticket.

Pure: a :class:`~smtpdiag.render.report.Report` in, text out. Text outside code blocks goes
through :func:`md`: control and invisible characters shown as escapes, then every character
Markdown could read as markup (emphasis, links, images, inline HTML, entities, table pipes,
code spans) backslash-escaped, and autolinks broken (``http\\://``, ``www\\.``, ``a\\@b``), so
server text is never a link, an image or HTML. Transcripts and diagnostics sit in fenced code
blocks whose fence is longer than any run of backticks inside (:func:`fence`), so no line of a
reply can close its block.
"""

from __future__ import annotations

import re
from typing import Any

from smtpdiag.render.report import (
    Banner,
    Cell,
    Facts,
    Heading,
    Para,
    Pre,
    Report,
    Section,
    Table,
    Timeline,
    Transcript,
    num,
)
from smtpdiag.render.text import escape as _terminal_escape

#: what GFM reads as markup anywhere in a line: emphasis, code spans, links and images,
#: inline HTML and entities, table pipes, strikethrough, headings (a backslash before ASCII
#: punctuation is always a literal)
_MARKUP = re.compile(r"([\\`*_\[\]<>|~&!#@])")
#: GFM's extended autolinks: a scheme's colon and "www." are broken by a backslash
_SCHEME = re.compile(r"(?i)\b(https?|ftp|mailto|xmpp)(:)")
_WWW = re.compile(r"(?i)\b(www)\.")
#: at the start of a line: a list item, a setext underline, an ordered list
_LINE_START = re.compile(r"^(?:([-+=])|(\d+)([.)]))")


def md(text: str, line_start: bool = False) -> str:
    """Text for Markdown outside code: nothing in it is markup, a link or HTML
    (``line_start``: the text begins a line, where ``-`` or ``1.`` would start a list)."""
    text = _MARKUP.sub(r"\\\1", _terminal_escape(text))
    text = _SCHEME.sub(r"\1\\\2", text)
    text = _WWW.sub(r"\1\\.", text)
    if not line_start:
        return text
    return _LINE_START.sub(_line_start, text)


def _line_start(m: re.Match[str]) -> str:
    return f"\\{m.group(1)}" if m.group(1) else f"{m.group(2)}\\{m.group(3)}"


def fence(lines: list[str], info: str = "text") -> list[str]:
    """A fenced code block around ``lines`` (each already one line, no CR/LF): the fence is
    longer than the longest run of backticks in them."""
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    bar = "`" * max(3, longest + 1)
    return [f"{bar}{info}", *lines, bar]


def _code_line(text: str) -> str:
    return _terminal_escape(text)


def to_markdown(report: Report) -> str:
    out: list[str] = []
    for block in report.blocks:
        out.extend(_block(block))
    text = "\n".join(out)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip("\n") + "\n"


_ROLE_MARK = {"warn": "\u26a0 ", "bad": "\u2716 ", "ok": "", "note": "", "": ""}


def _block(block: Any) -> list[str]:
    if isinstance(block, Heading):
        level = min(max(block.level, 1), 6)
        return ["", f"{'#' * level} {md(block.text)}", ""]
    if isinstance(block, Para):
        text = md(block.text, line_start=True)
        if block.role == "note":
            text = f"_{text}_"
        return [_ROLE_MARK.get(block.role, "") + text, ""]
    if isinstance(block, Facts):
        return [*_facts(block.items), ""]
    if isinstance(block, Table):
        return [*_table(block), ""]
    if isinstance(block, Banner):
        head = f"> **{md(block.icon)} {md(block.label)}**"
        body = [f"> - **{md(label)}:** {md(value)}" for label, value in block.facts if label]
        return [head, ">", *body, ""]
    if isinstance(block, Transcript):
        return [*_transcript(block), ""]
    if isinstance(block, Timeline):
        return [*_timeline(block), ""]
    if isinstance(block, Pre):
        return [*fence([_code_line(line) for line in block.lines]), ""]
    if isinstance(block, Section):
        out: list[str] = []
        for inner in block.blocks:
            out.extend(_block(inner))
        return out
    return []


def _facts(items: tuple[tuple[str, str], ...]) -> list[str]:
    out = []
    for label, value in items:
        if label:
            out.append(f"- **{md(label)}:** {md(value)}")
        else:
            out.append(f"- {md(value)}")
    return out


def _cell(cell: Cell) -> str:
    text = md(cell.text) if cell.text else " "
    if cell.role == "bad" and cell.text:
        text = f"**{text}**"
    return text


def _table(table: Table) -> list[str]:
    out = ["| " + " | ".join(md(h) for h in table.headers) + " |"]
    out.append("|" + "|".join(" --- " for _ in table.headers) + "|")
    for row in table.rows:
        out.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return out


_PREFIX = {"sent": "C: ", "received": "S: ", "error": "!! ", "note": "   # "}


def _transcript(tr: Transcript) -> list[str]:
    lines: list[str] = []
    for step in tr.steps:
        for i, line in enumerate(step.lines):
            text = _PREFIX.get(line.kind, "") + _code_line(line.text)
            last_io = i == max(
                (j for j, x in enumerate(step.lines) if x.kind != "note"), default=-1
            )
            if last_io and step.ms is not None:
                text += f"  ({num(step.ms)} ms)"
            if last_io and step.deciding:
                text += f"  <== {_code_line(tr.marker)}"
            lines.append(text)
    return fence(lines)


_BAR_WIDTH = 24


def _timeline(tl: Timeline) -> list[str]:
    total = sum(b.ms for b in tl.bars)
    out = [md(tl.title, line_start=True), ""]
    step, ms, share_label = (md(h) for h in tl.headers)
    out.append(f"| \\# | {step} | {ms} | {share_label} |")
    out.append("| --- | --- | --- | --- |")
    for i, bar in enumerate(tl.bars, 1):
        share = bar.ms / total if total > 0 else 0.0
        blocks = "\u2588" * max(1, round(share * _BAR_WIDTH))
        out.append(f"| {i} | {md(bar.label)} | {num(bar.ms)} | {blocks} |")
    return out
