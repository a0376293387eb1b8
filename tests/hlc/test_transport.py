"""SDP on link-local multicast, V2GTP over TCP with and without TLS, in two namespaces joined
by a veth pair (loopback carries no link-local multicast)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import pathlib
import socket
import ssl
import struct
import threading
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
import uvloop

from evstack.exi import sdp as sdp_codec
from evstack.exi import v2gtp
from evstack.exi.sdp import Security
from evstack.hlc.transport import pki, sdp, stream, tls
from evstack.hlc.transport.netif import interface_index, link_local_address

from .netns import Namespace, veth_pair

pytestmark = pytest.mark.timeout(30)

IF = "v2g0"
SAP_REQ = bytes.fromhex("8000dbab9371d3234b71d1b981899189d191818991d26b9b3a232b30020000040040")


@pytest.fixture(scope="module")
def spaces() -> Iterator[tuple[Namespace, Namespace]]:
    """(EV namespace, charger namespace)."""
    with veth_pair() as pair:
        yield pair


@pytest.fixture(scope="module")
def credentials(tmp_path_factory: pytest.TempPathFactory) -> dict[pki.Profile, pki.PkiFiles]:
    base = tmp_path_factory.mktemp("pki")
    return {p: pki.generate(p).write(base / p.value) for p in pki.Profile}


class Secc:
    """An SECC for tests: SDP responder plus a V2GTP server echoing each message back."""

    def __init__(self) -> None:
        self.closed: list[str] = []
        self.finished = asyncio.Event()  # a connection ended
        self.server: stream.V2gServer | None = None

    async def handle(self, connection: stream.V2gtpStream) -> None:
        try:
            while True:
                payload_type, payload = await connection.receive()
                await connection.send(payload_type, payload)
        except stream.StreamClosedError as exc:
            self.closed.append(exc.reason)
            self.finished.set()
            raise


@pytest.fixture
async def secc(spaces: tuple[Namespace, Namespace]) -> AsyncIterator[Secc]:
    secc = Secc()
    yield secc
    if secc.server is not None:
        await secc.server.close()


async def start_secc(
    secc: Secc, space: Namespace, context: ssl.SSLContext | None = None, max_payload: int = 4096
) -> stream.V2gServer:
    address = link_local_address(IF, space.socket)
    secc.server = await stream.start_server(
        secc.handle,
        IF,
        address,
        ssl_context=context,
        socket_factory=space.socket,
        max_payload=max_payload,
    )
    return secc.server


async def test_sdp_over_link_local_multicast(spaces: tuple[Namespace, Namespace]) -> None:
    ev, cs = spaces
    address = link_local_address(IF, cs.socket)
    responder = await sdp.SdpResponder.start(
        IF, tcp_port=50000, offered={Security.TLS, Security.NONE}, socket_factory=cs.socket
    )
    try:
        found = await sdp.discover(IF, Security.TLS, socket_factory=ev.socket)
        assert (found.address, found.port, found.security) == (address, 50000, Security.TLS)
        found = await sdp.discover(IF, Security.NONE, socket_factory=ev.socket)
        assert found.security is Security.NONE
    finally:
        await responder.close()

    only_tls = await sdp.SdpResponder.start(
        IF, tcp_port=60000, offered={Security.TLS}, socket_factory=cs.socket
    )
    try:
        found = await sdp.discover(IF, Security.NONE, socket_factory=ev.socket)
        assert (found.port, found.security) == (60000, Security.TLS)  # what it offers
        assert only_tls.answered == 1
    finally:
        await only_tls.close()


async def test_sdp_answer_with_a_port_outside_the_range_is_refused(
    spaces: tuple[Namespace, Namespace],
) -> None:
    ev, cs = spaces
    address = link_local_address(IF, cs.socket)
    rogue = cs.socket(socket.AF_INET6, socket.SOCK_DGRAM, 0)
    scope = interface_index(rogue, IF)
    rogue.bind(("::", sdp_codec.SDP_PORT, 0, scope))
    group = socket.inet_pton(socket.AF_INET6, sdp_codec.SDP_MULTICAST)
    rogue.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, group + struct.pack("@I", scope))
    rogue.setblocking(False)
    bad = v2gtp.frame(0x9001, address.packed + struct.pack(">HBB", 15118, 0x10, 0x00))
    loop = asyncio.get_running_loop()

    async def answer_badly() -> int:
        answered = 0
        while True:
            _data, sender = await loop.sock_recvfrom(rogue, 64)
            await loop.sock_sendto(rogue, bad, sender)
            answered += 1

    task = asyncio.create_task(answer_badly())
    try:
        with pytest.raises(sdp.SdpTimeoutError, match="3 requests"):
            await sdp.discover(
                IF, Security.NONE, socket_factory=ev.socket, interval=0.05, max_requests=3
            )
    finally:
        task.cancel()
        rogue.close()


async def test_v2gtp_over_tcp(spaces: tuple[Namespace, Namespace], secc: Secc) -> None:
    ev, cs = spaces
    server = await start_secc(secc, cs)
    assert server.port in sdp_codec.SECC_PORTS
    responder = await sdp.SdpResponder.start(
        IF, tcp_port=server.port, offered={Security.NONE}, socket_factory=cs.socket
    )
    try:
        found = await sdp.discover(IF, Security.NONE, socket_factory=ev.socket)
    finally:
        await responder.close()
    connection = await stream.connect(found.address, found.port, IF, socket_factory=ev.socket)
    assert connection.tls_version is None
    await connection.send(v2gtp.PayloadType.EXI, SAP_REQ)
    assert await connection.receive() == (v2gtp.PayloadType.EXI, SAP_REQ)
    await connection.send(v2gtp.PayloadType.ISO20_DC, b"\x80\x01")
    assert await connection.receive() == (0x8004, b"\x80\x01")
    await connection.close()
    await asyncio.wait_for(secc.finished.wait(), 5)
    assert secc.closed == ["the peer closed the connection"]


@pytest.mark.parametrize(
    ("garbage", "reason"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", "bad V2GTP header"),
        (bytes.fromhex("01fe900000000002") + b"\x00\x00", "unexpected payload type 0x9000"),
        (bytes.fromhex("01fe800100002000"), "payload of 8192 bytes exceeds 4096"),
        (bytes.fromhex("01fe800100000010") + b"\x80", "ended inside a message (1 of 16"),
    ],
)
async def test_garbage_closes_the_connection_with_the_reason(
    spaces: tuple[Namespace, Namespace], secc: Secc, garbage: bytes, reason: str
) -> None:
    ev, cs = spaces
    server = await start_secc(secc, cs)
    connection = await stream.connect(server.address, server.port, IF, socket_factory=ev.socket)
    writer = connection._writer
    assert isinstance(writer, asyncio.StreamWriter)  # a plain connection
    writer.write(garbage)  # what a broken peer would send
    if reason.startswith("ended"):
        writer.write_eof()
    with pytest.raises(stream.StreamClosedError, match="peer closed"):
        await asyncio.wait_for(connection.receive(), 5)
    assert len(secc.closed) == 1
    assert reason in secc.closed[0]


@pytest.mark.parametrize(
    ("profile", "version"), [(pki.Profile.ISO2, "TLSv1.2"), (pki.Profile.ISO20, "TLSv1.3")]
)
async def test_v2gtp_over_tls(
    spaces: tuple[Namespace, Namespace],
    secc: Secc,
    credentials: dict[pki.Profile, pki.PkiFiles],
    profile: pki.Profile,
    version: str,
) -> None:
    ev, cs = spaces
    files = credentials[profile]
    server = await start_secc(secc, cs, tls.secc_context(profile, files.chain, files.key))
    assert server.tls
    context = tls.evcc_context(profile, files.root)
    connection = await stream.connect(
        server.address, server.port, IF, ssl_context=context, socket_factory=ev.socket
    )
    assert connection.tls_version == version
    tls_object = connection._writer.get_extra_info("ssl_object")
    if profile is pki.Profile.ISO2:
        assert tls_object.cipher()[0] == "ECDHE-ECDSA-AES128-SHA256"
    else:
        assert tls_object.cipher()[0] == "TLS_AES_256_GCM_SHA384"
    peer = tls_object.getpeercert()
    assert dict(x[0] for x in peer["subject"])["commonName"] == "SECC"
    await connection.send(v2gtp.PayloadType.EXI, SAP_REQ)
    assert await connection.receive() == (v2gtp.PayloadType.EXI, SAP_REQ)
    await connection.close()


async def test_an_untrusted_chain_is_refused(
    spaces: tuple[Namespace, Namespace],
    secc: Secc,
    credentials: dict[pki.Profile, pki.PkiFiles],
    tmp_path: pathlib.Path,
) -> None:
    ev, cs = spaces
    files = credentials[pki.Profile.ISO2]
    server = await start_secc(secc, cs, tls.secc_context(pki.Profile.ISO2, files.chain, files.key))
    stranger = pki.generate(pki.Profile.ISO2).write(tmp_path)  # another V2G root
    refused = tls.evcc_context(pki.Profile.ISO2, stranger.root)
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        await stream.connect(
            server.address, server.port, IF, ssl_context=refused, socket_factory=ev.socket
        )
    # The SECC serves the next EV as before.
    trusted = tls.evcc_context(pki.Profile.ISO2, files.root)
    connection = await stream.connect(
        server.address, server.port, IF, ssl_context=trusted, socket_factory=ev.socket
    )
    await connection.send(v2gtp.PayloadType.EXI, SAP_REQ)
    assert await connection.receive() == (v2gtp.PayloadType.EXI, SAP_REQ)
    await connection.close()


def _early_client(
    sock: socket.socket, context: ssl.SSLContext, hello_sent: threading.Event
) -> tuple[int, bytes]:
    """A blocking TLS client that sends its ClientHello at once, then its first message
    in the segment after its Finished, and reads the answer."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls_object = context.wrap_bio(incoming, outgoing, server_side=False)
    while True:
        try:
            tls_object.do_handshake()
            break
        except ssl.SSLWantReadError:
            sock.sendall(outgoing.read())
            hello_sent.set()
            incoming.write(sock.recv(65536))
    tls_object.write(v2gtp.frame(v2gtp.PayloadType.EXI, SAP_REQ))
    sock.sendall(outgoing.read())  # Finished and the request together
    answer = b""
    while len(answer) < v2gtp.HEADER_SIZE + len(SAP_REQ):
        try:
            answer += tls_object.read(65536)
        except ssl.SSLWantReadError:
            incoming.write(sock.recv(65536))
    return v2gtp.parse_header(answer[: v2gtp.HEADER_SIZE])[0], answer[v2gtp.HEADER_SIZE :]


async def _early_hello_session(
    spaces: tuple[Namespace, Namespace], files: pki.PkiFiles, profile: pki.Profile
) -> tuple[int, bytes]:
    ev, cs = spaces
    secc = Secc()
    server = await start_secc(secc, cs, tls.secc_context(profile, files.chain, files.key))
    sock = ev.socket(socket.AF_INET6, socket.SOCK_STREAM, 0)
    sock.settimeout(10.0)  # a stalled handshake fails the test instead of hanging it
    scope = interface_index(sock, IF)
    hello_sent = threading.Event()
    try:
        with sock:
            # The kernel completes the TCP handshake from the listen backlog: connected
            # while the SECC's loop, blocked here, has accepted nothing yet.
            sock.connect((str(server.address), server.port, 0, scope))
            context = tls.evcc_context(profile, files.root)
            answer: concurrent.futures.Future[tuple[int, bytes]] = concurrent.futures.Future()

            def client() -> None:
                try:
                    answer.set_result(_early_client(sock, context, hello_sent))
                except BaseException as exc:  # handed to the test through the future
                    answer.set_exception(exc)

            threading.Thread(target=client, daemon=True).start()
            # Blocking on purpose: the SECC's loop must not accept before the hello is out.
            assert hello_sent.wait(10.0)
            return await asyncio.wrap_future(answer)
    finally:
        await server.close()


@pytest.mark.parametrize(
    "loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop], ids=["asyncio", "uvloop"]
)
@pytest.mark.parametrize("profile", [pki.Profile.ISO2, pki.Profile.ISO20])
def test_a_client_hello_waiting_before_the_accept_is_served(
    spaces: tuple[Namespace, Namespace],
    credentials: dict[pki.Profile, pki.PkiFiles],
    profile: pki.Profile,
    loop_factory: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    """The ClientHello is in the socket before the SECC accepts the connection: the
    handshake must read it. Under uvloop (the runtime's loop) a plain stream upgraded
    with start_tls had read it into its own buffer first, and both ends waited for each
    other until the handshake timed out."""
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        answer = runner.run(_early_hello_session(spaces, credentials[profile], profile))
    assert answer == (v2gtp.PayloadType.EXI, SAP_REQ)


def test_link_local_addresses_differ(spaces: tuple[Namespace, Namespace]) -> None:
    ev, cs = spaces
    a, b = link_local_address(IF, ev.socket), link_local_address(IF, cs.socket)
    assert a != b
    assert a == ipaddress.IPv6Address("fe80::ff:fe00:1")  # EUI-64 of 02:00:00:00:00:01
