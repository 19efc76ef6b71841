"""A string that never shows itself: str, repr, logs and JSON dumps all print ``(sensitive)``."""

from __future__ import annotations

from pydantic import SecretStr

MASK = "(sensitive)"

# Every value revealed in this process, so the CLI can scrub any that reaches an error message or a log
# line anyway (an exception from a library that quotes a URL or a header). Defence in depth: the code
# paths themselves already never print secrets. Short values are skipped (they would mask ordinary words).
_REVEALED: set[str] = set()
_MIN_LENGTH = 6


def remember_secret(value: str) -> None:
    """Scrub ``value`` from CLI errors and logs from now on (for secrets minted at run time)."""
    if len(value) >= _MIN_LENGTH:
        _REVEALED.add(value)
        # A webhook URL's token lives in its path or query: an error may quote a normalised form of the
        # URL, so remember those parts too.
        if "://" in value:
            from urllib.parse import urlsplit

            try:
                parts = urlsplit(value)
            except ValueError:
                return
            for part in (parts.path, parts.query):
                if len(part.strip("/")) >= _MIN_LENGTH:
                    _REVEALED.add(part)


def redact(text: str) -> str:
    """``text`` with every secret value this process has revealed replaced by ``(sensitive)``."""
    for value in sorted(_REVEALED, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    return text


class Secret(SecretStr):
    """Holds an API token, Bearer token, admin session or webhook URL. Use ``reveal()`` at the wire."""

    def _display(self) -> str:
        return MASK

    def reveal(self) -> str:
        value = self.get_secret_value()
        remember_secret(value)
        return value
