"""The guards on what leaves oktasync: terminal text, CSV cells and webhook addresses."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import pytest

from oktasync import webhooks
from oktasync.textsafe import csv_cell, for_terminal


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b]0;owned\x07eve@example.com", "\\x1b]0;owned\\x07eve@example.com"),  # set the window title
        ("\x1b[2J\x1b[Hmallory", "\\x1b[2J\\x1b[Hmallory"),  # clear the screen
        ("ok\rFAIL", "ok\\x0dFAIL"),  # overwrite the line
        ("\u202eevil.exe", "\\u202eevil.exe"),  # right-to-left override
        ("\x9b31m", "\\x9b31m"),  # C1 control sequence introducer
        ("two\nlines\tand a tab", "two\nlines\tand a tab"),
        ("plain ünïcode", "plain ünïcode"),
    ],
)
def test_terminal_text_shows_control_characters_instead_of_running_them(raw: str, shown: str) -> None:
    assert for_terminal(raw) == shown


def test_a_table_cell_is_one_line() -> None:
    assert for_terminal("a\nb\tc", single_line=True) == "a\\x0ab\\x09c"


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x")'])
def test_csv_cells_that_would_be_formulas_are_text(cell: str) -> None:
    assert csv_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["alice@example.com", "", "1", "a=b", True, None])
def test_other_csv_cells_are_unchanged(cell: object) -> None:
    assert csv_cell(cell) == cell


@pytest.mark.parametrize(
    ("url", "allow_private", "problem"),
    [
        ("https://hooks.slack.com/services/T/B/x", False, None),
        ("http://127.0.0.1:8080/hook", False, None),  # a local receiver, for tests
        ("http://localhost/hook", False, None),
        ("http://hooks.slack.com/services/T/B/x", False, "must use https"),
        ("ftp://example.com/x", False, "not an http(s) URL"),
        ("https://169.254.169.254/latest/meta-data/", True, "cloud metadata address"),
        ("https://[fd00:ec2::254]/", True, "cloud metadata address"),
        ("https://169.254.1.1/", True, "link-local"),
        ("https://[fe80::1]/", True, "link-local"),
        ("https://10.1.2.3/hook", False, "private address"),
        ("https://10.1.2.3/hook", True, None),
        ("https://192.168.0.10/hook", False, "private address"),
        ("https://100.64.0.1/hook", False, "private address"),  # carrier-grade NAT
        ("https://[::ffff:169.254.169.254]/", True, "cloud metadata address"),  # IPv4-mapped
        ("https://0.0.0.0/", True, "non-routable"),
        ("https://[::1/x", False, "not a valid URL"),
    ],
)
def test_webhook_urls_are_checked_without_quoting_them(
    url: str, allow_private: bool, problem: str | None
) -> None:
    found = webhooks.url_problem(url, allow_private=allow_private)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found and url not in found


def _own_host() -> tuple[str, str]:
    """This machine's host name and the address it resolves to (loopback or private on any test host)."""
    name = socket.gethostname()
    address = str(socket.getaddrinfo(name, 443, type=socket.SOCK_STREAM)[0][4][0])
    if ipaddress.ip_address(address).is_global:
        pytest.skip(f"the host name {name} resolves to a public address here ({address})")
    return name, address


def test_a_name_is_checked_on_the_address_it_resolves_to_when_sending() -> None:
    name, address = _own_host()
    assert webhooks.url_problem(f"https://{name}/hook") is None  # a name passes the load-time check
    with pytest.raises(webhooks.WebhookRefused) as refused:
        asyncio.run(webhooks.pinned_request(f"https://{name}/hook-SECRET"))
    assert address in str(refused.value) and "SECRET" not in str(refused.value)


def test_the_request_connects_to_the_checked_address_and_keeps_the_name_for_tls() -> None:
    name, address = _own_host()
    literal = f"[{address}]" if ":" in address else address
    url, headers, extensions = asyncio.run(
        webhooks.pinned_request(f"https://{name}:8443/hook?x=1", allow_private=True)
    )
    assert url == f"https://{literal}:8443/hook?x=1"
    assert headers == {"Host": f"{name}:8443"} and extensions == {"sni_hostname": name}
