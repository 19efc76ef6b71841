"""The plan for people: a coloured, aligned table per tenant on a terminal, and Markdown for a pull request.

Both read the same ``TenantPlan``; the plain text of a pipe stays in ``oktasync.cli.plan.render_plan``.
Markers, as ``terraform plan`` reads: ``+`` set (nothing readable is there yet), ``~`` change, ``=`` in sync,
``?`` cannot be verified, ``c`` confirmed manually, ``-`` not applicable.
"""

from __future__ import annotations

import html
import re
from typing import Any

from rich.console import Console, Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from oktasync.textsafe import for_terminal
from oktasync.workflows.plan import PlanResult, SettingPlan, Status, TenantPlan

KIND_NAMES = {"custom_scim": "custom SCIM app", "api_capable": "API-capable app"}
_STYLE = {
    "+": "bold green",
    "~": "bold yellow",
    "=": "dim",
    "?": "bold magenta",
    "c": "cyan",
    "-": "dim",
}
_LEGEND = (
    "+ set, ~ change, = in sync, ? cannot be verified (a person checks it), c confirmed manually, "
    "- not applicable"
)


def value_text(value: Any, known: bool = False) -> str:
    if value is None:
        return "(none)" if known else "(unknown)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def marker(item: SettingPlan) -> str:
    if item.status is Status.CHANGE:
        return "+" if item.actual in (None, "not set") else "~"
    return {
        Status.IN_SYNC: "=",
        Status.UNVERIFIABLE: "?",
        Status.CONFIRMED_MANUALLY: "c",
        Status.NOT_APPLICABLE: "-",
    }[item.status]


def current_and_desired(item: SettingPlan) -> tuple[str, str]:
    """The "current → desired" pair as a reader wants it: one value when nothing moves."""
    if item.status is Status.NOT_APPLICABLE:
        return "", "not applicable"
    if item.status is Status.CONFIRMED_MANUALLY:
        return "(confirmed)", value_text(item.desired)
    return value_text(item.actual, item.actual_known), value_text(item.desired)


def notes(item: SettingPlan) -> list[str]:
    out: list[str] = []
    if item.reason and item.status is not Status.IN_SYNC:
        out.append(item.reason)
    if item.needs_person and item.status is Status.CHANGE:
        out.append("a person changes it in the Admin Console")
    if item.assumed and item.status is not Status.NOT_APPLICABLE:
        out.append(f"{item.assumed} (docs/okta-behaviour.md)")
    return out


def summary(plan: TenantPlan) -> str:
    counts = {status: sum(1 for s in plan.settings if s.status is status) for status in Status}
    people = sum(1 for s in plan.settings if s.needs_person)
    return (
        f"{counts[Status.CHANGE]} to change, {counts[Status.UNVERIFIABLE]} cannot be verified, "
        f"{counts[Status.CONFIRMED_MANUALLY]} confirmed manually, {counts[Status.IN_SYNC]} in sync, "
        f"{counts[Status.NOT_APPLICABLE]} not applicable; {people} need a person"
    )


def _app_line(plan: TenantPlan) -> str:
    assert plan.app is not None and plan.kind is not None
    admin = "admin session given" if plan.admin_session else "no admin session"
    return f'app "{plan.app.label}" ({plan.app.id}), {KIND_NAMES[plan.kind.value]}, {admin}'


# --- terminal ---------------------------------------------------------------------------------------


def _safe(text: str) -> str:
    return for_terminal(text)  # names and values from Okta and configs: control characters escaped


def tenant_table(plan: TenantPlan) -> Group:
    head = Text(f"Tenant {_safe(plan.tenant)}", style="bold")
    head.append(f" ({_safe(plan.org_url)})" + (f"  [{_safe(plan.source)}]" if plan.source else ""))
    if plan.error:
        return Group(head, Text(f"  ERROR: {_safe(plan.error)}", style="bold red"))
    parts: list[Any] = [head, Text("  " + _safe(_app_line(plan)))]
    table = Table(box=None, show_edge=False, pad_edge=False, padding=(0, 1), header_style="bold")
    for column in ("", "setting", "current → desired", "channel", "notes"):
        table.add_column(column, overflow="fold")
    for item in plan.settings:
        mark = marker(item)
        current, desired = current_and_desired(item)
        change = Text()
        if current and item.status not in (Status.IN_SYNC,):
            change.append(_safe(current), style="red" if mark in "~" else "dim")
            change.append(" → ")
        change.append(_safe(desired), style="green" if mark in "+~" else "")
        table.add_row(
            Text(mark, style=_STYLE[mark]),
            Text(_safe(item.label)),
            change,
            Text(item.channel.value if item.channel else "-", style="dim"),
            Text(_safe("; ".join(notes(item))), style="dim"),
        )
    parts += [Padding(table, (0, 0, 0, 2)), Text("  Plan: " + summary(plan) + ".", style="bold")]
    if plan.manual_steps:
        parts.append(Text("  Needs a person in the Admin Console (apply prints these again):"))
        parts += [Text(f"    {n}. {_safe(step)}") for n, step in enumerate(plan.manual_steps, 1)]
    return Group(*parts)


def print_tables(result: PlanResult, console: Console) -> None:
    for index, tenant in enumerate(result.tenants):
        if index:
            console.print()
        console.print(tenant_table(tenant))
    console.print()
    console.print(Text("Legend: " + _LEGEND + "; channel: api, admin (form) or manual", style="dim"))


# --- Markdown (a pull-request comment) ---------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]|~#!])")


def md(text: str) -> str:
    """Text safe inside Markdown, a table cell included: HTML escaped (no tags, no comment that could end
    ours), Markdown punctuation backslash-escaped, line breaks folded, ``@`` not a mention."""
    flat = " ".join(str(text).split())
    escaped = _MD_SPECIAL.sub(r"\\\1", html.escape(flat, quote=False))
    return escaped.replace("@", "&#64;")


def _md_row(item: SettingPlan) -> str:
    current, desired = current_and_desired(item)
    channel = item.channel.value if item.channel else "-"
    cells = [marker(item), md(item.label), md(current), md(desired), channel, md("; ".join(notes(item)))]
    # The marker is one of + ~ = ? c -: escape it too, "-" or "+" alone would not harm, "~" might strike.
    cells[0] = md(cells[0])
    return "| " + " | ".join(cells) + " |"


def tenant_markdown(plan: TenantPlan) -> list[str]:
    title = f"### {md(plan.tenant)}"
    if plan.error:
        return [title, "", f"**Could not be planned:** {md(plan.error)}", ""]
    changes = len(plan.changes)
    people = sum(1 for s in plan.settings if s.needs_person)
    state = f"{changes} to change" if changes else "no changes"
    if people:
        state += f", {people} for a person"
    where = f"{md(plan.org_url)} · {md(_app_line(plan))}"
    if plan.source:
        where += f" · config {md(plan.source)}"
    lines = [
        f"{title} — {state}",
        "",
        where,
        "",
        f"**Plan:** {md(summary(plan))}.",
        "",
        f"<details><summary>All {len(plan.settings)} settings</summary>",
        "",
        "| | Setting | Current | Desired | Channel | Notes |",
        "|---|---|---|---|---|---|",
        *(_md_row(item) for item in plan.settings),
        "",
        "</details>",
        "",
    ]
    if plan.manual_steps:
        lines += ["**Manual steps** in the Okta Admin Console (apply prints them again):", ""]
        lines += [f"- [ ] {md(step)}" for step in plan.manual_steps]
        lines.append("")
    return lines


def render_markdown(result: PlanResult) -> str:
    """The plan as a pull-request comment: one section per tenant, the full table collapsed."""
    tenants = len(result.tenants)
    changing = sum(1 for t in result.tenants if t.has_drift and not t.error)
    errors = sum(1 for t in result.tenants if t.error)
    lines = [
        "## oktasync plan",
        "",
        f"{tenants} tenant{'s' if tenants != 1 else ''}: {changing} with changes"
        + (f", {errors} could not be planned" if errors else "")
        + ".",
        "",
    ]
    for tenant in result.tenants:
        lines += tenant_markdown(tenant)
    lines.append(md(f"Legend: {_LEGEND}."))
    return "\n".join(lines) + "\n"


__all__ = ["md", "print_tables", "render_markdown", "tenant_markdown", "tenant_table"]
