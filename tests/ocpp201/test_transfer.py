"""The station's HTTP(S) client against the standard library's server on loopback: downloads
(digest, redirects, failures), uploads (PUT, the form POST fallback, basic auth) and TLS."""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from evstack.modules.Ocpp201.transfer import TransferError, TransferFailure, download, upload

from .file_server import FileServer
from .pki_kit import key_pem, name, pem, root

pytestmark = pytest.mark.timeout(30)

BODY = b"firmware bytes " * 10_000


async def test_a_download_is_saved_whole_with_its_digest(tmp_path: Path) -> None:
    server = FileServer(files={"/fw/image.bin": BODY})
    with server.running():
        got = await download(f"{server.url}/fw/image.bin", tmp_path / "image")
    assert got.path.read_bytes() == BODY
    assert (got.size, got.sha256) == (len(BODY), hashlib.sha256(BODY).digest())
    assert not (tmp_path / "image.part").exists()


async def test_a_download_follows_redirects(tmp_path: Path) -> None:
    server = FileServer(files={"/real": BODY}, redirects={"/moved": "/real", "/loop": "/loop"})
    with server.running():
        got = await download(f"{server.url}/moved", tmp_path / "image")
        with pytest.raises(TransferError) as looping:
            await download(f"{server.url}/loop", tmp_path / "image")
    assert got.size == len(BODY)
    assert [r.path for r in server.requests[:2]] == ["/moved", "/real"]
    assert looping.value.failure is TransferFailure.REFUSED


@pytest.mark.parametrize(
    ("status", "failure"),
    [
        (404, TransferFailure.NOT_FOUND),
        (403, TransferFailure.PERMISSION),
        (500, TransferFailure.REFUSED),
    ],
)
async def test_a_failed_download_says_why(
    tmp_path: Path, status: int, failure: TransferFailure
) -> None:
    server = FileServer(statuses={"/fw": status})
    with server.running(), pytest.raises(TransferError) as failed:
        await download(f"{server.url}/fw", tmp_path / "image")
    assert failed.value.failure is failure
    assert not (tmp_path / "image").exists()


async def test_unsupported_and_unreachable_places(tmp_path: Path) -> None:
    with pytest.raises(TransferError) as ftp:
        await download("ftp://files.example/fw.bin", tmp_path / "image")
    assert ftp.value.failure is TransferFailure.UNSUPPORTED
    server = FileServer()
    with server.running():
        url = server.url
    with pytest.raises(TransferError) as closed:
        await download(f"{url}/fw", tmp_path / "image")
    assert closed.value.failure is TransferFailure.NETWORK


async def test_an_upload_is_a_put_to_the_url_and_file_name() -> None:
    server = FileServer()
    with server.running():
        await upload(f"http://user:s3cret@{server.url[7:]}/logs/", "CS001 log.txt", b"lines\n")
        await upload(f"{server.url}/exact/place.log", "ignored.log", b"more\n")
    first, second = server.uploads
    assert (first.method, first.path, first.body) == ("PUT", "/logs/CS001%20log.txt", b"lines\n")
    assert first.headers["Authorization"] == "Basic dXNlcjpzM2NyZXQ="
    assert (second.method, second.path) == ("PUT", "/exact/place.log")


async def test_a_server_that_refuses_put_gets_a_form() -> None:
    server = FileServer(refuse_put=True)
    with server.running():
        await upload(f"{server.url}/logs/", "CS001.log", b"lines\n")
    (received,) = server.uploads
    assert received.method == "POST"
    assert received.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert b'name="file"; filename="CS001.log"' in received.body
    assert b"\r\n\r\nlines\n\r\n--" in received.body


async def test_a_refused_upload_says_why() -> None:
    server = FileServer(statuses={"/logs/x.log": 401})
    with server.running(), pytest.raises(TransferError) as failed:
        await upload(f"{server.url}/logs/", "x.log", b"")
    assert failed.value.failure is TransferFailure.PERMISSION


async def test_https_with_the_operators_root(tmp_path: Path) -> None:
    authority = root("file server root")
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = authority.issue(
        name("files"), key.public_key(), usage=ExtendedKeyUsageOID.SERVER_AUTH, hosts=("127.0.0.1",)
    )
    (tmp_path / "server.pem").write_text(pem(leaf))
    (tmp_path / "server.key").write_bytes(key_pem(key))
    (tmp_path / "root.pem").write_text(authority.pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")

    def trusting() -> ssl.SSLContext:
        client = ssl.create_default_context()
        client.load_verify_locations(cafile=tmp_path / "root.pem")
        return client

    server = FileServer(files={"/fw": BODY})
    with server.running(tls=context):
        got = await download(f"{server.url}/fw", tmp_path / "image", tls=trusting)
        assert got.size == len(BODY)
        with pytest.raises(TransferError) as untrusted:
            await download(f"{server.url}/fw", tmp_path / "image")
    assert untrusted.value.failure is TransferFailure.NETWORK
