"""The economics of the hybrid: what the observed traffic cost, and where self-hosting pays off.

Input: the audit log's decision and completion records in a window, and the prices in the
configuration (``backends.*[].pricing``). The method is in docs/economics.md; in short:

* tokens per request come from the completion record's ``usage`` (what the backend reported);
  when a request has none (a stream that ended early, an upstream error, a ``/v1/completions``
  stream to a kind the gateway does not ask for usage), its input tokens are the
  estimate the router put in the policy input (characters / 4) and its output tokens are 0, and
  the report counts such requests;
* API spend = input tokens x input price + output tokens x output price, per external backend;
  on-prem cost = hourly cost x hours in the window, per on-prem backend, whether used or not;
* crossover: at the observed request mix, moving the external share on-prem needs on-prem
  capacity of the cheapest priced on-prem unit (lowest hourly cost per token of capacity), at
  least one whole unit and more in proportion to the tokens moved. Hybrid daily cost is
  ``F + V x f x c`` and all-on-prem is ``F + U x max(1, V x f x t / K)`` (F: today's on-prem
  daily cost, V: requests per day, f: external share, c: API cost per external request, t: tokens
  per external request, U: daily cost of one unit, K: tokens per day one unit serves). They cross
  at ``V* = U / (f x c)``, provided one unit still carries the moved share there
  (``c >= U x t / K``); otherwise on-prem is never cheaper at this mix.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from privacy_router.config import BackendPricing, Settings

SERVED_ACTIONS = ("onprem", "external", "external_scrubbed")
HOURS_PER_DAY = 24
SECONDS_PER_DAY = 86_400

# Why a request stayed on-prem, read from the route reason the shipped policy writes
# (policies/privacy_router/decision.rego, preference.rego). First match wins.
_WHY_ONPREM: tuple[tuple[str, str], ...] = (
    ("cost preference", "cost"),
    ("latency preference", "latency"),
    ("load preference", "load"),
    ("long-context request", "designated model"),
    ("tool-heavy request", "designated model"),
    ("requested model is served on-prem", "model pinned on-prem"),
    ("sensitive", "sensitivity"),
    ("may export personal data", "residency"),
    ("no healthy external backend", "availability"),
    ("policy unavailable", "policy failure"),
)


@dataclass(frozen=True)
class BackendPrice:
    """One configured backend as the report sees it."""

    name: str
    onprem: bool
    pricing: BackendPricing | None

    def api_cost(self, input_tokens: int, output_tokens: int) -> float:
        p = self.pricing
        if p is None:
            return 0.0
        return (input_tokens * p.input_usd_per_mtok + output_tokens * p.output_usd_per_mtok) / 1_000_000

    def period_cost(self, hours: float) -> float:
        """On-prem capacity is paid by the hour, whatever it serves."""
        return self.pricing.hourly_usd * hours if self.onprem and self.pricing is not None else 0.0


def prices_from_settings(settings: Settings) -> dict[str, BackendPrice]:
    out = {b.name: BackendPrice(b.name, True, b.pricing) for b in settings.backends.onprem}
    out.update({b.name: BackendPrice(b.name, False, b.pricing) for b in settings.backends.external})
    return out


@dataclass(frozen=True)
class Served:
    """One decided request: where it went, its tokens, and why it stayed on-prem (if it did)."""

    action: str
    backend: str | None
    input_tokens: int
    output_tokens: int
    usage_recorded: bool
    why_onprem: str | None


def why_onprem(reasons: Iterable[str]) -> str:
    """The category of the first reason that explains an on-prem route (see ``_WHY_ONPREM``)."""
    for reason in reasons:
        text = reason.lower()
        for needle, category in _WHY_ONPREM:
            if needle in text:
                return category
    return "other"


def _usage_tokens(usage: object) -> tuple[int, int] | None:
    if not isinstance(usage, Mapping):
        return None
    tin = usage.get("prompt_tokens", usage.get("input_tokens"))
    tout = usage.get("completion_tokens", usage.get("output_tokens"))
    if not isinstance(tin, int) and not isinstance(tout, int):
        return None
    return (tin if isinstance(tin, int) else 0, tout if isinstance(tout, int) else 0)


def collect(records: Iterable[Mapping[str, Any]]) -> list[Served]:
    """Join each decision record with its completion record (``decision_record_id``)."""
    decisions: list[Mapping[str, Any]] = []
    usage_by_decision: dict[str, tuple[int, int]] = {}
    for r in records:
        if r.get("record_type") == "decision":
            decisions.append(r)
        elif r.get("record_type") == "completion":
            tokens = _usage_tokens(r.get("usage"))
            if tokens is not None and isinstance(r.get("decision_record_id"), str):
                usage_by_decision[r["decision_record_id"]] = tokens
    out = []
    for d in decisions:
        action = str(d.get("action"))
        tokens = usage_by_decision.get(str(d.get("record_id")))
        if tokens is None:
            request = (d.get("policy_input") or {}).get("request") or {}
            estimate = request.get("estimated_input_tokens")
            tokens_in, tokens_out = (estimate if isinstance(estimate, int) else 0), 0
        else:
            tokens_in, tokens_out = tokens
        reasons = [r for r in d.get("reasons") or [] if isinstance(r, str)]
        out.append(
            Served(
                action=action,
                backend=d.get("backend") if isinstance(d.get("backend"), str) else None,
                input_tokens=tokens_in,
                output_tokens=tokens_out,
                usage_recorded=tokens is not None,
                why_onprem=why_onprem(reasons) if action == "onprem" else None,
            )
        )
    return out


@dataclass(frozen=True)
class Line:
    """One row of the table: a route and backend over the window."""

    route: str
    backend: str
    requests: int
    input_tokens: int
    output_tokens: int
    api_spend: float
    onprem_cost: float

    @property
    def cost(self) -> float:
        return self.api_spend + self.onprem_cost

    @property
    def cost_per_1k_requests(self) -> float | None:
        return self.cost / self.requests * 1000 if self.requests else None


@dataclass(frozen=True)
class Crossover:
    """The daily volume above which serving the external share on-prem is cheaper."""

    daily_requests: float  # observed, served requests per day
    external_share: float  # f
    api_cost_per_request: float  # c, USD per external request
    tokens_per_external_request: float  # t
    fixed_daily_cost: float  # F, today's on-prem USD per day
    unit: str | None  # the on-prem backend whose capacity would be added
    unit_daily_cost: float  # U
    unit_daily_tokens: float  # K
    volume: float | None  # V*, None when on-prem is never cheaper at this mix
    arithmetic: tuple[str, ...]

    def hybrid_cost(self, volume: float) -> float:
        return self.fixed_daily_cost + volume * self.external_share * self.api_cost_per_request

    def onprem_cost(self, volume: float) -> float:
        if self.unit is None or self.unit_daily_tokens <= 0:
            return math.inf
        moved = volume * self.external_share * self.tokens_per_external_request / self.unit_daily_tokens
        return self.fixed_daily_cost + self.unit_daily_cost * max(1.0, moved)


@dataclass(frozen=True)
class EconomicsReport:
    since: datetime
    until: datetime
    lines: tuple[Line, ...]
    blocked: int
    onprem_reasons: Mapping[str, int]
    requests_without_usage: int
    unpriced_backends: tuple[str, ...]
    crossover: Crossover
    totals: Line = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "totals",
            Line(
                "all",
                "all",
                sum(x.requests for x in self.lines),
                sum(x.input_tokens for x in self.lines),
                sum(x.output_tokens for x in self.lines),
                sum(x.api_spend for x in self.lines),
                sum(x.onprem_cost for x in self.lines),
            ),
        )

    @property
    def days(self) -> float:
        return (self.until - self.since).total_seconds() / SECONDS_PER_DAY

    @property
    def onprem_share(self) -> float | None:
        served = self.totals.requests
        onprem = sum(x.requests for x in self.lines if x.route == "onprem")
        return onprem / served if served else None


def build_report(
    served: list[Served], prices: Mapping[str, BackendPrice], since: datetime, until: datetime
) -> EconomicsReport:
    if until <= since:
        raise ValueError("the window is empty: --until must be after --since")
    hours = (until - since).total_seconds() / 3600
    groups: dict[tuple[str, str], list[Served]] = {}
    for s in served:
        if s.action in SERVED_ACTIONS and s.backend is not None:
            groups.setdefault((s.action, s.backend), []).append(s)
    # Every priced on-prem backend costs money in the window, used or not.
    for p in prices.values():
        if p.onprem and not any(b == p.name for _, b in groups):
            groups[("onprem", p.name)] = []
    lines = []
    for (route, backend), items in sorted(groups.items()):
        price = prices.get(backend, BackendPrice(backend, route == "onprem", None))
        tin = sum(s.input_tokens for s in items)
        tout = sum(s.output_tokens for s in items)
        lines.append(
            Line(
                route=route,
                backend=backend,
                requests=len(items),
                input_tokens=tin,
                output_tokens=tout,
                api_spend=0.0 if price.onprem else price.api_cost(tin, tout),
                # A backend on two routes (none today: on-prem backends serve only "onprem") would
                # be charged once per route; the sorted order keeps the table stable.
                onprem_cost=price.period_cost(hours),
            )
        )
    reasons = Counter(s.why_onprem for s in served if s.action == "onprem" and s.why_onprem)
    used = {s.backend for s in served if s.backend is not None}
    unpriced = tuple(sorted(n for n in used if prices.get(n) is None or prices[n].pricing is None))
    report_lines = tuple(lines)
    cross = crossover(report_lines, prices, hours / HOURS_PER_DAY)
    return EconomicsReport(
        since=since,
        until=until,
        lines=report_lines,
        blocked=sum(1 for s in served if s.action == "block"),
        onprem_reasons=dict(reasons.most_common()),
        requests_without_usage=sum(1 for s in served if s.action in SERVED_ACTIONS and not s.usage_recorded),
        unpriced_backends=unpriced,
        crossover=cross,
    )


def usd(x: float) -> str:
    """A dollar amount as the report prints it (the dashboard too): cents from $1, else 6 decimals."""
    return f"${x:,.2f}" if abs(x) >= 1 or x == 0 else f"${x:.6f}"


def crossover(lines: tuple[Line, ...], prices: Mapping[str, BackendPrice], days: float) -> Crossover:
    """See the module docstring; every step is written out in ``arithmetic``."""
    served = sum(x.requests for x in lines)
    external = [x for x in lines if x.route != "onprem"]
    ext_requests = sum(x.requests for x in external)
    api_spend = sum(x.api_spend for x in external)
    ext_tokens = sum(x.input_tokens + x.output_tokens for x in external)
    daily = served / days
    f = ext_requests / served if served else 0.0
    c = api_spend / ext_requests if ext_requests else 0.0
    t = ext_tokens / ext_requests if ext_requests else 0.0
    fixed = sum(p.period_cost(HOURS_PER_DAY) for p in prices.values() if p.onprem)
    units = [
        p
        for p in prices.values()
        if p.onprem and p.pricing is not None and p.pricing.capacity_tokens_per_s and p.pricing.hourly_usd > 0
    ]
    steps = [
        f"observed: {served:,} served requests in {days:.2f} days = {daily:,.1f} requests/day; "
        f"external share f = {ext_requests:,} / {served:,} = {f:.3f}",
        f"API cost per external request c = {usd(api_spend)} / {ext_requests:,} = {usd(c)}; "
        f"tokens per external request t = {ext_tokens:,} / {ext_requests:,} = {t:,.0f}",
        f"today's on-prem cost F = {usd(fixed)}/day",
    ]

    def result(unit: BackendPrice | None, u: float, k: float, volume: float | None) -> Crossover:
        return Crossover(daily, f, c, t, fixed, unit.name if unit else None, u, k, volume, tuple(steps))

    if not units:
        steps.append(
            "no on-prem backend has pricing.hourly_usd and pricing.capacity_tokens_per_s: no crossover"
        )
        return result(None, 0.0, 0.0, None)
    unit = min(units, key=lambda p: _unit_cost_per_token(p))
    pricing = unit.pricing
    if pricing is None or pricing.capacity_tokens_per_s is None:  # filtered above; for the type checker
        return result(None, 0.0, 0.0, None)
    u = pricing.hourly_usd * HOURS_PER_DAY
    k = pricing.capacity_tokens_per_s * SECONDS_PER_DAY
    steps.append(
        f"on-prem unit {unit.name}: U = {usd(pricing.hourly_usd)}/h x 24 h = {usd(u)}/day, "
        f"K = {pricing.capacity_tokens_per_s:,.0f} tokens/s x 86,400 s = {k:,.0f} tokens/day"
    )
    if ext_requests == 0 or c <= 0:
        steps.append("no external spend to move on-prem: no crossover")
        return result(unit, u, k, None)
    m = u * t / k
    steps.append(f"on-prem cost per moved request at full load m = U x t / K = {usd(m)}")
    if c < m:
        steps.append(f"c = {usd(c)} < m: at this mix on-prem is never cheaper than the API")
        return result(unit, u, k, None)
    volume = u / (f * c)
    steps.append(
        f"crossover V* = U / (f x c) = {usd(u)} / ({f:.3f} x {usd(c)}) = {volume:,.0f} requests/day; "
        f"observed {daily:,.1f}/day is {'above' if daily > volume else 'below'} it"
    )
    return result(unit, u, k, volume)


def _unit_cost_per_token(p: BackendPrice) -> float:
    if p.pricing is None or not p.pricing.capacity_tokens_per_s:
        return math.inf
    return p.pricing.hourly_usd / p.pricing.capacity_tokens_per_s


def render_text(report: EconomicsReport) -> list[str]:
    out = [
        f"window: {report.since.isoformat()} .. {report.until.isoformat()} ({report.days:.2f} days)",
        "",
        f"{'route':<18} {'backend':<16} {'requests':>9} {'input tok':>12} {'output tok':>12} "
        f"{'API spend':>12} {'on-prem cost':>13} {'per 1k req':>12}",
    ]
    for x in (*report.lines, report.totals):
        per_1k = usd(x.cost_per_1k_requests) if x.cost_per_1k_requests is not None else "-"
        out.append(
            f"{x.route:<18} {x.backend:<16} {x.requests:>9,} {x.input_tokens:>12,} {x.output_tokens:>12,} "
            f"{usd(x.api_spend):>12} {usd(x.onprem_cost):>13} {per_1k:>12}"
        )
    out.append("")
    share = report.onprem_share
    out.append(f"blocked: {report.blocked:,}")
    out.append(f"kept on-prem: {share:.1%} of served requests" if share is not None else "kept on-prem: -")
    for why, n in report.onprem_reasons.items():
        out.append(f"  {why}: {n:,}")
    if report.requests_without_usage:
        out.append(
            f"note: {report.requests_without_usage:,} served request(s) had no usage in the audit log; "
            "their input tokens are the router's estimate (characters / 4), output tokens 0"
        )
    if report.unpriced_backends:
        out.append(f"note: no pricing configured for {', '.join(report.unpriced_backends)} (counted as $0)")
    out.append("")
    out.append("crossover (moving the external share on-prem):")
    out.extend(f"  {s}" for s in report.crossover.arithmetic)
    return out


CSV_COLUMNS = (
    "route",
    "backend",
    "requests",
    "input_tokens",
    "output_tokens",
    "api_spend_usd",
    "onprem_cost_usd",
    "cost_per_1k_requests_usd",
)


def write_csv(report: EconomicsReport, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for x in (*report.lines, report.totals):
            per_1k = x.cost_per_1k_requests
            w.writerow(
                [
                    x.route,
                    x.backend,
                    x.requests,
                    x.input_tokens,
                    x.output_tokens,
                    f"{x.api_spend:.6f}",
                    f"{x.onprem_cost:.6f}",
                    f"{per_1k:.6f}" if per_1k is not None else "",
                ]
            )


def chart_range(cross: Crossover) -> float:
    """The largest daily volume on the chart: past both the observed volume and the crossover."""
    marks = [cross.daily_requests, cross.volume or 0.0]
    return max(1000.0, 2 * max(marks))


def write_chart(report: EconomicsReport, path: Path) -> None:
    """Daily cost of each option against daily volume, observed volume and crossover marked."""
    import matplotlib

    matplotlib.use("Agg")  # no display; must precede pyplot
    import matplotlib.pyplot as plt

    cross = report.crossover
    top = chart_range(cross)
    xs = [top * i / 200 for i in range(201)]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    ax.plot(
        xs, [cross.hybrid_cost(v) for v in xs], label="hybrid at the observed mix (external share via API)"
    )
    if cross.unit is not None:
        ax.plot(xs, [cross.onprem_cost(v) for v in xs], label=f"external share moved on-prem ({cross.unit})")
    ax.axvline(
        cross.daily_requests, color="grey", linestyle="--", label=f"observed {cross.daily_requests:,.0f}/day"
    )
    if cross.volume is not None:
        ax.plot([cross.volume], [cross.hybrid_cost(cross.volume)], "o", color="black")
        point = (cross.volume, cross.hybrid_cost(cross.volume))
        label = f"crossover {cross.volume:,.0f}/day"
        ax.annotate(label, point, textcoords="offset points", xytext=(8, -14))
    ax.set_xlabel("requests per day")
    ax.set_ylabel("USD per day")
    ax.set_title("Daily cost against daily volume")
    ax.set_xlim(0, top)
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
