"""What every baseline script starts with: an ``okta.client.Client`` built the way the SDK README shows.

The baselines are the scripts an Okta admin would write from the vendor runbook with the official ``okta``
SDK (3.4.x) and its defaults. They are written to work, not to lose: each choice is the obvious one from the
SDK's README, and every deviation from "just the defaults" is a workaround without which the script does not
run at all against an Okta-strict server. Those workarounds, found by running against the emulator:

1. ``Authorization: SSWS<token>`` without a space (docs/okta-behaviour.md, Okta's Python SDK): the generated
   client builds the header as ``authorization_mode + access_token``, so every call gets 401 ``E0000011``.
   The fix an admin finds in the issue tracker, ``client.configuration.authorization_mode = "SSWS "``, works
   (checked: 401 without it, 200 with it).
2. ``list_applications(q=label)`` raises pydantic ``ValidationError`` on this app type, because Okta returns
   ``AUTO_CONFIRM_IMPORTS`` in ``features`` (okta-sdk-python#574; docs/okta-behaviour.md, Okta's Python SDK).
   The script takes
   the app id instead, copied from the Admin Console URL, as most runbook scripts do anyway.
3. ``orgUrl`` must be https (docs/okta-behaviour.md, Okta's Python SDK). Only for the loopback emulator the
harness sets
   ``OKTA_TESTING_TESTINGDISABLEHTTPSCHECK`` in the environment; against Okta nothing changes.

Everything else is the SDK default: ``rateLimit.maxRetries`` 2 (the SDK waits until X-Rate-Limit-Reset + 1 s
on a 429 and retries 503/504 at once), no request timeout, ``paginate_all`` from ``okta.pagination`` with its
default ``limit=200`` (so app users are listed 200 per page, not the API's default 50 — this *helps* the
baseline), ``raiseException`` off (errors come back as the third tuple element and the script checks them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any


def make_client(org_url: str, token: str) -> Any:
    # 5 s and ~115 MB (docs/okta-behaviour.md, Okta's Python SDK): every SDK script pays it
    from okta.client import Client

    # orgUrl and token passed explicitly, as the README's first example does.
    client = Client({"orgUrl": org_url, "token": token})
    # Workaround 1 (see module docstring): without it every request is 401 E0000011.
    client.configuration.authorization_mode = "SSWS "
    return client


def cli(description: str, run: Callable[[Any, argparse.Namespace], Awaitable[dict[str, Any]]]) -> int:
    """``python -m benchmarks.baseline_X --org-url U --token T --app-id A``: prints one JSON result."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--org-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--app-id", required=True)
    args = parser.parse_args()
    start = time.perf_counter()
    client = make_client(args.org_url, args.token)
    imported = time.perf_counter() - start

    async def go() -> dict[str, Any]:
        return await run(client, args)

    result = asyncio.run(go())
    result["import_and_setup_s"] = imported
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0 if not result.get("errors") else 1
