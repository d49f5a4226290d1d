"""Probing lists: many addresses, few sessions. Orchestration (async), like prober.py.

The scheduler groups addresses by their MX hosts and lets one SMTP session carry many
recipients: at most ``rcpts_per_session`` (50), and only until ``refusals_per_session`` (9)
of its RCPTs were refused. Servers count refused RCPTs as errors: Postfix sleeps before
every reply after 10 (``smtpd_soft_error_limit``) and disconnects at 20. A pipelined flight
carries no more RCPTs than may still be refused; the addresses a session did not get to go
back to the front of the queue for the next one. Around the sessions:

* **caps**: at most ``max_per_host`` sessions open at once to one server address, at most
  ``concurrency`` in all, and optionally at most ``rate`` addresses a second per domain;
* **one catch-all check per domain**: the first session of a domain carries the random
  recipient; the domain's other sessions wait for its answer, and every accepted address of
  the domain gets it;
* **failover**: an address whose session did not decide it (connection refused, timeout,
  4xx greeting) moves to the next MX address; an address found down is remembered for the
  run and not connected to again;
* **"try again"**: RCPTs answered 452 (too many recipients) and recipients a session closed
  before (421 mid-session) are sent again in a new session; a server that greets with 421
  (too many connections) is left alone for a while (backing off: 1 s, 2 s, 4 s ...);
* **greylisting**: with ``retry_temporary`` waits, an address whose result is "temporary"
  is tried again after each wait (the waits overlap with the rest of the run), as long as
  the address's ``deadline`` allows; earlier results stay in ``ProbeResult.retries``;
* **caches**: MX plans per domain, down hosts, the auth report per (sender domain, client
  IP): a thousand refusals cost one SPF/DMARC/DKIM/PTR/DNSBL report.

Results are yielded as they complete: ``(index, result)`` for each input position
(duplicates are probed once and yielded for every position).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime
import functools
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from smtpdiag.core.model import Address, Attempt, MxHost, MxPlan, ProbeResult, RecipientResult
from smtpdiag.core.records import evolve
from smtpdiag.io.smtp import Recipient, SessionOptions, run_session
from smtpdiag.prober import (
    HostLimits,
    ProbeOptions,
    _auth_domain,
    _warm_up,
    attribute_refusal,
    auth_report,
    client_ip,
    client_view,
    dane_checker,
    dane_limit,
    default_helo,
    fetch_dane,
    fetch_sts,
    fixed_plan,
    needs_auth,
    parse_resolvers,
    proxy_config,
    random_local_part,
    settle,
    tester_attempts,
    transport_report,
    with_finding,
)

#: how often a recipient is sent again after 452 / a session closed before its RCPT
MAX_REQUEUES = 4
#: ... and how often after a 421 greeting (too many connections), backing off each time
MAX_BUSY_REQUEUES = 10
#: a server that greets with 421 is left alone this long (doubling, at most BACKOFF_MAX)
BACKOFF_START = 1.0
BACKOFF_MAX = 30.0


@dataclasses.dataclass(eq=False)
class _Item:
    """One distinct address of the list, while it is being probed."""

    addr: Address
    key: str  # the domain: its catch-all check, its rate
    positions: list[int]
    target: _Target | None = None
    ip_index: int = 0  # the next server address of the target to try
    attempts: list[Attempt] = dataclasses.field(default_factory=list)
    requeues: int = 0
    started: float = 0.0  # monotonic, first session
    started_wall: str = ""
    deadline: float = 0.0
    retries: list[Any] = dataclasses.field(default_factory=list)
    #: connections a server turned away with 421 "too many connections" before this
    #: address was answered (not a verdict about it: backed off and sent again), and the
    #: first such greeting, for the summary
    turned_away: int = 0
    turned_away_by: Any = None


class _Domain:
    """Per-domain state: the catch-all check."""

    def __init__(self, name: str) -> None:
        # one random address per domain and run: a greylisting server lets it through on
        # the next session like any other address
        self.random = f"{random_local_part()}@{name}"
        self.catch_all: RecipientResult | None = None  # the random RCPT's yes (2xx) or no (5xx)
        self.checking = False  # a session carries the random RCPT now
        self.unfinished = 0  # addresses still in sessions (a later one may carry the check)
        self.parked: list[_Item] = []  # addresses held back while the check is answered
        self.changed = asyncio.Event()
        self.waiters = 0  # results waiting for the check's answer (woken on changes)


class _Target:
    """The addresses that share one MX plan, and the queue of those still to probe."""

    def __init__(self, plan: MxPlan) -> None:
        self.plan = plan
        self.ips: list[tuple[MxHost, str]] = [(h, ip) for h in plan.hosts for ip in h.addresses]
        self.queue: collections.deque[_Item] = collections.deque()
        self.wakeup = asyncio.Event()
        self.active = 0  # sessions running
        self.workers = 0


class Batch:
    """One run over a list of addresses (see the module's docstring)."""

    def __init__(self, opts: ProbeOptions) -> None:
        self.opts = opts
        #: --transport: each domain's MTA-STS and TLS-RPT records and policy, fetched once
        #: while its sessions run
        self.sts: dict[str, asyncio.Future[Any]] = {}
        #: and its MX hosts' DANE records (DNSSEC-checked), fetched once
        self.dane: dict[str, asyncio.Future[Any]] = {}
        self.dane_checker: Any = None
        self.helo = opts.helo or default_helo()
        self.rcpts = opts.rcpts_per_session
        self.refusals = opts.refusals_per_session
        self.rate = opts.rate
        self.schedule = opts.retry_temporary
        self.global_sem = asyncio.Semaphore(opts.concurrency)
        self.limits = HostLimits(opts.max_per_host)
        self.session_opts = SessionOptions(
            helo=self.helo,
            mail_from=opts.mail_from,
            starttls=opts.starttls,
            timeout=opts.timeout,
            source_address=opts.source_address,
            ca_file=opts.ca_file,
            pipelining=opts.pipelining,
            proxy=proxy_config(opts),
        )
        self.domains: dict[str, _Domain] = {}
        self.plans: dict[str, asyncio.Task[MxPlan]] = {}
        self.targets: dict[tuple[Any, ...], _Target] = {}
        self.down: dict[str, Attempt] = {}  # server address -> the attempt that found it down
        self.backoff: dict[str, tuple[float, float]] = {}  # ip -> (until, next delay)
        #: a server that ended a session early (421 after N answers, 452 after N
        #: recipients): its sessions carry fewer recipients from then on
        self.ip_rcpts: dict[str, int] = {}
        #: and one that closed a session with 421 after N refused RCPTs: at most N from then
        self.ip_refusals: dict[str, int] = {}
        #: sessions open now per server address, and a lower cap learned from a server
        #: that greeted one more with 421 (too many connections)
        self.live: dict[str, int] = collections.Counter()
        self.ip_cap: dict[str, int] = {}
        #: targets with addresses held back because a server address was at its cap (its
        #: sessions may belong to another target: failover hosts are shared): woken when
        #: one of its sessions ends
        self.waiting_for: dict[str, set[_Target]] = collections.defaultdict(set)
        self.next_free: dict[str, float] = {}  # domain -> when its rate allows the next
        self.auth_cache: dict[tuple[str, str | None], asyncio.Task[Any]] = {}
        self.out: asyncio.Queue[tuple[_Item, ProbeResult] | None] = asyncio.Queue()
        self.failure: BaseException | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self.resolver: Any = None
        self.lookup: Any = None
        self.sessions = 0  # sessions held (for the summary)
        #: domains with results waiting for their catch-all answer: woken at every
        #: session's end (only these: a list over thousands of domains has few waiting)
        self.awaiting: set[_Domain] = set()

    # -- the run -------------------------------------------------------------------------

    async def run(self, addresses: Sequence[Address]) -> AsyncIterator[tuple[int, ProbeResult]]:
        items: dict[str, _Item] = {}
        order: list[_Item] = []
        for i, addr in enumerate(addresses):
            item = items.get(addr.ascii)
            if item is None:
                key = addr.domain
                item = items[addr.ascii] = _Item(addr, key, [i])
                order.append(item)
                self.domains.setdefault(key, _Domain(addr.domain))
                self.domains[key].unfinished += 1
            else:
                item.positions.append(i)
        remaining = len(order)
        del items  # each item is referenced by its queue from now on, and freed when done
        if not order:
            return
        self._spawn(self._plan_all(order))
        del order
        try:
            while remaining:
                got = await self.out.get()
                if got is None:
                    assert self.failure is not None
                    raise self.failure
                remaining -= 1
                item, result = got
                for position in item.positions:
                    yield position, result
        finally:
            for task in list(self.tasks):
                task.cancel()
            if self.tasks:
                await asyncio.gather(*self.tasks, return_exceptions=True)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None and self.failure is None:
            # a bug, not server behaviour: end the run with it instead of hanging
            self.failure = task.exception()
            self.out.put_nowait(None)

    # -- MX plans ------------------------------------------------------------------------

    def _fetch_sts(self, addr: Address, plan: MxPlan) -> None:
        if not self.opts.transport or plan.source in ("server-option", "ip-literal", "null"):
            return
        if addr.domain not in self.sts:
            self._dns()
            self.sts[addr.domain] = asyncio.ensure_future(
                fetch_sts(self.lookup, addr.domain, self.opts)
            )
            if self.dane_checker is None:
                self.dane_checker = dane_checker(self.opts)  # one validator: one cache
            self.dane[addr.domain] = asyncio.ensure_future(
                fetch_dane(
                    self.dane_checker, addr.domain, plan, self.opts.port, dane_limit(self.opts)
                )
            )

    def _dns(self) -> Any:
        if self.resolver is None:
            from smtpdiag.io.dns import DnsConfig, DnsLookup, make_resolver

            self.resolver = make_resolver(
                DnsConfig(parse_resolvers(self.opts.resolvers), self.opts.dns_timeout)
            )
            self.lookup = DnsLookup(self.resolver)
        return self.resolver

    async def _plan_for(self, addr: Address) -> MxPlan:
        opts = self.opts
        fixed = fixed_plan(addr, opts)
        if fixed is not None:
            return fixed
        key = addr.domain
        if opts.server is not None:
            from smtpdiag.core.addresses import parse_host_port

            key = f"server:{parse_host_port(opts.server, opts.port)[0]}"
        task = self.plans.get(key)
        if task is None:
            task = asyncio.ensure_future(self._resolve(key, addr.domain))
            self.plans[key] = task
        return await task

    async def _resolve(self, key: str, domain: str) -> MxPlan:
        from smtpdiag.io.dns import resolve_mx, resolve_server

        resolver = self._dns()
        if key.startswith("server:"):
            return await resolve_server(resolver, key[7:], self.opts.families)
        import random

        return await resolve_mx(
            resolver,
            domain,
            families=self.opts.families,
            shuffle=self.opts.shuffle,
            rng=random.Random(self.opts.seed),
        )

    async def _plan_all(self, order: Sequence[_Item]) -> None:
        """Resolve each domain once (32 at a time) and queue its addresses on their target."""
        by_domain: dict[str, list[_Item]] = {}
        for item in order:
            by_domain.setdefault(item.addr.domain, []).append(item)
        todo = collections.deque(by_domain.values())

        async def resolver_worker() -> None:
            while todo:
                group = todo.popleft()
                plan = await self._plan_for(group[0].addr)
                self._fetch_sts(group[0].addr, plan)
                if plan.source == "null" or not any(h.addresses for h in plan.hosts):
                    for item in group:
                        self._finish(item, plan)
                    continue
                tkey = (plan.source, tuple((h.host, h.addresses) for h in plan.hosts))
                target = self.targets.get(tkey)
                if target is None:
                    target = self.targets[tkey] = _Target(plan)
                for item in group:
                    item.target = target
                    target.queue.append(item)
                self._start_workers(target)
                target.wakeup.set()

        await asyncio.gather(*(resolver_worker() for _ in range(min(32, len(todo)))))

    # -- sessions ------------------------------------------------------------------------

    def _start_workers(self, target: _Target) -> None:
        distinct_ips = len({ip for _, ip in target.ips}) or 1
        wanted = min(self.opts.max_per_host * distinct_ips, max(1, len(target.queue)))
        while target.workers < wanted:
            target.workers += 1
            self._spawn(self._worker(target))

    async def _worker(self, target: _Target) -> None:
        try:
            while True:
                batch = self._take(target)
                if batch is None:  # nothing sendable now
                    if not target.queue and target.active == 0:
                        return
                    target.wakeup.clear()
                    await target.wakeup.wait()
                    continue
                items, ip_index = batch
                target.active += 1
                try:
                    await self._session(target, items, ip_index)
                finally:
                    target.active -= 1
                    target.wakeup.set()
                    for domain in self.awaiting:
                        domain.changed.set()
        finally:
            target.workers -= 1

    def _take(self, target: _Target) -> tuple[list[_Item], int] | None:
        """The next session's recipients: at most ``rcpts`` items bound for the same server
        address, none of a domain whose catch-all check is still being answered."""
        now = time.monotonic()
        if not self._open_ip(target, now):
            return None
        chosen: list[_Item] = []
        carriers: set[str] = set()  # domains whose catch-all RCPT this session adds
        ip_index = -1
        rest: list[_Item] = []
        limit = self.rcpts
        examined = misses = 0
        while target.queue and len(chosen) + len(carriers) < limit and examined < 4096:
            examined += 1  # bounded: a long queue of held addresses costs no quadratic scan
            item = target.queue.popleft()
            if item.ip_index >= len(target.ips):
                self._finish(item, target.plan)
                continue
            _, ip = target.ips[item.ip_index]
            if ip in self.down:
                item.attempts.append(self.down[ip])
                item.ip_index += 1
                target.queue.appendleft(item)
                continue
            domain = self.domains[item.key]
            waiting = domain.checking and self.opts.catch_all
            held = self.backoff.get(ip, (0.0, 0.0))[0] > now
            full = self.live[ip] >= self.ip_cap.get(ip, self.opts.max_per_host)
            if waiting:
                domain.parked.append(item)  # back in the queue when the check is answered
                continue
            if held or full or (ip_index >= 0 and item.ip_index != ip_index):
                if full:
                    self.waiting_for[ip].add(target)
                rest.append(item)
                misses += 1
                if misses > 64:  # the rest of the queue is most likely held the same way
                    break
                continue
            misses = 0
            if ip_index < 0:
                ip_index = item.ip_index
                limit = min(self.rcpts, self.ip_rcpts.get(ip, self.rcpts))
                # a short queue is shared among the target's sessions, not held by one
                share = -(-(len(target.queue) + 1 + len(chosen)) // max(1, target.workers))
                limit = min(limit, max(self.refusals, share))
            new_check = (
                self.opts.catch_all
                and domain.catch_all is None
                and item.addr.ip_literal is None
                and item.key not in carriers
            )
            if new_check and chosen and len(chosen) + len(carriers) + 2 > limit:
                rest.append(item)  # its domain's check would not fit: next session
                continue
            if new_check:
                carriers.add(item.key)
            chosen.append(item)
        target.queue.extendleft(reversed(rest))
        if not chosen:
            held_until = [self.backoff[ip][0] for _, ip in target.ips if ip in self.backoff]
            if target.queue and held_until:  # wake when a backoff ends
                delay = max(0.05, min(held_until) - now)
                asyncio.get_running_loop().call_later(delay, target.wakeup.set)
            return None
        return chosen, ip_index

    def _open_ip(self, target: _Target, now: float) -> bool:
        """Whether any of the target's server addresses could take a session now. When
        none can, the worker sleeps without scanning its queue: every session's end wakes
        the workers, and with every address at its cap that scan found nothing, thousands
        of times a run. (Items bound for a down address move on in the scan; they can only
        be sent once another address is open, or be finished when all are down.)"""
        up = [ip for _, ip in target.ips if ip not in self.down]
        if not up:
            return True
        for ip in up:
            held = self.backoff.get(ip, (0.0, 0.0))[0] > now
            if not held and self.live[ip] < self.ip_cap.get(ip, self.opts.max_per_host):
                return True
        if target.queue:
            for _, ip in target.ips:
                if self.live[ip] >= self.ip_cap.get(ip, self.opts.max_per_host):
                    self.waiting_for[ip].add(target)
            held_until = [self.backoff[ip][0] for _, ip in target.ips if ip in self.backoff]
            if held_until:  # wake when a backoff ends
                delay = max(0.05, min(held_until) - now)
                asyncio.get_running_loop().call_later(delay, target.wakeup.set)
        return False

    async def _rate(self, items: Sequence[_Item]) -> None:
        if not self.rate:
            return
        for key, n in collections.Counter(i.key for i in items).items():
            now = time.monotonic()
            start = max(now, self.next_free.get(key, now))
            self.next_free[key] = start + n / self.rate
            if start > now:
                await asyncio.sleep(start - now)

    async def _session(self, target: _Target, items: list[_Item], ip_index: int) -> None:
        from smtpdiag.core.diagnose import attempt_outcome, recipient_view

        host, ip = target.ips[ip_index]
        recipients = [Recipient(i.addr.ascii, needs_smtputf8=i.addr.needs_smtputf8) for i in items]
        carrying: list[str] = []
        checks: list[Recipient] = []
        if self.opts.catch_all:
            for key in dict.fromkeys(i.key for i in items):
                domain = self.domains[key]
                item = next(i for i in items if i.key == key)
                if domain.catch_all is None and item.addr.ip_literal is None:
                    domain.checking = True
                    carrying.append(key)
                    checks.append(Recipient(domain.random, random=True))
        if checks:  # in the first flight (its size is the refusal budget), after real ones
            at = min(len(recipients), max(1, self.refusals - len(checks)))
            recipients[at:at] = checks
        await self._rate(items)
        now = time.monotonic()
        wall = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        for item in items:
            if not item.started:
                item.started, item.started_wall = now, wall
                item.deadline = now + self.opts.deadline
        lang, tls = self.opts.lang, self.opts.starttls != "never"
        others = self.live[ip]  # our sessions already open to this server
        self.live[ip] += 1
        try:
            async with self.limits(ip), self.global_sem:
                self.sessions += 1
                attempt = await run_session(
                    host.host,
                    ip,
                    self._port() if self.opts.server else self.opts.port,
                    recipients,
                    self.session_opts,
                    time.monotonic() + self.opts.deadline,
                    on_connect=lambda: _warm_up(lang, tls),
                    max_refusals=self.ip_refusals.get(ip, self.refusals),
                )
        finally:
            self.live[ip] -= 1
            for waiting in self.waiting_for.pop(ip, ()):
                waiting.wakeup.set()
        for key in carrying:
            domain = self.domains[key]
            domain.checking = False
            target.queue.extendleft(reversed(domain.parked))
            domain.parked.clear()
            answered = [  # a yes or a no; a 4xx (452, greylisting) says nothing
                r
                for r in attempt.recipients
                if r.random
                and r.address.endswith("@" + key)
                and r.step.reply is not None
                and r.step.reply.code // 100 in (2, 5)
            ]
            if answered:
                domain.catch_all = answered[0]
            domain.changed.set()
        if not attempt.steps or (
            attempt.steps[0].reply is None and attempt.error_kind in ("network", "timeout")
        ):
            self.down.setdefault(ip, attempt)  # never answered: down for this run
        banner = attempt.steps[0].reply if attempt.steps else None
        # a 421 greeting is worth waiting out only when it is about load (ours, or what the
        # server says); "shutting down" to a lone connection is the answer
        busy = banner is not None and banner.code == 421 and (others > 0 or _says_busy(banner))
        if busy:
            # one connection too many: fewer at once from now on, and a pause
            self.ip_cap[ip] = max(
                1, min(self.ip_cap.get(ip, self.opts.max_per_host), self.live[ip])
            )
            delay = self.backoff.get(ip, (0.0, BACKOFF_START))[1]
            self.backoff[ip] = (time.monotonic() + delay, min(BACKOFF_MAX, delay * 2))
        elif banner is not None and banner.code // 100 == 2:
            self.backoff.pop(ip, None)
        self._learn_limits(ip, attempt)
        if attempt.unsent and attempt.recipients:  # the refusal budget was spent: next session
            unsent = set(attempt.unsent)
            target.queue.extendleft(reversed([i for i in items if i.addr.ascii in unsent]))
            items = [i for i in items if i.addr.ascii not in unsent]
        for item in items:
            view = recipient_view(
                attempt, item.addr.ascii, item.key, self.domains[item.key].catch_all
            )
            if self._again(item, view, busy):
                item.requeues += 1
                if busy:
                    item.turned_away += 1
                    item.turned_away_by = item.turned_away_by or (host.host, ip, banner)
                target.queue.append(item)
                continue
            item.attempts.append(view)
            outcome = attempt_outcome(view)
            if outcome.decisive and not self.opts.all_mx:
                self._finish(item, target.plan)
                continue
            item.ip_index += 1
            if item.ip_index >= len(target.ips):
                self._finish(item, target.plan)
            else:
                target.queue.append(item)

    def _learn_limits(self, ip: str, attempt: Attempt) -> None:
        """Fewer recipients a session for a server that cut one short: 421 after N answered
        RCPTs (an error limit: also at most as many refused as it took), or 452 "too many
        recipients" after N."""
        for answered, r in enumerate(attempt.recipients):
            reply = r.step.reply
            if reply is None:
                return
            if reply.code == 421 or (reply.code == 452 and "recipient" in reply.text.lower()):
                self.ip_rcpts[ip] = max(1, min(self.ip_rcpts.get(ip, self.rcpts), answered))
                refused = sum(
                    1
                    for before in attempt.recipients[:answered]
                    if before.step.reply is not None and before.step.reply.code >= 400
                )
                if reply.code == 421 and refused:  # an error limit, most likely
                    known = self.ip_refusals.get(ip, self.refusals)
                    self.ip_refusals[ip] = max(1, min(known, refused))
                return

    def _port(self) -> int:
        from smtpdiag.core.addresses import parse_host_port

        assert self.opts.server is not None
        return parse_host_port(self.opts.server, self.opts.port)[1]

    def _again(self, item: _Item, view: Attempt, busy: bool) -> bool:
        """Send this recipient again in a new session (not a verdict about it)?"""
        if time.monotonic() >= item.deadline:
            return False
        if busy:
            # too many connections: back off, then again, as long as the deadline allows
            # (a busy server is not a verdict about the address)
            return item.requeues < MAX_BUSY_REQUEUES
        if item.requeues >= MAX_REQUEUES:
            return False
        mine = [r for r in view.recipients if not r.random]
        if not mine:
            return False
        step = mine[0].step
        if step.reply is None:
            # the session ended before this RCPT was answered (421 mid-session, a dropped
            # connection after others were answered): again, unless it never got that far
            return any(s.stage == "rcpt" and s.reply is not None for s in view.steps) or (
                view.error_kind == "server-closed"
            )
        reply = step.reply
        if reply.code == 421:
            return True  # the server closed the session at this RCPT (an error limit)
        return reply.code == 452 and (
            reply.enhanced in (None, "4.5.3") and "recipient" in reply.text.lower()
        )

    # -- results -------------------------------------------------------------------------

    def _finish(self, item: _Item, plan: MxPlan) -> None:
        self._spawn(self._complete(item, plan))

    async def _complete(self, item: _Item, plan: MxPlan) -> None:
        from smtpdiag.core.diagnose import diagnose

        opts = self.opts
        domain = self.domains[item.key]
        domain.unfinished -= 1
        domain.changed.set()
        diagnosis, catch_all, annotated = diagnose(item.addr, plan, item.attempts, opts.lang)
        if diagnosis.verdict == "deliverable" and catch_all.accepted is None and opts.catch_all:
            # no yes/no to the random address in this address's session: wait for the
            # domain's check, answered in another session (or in one still to come)
            domain.waiters += 1
            self.awaiting.add(domain)
            try:
                while domain.catch_all is None and (domain.checking or domain.unfinished > 0):
                    domain.changed.clear()
                    await domain.changed.wait()
            finally:
                domain.waiters -= 1
                if not domain.waiters:
                    self.awaiting.discard(domain)
            if domain.catch_all is not None:
                attempts = [
                    evolve(
                        a,
                        recipients=(
                            *(r for r in a.recipients if not r.random),
                            domain.catch_all,
                        ),
                    )
                    for a in item.attempts
                ]
                diagnosis, catch_all, annotated = diagnose(item.addr, plan, attempts, opts.lang)
        report = finding = None
        if needs_auth(diagnosis, opts.auth):
            report, finding = await self._auth(diagnosis, annotated)
            diagnosis = with_finding(diagnosis, finding)
        now = time.monotonic()
        if (
            diagnosis.verdict == "temporary"
            and len(item.retries) < len(self.schedule)
            and item.started
            and now + self.schedule[len(item.retries)] < item.deadline
        ):
            from smtpdiag.core.model import Retry

            deciding = diagnosis.deciding
            reply = deciding.reply if deciding is not None else None
            wait = self.schedule[len(item.retries)]
            item.retries.append(
                Retry(
                    after_s=round(now - item.started, 1),
                    verdict=diagnosis.verdict,
                    reason=diagnosis.reason,
                    code=reply.code if reply else None,
                    enhanced=reply.enhanced if reply else None,
                    summary=diagnosis.summary,
                )
            )
            domain.unfinished += 1
            await asyncio.sleep(wait)
            item.attempts, item.ip_index, item.requeues = [], 0, 0
            assert item.target is not None
            item.target.queue.append(item)
            self._start_workers(item.target)
            item.target.wakeup.set()
            return
        if item.turned_away:
            from smtpdiag.core.diagnose import turned_away_note

            name, ip, greeting = item.turned_away_by
            note = turned_away_note(item.turned_away, f"{name} [{ip}]", greeting, opts.lang)
            diagnosis = evolve(diagnosis, summary=diagnosis.summary + note)
        if item.retries:
            from smtpdiag.core.diagnose import retry_note

            diagnosis = evolve(
                diagnosis,
                summary=diagnosis.summary + retry_note(item.retries, diagnosis.verdict, opts.lang),
            )
        diagnosis = settle(diagnosis, item.addr, annotated, opts, finding)
        annotated = tester_attempts(annotated, diagnosis)
        transport = None
        fetching = self.sts.get(item.addr.domain)
        if fetching is not None:
            fetched = await fetching
            dane = await self.dane[item.addr.domain]
            transport = transport_report(
                item.addr.domain, fetched, plan, annotated, opts.lang, dane, opts.starttls
            )
        started = item.started or now
        result = ProbeResult(
            address=item.addr,
            mx=plan,
            attempts=annotated,
            diagnosis=diagnosis,
            catch_all=catch_all,
            started_at=item.started_wall
            or datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            elapsed_ms=round((now - started) * 1000, 1),
            auth=report,
            finding=finding,
            client=client_view(annotated, opts, diagnosis.deciding),
            transport=transport,
            options=self._options,
            retries=tuple(item.retries),
        )
        item.attempts = []  # the result has them; a long run keeps only what is pending
        self.out.put_nowait((item, result))

    @functools.cached_property
    def _options(self) -> tuple[tuple[str, str], ...]:
        """The options every result of the run records (the same for all: built once)."""
        opts = self.opts
        return (
            ("helo", self.helo),
            ("mail_from", opts.mail_from),
            ("port", str(opts.port)),
            ("starttls", opts.starttls),
            ("pipelining", "when offered" if opts.pipelining else "off"),
            ("auth", "always" if opts.auth else "on-refusal"),
            ("rcpts_per_session", str(self.rcpts)),
            ("refusals_per_session", str(self.refusals)),
            ("max_per_host", str(opts.max_per_host)),
        )

    async def _auth(self, diagnosis: Any, attempts: Sequence[Attempt]) -> tuple[Any, Any]:
        """The auth report, once per (sender domain, client IP) for the run."""
        from smtpdiag.core.errors import UsageError

        ip = client_ip(attempts, self.opts)
        key = (_auth_domain(self.opts, self.helo), ip)
        task = self.auth_cache.get(key)
        if task is None:
            try:
                self._dns()
            except UsageError:
                return None, None
            report_of = auth_report(self.lookup, self.opts, self.helo, ip)
            task = self.auth_cache[key] = asyncio.ensure_future(report_of)
        report = await task
        return report, attribute_refusal(report, diagnosis)


def _says_busy(reply: Any) -> bool:
    """A 421 greeting about load: too many connections, busy, try later."""
    from smtpdiag.core.diagnose import classify_reply

    reason = classify_reply(reply.code, reply.enhanced, reply.text, "banner").reason
    return reason in ("too-many-connections", "rate-limited")
