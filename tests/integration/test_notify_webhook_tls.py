"""A pinned https webhook keeps TLS for the name: SNI and the certificate check are for the hostname, not the IP."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from services.notify.channels.webhook import WebhookSender
from tests.integration.notify_sub_helpers import ScriptedResolver

pytestmark = pytest.mark.skipif(
    shutil.which("openssl") is None, reason="needs the openssl command to make a certificate"
)


def _certificate(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate valid for `name` only."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName=DNS:{name}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_sni_and_certificate_are_checked_for_the_hostname_on_the_pinned_address(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path, "hooks.test")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    names_seen: list[str | None] = []
    server_ctx.sni_callback = lambda sock, name, ctx: names_seen.append(name)  # type: ignore[assignment, misc]
    hosts: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                hosts.extend(ln.split(b":", 1)[1].strip() for ln in lines if ln.lower().startswith(b"host:"))
                length = next(
                    (int(ln.split(b":", 1)[1]) for ln in lines if ln.lower().startswith(b"content-length:")), 0
                )
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    # Both names point at the same address; the certificate is valid for one of them only.
    names = ScriptedResolver({"hooks.test": [["127.0.0.1"]], "other.test": [["127.0.0.1"]]})
    trust = ssl.create_default_context(cafile=str(cert))
    sender = WebhookSender(
        allow_loopback=True,
        timeout=5,
        dns_timeout=1,
        max_response_bytes=1024,
        per_destination=2,
        resolver=names,
        ssl_context=trust,
    )
    try:

        async def send(name: str) -> object:
            return await sender.send(
                url=f"https://{name}:{port}/in",
                secret="s" * 16,
                body=b"{}",
                delivery_id="dlv_1",
                subscription_id="sub_1",
                event_type="t",
            )

        good = await send("hooks.test")
        assert good.ok, good  # type: ignore[attr-defined]
        assert names_seen == ["hooks.test"]  # TLS SNI names the host, though the socket went to 127.0.0.1
        assert hosts == [f"hooks.test:{port}".encode()]
        # Same address and port, another name: a fresh connection whose certificate check fails,
        # never the verified connection of hooks.test reused.
        bad = await send("other.test")
        assert (bad.ok, bad.outcome) == (False, "connect_error")  # type: ignore[attr-defined]
        assert "CERTIFICATE_VERIFY_FAILED" in (bad.error or "")  # type: ignore[attr-defined]
        assert len(hosts) == 1
    finally:
        await sender.aclose()
        server.close()
