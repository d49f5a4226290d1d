"""``smtpdiag demo``: start the built-in fake DNS and MX servers on loopback and probe
each scenario address, printing the annotated transcripts."""

from __future__ import annotations

import asyncio
import dataclasses
from importlib import resources

import click

from smtpdiag.core.model import ProbeResult
from smtpdiag.prober import ProbeOptions, probe
from smtpdiag.render import text as render
from smtpdiag.testing.rig import Rig, load_scenario


def demo_scenario_path() -> str:
    return str(resources.files("smtpdiag.testing").joinpath("demo", "demo.toml"))


def run_demo(fmt: str = "text", colour: bool = False, lang: str = "en") -> int:
    """Run every demo case; return 0 if each got its expected verdict and reason."""
    scenario = load_scenario(demo_scenario_path())
    with Rig(scenario) as rig:
        opts = ProbeOptions(
            resolvers=(rig.resolver,),
            port=rig.smtp_port,
            helo="probe.demo.test",
            shuffle=False,
            timeout=5.0,
            dns_timeout=2.0,
            deadline=20.0,
            ca_file=str(rig.ca_file) if rig.ca_file else None,
            lang=lang,
        )

        async def run_all() -> list[ProbeResult]:
            return [
                await probe(case.address, dataclasses.replace(opts, **case.options))
                for case in scenario.cases
            ]

        results = asyncio.run(run_all())
        forbidden = rig.forbidden_commands()
    style = render.colour if colour else render.plain
    failures = []
    for case, result in zip(scenario.cases, results, strict=True):
        ok = (result.verdict, result.reason) == (case.verdict, case.reason)
        if not ok:
            failures.append(
                f"{case.address}: expected {case.verdict}/{case.reason}, "
                f"got {result.verdict}/{result.reason}"
            )
        if fmt == "json":
            click.echo(render.to_json(result, indent=None, lang=lang))
            continue
        click.echo(style(f"=== {case.title} ===", "head"), color=colour)
        click.echo(render.render_text(result, style, lang), color=colour)
        click.echo("")
    if forbidden:
        failures.append(
            f"a fake server received {', '.join(forbidden)}: a probe must never send it"
        )
    if fmt != "json":
        click.echo(
            f"Demo: {len(results) - len(failures)} of {len(results)} scenarios gave the expected "
            "verdict. The fake servers ran on loopback; nothing left this machine."
        )
        click.echo("Next: smtpdiag probe user@your-domain   (needs outbound DNS and port 25)")
        click.echo("      smtpdiag doctor your-domain       (this host first: port 25, PTR, lists)")
    for failure in failures:
        click.echo(f"smtpdiag demo: unexpected result: {failure}", err=True)
    return 1 if failures else 0
