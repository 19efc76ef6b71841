"""The actions a playbook step may name, and the `with:` arguments each accepts.

Pure data, so the loader can check a whole playbook (unknown actions, unknown or mistyped arguments)
without importing any workflow. The implementations live in ``playbooks.actions``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ArgSpec:
    types: tuple[type, ...]
    help: str
    required: bool = False
    default: Any = None
    choices: tuple[Any, ...] | None = None

    def type_names(self) -> str:
        names = {bool: "true/false", int: "an integer", float: "a number", str: "a string", list: "a list"}
        return " or ".join(names.get(kind, kind.__name__) for kind in self.types)

    def check(self, value: Any) -> str | None:
        """None when ``value`` fits, else what is wrong (for a problem message)."""
        # bool is an int in Python; an integer argument must not accept `true`.
        if isinstance(value, bool) and bool not in self.types:
            return f"must be {self.type_names()}, not {value!r}"
        if not isinstance(value, self.types):
            return f"must be {self.type_names()}, not {type(value).__name__} {value!r}"
        if self.choices is not None and value not in self.choices:
            return f"must be one of {', '.join(map(str, self.choices))}, not {value!r}"
        return None


@dataclass(frozen=True)
class ActionSpec:
    name: str
    help: str
    # True when a real run changes Okta, the SCIM target or someone's inbox; --dry-run never does that.
    writes: bool
    args: dict[str, ArgSpec] = field(default_factory=dict)


_MESSAGE = ArgSpec((str,), "the text (a template over inputs, steps and config)", required=True)

ACTIONS: dict[str, ActionSpec] = {
    spec.name: spec
    for spec in (
        ActionSpec("validate", "check the tenant config (schema, templates, cross-field rules)", False),
        ActionSpec("doctor", "read-only probe: auth, scopes, rate limits, channel per setting", False),
        ActionSpec(
            "test-connector",
            "Okta's connector test against the SCIM target, plus read-only checks",
            False,
            {"write_probe": ArgSpec((bool,), "also create and delete a probe user", default=False)},
        ),
        ActionSpec("plan", "desired vs actual for every managed setting", False),
        ActionSpec(
            "apply",
            "apply the plan, then re-read and verify",
            True,
            {
                "confirm_manual": ArgSpec(
                    (bool,), "record settings that need a person as confirmed by the operator", default=False
                ),
                "wait": ArgSpec(
                    (bool,), "wait for a person's console changes to show in the reads", default=False
                ),
            },
        ),
        ActionSpec("resync", "the safe unassign/reassign of every group (docs/resync.md)", True),
        ActionSpec(
            "tasks",
            "failed assignments: list them (and notify tasks.notify of new ones), optionally retry",
            False,  # listing reads Okta; `retry: true` writes (see step_writes)
            {
                "retry": ArgSpec((bool,), "retry failed assignments", default=False),
            },
        ),
        ActionSpec(
            "report",
            "target users that Okta does not manage, with a suggested action each",
            False,
            {"kind": ArgSpec((str,), "which report", default="unmanaged", choices=("unmanaged",))},
        ),
        ActionSpec(
            "confirm",
            "wait for a person to confirm (a TTY prompt; --yes passes it)",
            False,
            {
                "message": _MESSAGE,
            },
        ),
        ActionSpec(
            "notify",
            "send a message to the config's notification targets (tasks.notify)",
            True,
            {
                "message": _MESSAGE,
                "level": ArgSpec(
                    (str,), "info, warning or error", default="info", choices=("info", "warning", "error")
                ),
            },
        ),
    )
}


def step_writes(action: str, args: dict[str, Any]) -> bool:
    """Whether a step with these (rendered) arguments changes anything outside the state dir."""
    spec = ACTIONS[action]
    if action == "tasks":
        return bool(args.get("retry"))
    return spec.writes


def shipped_playbook_names() -> list[str]:
    """The names of the shipped playbooks (``verify``, ``resync``, …), a team's ``./playbooks`` included,
    sorted: where ``loader.shipped_playbook`` looks them up."""
    import sys
    from pathlib import Path

    directories = (
        Path.cwd() / "playbooks",
        Path(__file__).resolve().parents[2] / "playbooks",
        Path(sys.prefix) / "share" / "oktasync" / "playbooks",
    )
    return sorted({path.stem for directory in directories for path in directory.glob("*.yaml")})
