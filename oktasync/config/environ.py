"""Process environment overlays: the values a config's ``{{ env.NAME }}`` templates read, set for a while.

The demo and the rehearsal write a config whose secrets are ``{{ env.… }}`` templates and run commands in
this process, so they put the values in the environment for the run and restore it afterwards.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping


@contextlib.contextmanager
def environ_overlay(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` in ``os.environ`` inside the block; on exit every name is back as it was (unset
    again when it was unset)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
