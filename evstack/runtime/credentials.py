"""Each account's password on the bus, and how `ev-manager` hands them out.

For the embedded broker the manager makes fresh passwords every run; for an external broker
`ev-codegen broker-acl` writes them, with the broker's own files, to a credentials file that
only `ev-manager` should be able to read. A module gets its password in the arguments of its
process (pickled through the forkserver's socket, so neither its argv nor its environment
shows it) or, in-process, in memory; never over MQTT.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path

import msgspec

from evstack.runtime.acl import manager_user, module_user
from evstack.runtime.errors import ConfigurationError
from evstack.runtime.mqtt import BrokerSettings

__all__ = ["Credentials"]

log = logging.getLogger(__name__)


class Credentials(msgspec.Struct, frozen=True, kw_only=True):
    """The passwords of one manager's accounts and of its modules', by account name."""

    prefix: str
    manager: str
    passwords: dict[str, str]

    @classmethod
    def generate(cls, prefix: str, manager: str, module_ids: Iterable[str]) -> Credentials:
        users = [manager_user(prefix, manager), *(module_user(prefix, m) for m in module_ids)]
        # 192 random bits: no dictionary, no brute force, whatever the broker's hash.
        return cls(
            prefix=prefix,
            manager=manager,
            passwords={user: secrets.token_urlsafe(24) for user in users},
        )

    @classmethod
    def load(cls, path: Path) -> Credentials:
        try:
            mode = path.stat().st_mode
            credentials = msgspec.json.decode(path.read_bytes(), type=cls)
        except (OSError, msgspec.DecodeError) as exc:
            raise ConfigurationError(f"cannot read the credentials file {path}: {exc}") from exc
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning(
                "the credentials file %s is open to other users (mode %o): chmod 600 it",
                path,
                stat.S_IMODE(mode),
            )
        return credentials

    def save(self, path: Path) -> None:
        """Write the file readable by its owner alone, even if it existed with looser rights."""
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(msgspec.json.format(msgspec.json.encode(self)) + b"\n")

    def check(self, prefix: str, manager: str, module_ids: Iterable[str]) -> None:
        """Raise ConfigurationError unless these credentials serve that manager and modules."""
        if prefix != self.prefix:
            raise ConfigurationError(
                f"the credentials are for prefix {self.prefix!r}, the run uses {prefix!r}"
            )
        if manager != self.manager:
            raise ConfigurationError(
                f"the credentials are for manager {self.manager!r}, not {manager!r}"
            )
        missing = [m for m in module_ids if module_user(prefix, m) not in self.passwords]
        if manager_user(prefix, manager) not in self.passwords:
            missing.insert(0, f"the manager {manager!r}")
        if missing:
            raise ConfigurationError(
                f"the credentials have no password for {', '.join(missing)}; "
                "rerun `ev-codegen broker-acl` for this config"
            )

    def for_module(self, broker: BrokerSettings, module_id: str) -> BrokerSettings:
        return self._as(broker, module_user(self.prefix, module_id))

    def for_manager(self, broker: BrokerSettings) -> BrokerSettings:
        return self._as(broker, manager_user(self.prefix, self.manager))

    def _as(self, broker: BrokerSettings, user: str) -> BrokerSettings:
        return dataclasses.replace(broker, username=user, password=self.passwords[user])
