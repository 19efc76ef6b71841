"""A string that never shows itself: str, repr, logs and JSON dumps all print ``(sensitive)``."""

from __future__ import annotations

from pydantic import SecretStr

MASK = "(sensitive)"


class Secret(SecretStr):
    """Holds an API token, Bearer token, admin session or webhook URL. Use ``reveal()`` at the wire."""

    def _display(self) -> str:
        return MASK

    def reveal(self) -> str:
        return self.get_secret_value()
