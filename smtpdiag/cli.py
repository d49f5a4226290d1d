"""The ``smtpdiag`` command line: parse options, run, render, exit with a verdict code.

Heavy modules (aiosmtplib, dnspython, cryptography) are imported inside the commands,
so ``smtpdiag --help`` and ``--version`` start instantly.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import click

from smtpdiag import __version__
from smtpdiag.core.errors import SmtpdiagError

if TYPE_CHECKING:
    from smtpdiag.core.model import ProbeResult

EXIT_OK = 0
EXIT_UNDELIVERABLE = 1
EXIT_USAGE = 2
EXIT_TEMPORARY = 3
EXIT_UNKNOWN = 4
EXIT_EXPECTATION = 5

VERDICT_EXIT = {
    "deliverable": EXIT_OK,
    "accept-all": EXIT_OK,
    "undeliverable": EXIT_UNDELIVERABLE,
    "temporary": EXIT_TEMPORARY,
    "unknown": EXIT_UNKNOWN,
}
# With several addresses the worst result wins, in this order.
_SEVERITY = [EXIT_UNDELIVERABLE, EXIT_UNKNOWN, EXIT_TEMPORARY, EXIT_OK]

EXIT_CODES_HELP = """\b
Exit codes:
  0  deliverable or accept-all
  1  undeliverable (permanent refusal, null MX, no such domain)
  2  usage error (bad address or option; nothing was sent)
  3  temporary (4xx: greylisting, full server, try later)
  4  unknown (no server reachable, DNS failure, timeout; or a refusal about
     this tester: its IP, PTR or rate, port 25 blocked, the proxy; see
     blocked_side, and smtpdiag doctor)
  5  an expectation failed (--expect, or a verdict column in --file)
With several addresses the worst result wins (1, then 4, then 3); with
expectations only they count (0 or 5). --file with bad lines: 2 (after
probing the rest)."""


def exit_code(results: Sequence[ProbeResult]) -> int:
    return exit_code_of({r.verdict for r in results})


def exit_code_of(verdicts: Iterable[str]) -> int:
    """The worst verdict's exit code (1, then 4, then 3, then 0)."""
    codes = {VERDICT_EXIT[v] for v in verdicts}
    for code in _SEVERITY:
        if code in codes:
            return code
    return EXIT_OK


def _echo_usage_json(message: str, **fields: object) -> None:
    """A refusal of bad input as JSON (schema 2, error "usage"), for --format json."""
    from smtpdiag.core.model import SCHEMA_VERSION
    from smtpdiag.render.text import dumps

    doc = {"schema": SCHEMA_VERSION, **fields, "summary": message, "error": "usage"}
    click.echo(dumps({**doc, "exit_code": EXIT_USAGE}, indent=None))


def started() -> None:
    """Start-up is over: freeze what it built and turn the garbage collector back on
    (the console script starts with it off, see :mod:`smtpdiag._entry`)."""
    import gc

    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _exit(code: int) -> None:
    """Exit fast: move every live object out of the garbage collector's reach first, so
    that interpreter shutdown does not walk them all (saves ~20 ms per run)."""
    import gc

    gc.freeze()
    sys.exit(code)


def _fail(message: str) -> None:
    """One line on stderr, exit 2: for bad input, never a traceback."""
    click.echo(f"smtpdiag: error: {message}", err=True)
    sys.exit(EXIT_USAGE)


#: the formats of a report to hand over (smtpdiag/render/report.py, imported only for them)
REPORT_FORMATS = ("html", "markdown")


def _echo_report(docs: Sequence[dict[str, Any]], fmt: str, lang: str) -> None:
    """Schema-2 documents as one HTML or Markdown report on stdout."""
    from smtpdiag.render.report import render
    from smtpdiag.render.text import json_safe

    click.echo(render([json_safe(doc) for doc in docs], fmt, lang), nl=False)


def _use_colour(flag: bool | None) -> bool:
    if flag is not None:
        return flag
    if os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


def default_language() -> str:
    """SMTPDIAG_LANG, else the locale (LC_ALL, LC_MESSAGES, LANG), else English."""
    from smtpdiag.core import catalog

    available = catalog.available_languages()
    explicit = os.environ.get("SMTPDIAG_LANG", "").strip().lower()
    if explicit:
        return explicit
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var, "")
        if value:
            code = value.split(".")[0].split("_")[0].lower()
            return code if code in available else "en"
    return "en"


def _check_lang(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
    from smtpdiag.core import catalog

    lang = (value or default_language()).lower()
    available = catalog.available_languages()
    if lang not in available:
        where = "--lang" if value else "SMTPDIAG_LANG"
        raise click.BadParameter(
            f"{lang!r} is not available; use one of: {', '.join(available)}", param_hint=where
        )
    return lang


def dns_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--resolver and --dns-timeout, shared by the commands that query DNS."""
    func = _float_option("--dns-timeout", default=5.0, help="Seconds to wait for each DNS query.")(
        func
    )
    return click.option(
        "--resolver",
        "resolvers",
        multiple=True,
        metavar="IP[:PORT]",
        envvar="SMTPDIAG_RESOLVER",
        help="DNS server to ask (repeatable; or $SMTPDIAG_RESOLVER, space-separated). "
        "Default: the system resolver.",
    )(func)


def dnssec_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--dnssec and --trust-anchor: how DANE's TLSA records are trusted (probe, auth)."""
    func = click.option(
        "--trust-anchor",
        metavar="FILE",
        help="DS or DNSKEY records (zone-file lines) to validate DNSSEC from. Default: the "
        "IANA root KSK.",
    )(func)
    return click.option(
        "--dnssec",
        type=click.Choice(["validate", "trust-ad"]),
        default="validate",
        show_default=True,
        help="How DANE's TLSA records are trusted: validate DNSSEC here from --trust-anchor, "
        "or believe the AD bit of the resolver (only a validating resolver you trust).",
    )(func)


def connect_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """-4, -6, --source-address, --proxy and --public-ip: how this host reaches the MX
    hosts, shared by probe and doctor."""
    options = [
        click.option("-4", "ipv4", is_flag=True, help="Connect over IPv4 only."),
        click.option("-6", "ipv6", is_flag=True, help="Connect over IPv6 only."),
        click.option("--source-address", metavar="IP", help="Local address to connect from."),
        click.option(
            "--proxy",
            metavar="URL",
            envvar="SMTPDIAG_PROXY",
            help="Connect through a proxy: socks5://[user:pass@]host:port, socks5h:// (the "
            "proxy resolves the MX names), socks4://, socks4a://, or http:// (CONNECT). Also "
            "$SMTPDIAG_PROXY. For a network that blocks outbound port 25.",
        ),
        click.option(
            "--public-ip",
            metavar="IP",
            help="The address the world sees this host as (behind NAT): what the reverse "
            "DNS and blocklist checks ask about.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _families(ipv4: bool, ipv6: bool) -> tuple[int, ...]:
    """-4 and -6: the address families to connect over (both flags, or neither: both)."""
    if ipv4 and not ipv6:
        return (4,)
    if ipv6 and not ipv4:
        return (6,)
    return (4, 6)


dkim_selector_option = click.option(
    "--dkim-selector",
    "dkim_selectors",
    multiple=True,
    metavar="SELECTOR",
    help="DKIM selector to check (repeatable), besides the common ones.",
)


def lang_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--lang",
        metavar="en|th",
        callback=_check_lang,
        help="Language of explanations and headings. Default: $SMTPDIAG_LANG, else the locale.",
    )(func)


def _float_option(
    *names: str, default: float, help: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(*names, type=float, default=default, show_default=True, help=help)


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP)
@click.version_option(__version__, "-V", "--version", prog_name="smtpdiag")
def main() -> None:
    """Diagnose email delivery: talk SMTP to a recipient's mail server and explain
    every reply. A probe stops after RCPT TO: it never sends DATA, so no mail is
    delivered.

    \b
    Start with:   smtpdiag demo
    Then:         smtpdiag probe user@example.com
    """


@main.command(epilog=EXIT_CODES_HELP)
@click.argument("addresses", nargs=-1, metavar="ADDRESS...")
@click.option(
    "--file",
    "list_file",
    metavar="FILE",
    help="Probe the addresses in FILE ('-': stdin): one per line, '#' comments, an optional "
    "second column with the expected verdict; CSV when FILE ends in .csv or with --column.",
)
@click.option("--column", metavar="NAME", help="CSV: the column holding the addresses.")
@click.option(
    "--from",
    "mail_from",
    default="",
    metavar="ADDRESS",
    help="MAIL FROM address. Default: the null sender <>.",
)
@click.option(
    "--helo", metavar="NAME", help="Name to send in EHLO/HELO. Default: this host's FQDN."
)
@click.option("--server", metavar="HOST[:PORT]", help="Talk to this server; skip the MX lookup.")
@click.option("--port", type=int, default=25, show_default=True, help="SMTP port of the MX hosts.")
@dns_options
@_float_option("--timeout", default=30.0, help="Seconds to wait for each SMTP reply.")
@_float_option("--deadline", default=120.0, help="Seconds for the whole probe of one address.")
@connect_options
@click.option(
    "--transport",
    is_flag=True,
    help="Check transport security: MTA-STS (the _mta-sts record, the policy file, every MX "
    "against it), DANE (each MX's DNSSEC-signed TLSA records) and TLS-RPT, against the "
    "certificate each live session showed. Runs by itself when TLS decided.",
)
@click.option("--mta-sts-port", type=int, default=443, hidden=True)  # test rigs only
@dnssec_options
@click.option(
    "--starttls",
    type=click.Choice(["auto", "require", "never"]),
    default="auto",
    show_default=True,
    help="Use STARTTLS when offered, insist on it, or never.",
)
@click.option(
    "--ca-file",
    type=click.Path(exists=True, dir_okay=False),
    help="Verify TLS certificates against this CA bundle instead of the system's.",
)
@click.option(
    "--catch-all/--no-catch-all",
    default=True,
    show_default=True,
    help="Also try a random address in the same domain to detect catch-all servers.",
)
@click.option(
    "--pipelining/--no-pipelining",
    default=True,
    show_default=True,
    help="When the server offers PIPELINING (RFC 2920), send MAIL, RCPT and QUIT in one "
    "flight. --no-pipelining waits for each reply, and skips the catch-all RCPT when the "
    "address itself was refused.",
)
@click.option(
    "--all-mx", is_flag=True, help="Probe every MX host, not just the first that answers."
)
@click.option(
    "--max-per-host",
    type=int,
    default=2,
    show_default=True,
    help="Sessions open at once to one server address (lists).",
)
@click.option(
    "--concurrency",
    type=int,
    default=50,
    show_default=True,
    help="Sessions open at once in all (lists).",
)
@click.option(
    "--rcpts-per-session",
    type=int,
    default=50,
    show_default=True,
    help="The most recipients one session carries (lists).",
)
@click.option(
    "--refusals-per-session",
    type=int,
    default=9,
    show_default=True,
    help="A session ends after this many refused RCPTs and the rest go to a new one "
    "(lists). 9 stays under Postfix's error limit (10): lower it for a server that "
    "slows down or disconnects sooner.",
)
@click.option("--rate", metavar="N/s", help="At most N addresses a second per domain (lists).")
@click.option(
    "--retry-temporary",
    metavar="SCHEDULE",
    is_flag=False,
    flag_value="60,300,900",
    default=None,
    help="Retry greylisted / 4xx results after these waits in seconds (default "
    "60,300,900), within --deadline.",
)
@click.option(
    "--expect",
    metavar="VERDICT",
    help="Exit 5 unless every address gets this verdict (or one of a|b); per-line "
    "verdicts in --file win.",
)
@click.option(
    "--order",
    type=click.Choice(["input", "completion"]),
    default=None,
    help="Output order. Default: input for text/json, completion for jsonl/csv.",
)
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    help="Write results to FILE instead of stdout (appends when it is the --resume file).",
)
@click.option(
    "--resume",
    metavar="FILE",
    help="Skip addresses already in FILE (a JSONL output of an earlier run).",
)
@click.option("--junit", metavar="FILE", help="Write JUnit XML: one testcase per address.")
@click.option(
    "--summary-md",
    metavar="FILE",
    help="Append a Markdown summary to FILE (e.g. $GITHUB_STEP_SUMMARY).",
)
@click.option(
    "--progress/--no-progress",
    default=True,
    show_default=True,
    help="Progress line on stderr (lists, only on a terminal).",
)
@click.option("--no-shuffle", is_flag=True, help="Keep MX hosts of equal preference in DNS order.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "jsonl", "csv", "html", "markdown"]),
    default="text",
    show_default=True,
    help="text: annotated transcript. json: one object per address. jsonl: one line per "
    "address, streamed. csv: one row per address. html, markdown: one report to hand over "
    "(a list: a summary table, then each address).",
)
@click.option(
    "--color/--no-color",
    "color",
    default=None,
    help="Colour the transcript. Default: only on a terminal, and never with NO_COLOR.",
)
@click.option(
    "--auth",
    "auth",
    is_flag=True,
    help="Always run the SPF/DMARC/DKIM/reverse-DNS/blocklist report (it runs by "
    "itself for 5xx and policy 4xx replies).",
)
@dkim_selector_option
@click.option(
    "--dnsbl",
    "dnsbls",
    multiple=True,
    metavar="ZONE",
    help="DNS blocklist to check the source IP on (repeatable; replaces the defaults).",
)
@lang_option
def probe(
    addresses: tuple[str, ...],
    mail_from: str,
    helo: str | None,
    server: str | None,
    port: int,
    resolvers: tuple[str, ...],
    dns_timeout: float,
    timeout: float,
    deadline: float,
    ipv4: bool,
    ipv6: bool,
    source_address: str | None,
    proxy: str | None,
    public_ip: str | None,
    transport: bool,
    mta_sts_port: int,
    dnssec: str,
    trust_anchor: str | None,
    starttls: str,
    ca_file: str | None,
    catch_all: bool,
    pipelining: bool,
    all_mx: bool,
    max_per_host: int,
    concurrency: int,
    rcpts_per_session: int,
    refusals_per_session: int,
    rate: str | None,
    retry_temporary: str | None,
    expect: str | None,
    order: str | None,
    output: str | None,
    resume: str | None,
    junit: str | None,
    summary_md: str | None,
    progress: bool,
    list_file: str | None,
    column: str | None,
    no_shuffle: bool,
    fmt: str,
    color: bool | None,
    auth: bool,
    dkim_selectors: tuple[str, ...],
    dnsbls: tuple[str, ...],
    lang: str,
) -> None:
    """Probe ADDRESS: find its MX, hold an SMTP session up to RCPT TO, explain each reply.

    \b
    Examples:
      smtpdiag probe user@example.com
      smtpdiag probe --format json user@example.com | jq .verdict
      smtpdiag probe --server mx.example.com:2525 --no-catch-all user@example.com
      smtpdiag probe --resolver 127.0.0.1:5300 --port 2525 user@test.example
      smtpdiag probe --file list.txt --format jsonl -o results.jsonl --junit junit.xml
    """
    import dataclasses

    from smtpdiag.core.addresses import parse_address
    from smtpdiag.core.errors import UsageError
    from smtpdiag.listrun import ListRun
    from smtpdiag.prober import ProbeOptions, check_options

    families = _families(ipv4, ipv6)
    opts = ProbeOptions(
        mail_from=mail_from,
        helo=helo,
        port=port,
        starttls=starttls,  # type: ignore[arg-type]
        timeout=timeout,
        deadline=deadline,
        resolvers=resolvers,
        dns_timeout=dns_timeout,
        server=server,
        families=families,
        source_address=source_address,
        proxy=proxy or None,
        public_ip=public_ip,
        transport=transport,
        mta_sts_port=mta_sts_port,
        dnssec=dnssec,  # type: ignore[arg-type]
        trust_anchor=trust_anchor,
        catch_all=catch_all,
        pipelining=pipelining,
        all_mx=all_mx,
        max_per_host=max_per_host,
        concurrency=concurrency,
        rcpts_per_session=rcpts_per_session,
        refusals_per_session=refusals_per_session,
        shuffle=not no_shuffle,
        ca_file=ca_file,
        lang=lang,
        auth=auth,
        dkim_selectors=dkim_selectors,
        dnsbls=dnsbls or None,
    )
    listing = ListRun(
        fmt=fmt,
        order=order or ("input" if fmt in ("text", "json") else "completion"),
        output=output,
        resume=resume,
        junit=junit,
        summary_md=summary_md,
        progress=progress,
        colour=_use_colour(color) if output is None else False,
        lang=lang,
    )
    try:
        if rate is not None or retry_temporary is not None:
            from smtpdiag.core.listinput import parse_rate, parse_schedule

            opts = dataclasses.replace(
                opts,
                rate=parse_rate(rate) if rate is not None else None,
                retry_temporary=parse_schedule(retry_temporary) if retry_temporary else (),
            )
        check_options(opts)
        if expect is not None:
            from smtpdiag.core.listinput import parse_expect

            listing.expect = parse_expect(expect)
        if server:
            from smtpdiag.core.addresses import parse_host_port

            parse_host_port(server, port)
        if resolvers:
            from smtpdiag.prober import parse_resolvers

            parse_resolvers(resolvers)
        if list_file is None and not addresses:
            raise UsageError("give ADDRESS... or --file FILE (try: smtpdiag probe --help)")
        if list_file is not None and addresses:
            raise UsageError("give ADDRESS... or --file FILE, not both")
        if list_file is not None:
            listing.read_file(list_file, column)
        else:
            parsed = []
            for address in addresses:
                try:
                    parsed.append(parse_address(address))
                except SmtpdiagError as exc:
                    if fmt in ("json", "jsonl"):  # machines get the refusal as JSON too
                        _echo_usage_json(str(exc), address=address, verdict=None, reason="syntax")
                    raise
            listing.set_addresses(addresses, parsed)
        listing.open_outputs()
    except SmtpdiagError as exc:
        _fail(_as_flags(exc))
        return
    if len(listing.entries) == 1 and listing.plain_single():
        results = _run_probes(listing.parsed, opts)
        _print_results(results, fmt, listing.colour, lang)
        _exit(exit_code(results))
    started()
    try:
        import asyncio

        code = asyncio.run(listing.run(opts))
    except KeyboardInterrupt:
        listing.interrupted()
        click.echo("smtpdiag: interrupted; results so far are written", err=True)
        sys.exit(130)
    _exit(code)


#: ProbeOptions fields whose command-line flag is not simply --field-name
_FLAGS = {"mail_from": "--from", "resolvers": "--resolver", "families": "-4/-6"}


def _as_flags(exc: SmtpdiagError) -> str:
    """The library names ProbeOptions' fields ("port 0: ..."); the CLI names its flags."""
    text = str(exc)
    option = str(getattr(exc, "option", None) or "")
    if option and text.startswith(option):
        flag = _FLAGS.get(option, "--" + option.replace("_", "-"))
        return flag + text[len(option) :].removeprefix(":" if option == "mail_from" else "")
    return text


def _run_probes(parsed: Sequence[Any], opts: Any) -> list[ProbeResult]:
    import asyncio

    from smtpdiag.prober import probe_many

    started()
    try:
        return asyncio.run(probe_many(parsed, opts))
    except SmtpdiagError as exc:
        _fail(str(exc))
        raise AssertionError("unreachable") from exc
    except KeyboardInterrupt:
        click.echo("smtpdiag: interrupted", err=True)
        sys.exit(130)


def _print_results(results: Sequence[ProbeResult], fmt: str, colour: bool, lang: str) -> None:
    from smtpdiag.render import text as render

    if fmt == "json":
        indent = 2 if len(results) == 1 else None
        for r in results:
            click.echo(render.to_json(r, indent=indent, lang=lang))
        return
    style = render.colour if colour else render.plain
    for i, r in enumerate(results):
        if i:
            click.echo("")
        click.echo(render.render_text(r, style, lang), color=colour)


@main.command()
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option("--color/--no-color", "color", default=None, help="Colour the transcripts.")
@lang_option
def demo(fmt: str, color: bool | None, lang: str) -> None:
    """Run probes against built-in fake DNS and mail servers on loopback (no network).

    Shows an accepted mailbox, an unknown user, greylisting, a null MX, MX failover,
    STARTTLS, a catch-all server, an implicit MX and a missing domain, each with its
    annotated transcript. Exits 0 when every scenario gives the expected verdict.
    """
    from smtpdiag.demo import run_demo

    started()
    _exit(run_demo(fmt, _use_colour(color), lang))


STAGES = ["banner", "ehlo", "starttls", "auth", "mail", "rcpt", "data"]
AUTH_EXIT_HELP = """\b
Exit codes:
  0  SPF pass, neutral or none (or not evaluated), not listed on a blocklist
  1  SPF fail, softfail or permerror, or the IP is on a blocklist
  2  usage error
  3  SPF temperror (DNS trouble: try again)"""


def _lenient_name(value: str, what: str, fmt: str = "text", spaces: bool = True) -> str:
    """Names for `auth` are checked only for what no SMTP line could carry (CR, LF, NUL,
    bytes that are not UTF-8): a receiver can see a MAIL FROM "Macro Error@host" or a
    HELO "JUMPIN' JUPITER", and RFC 7208 evaluates them (to "none" or a result)."""
    bad = [c for c in value if c in "\r\n\0" or 0xD800 <= ord(c) <= 0xDFFF]
    if not spaces and any(c.isspace() for c in value):
        _refuse(f"{what} {value!r} contains spaces: give a domain name", fmt)
    if bad or len(value) > 1024:
        why = (
            "is over 1024 characters"
            if len(value) > 1024
            else "contains CR, LF, NUL or bytes that are not UTF-8"
        )
        shown = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        _refuse(f"{what} {shown!r} {why}", fmt)
    return value


def _refuse(message: str, fmt: str) -> None:
    """Bad input: one line on stderr, or with --format json a JSON refusal; exit 2."""
    if fmt == "json":
        _echo_usage_json(message)
        sys.exit(EXIT_USAGE)
    _fail(message)


@main.command(epilog=AUTH_EXIT_HELP)
@click.argument("domain")
@click.option("--ip", metavar="IP", help="Evaluate SPF, reverse DNS and blocklists for this IP.")
@click.option(
    "--mail-from",
    "mail_from",
    metavar="ADDRESS",
    default=None,
    help='The MAIL FROM address SPF checks ("" for the null sender: then '
    "postmaster@HELO). Default: postmaster@DOMAIN.",
)
@click.option("--helo", metavar="NAME", default="", help="The EHLO/HELO name.")
@dkim_selector_option
@click.option("--no-common-selectors", is_flag=True, help="Check only the selectors given.")
@click.option(
    "--dnsbl",
    "dnsbls",
    multiple=True,
    metavar="ZONE",
    help="DNS blocklist to check --ip on (repeatable; replaces the defaults).",
)
@dns_options
@dnssec_options
@click.option("--no-dane", is_flag=True, help="Skip the MX hosts' TLSA (DANE) records.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "html", "markdown"]),
    default="text",
    show_default=True,
    help="html, markdown: a report to hand over.",
)
@click.option("--color/--no-color", "color", default=None, help="Colour the report.")
@lang_option
def auth(
    domain: str,
    ip: str | None,
    mail_from: str | None,
    helo: str,
    dkim_selectors: tuple[str, ...],
    no_common_selectors: bool,
    dnsbls: tuple[str, ...],
    resolvers: tuple[str, ...],
    dns_timeout: float,
    dnssec: str,
    trust_anchor: str | None,
    no_dane: bool,
    fmt: str,
    color: bool | None,
    lang: str,
) -> None:
    """Check the SPF, DMARC, DKIM, reverse DNS and blocklist standing of DOMAIN, and its
    MTA-STS, TLS-RPT and DANE (TLSA, DNSSEC) records.

    With --ip, SPF is evaluated (RFC 7208 check_host) with a full trace, and the IP's
    reverse DNS and blocklist listings are checked. Without it, the SPF record is walked
    and checked (syntax, lookup count, +all, ptr, size) but not evaluated.

    \b
    Examples:
      smtpdiag auth example.com
      smtpdiag auth example.com --ip 203.0.113.5 --mail-from bounce@example.com
      smtpdiag auth example.com --ip 203.0.113.5 --mail-from "" --helo mail.example.com
      smtpdiag auth example.com --dkim-selector s2024 --format json
    """
    import asyncio

    from smtpdiag.auth.checks import check_auth
    from smtpdiag.render import text as render
    from smtpdiag.render.auth import auth_dict, render_auth

    _lenient_name(domain, "DOMAIN", fmt, spaces=False)
    if mail_from:
        _lenient_name(mail_from, "--mail-from", fmt)
    if helo:
        _lenient_name(helo, "--helo", fmt)
    started()
    try:
        report = asyncio.run(
            check_auth(
                domain,
                ip=ip,
                mail_from=mail_from,
                helo=helo,
                resolvers=resolvers,
                dns_timeout=dns_timeout,
                dkim_selectors=dkim_selectors,
                dnsbls=dnsbls or None,
                common_selectors=not no_common_selectors,
                dane=not no_dane,
                dnssec=dnssec,
                trust_anchor=trust_anchor,
                lang=lang,
            )
        )
    except SmtpdiagError as exc:
        _refuse(_as_flags(exc), fmt)
        return
    if fmt in ("json", *REPORT_FORMATS):
        doc = auth_dict(report)
        assert doc is not None
        from smtpdiag.core.model import SCHEMA_VERSION

        if fmt == "json":
            click.echo(render.dumps({"schema": SCHEMA_VERSION, **doc}))
        else:
            _echo_report([{"schema": SCHEMA_VERSION, **doc}], fmt, lang)
    else:
        colour = _use_colour(color)
        style = render.colour if colour else render.plain
        click.echo("\n".join(render_auth(report, style, None, lang)), color=colour)
    spf_result = report.spf.result if report.spf and report.spf_evaluated else None
    if spf_result == "temperror":
        _exit(EXIT_TEMPORARY)
    if spf_result in ("fail", "softfail", "permerror") or any(b.listed for b in report.dnsbl):
        _exit(EXIT_UNDELIVERABLE)
    _exit(EXIT_OK)


DOCTOR_EXIT_HELP = """\b
Exit codes:
  0  nothing wrong found on this host or network
  1  a problem on this side: port 25 blocked, no or unconfirmed reverse DNS,
     a blocklist listing, the proxy failing
  2  usage error
  4  the resolver does not answer: nothing could be checked"""


@main.command(epilog=DOCTOR_EXIT_HELP)
@click.argument("domain", required=False)
@click.option("--helo", metavar="NAME", help="Name to send in EHLO. Default: this host's FQDN.")
@click.option("--port", type=int, default=25, show_default=True, help="SMTP port of the MX hosts.")
@dns_options
@_float_option("--timeout", default=10.0, help="Seconds to wait to connect and for each reply.")
@connect_options
@click.option(
    "--dnsbl",
    "dnsbls",
    multiple=True,
    metavar="ZONE",
    help="DNS blocklist to check (repeatable; replaces the defaults).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option("--color/--no-color", "color", default=None, help="Colour the report.")
@lang_option
def doctor(
    domain: str | None,
    helo: str | None,
    port: int,
    resolvers: tuple[str, ...],
    dns_timeout: float,
    timeout: float,
    ipv4: bool,
    ipv6: bool,
    source_address: str | None,
    proxy: str | None,
    public_ip: str | None,
    dnsbls: tuple[str, ...],
    fmt: str,
    color: bool | None,
    lang: str,
) -> None:
    """Is it me? Check this host and network before blaming a recipient: the resolver,
    outbound port 25 to DOMAIN's MX hosts (greeting and EHLO only, no mail), the address
    the servers see (NAT), its reverse DNS and the HELO name, and DNS blocklists.

    \b
    Examples:
      smtpdiag doctor gmail.com
      smtpdiag doctor example.com --public-ip 203.0.113.7 --format json
      smtpdiag doctor example.com --proxy socks5://127.0.0.1:1080
    """
    import asyncio

    from smtpdiag.core.addresses import normalize_domain
    from smtpdiag.core.errors import UsageError
    from smtpdiag.doctor import run_doctor
    from smtpdiag.prober import ProbeOptions, check_options
    from smtpdiag.render import text as render
    from smtpdiag.render.doctor import doctor_dict, render_doctor

    families = _families(ipv4, ipv6)
    opts = ProbeOptions(
        helo=helo,
        port=port,
        timeout=timeout,
        deadline=max(timeout * 3, 10.0),
        resolvers=resolvers,
        dns_timeout=dns_timeout,
        families=families,
        source_address=source_address,
        proxy=proxy or None,
        public_ip=public_ip,
        dnsbls=dnsbls or None,
        lang=lang,
    )
    try:
        check_options(opts)
        if domain is not None:
            domain = normalize_domain(_lenient_name(domain, "DOMAIN", fmt, spaces=False))[0]
    except UsageError as exc:
        _refuse(_as_flags(exc), fmt)
        return
    started()
    try:
        report = asyncio.run(run_doctor(domain, opts))
    except SmtpdiagError as exc:
        _refuse(_as_flags(exc), fmt)
        return
    if fmt == "json":
        click.echo(render.dumps(doctor_dict(report)))
    else:
        colour = _use_colour(color)
        style = render.colour if colour else render.plain
        click.echo(render_doctor(report, style), nl=False, color=colour)
    _exit(report.exit_code)


def _explain_tls_report(path: str, fmt: str, color: bool | None, lang: str) -> None:
    from smtpdiag.core.errors import UsageError
    from smtpdiag.core.tlsrpt import MAX_REPORT_BYTES, read_report, summarise
    from smtpdiag.render import text as render
    from smtpdiag.render.tlsrpt import render_report, report_dict

    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_REPORT_BYTES + 1)
        else:
            with open(path, "rb") as fh:
                data = fh.read(MAX_REPORT_BYTES + 1)
    except OSError as exc:
        _refuse(f"--tls-report {path}: {exc.strerror or exc}", fmt)
        return
    try:
        report = summarise(read_report(data), lang)
    except UsageError as exc:
        _refuse(f"--tls-report {path}: {exc}", fmt)
        return
    if fmt == "json":
        click.echo(render.dumps(report_dict(report)))
    else:
        colour = _use_colour(color)
        style = render.colour if colour else render.plain
        click.echo(render_report(report, style, lang), nl=False, color=colour)
    _exit(EXIT_UNDELIVERABLE if report.failures else EXIT_OK)


MAX_STDIN = 1_000_000
EXPLAIN_EXIT_HELP = """\b
Exit codes:
  0  explained (for a message: whatever it turned out to be, see "kind");
     --tls-report: no session failed
  1  --tls-report: some sessions failed TLS
  2  usage error: nothing to explain, or the file cannot be read"""

#: a pasted whole message: it starts with header fields (Received:, From:, Return-Path: ...)
_MESSAGE_START = (
    "return-path:",
    "received:",
    "from:",
    "delivered-to:",
    "x-",
    "mime-version:",
    "date:",
    "message-id:",
    "to:",
    "subject:",
    "content-type:",
    "arc-",
    "dkim-signature:",
    "authentication-results:",
    "x-failed-recipients:",
    "envelope-to:",
    "from ",
)


def _looks_like_message(text: str) -> bool:
    head = text.lstrip()[:2000].lower()
    return head.startswith(_MESSAGE_START) and ("\n\n" in text or "\r\n\r\n" in text)


def _names_a_message_file(arg: str) -> bool:
    """``explain bounce.eml``: an existing file (or a name that looks like a saved
    message, so that a typo gets "no such file", not an explanation of the file name)."""
    from smtpdiag.core.explanation import code_kind

    if arg == "-" or code_kind(arg) or "\n" in arg:
        return False
    return os.path.isfile(arg) or arg.lower().endswith((".eml", ".msg", ".mbox"))


def _read_message(path: str) -> tuple[bytes, int]:
    """The first MAX_MESSAGE bytes of FILE (or stdin for -), and the whole size."""
    from smtpdiag.core.bounce import MAX_MESSAGE

    if path == "-":
        data = sys.stdin.buffer.read(MAX_MESSAGE + 1)
        size = len(data)
        if size > MAX_MESSAGE:  # drain the rest to learn the size, without keeping it
            while chunk := sys.stdin.buffer.read(1 << 20):
                size += len(chunk)
        return data[:MAX_MESSAGE], size
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_MESSAGE)
            size = os.fstat(fh.fileno()).st_size
    except IsADirectoryError:
        _fail(f"{path} is a directory: give a message file (.eml) or - for stdin")
    except FileNotFoundError:
        _fail(f"{path}: no such file (give a saved bounce, e.g. bounce.eml, or - for stdin)")
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror or exc}")
    return data, max(size, len(data))


@main.command(epilog=EXPLAIN_EXIT_HELP)
@click.argument("args", nargs=-1, metavar="CODE|TEXT|FILE...")
@click.option(
    "--message",
    "message",
    metavar="FILE",
    help="A whole bounce message (.eml, as saved from a mail client; - for stdin): "
    "its failed recipients and why each failed.",
)
@click.option(
    "--tls-report",
    "tls_report",
    metavar="FILE",
    help="An SMTP TLS report (RFC 8460: JSON, or .json.gz as providers send it; - for "
    "stdin): per policy and MX, the sessions that failed TLS and why.",
)
@click.option(
    "--stage",
    type=click.Choice(STAGES),
    help="Where the reply came from, when you know (a 550 to MAIL FROM is about the sender).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "html", "markdown"]),
    default="text",
    show_default=True,
    help="html, markdown: a report to hand over (not for --tls-report).",
)
@click.option("--color/--no-color", "color", default=None, help="Colour the headings.")
@lang_option
def explain(
    args: tuple[str, ...],
    message: str | None,
    tls_report: str | None,
    stage: str | None,
    fmt: str,
    color: bool | None,
    lang: str,
) -> None:
    """Explain a reply code (550), an enhanced code (5.7.26), a reply or bounce text, or a
    whole bounce message: who failed, what the server said, why, and what to do.

    \b
    Examples:
      smtpdiag explain 550 5.1.1
      smtpdiag explain "550 5.7.26 This mail has been blocked because the sender is unauthenticated"
      smtpdiag explain --stage mail "553 5.7.1 Sender address rejected"
      smtpdiag explain --message bounce.eml        (a bounce saved from a mail client)
      smtpdiag explain bounce.eml                  (the same: an existing file is read as one)
      pbpaste | smtpdiag explain -                 (a reply, or a whole bounce, from the clipboard)
    """
    from smtpdiag.core.explanation import code_kind
    from smtpdiag.core.explanation import explain as run_explain
    from smtpdiag.render import text as render
    from smtpdiag.render.explain import explanation_dict, render_explanation
    from smtpdiag.render.text import dumps

    if tls_report is not None:
        if args or message is not None:
            _fail("give --tls-report FILE alone")
        if fmt in REPORT_FORMATS:
            _fail(f"--tls-report has no {fmt} report: use --format text or json")
        _explain_tls_report(tls_report, fmt=fmt, color=color, lang=lang)
        return
    if message is None and len(args) == 1 and os.path.isdir(args[0]):
        _fail(f"{args[0]} is a directory: give a message file (.eml) or - for stdin")
    if message is None and len(args) == 1 and _names_a_message_file(args[0]):
        message, args = args[0], ()
    if message is not None:
        if args:
            _fail("give either --message FILE or codes / text, not both")
        _explain_message(*_read_message(message), fmt=fmt, color=color, lang=lang)
        return
    if not args:
        _fail(
            "nothing to explain: give a code such as 550 or 5.1.1, a reply text, or "
            "--message bounce.eml"
        )
    if args == ("-",):
        raw = sys.stdin.buffer.read(MAX_STDIN)
        from smtpdiag.core.bounce import decode_bytes

        text = decode_bytes(raw, None)
        if _looks_like_message(text):
            _explain_message(raw, len(raw), fmt=fmt, color=color, lang=lang)
            return
        items = [text]
    elif all(code_kind(a) for a in args):
        items = list(args)
    else:
        items = [" ".join(args)]  # an unquoted reply text: its words belong together
    if not any(item.strip() for item in items):
        _fail("nothing to explain: give a code such as 550 or 5.1.1, or a reply text")
    results = [run_explain(item, stage, lang) for item in items]
    if fmt in REPORT_FORMATS:
        _echo_report([explanation_dict(r, lang) for r in results], fmt, lang)
        return
    if fmt == "json":
        indent = 2 if len(results) == 1 else None
        for r in results:
            click.echo(dumps(explanation_dict(r, lang), indent))
        return
    colour = _use_colour(color)
    style = render.colour if colour else render.plain
    click.echo(
        "\n".join(render_explanation(r, lang, style) for r in results), nl=False, color=colour
    )


def _explain_message(data: bytes, size: int, fmt: str, color: bool | None, lang: str) -> None:
    from smtpdiag.core.explanation import explain_message
    from smtpdiag.render import text as render
    from smtpdiag.render.explain import message_dict, render_message

    if not data.strip():
        _fail("the message is empty: save the whole bounce (with its headers) and try again")
    result = explain_message(data, lang, size)
    if fmt in REPORT_FORMATS:
        _echo_report([message_dict(result, lang)], fmt, lang)
        return
    if fmt == "json":
        click.echo(render.dumps(message_dict(result, lang)))
        return
    colour = _use_colour(color)
    style = render.colour if colour else render.plain
    click.echo(render_message(result, lang, style), nl=False, color=colour)


REPORT_EXIT_HELP = """\b
Exit codes:
  0  the report was written
  2  usage error: a file that cannot be read, or holds no smtpdiag results"""

#: the most one RESULTS file may hold
MAX_RESULTS_BYTES = 256 * 1024 * 1024


def read_bounded(path: str, limit: int) -> bytes:
    """The bytes of ``path`` (``-``: stdin), at most ``limit + 1`` of them: the caller
    refuses more than ``limit`` instead of reading a huge file into memory. OSError as is."""
    if path == "-":
        return sys.stdin.buffer.read(limit + 1)
    with open(path, "rb") as fh:
        return fh.read(limit + 1)


def _read_results(path: str) -> str:
    try:
        data = read_bounded(path, MAX_RESULTS_BYTES)
    except IsADirectoryError:
        _fail(f"{path} is a directory: give a JSON or JSONL file of smtpdiag results")
    except FileNotFoundError:
        _fail(f"{path}: no such file")
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror or exc}")
    if len(data) > MAX_RESULTS_BYTES:
        _fail(f"{path}: larger than {MAX_RESULTS_BYTES >> 20} MB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        _fail(f"{path}: not UTF-8 (byte {exc.start}): give the JSON or JSONL output of smtpdiag")
        raise AssertionError("unreachable") from exc


@main.command(epilog=REPORT_EXIT_HELP)
@click.argument("results", nargs=-1, metavar="RESULTS...")
@click.option("-o", "--output", metavar="FILE", help="Write the report to FILE, not stdout.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(REPORT_FORMATS),
    default=None,
    help="Default: markdown when FILE ends in .md, else html.",
)
@lang_option
def report(results: tuple[str, ...], output: str | None, fmt: str | None, lang: str) -> None:
    """Turn saved results into one report to hand over: the JSON or JSONL of probe
    (one address or a list), explain --message and auth ('-': stdin).

    \b
    Examples:
      smtpdiag probe --file list.txt --format jsonl -o results.jsonl
      smtpdiag report results.jsonl -o report.html
      smtpdiag report results.jsonl -o report.md --lang th
      smtpdiag explain --message bounce.eml --format json | smtpdiag report - > bounce.html
    """
    from smtpdiag.render.report import (
        MAX_DETAILS,
        ReportInputError,
        kind,
        parse_documents,
        render,
        renderable,
        thin,
    )

    if not results:
        _fail("give RESULTS...: JSON or JSONL files of smtpdiag results ('-' for stdin)")
    if fmt is None:
        fmt = "markdown" if (output or "").lower().endswith((".md", ".markdown")) else "html"
    docs: list[Any] = []
    for path in results:
        try:
            found = parse_documents(_read_results(path), path)
        except ReportInputError as exc:
            _fail(str(exc))
            return
        if not renderable(found):
            kinds = sorted({kind(doc) for doc in found})
            _fail(
                f"{path}: no probe, message, auth or explain results in it "
                f"(found: {', '.join(kinds) or 'nothing'})"
            )
        # past the first MAX_DETAILS results, a probe keeps only its row of the table
        for doc in found:
            docs.append(doc if len(docs) < MAX_DETAILS else thin(doc))
    text = render(docs, fmt, lang)
    for k in sorted(
        {kind(doc) for doc in docs} - {"probe", "bad-line", "message", "auth", "explain"}
    ):
        click.echo(f"smtpdiag: note: {k} documents are not part of reports; left out", err=True)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        _fail(f"--output {output}: {exc.strerror or exc}")


@main.command()
@click.argument("code_a", metavar="CODE")
@click.argument("code_b", metavar="CODE")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option("--color/--no-color", "color", default=None, help="Colour the headings.")
@lang_option
def compare(code_a: str, code_b: str, fmt: str, color: bool | None, lang: str) -> None:
    """Compare two reply codes: what each means, when you see it, how to fix it, the key
    differences and which applies when.

    \b
    Examples:
      smtpdiag compare 221 550
      smtpdiag compare 450 550 --lang th
      smtpdiag compare 5.1.1 5.7.1 --format json
    """
    from smtpdiag.core.explanation import card, code_kind
    from smtpdiag.core.explanation import compare as run_compare
    from smtpdiag.render import text as render
    from smtpdiag.render.explain import comparison_dict, render_comparison
    from smtpdiag.render.text import dumps

    for code in (code_a, code_b):
        if not code_kind(code):
            _fail(
                f"{code!r} is not an SMTP code: give a reply code like 550 or an enhanced "
                "code like 5.1.1"
            )
        if card(code, lang) is None:
            _fail(
                f"{code} is not in the catalog: it is not a code SMTP defines "
                "(see smtpdiag explain)"
            )
    result = run_compare(code_a, code_b, lang)
    assert result is not None
    if fmt == "json":
        click.echo(dumps(comparison_dict(result, lang)))
        return
    colour = _use_colour(color)
    style = render.colour if colour else render.plain
    click.echo(render_comparison(result, lang, style), nl=False, color=colour)


if __name__ == "__main__":  # pragma: no cover
    main()
