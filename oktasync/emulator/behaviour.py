"""Switches for the Okta behaviours that public evidence does not settle.

Where Okta's documentation, its OpenAPI spec and recorded real traffic are silent, the emulator does not pick
one answer: it offers each plausible behaviour behind a switch, and the product's tests run under every one of
them. ``docs/okta-behaviour.md`` lists each switch next to the behaviour it stands for and the evidence (or
the lack of it) behind that behaviour.

The defaults are the most likely behaviour of a real org. Change them with ``emulator serve --behaviour
NAME=VALUE``, the control API (``GET|PATCH /__emulator/behaviour``), or ``run_emulator(behaviour={...})`` in
tests.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

ADMIN_FORMS = ("evidence", "full", "relabelled", "without_deactivate")


@dataclass(frozen=True)
class Behaviour:
    """One value per assumed behaviour; see the module docstring."""

    # Does ``POST /api/v1/apps/{id}/users/{uid}`` (a profile update) re-push an app user in syncState ERROR?
    retry_repushes_failed: bool = False
    # Emulated seconds before Okta's background job removes the app users of an unassigned group.
    group_unassign_delay_seconds: float = 0.5
    # Emulated seconds before Okta's background job creates the app users of a newly assigned group.
    group_assign_delay_seconds: float = 0.5
    # Extra emulated seconds by which every third group job runs late (a busy org's job queue).
    group_job_late_seconds: float = 0.0
    # Which provisioning form the Admin Console serves: "evidence" (only the fields public evidence shows),
    # "full" (also unique identifier, auth mode and push actions), "relabelled" (other ids, same labels) or
    # "without_deactivate" (the evidence form without Deactivate Users).
    admin_form: str = "evidence"  # one of ADMIN_FORMS
    # Reject an admin session used from another network than the one it was created on (ASN binding).
    admin_network_binding: bool = False
    # How many events at most Okta puts in one event hook delivery (``data.events[]``): not documented.
    event_hook_batch_max: int = 50
    # The share of each rate-limit bucket one API token or OAuth app may use (Okta's default: 0.5; an admin
    # can set it per token or app). Documented; what Remaining shows when another client drained the org's
    # bucket is assumed (oktasync/emulator/ratelimit.py).
    rate_limit_client_share: float = 0.5
    # Does the Management API (the resource server) demand a DPoP nonce of its own, answering a proof without
    # it 401 ``WWW-Authenticate: DPoP error="use_dpop_nonce"`` (RFC 9449 section 9)? Okta documents the
    # token endpoint's nonce only.
    dpop_resource_nonce: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def updated(self, changes: dict[str, Any]) -> Behaviour:
        """A copy with ``changes`` applied; unknown names and values of the wrong type are ``ValueError``."""
        known = {f.name: f for f in fields(self)}
        coerced: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown behaviour {name!r}; known: {', '.join(sorted(known)) or 'none'}")
            coerced[name] = _coerce(name, getattr(self, name), value)
        if coerced.get("admin_form", self.admin_form) not in ADMIN_FORMS:
            raise ValueError(f"behaviour admin_form takes one of {', '.join(ADMIN_FORMS)}")
        return replace(self, **coerced)


def _coerce(name: str, current: Any, value: Any) -> Any:
    """Accept JSON values and the strings ``--behaviour NAME=VALUE`` gives, typed like the default."""
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"true", "1", "yes", "on"}:
            return True
        if text in {"false", "0", "no", "off"}:
            return False
        raise ValueError(f"behaviour {name} takes true or false, not {value!r}")
    if isinstance(current, (int, float)):
        try:
            number = type(current)(value)
        except (TypeError, ValueError):
            raise ValueError(f"behaviour {name} takes a number, not {value!r}") from None
        if number < 0:
            raise ValueError(f"behaviour {name} must not be negative")
        return number
    return str(value)


def parse_assignments(items: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``; a missing ``=`` is ``ValueError``."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"expected NAME=VALUE, got {item!r}")
        out[name.strip()] = value.strip()
    return out
