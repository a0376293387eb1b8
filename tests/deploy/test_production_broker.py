"""config/mosquitto/production.conf as shipped (paths and port aside): TLS only, no anonymous
client, the accounts and ACL of `ev-codegen broker-acl`, retained state across a restart."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parents[2]
PRODUCTION = REPO / "config" / "mosquitto" / "production.conf"
TOPIC = "evstack/modules/evse/config"

pytestmark = pytest.mark.skipif(
    shutil.which("mosquitto") is None, reason="mosquitto is not installed (`make mosquitto`)"
)


def certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a broker certificate for localhost (EC keys: fast)."""
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca, ca_key = folder / "ca.crt", folder / "ca.key"
    cert, key, request = folder / "broker.crt", folder / "broker.key", folder / "broker.csr"
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for args in (
        ["req", "-x509", *new_key, "-days", "1", "-subj", "/CN=test CA", "-keyout", ca_key,
         "-out", ca],
        ["req", *new_key, "-subj", "/CN=localhost", "-keyout", key, "-out", request],
        ["x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-days", "1", "-extfile", folder / "san.ext", "-out", cert],
    ):  # fmt: skip
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)
    key.chmod(0o644)  # mosquitto, started as root, reads it as its own user
    return ca, cert, key


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def folder() -> Iterator[Path]:
    # Not tmp_path: mosquitto drops from root to its own user, which must read and write here.
    path = Path(tempfile.mkdtemp(prefix="evstack-production-broker-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Broker:
    def __init__(self, config: Path, port: int) -> None:
        self.config, self.port = config, port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["mosquitto", "-c", str(self.config)], stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.communicate()[1].decode()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise AssertionError("mosquitto did not listen")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # saves the persistence file on the way out
            self.process.communicate(timeout=10)
            self.process = None


def connect(port: int, ca: Path, user: str | None, password: str | None) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user or "anonymous")
    client.tls_set(ca_certs=str(ca), tls_version=ssl.PROTOCOL_TLS_CLIENT)
    if user is not None:
        client.username_pw_set(user, password)
    client.connect("localhost", port)
    return client


def connack(client: mqtt.Client) -> int:
    codes: list[int] = []
    client.on_connect = lambda c, u, flags, reason, props: codes.append(reason.value)
    deadline = time.monotonic() + 10
    while not codes and time.monotonic() < deadline:
        client.loop(0.1)
    assert codes, "no CONNACK"
    return codes[0]


@pytest.mark.timeout(90)
def test_the_production_broker_locks_down_and_keeps_retained_state(folder: Path) -> None:
    acl = subprocess.run(
        [sys.executable, "-c", "from evstack.codegen.cli import main; main()", "broker-acl",
         str(REPO / "config" / "production-example.yaml"),
         "--out", str(folder / "acl")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert acl.returncode == 0, acl.stderr
    for name in ("passwd", "acl"):
        (folder / "acl" / name).chmod(0o644)
    (folder / "acl").chmod(0o755)
    credentials = json.loads((folder / "acl" / "credentials.json").read_text())
    manager = f"@{credentials['manager']}@{credentials['prefix']}"
    password = credentials["passwords"][manager]
    ca, cert, key = certificates(folder)
    persistence = folder / "persistence"
    persistence.mkdir(mode=0o777)
    persistence.chmod(0o777)
    port = free_port()
    text = PRODUCTION.read_text()
    for shipped, here in {
        "/etc/mosquitto/evstack/passwd": folder / "acl" / "passwd",
        "/etc/mosquitto/evstack/acl": folder / "acl" / "acl",
        "/etc/mosquitto/evstack/tls/ca.crt": ca,
        "/etc/mosquitto/evstack/tls/broker.crt": cert,
        "/etc/mosquitto/evstack/tls/broker.key": key,
        "listener 8883 127.0.0.1": f"listener {port} 127.0.0.1",
        "persistence_location /var/lib/mosquitto/": f"persistence_location {persistence}/",
        "log_dest syslog": "log_dest stderr",
    }.items():
        assert shipped in text, f"production.conf no longer says {shipped!r}"
        text = text.replace(shipped, str(here))
    config = folder / "mosquitto.conf"
    config.write_text(text)
    broker = Broker(config, port)
    broker.start()
    try:
        anonymous = connect(port, ca, None, None)
        assert connack(anonymous) != 0  # refused: not authorised
        anonymous.disconnect()

        client = connect(port, ca, manager, password)
        assert connack(client) == 0
        sent = client.publish(TOPIC, b"kept across a restart", qos=1, retain=True)
        while not sent.is_published():
            client.loop(0.1)
        client.disconnect()

        broker.stop()
        broker.start()

        received: list[bytes] = []
        client = connect(port, ca, manager, password)
        assert connack(client) == 0
        client.on_message = lambda c, u, message: received.append(bytes(message.payload))
        client.subscribe(TOPIC, qos=1)
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            client.loop(0.1)
        client.disconnect()
        assert received == [b"kept across a restart"]
    finally:
        broker.stop()
