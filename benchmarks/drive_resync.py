"""``python -m benchmarks.drive_resync CONFIG``: oktasync's resync through its library entry point.

Used only while the ``oktasync resync`` command is not registered in the CLI yet (the harness prefers the
command when it exists): the same ``run_resync`` the command and the playbook ``resync`` action call, with the
run confirmed (``--yes``). Prints the result's ``to_dict()`` as one JSON document, exits with its exit code.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any


async def _run(config_path: str) -> tuple[int, dict[str, Any]]:
    from oktasync.config import load_tenant
    from oktasync.workflows.resync.engine import run_resync
    from oktasync.workflows.session import TenantSession

    config = load_tenant(config_path)
    state_dir = Path(os.environ["OKTASYNC_STATE_DIR"])
    async with TenantSession(config, state_dir) as session:
        app = await session.app()
        result = await run_resync(config, await session.gateway(), app, state_dir=state_dir)
    return result.exit_code, result.to_dict()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    code, doc = asyncio.run(_run(args[0]))
    json.dump(doc, sys.stdout)
    sys.stdout.write("\n")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
