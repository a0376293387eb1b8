"""A private Mosquitto on an ephemeral port, for tests and benchmarks.

It uses the settings of the shipped config/mosquitto/local.conf (TCP_NODELAY above all),
optionally with TLS, a password file and an ACL file, and disappears with its temporary
directory.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from evstack.runtime.mqtt import BrokerSettings

__all__ = ["PrivateMosquitto"]

# The settings of config/mosquitto/local.conf (a test keeps the two in step).
BASE_SETTINGS = "set_tcp_nodelay true\nmax_queued_messages 10000\n"
# What local.conf adds to lock a bus down with `ev-codegen broker-acl`'s files: no anonymous
# client, and each account with the one client id that cannot take over another's session.
LOCKED_SETTINGS = "allow_anonymous false\nuse_username_as_clientid true\n"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PrivateMosquitto:
    """`with PrivateMosquitto() as broker:` gives BrokerSettings for a fresh broker.

    With `tls=True` it makes a throwaway CA and server certificate (openssl CLI); with
    `users` it requires those username/password pairs. With `password_file` (and `acl_file`),
    as `ev-codegen broker-acl` writes them, it is locked down like config/mosquitto/local.conf.
    """

    def __init__(
        self,
        *,
        tls: bool = False,
        users: dict[str, str] | None = None,
        password_file: Path | None = None,
        acl_file: Path | None = None,
    ) -> None:
        if shutil.which("mosquitto") is None:
            raise RuntimeError("mosquitto is not installed (`make mosquitto` installs it)")
        if users and password_file is not None:
            raise ValueError("give users or a password file, not both")
        self._tls = tls
        self._users = users or {}
        self._password_file = password_file
        self._acl_file = acl_file
        self._dir = Path(tempfile.mkdtemp(prefix="evstack-mosquitto-"))
        # Started as root, mosquitto drops to its own user, which must still read our files.
        self._dir.chmod(0o755)
        self._process: subprocess.Popen[bytes] | None = None
        self.settings = BrokerSettings()

    def __enter__(self) -> BrokerSettings:
        port = _free_port()
        lines = [f"listener {port} 127.0.0.1", BASE_SETTINGS]
        if self._users:
            passwords = self._dir / "passwd"
            passwords.write_text("".join(f"{u}:{p}\n" for u, p in self._users.items()))
            passwords.chmod(0o644)
            # mosquitto_passwd -U hashes the plain-text file in place.
            subprocess.run(["mosquitto_passwd", "-U", str(passwords)], check=True)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        elif self._password_file is not None:
            lines += [LOCKED_SETTINGS, f"password_file {self._copy(self._password_file)}"]
            if self._acl_file is not None:
                lines.append(f"acl_file {self._copy(self._acl_file)}")
        else:
            lines.append("allow_anonymous true")
        ca = None
        if self._tls:
            ca, cert, key = self._make_certificates()
            lines += [f"cafile {ca}", f"certfile {cert}", f"keyfile {key}"]
        config = self._dir / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        self.settings = BrokerSettings(port=port, tls=self._tls, tls_ca=ca)
        self._start()
        return self.settings

    def _copy(self, source: Path) -> Path:
        """A copy that Mosquitto, dropping from root to its own user, can read."""
        copy = self._dir / source.name
        shutil.copyfile(source, copy)
        copy.chmod(0o644)
        return copy

    def _start(self) -> None:
        config = self._dir / "mosquitto.conf"
        self._process = subprocess.Popen(
            ["mosquitto", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self._wait_listening(self.settings.port)

    def stop(self) -> None:
        """Stop the broker (it forgets everything retained) until `start_again()`."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(5)
            if self._process.stderr is not None:
                self._process.stderr.close()
            self._process = None

    def start_again(self) -> None:
        self._start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def _wait_listening(self, port: int) -> None:
        assert self._process is not None
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                stderr = self._process.stderr.read().decode() if self._process.stderr else ""
                raise RuntimeError(f"mosquitto exited: {stderr}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.01)
        raise RuntimeError(f"mosquitto did not listen on {port} within 5 s")

    def _make_certificates(self) -> tuple[str, str, str]:
        d = self._dir
        # EC keys: generated in milliseconds, unlike RSA.
        new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        ca, ca_key = f"{d}/ca.crt", f"{d}/ca.key"
        cert, key, request = f"{d}/server.crt", f"{d}/server.key", f"{d}/server.csr"
        (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        for args in (
            ["req", "-x509", *new_key, "-days", "1", "-subj", "/CN=test CA", "-keyout", ca_key,
             "-out", ca],
            ["req", *new_key, "-subj", "/CN=localhost", "-keyout", key, "-out", request],
            ["x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
             "-days", "1", "-extfile", f"{d}/san.ext", "-out", cert],
        ):  # fmt: skip
            subprocess.run(["openssl", *args], check=True, capture_output=True)
        Path(key).chmod(0o644)
        return ca, cert, key
