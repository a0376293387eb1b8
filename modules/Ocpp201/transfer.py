"""Files to and from the places a CSMS names: UpdateFirmware's location, GetLog's remoteLocation.

OCPPCommCtrlr.FileTransferProtocols says which protocols a station offers; this one offers HTTP
and HTTPS (FTP is not offered). A small HTTP/1.1 client on asyncio's streams, so that a transfer
is a task the station can cancel at once (a second UpdateFirmware or GetLog cancels the first)
and nothing blocks the event loop:

- a download is a GET, streamed to a file with its SHA-256 computed on the way (the firmware's
  signature is checked over that digest), following up to five redirects;
- an upload is a PUT of the file to the URL, with the file name appended when the URL ends
  with `/` (what `curl -T`, the usual uploader of charging stations, does); a server that
  refuses PUT (405) gets the same file as a multipart/form-data POST, field `file`;
- user and password in the URL become HTTP basic auth.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import enum
import hashlib
import os
import secrets
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urljoin, urlsplit

__all__ = [
    "PROTOCOLS",
    "Downloaded",
    "TransferError",
    "TransferFailure",
    "download",
    "upload",
]

PROTOCOLS = ("HTTP", "HTTPS")  # OCPPCommCtrlr.FileTransferProtocols
_REDIRECTS = 5
_HEADER_LIMIT = 64 * 1024
_CHUNK = 64 * 1024

TlsContext = Callable[[], ssl.SSLContext]


class TransferFailure(enum.StrEnum):
    UNSUPPORTED = "unsupported"  # not an http:// or https:// URL
    PERMISSION = "permission"  # 401 or 403
    NOT_FOUND = "not-found"  # 404 or 410
    REFUSED = "refused"  # another status
    NETWORK = "network"  # DNS, TCP, TLS, a connection cut short
    TOO_LARGE = "too-large"
    BAD_RESPONSE = "bad-response"  # not HTTP/1.x


class TransferError(Exception):
    def __init__(self, failure: TransferFailure, detail: str) -> None:
        super().__init__(f"{failure.value}: {detail}")
        self.failure = failure


@dataclass(frozen=True)
class Downloaded:
    path: Path
    size: int
    sha256: bytes


@dataclass(frozen=True)
class _Target:
    https: bool
    host: str
    port: int
    path: str  # with the query
    authorization: str | None


def _target(url: str) -> _Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TransferError(TransferFailure.UNSUPPORTED, f"not an HTTP(S) URL: {url}")
    https = parts.scheme == "https"
    try:
        port = parts.port or (443 if https else 80)
    except ValueError as error:
        raise TransferError(TransferFailure.UNSUPPORTED, str(error)) from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    authorization = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        authorization = "Basic " + base64.b64encode(pair).decode("ascii")
    return _Target(https, parts.hostname, port, path, authorization)


@dataclass
class _Response:
    status: int
    headers: dict[str, str]
    reader: asyncio.StreamReader


async def _request(
    target: _Target,
    method: str,
    tls: TlsContext,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> tuple[_Response, asyncio.StreamWriter]:
    try:
        reader, writer = await asyncio.open_connection(
            target.host,
            target.port,
            ssl=tls() if target.https else None,
            server_hostname=target.host if target.https else None,
            limit=_HEADER_LIMIT,
        )
    except (OSError, ssl.SSLError) as error:
        raise TransferError(TransferFailure.NETWORK, str(error) or type(error).__name__) from None
    host = target.host if ":" not in target.host else f"[{target.host}]"
    lines = [
        f"{method} {target.path} HTTP/1.1",
        f"Host: {host}:{target.port}",
        "User-Agent: evstack-ocpp201",
        "Connection: close",
        f"Content-Length: {len(body)}" if method != "GET" else "",
    ]
    if target.authorization:
        lines.append(f"Authorization: {target.authorization}")
    lines.extend(f"{name}: {value}" for name, value in (headers or {}).items())
    head = "\r\n".join(line for line in lines if line) + "\r\n\r\n"
    try:
        writer.write(head.encode("latin-1") + body)
        await writer.drain()
        response = await _read_head(reader)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
        writer.close()
        raise TransferError(TransferFailure.NETWORK, str(error) or type(error).__name__) from None
    return response, writer


async def _read_head(reader: asyncio.StreamReader) -> _Response:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    status_line, *header_lines = head.split("\r\n")
    fields = status_line.split(" ", 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/1.") or not fields[1].isdigit():
        raise TransferError(TransferFailure.BAD_RESPONSE, f"not an HTTP response: {status_line!r}")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    return _Response(int(fields[1]), headers, reader)


def _check_status(response: _Response, url: str) -> None:
    if 200 <= response.status < 300:
        return
    if response.status in (401, 403):
        failure = TransferFailure.PERMISSION
    elif response.status in (404, 410):
        failure = TransferFailure.NOT_FOUND
    else:
        failure = TransferFailure.REFUSED
    raise TransferError(failure, f"HTTP {response.status} from {url}")


async def _body(response: _Response, max_size: int) -> AsyncIterator[bytes]:
    """The response body in pieces: by Content-Length, chunked, or up to the end."""
    reader, total = response.reader, 0
    try:
        if response.headers.get("transfer-encoding", "").lower() == "chunked":
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                total += size
                if total > max_size:
                    raise TransferError(TransferFailure.TOO_LARGE, f"over {max_size} bytes")
                yield await reader.readexactly(size)
                await reader.readexactly(2)
        elif "content-length" in response.headers:
            left = int(response.headers["content-length"])
            if left > max_size:
                raise TransferError(TransferFailure.TOO_LARGE, f"{left} bytes, over {max_size}")
            while left:
                piece = await reader.readexactly(min(left, _CHUNK))
                left -= len(piece)
                yield piece
        else:
            while piece := await reader.read(_CHUNK):
                total += len(piece)
                if total > max_size:
                    raise TransferError(TransferFailure.TOO_LARGE, f"over {max_size} bytes")
                yield piece
    except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
        raise TransferError(TransferFailure.NETWORK, str(error) or type(error).__name__) from None


async def _save(response: _Response, destination: Path, max_size: int) -> Downloaded:
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    digest, size = hashlib.sha256(), 0
    with partial.open("wb") as file:
        async for piece in _body(response, max_size):
            file.write(piece)
            digest.update(piece)
            size += len(piece)
        file.flush()
        os.fsync(file.fileno())
    partial.replace(destination)
    return Downloaded(destination, size, digest.digest())


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()


async def download(
    url: str,
    destination: Path,
    *,
    tls: TlsContext = ssl.create_default_context,
    max_size: int = 512 * 1024 * 1024,
) -> Downloaded:
    """GET `url` into `destination` (replaced whole only once complete)."""
    for _ in range(_REDIRECTS + 1):
        target = _target(url)
        response, writer = await _request(target, "GET", tls)
        try:
            if response.status in (301, 302, 303, 307, 308) and "location" in response.headers:
                url = urljoin(url, response.headers["location"])
                continue
            _check_status(response, url)
            return await _save(response, destination, max_size)
        finally:
            await _close(writer)
    raise TransferError(TransferFailure.REFUSED, f"more than {_REDIRECTS} redirects")


async def upload(
    url: str, filename: str, data: bytes, *, tls: TlsContext = ssl.create_default_context
) -> None:
    """PUT `data` to `url` (plus `filename` when it ends with `/`); POST it as a form if the
    server does not take PUT."""
    if url.endswith("/"):
        url += quote(filename)
    target = _target(url)
    headers = {"Content-Type": "application/octet-stream"}
    response, writer = await _request(target, "PUT", tls, headers, data)
    await _close(writer)
    if response.status != 405:
        _check_status(response, url)
        return
    boundary = secrets.token_hex(16)
    safe_name = filename.replace('"', "")
    form = (
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{safe_name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    response, writer = await _request(target, "POST", tls, headers, form)
    await _close(writer)
    _check_status(response, url)
