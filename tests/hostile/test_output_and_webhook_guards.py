"""The guards on what leaves oktasync: terminal text, CSV cells and webhook addresses."""

from __future__ import annotations

import asyncio
import datetime
import http.server
import ipaddress
import socket
import ssl
import threading
from pathlib import Path

import httpx
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
    assert headers == {"Host": f"{name}:8443", "Connection": "close"} and extensions == {"sni_hostname": name}


def _self_signed(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A certificate for ``name`` (not for its address) and its key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


def test_a_pinned_post_reaches_the_checked_address_over_tls_verified_for_the_name(tmp_path: Path) -> None:
    name, address = _own_host()
    cert_file, key_file = _self_signed(tmp_path, name)
    received: list[tuple[str, str, bytes]] = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Host"], body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer((address, 0), Receiver)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_file, key_file)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        trusting = ssl.create_default_context(cafile=str(cert_file))

        async def send(url: str) -> int:
            async with httpx.AsyncClient(verify=trusting, timeout=10) as client:
                response = await webhooks.post(client, url, json={"event": "test"}, allow_private=True)
                return response.status_code

        assert asyncio.run(send(f"https://{name}:{port}/hook-token")) == 204
        assert received == [("/hook-token", f"{name}:{port}", b'{"event":"test"}')]
        # The same server under its address: the certificate does not name it, so TLS refuses.
        with pytest.raises(httpx.ConnectError):
            asyncio.run(send(f"https://{address}:{port}/hook-token"))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
