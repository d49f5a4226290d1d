"""The HTML report: one self-contained file (inline CSS and SVG, no request leaves it).

Pure: a :class:`~smtpdiag.render.report.Report` in, text out. Every string of the report goes
through :func:`esc` (``html.escape`` with ``quote=True``, after the terminal escaping of
control and invisible characters), in element text and in the few attributes that carry a
value (``title``, ``data-sort``), so a server reply holding ``<script>``, ``<img onerror>``,
``javascript:`` or ``</style>`` shows as text. No ``href`` is ever made from a document: links
point only at anchors this module numbers itself (``#addr-3``). The Content-Security-Policy
meta tag forbids every script but, in a list report, the small sort script below (allowed by
its SHA-256, computed here), and every request (``default-src 'none'``).
"""

from __future__ import annotations

import html
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

#: a URL scheme's colon: written as a character reference, so that not even the file's
#: source holds "javascript:" or "http://" from a server (a reader sees the same text)
_SCHEME = re.compile(r"(?i)\b(javascript|vbscript|data|https?|ftp|file|mailto|blob)(:)")


def esc(text: str) -> str:
    """The one escaping function of the HTML report: text for an element or a quoted
    attribute. Control and invisible characters (bidi overrides, zero-width) are shown as
    escapes first, so a reply cannot reorder or hide what a reader sees. Beyond
    ``html.escape(quote=True)``, ``=`` and a scheme's ``:`` become character references:
    the source then has no ``onerror=`` or ``src=http:`` a scanner could mistake for markup."""
    out = html.escape(_terminal_escape(text), quote=True).replace("=", "&#61;")
    return _SCHEME.sub(r"\1&#58;", out)


#: sorts the list table by a column when its heading is clicked; the table is readable (and
#: sorted worst first) without it. It only moves rows: it never parses or writes markup.
SORT_SCRIPT = (
    "(function(){document.querySelectorAll('table.sortable').forEach(function(t){"
    "var hs=t.tHead.rows[0].cells;Array.prototype.forEach.call(hs,function(th,i){"
    "var b=document.createElement('button');b.type='button';b.textContent=th.textContent;"
    "th.textContent='';th.appendChild(b);b.addEventListener('click',function(){"
    "var up=th.getAttribute('aria-sort')!=='ascending';"
    "Array.prototype.forEach.call(hs,function(h){h.removeAttribute('aria-sort');});"
    "th.setAttribute('aria-sort',up?'ascending':'descending');var body=t.tBodies[0];"
    "var rows=Array.prototype.slice.call(body.rows);rows.sort(function(x,y){"
    "var a=x.cells[i],c=y.cells[i];a=a.getAttribute('data-sort')||a.textContent;"
    "c=c.getAttribute('data-sort')||c.textContent;var r=a.localeCompare(c,undefined,"
    "{numeric:true});return up?r:-r;});rows.forEach(function(r){body.appendChild(r);});"
    "});});});})();"
)


def sort_script_hash() -> str:
    """The CSP source that allows :data:`SORT_SCRIPT` and nothing else (hashlib is imported
    only for a list report)."""
    import base64
    import hashlib

    digest = hashlib.sha256(SORT_SCRIPT.encode()).digest()
    return "sha256-" + base64.b64encode(digest).decode()


def csp(with_script: bool) -> str:
    script = f"'{sort_script_hash()}'" if with_script else "'none'"
    return (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src {script}; base-uri 'none'; form-action 'none'"
    )


STYLE = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Noto Sans Thai",
  "Sarabun", "Leelawadee UI", Tahoma, "Loma", "Garuda", "DejaVu Sans", sans-serif;
  line-height: 1.5; color: #1b1b1b; background: #fff; margin: 0 auto; max-width: 62rem;
  padding: 1rem 1.25rem 3rem; }
h1 { font-size: 1.6rem; margin: .5rem 0; }
h2 { font-size: 1.3rem; margin: 2rem 0 .5rem; border-bottom: 2px solid #888; }
h3 { font-size: 1.1rem; margin: 1.4rem 0 .4rem; }
h4 { font-size: 1rem; margin: 1rem 0 .3rem; }
p.note { color: #444; font-size: .92rem; }
.ok { color: #0b6b20; } .warn { color: #8a5300; } .bad { color: #a11212; }
.banner { border: 3px solid #666; border-left-width: 12px; padding: .6rem 1rem;
  margin: .6rem 0 1rem; background: #f6f6f6; }
.banner.tone-ok { border-color: #1f8a3a; background: #eef8f0; }
.banner.tone-warn { border-color: #c07a00; background: #fff7e6; border-style: dashed; }
.banner.tone-bad { border-color: #b81d1d; background: #fdeeee; border-style: double; }
.banner .verdict { font-size: 1.25rem; font-weight: 700; margin: 0 0 .3rem; }
.icon { display: inline-block; min-width: 1.3em; text-align: center; }
dl { margin: .3rem 0; display: grid; grid-template-columns: minmax(8rem, max-content) 1fr;
  gap: .15rem 1rem; }
dt { font-weight: 600; } dd { margin: 0; overflow-wrap: anywhere; }
dl.plain dt:empty { display: none; } dl.plain dt:empty + dd { grid-column: 1 / 3; }
table { border-collapse: collapse; margin: .4rem 0 1rem; width: 100%; font-size: .92rem; }
th, td { border: 1px solid #bbb; padding: .25rem .5rem; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; }
th { background: #eee; }
th button { font: inherit; font-weight: 700; background: none; border: 0; padding: 0;
  cursor: pointer; text-decoration: underline dotted; }
th[aria-sort=ascending] button::after { content: " \\25B2"; }
th[aria-sort=descending] button::after { content: " \\25BC"; }
.transcript { border: 1px solid #ccc; background: #fafafa; margin: .4rem 0 1rem; }
.step { border-top: 1px solid #e2e2e2; padding: .2rem .5rem; }
.step:first-child { border-top: 0; }
.step.deciding { background: #fff3c4; border: 2px solid #8a5300; }
.step .mark { font-weight: 700; font-size: .85rem; }
.step pre, pre.text { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere;
  font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .85rem; }
pre.text { border: 1px solid #ccc; background: #fafafa; padding: .4rem .6rem; }
.line-sent { color: #0d4f8b; } .line-error { color: #a11212; font-weight: 700; }
.line-note { color: #444; font-style: italic; }
.ms { color: #555; font-size: .8rem; }
svg.timeline { display: block; max-width: 100%; height: auto; margin: .3rem 0; }
footer { margin-top: 2rem; font-size: .85rem; color: #555; }
@media print {
  body { max-width: none; padding: 0; font-size: 10.5pt; color: #000; }
  .banner, .transcript, table, pre.text, svg.timeline { break-inside: avoid; }
  .banner { background: none !important; }
  .step.deciding { background: none; }
  th button { text-decoration: none; }
  a { color: #000; text-decoration: none; }
  h2, h3, h4 { break-after: avoid; }
  section { break-before: auto; }
}
"""


def to_html(report: Report) -> str:
    lang = esc(report.lang)
    policy = csp(report.sortable)  # our own constant: nothing in it needs escaping
    assert not set(policy) & set('"<>&'), policy
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{lang}">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">',
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="smtpdiag">',
        f"<title>{esc(report.title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        "<main>",
    ]
    for block in report.blocks:
        parts.append(_block(block))
    parts.append("</main>")
    if report.sortable:
        parts.append(f"<script>{SORT_SCRIPT}</script>")
    parts.append("</body>")
    parts.append("</html>")
    return "\n".join(parts) + "\n"


def _block(block: Any) -> str:
    if isinstance(block, Heading):
        level = min(max(block.level, 1), 6)
        anchor = f' id="{esc(block.anchor)}"' if block.anchor else ""
        return f"<h{level}{anchor}>{esc(block.text)}</h{level}>"
    if isinstance(block, Para):
        role = f' class="{esc(block.role)}"' if block.role else ""
        return f"<p{role}>{_marked(block.role)}{esc(block.text)}</p>"
    if isinstance(block, Facts):
        return _facts(block.items)
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Banner):
        return _banner(block)
    if isinstance(block, Transcript):
        return _transcript(block)
    if isinstance(block, Timeline):
        return timeline_svg(block)
    if isinstance(block, Pre):
        return f'<pre class="text">{esc(chr(10).join(block.lines))}</pre>'
    if isinstance(block, Section):
        anchor = f' id="{esc(block.anchor)}"' if block.anchor else ""
        inner = "\n".join(_block(b) for b in block.blocks)
        return f"<section{anchor}>\n{inner}\n</section>"
    return ""


#: a word for a warning or an error, so that colour is never the only signal
_MARKS = {"warn": "\u26a0 ", "bad": "\u2716 "}


def _marked(role: str) -> str:
    mark = _MARKS.get(role)
    return f'<span class="icon" aria-hidden="true">{esc(mark)}</span>' if mark else ""


def _facts(items: tuple[tuple[str, str], ...]) -> str:
    rows = []
    for label, value in items:
        rows.append(f"<dt>{esc(label)}</dt><dd>{esc(value)}</dd>")
    return '<dl class="plain">' + "".join(rows) + "</dl>"


def _cell(cell: Cell, tag: str = "td") -> str:
    attrs = ""
    if cell.sort is not None:
        attrs += f' data-sort="{esc(cell.sort)}"'
    if cell.role:
        attrs += f' class="{esc(cell.role)}"'
    text = esc(cell.text)
    if cell.link:
        text = f'<a href="#{esc(cell.link)}">{text}</a>'
    return f"<{tag}{attrs}>{text}</{tag}>"


def _table(table: Table) -> str:
    cls = ' class="sortable"' if table.sortable else ""
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in table.headers)
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in table.rows)
    caption = f"<caption>{esc(table.caption)}</caption>" if table.caption else ""
    return f"<table{cls}>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _banner(b: Banner) -> str:
    icon = f'<span class="icon" aria-hidden="true">{esc(b.icon)}</span>'
    return (
        f'<div class="banner tone-{esc(b.tone)}" role="note">'
        f'<p class="verdict">{icon} {esc(b.label)}</p>{_facts(b.facts)}</div>'
    )


_ARROWS = {"sent": "\u2192 C: ", "received": "\u2190 S: ", "error": "!! ", "note": "   "}


def _transcript(tr: Transcript) -> str:
    out = ['<div class="transcript">']
    for step in tr.steps:
        cls = "step deciding" if step.deciding else "step"
        lines = []
        for line in step.lines:
            prefix = _ARROWS.get(line.kind, "")
            lines.append(f'<span class="line-{esc(line.kind)}">{esc(prefix + line.text)}</span>')
        mark = ""
        if step.deciding:
            mark = f'<div class="mark">\u25c6 {esc(tr.marker)}</div>'
        ms = f' <span class="ms">({esc(num(step.ms))} ms)</span>' if step.ms is not None else ""
        out.append(f'<div class="{cls}">{mark}<pre>{chr(10).join(lines)}</pre>{ms}</div>')
    out.append("</div>")
    return "\n".join(out)


_FILL = {"ok": "#2e8b57", "warn": "#d08a00", "bad": "#c0392b", "": "#7a7a7a"}
_SVG_WIDTH = 640


def timeline_svg(tl: Timeline) -> str:
    """A bar per step, its width proportional to the step's time, each with a <title>."""
    total = sum(b.ms for b in tl.bars)
    n = len(tl.bars)
    inner = _SVG_WIDTH - 2
    gaps = max(n - 1, 0)
    usable = max(inner - gaps, n)
    widths = [
        max(1.0, usable * (b.ms / total)) if total > 0 else usable / max(n, 1) for b in tl.bars
    ]
    scale = usable / sum(widths) if sum(widths) > usable else 1.0
    parts = [
        f'<svg class="timeline" role="img" '
        f'width="{_SVG_WIDTH}" height="46" viewBox="0 0 {_SVG_WIDTH} 46" '
        f'aria-label="{esc(tl.title)}">',
        f"<title>{esc(tl.title)}</title>",
    ]
    x = 1.0
    for bar, w in zip(tl.bars, widths, strict=True):
        w *= scale
        fill = _FILL.get(bar.tone, _FILL[""])
        label = f"{bar.label}: {num(bar.ms)} ms"
        parts.append(
            f'<g><title>{esc(label)}</title><rect x="{x:.1f}" y="4" width="{w:.1f}" '
            f'height="18" fill="{fill}" stroke="#222" stroke-width="0.5"></rect>'
        )
        if w >= 44:
            parts.append(
                f'<text x="{x + 2:.1f}" y="36" font-size="10" fill="#222">'
                f"{esc(bar.label[: max(int(w / 6), 1)])}</text>"
            )
        parts.append("</g>")
        x += w + 1
    parts.append("</svg>")
    return f"<p>{esc(tl.title)}</p>" + "".join(parts)
