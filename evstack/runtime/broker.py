"""The embedded broker: amqtt in the manager's event loop, so a fresh machine needs nothing.

amqtt is pure Python and far slower than Mosquitto; it is for first runs, demos and tests.
A charger in the field names a real broker (`--broker` or the config's settings).

Given the grants of `evstack.runtime.acl` and a password per account, it locks the bus down:
an authentication plugin admits only those accounts, each with its own client id, and a broker
subclass (`evstack.runtime.amqtt_lock`) checks every publish, subscription and delivery against
the account's grant. It also closes what amqtt 0.12 leaves open: it would drop or take over the
session of a client id before checking who connects, and it sends retained messages to
clients without checking their rights (even for other clients' subscriptions).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from evstack.runtime.acl import AccessCheck, Grant
from evstack.runtime.logbudget import LogBudget
from evstack.runtime.mqtt import BrokerSettings

__all__ = ["EmbeddedBroker"]

log = logging.getLogger(__name__)


class Gate:
    """The decisions of a locked-down bus, shared by the auth plugin and the broker subclass."""

    def __init__(self, grants: Mapping[str, Grant], passwords: Mapping[str, str]) -> None:
        self.check = AccessCheck(grants)
        self._passwords = {user: password.encode() for user, password in passwords.items()}
        self._budget = LogBudget(log)

    def admits(self, session: Any) -> bool:
        user: str | None = session.username
        expected = self._passwords.get(user or "")
        given = (session.password or "").encode()
        if expected is None or not hmac.compare_digest(given, expected):
            reason = "no such account or a wrong password" if user else "no credentials"
        elif session.client_id != user:
            # Else one account could take over another's session by its client id.
            reason = f"client id {session.client_id!r} is not the account's"
        elif not session.clean_session:
            reason = "persistent sessions are not served"
        elif session.will_flag and not self.check.may_publish(user, session.will_topic or ""):
            reason = f"its will goes to {session.will_topic!r}"
        else:
            return True
        self._budget.warning("refused connections", "refused a client as %r: %s", user, reason)
        return False

    def allows(self, session: Any, topic: str, action: str) -> bool:
        user: str | None = session.username if session is not None else None
        if action == "publish":
            allowed = self.check.may_publish(user, topic)
        elif action == "subscribe":
            allowed = self.check.may_subscribe(user, topic)
        else:
            return self.check.may_receive(user, topic)
        if not allowed:
            self._budget.warning("refused " + action, "refused %r: %s %r", user, action, topic)
        return allowed


class EmbeddedBroker:
    """amqtt on `host:port`; locked down to `grants` when `passwords` are given."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        grants: Mapping[str, Grant] | None = None,
        passwords: Mapping[str, str] | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._gate = Gate(grants or {}, passwords) if passwords is not None else None
        self._broker: Any = None

    async def start(self) -> BrokerSettings:
        """Start listening (port 0 picks a free one) and return how to reach the broker."""
        # Heavy imports, only paid when embedding.
        from evstack.runtime.amqtt_lock import LockedBroker

        # amqtt and its state machine log every connection at INFO, and every refused one at
        # WARNING, beside the gate's own rate-limited line: noise in our output.
        logging.getLogger("amqtt").setLevel(logging.ERROR)
        logging.getLogger("transitions").setLevel(logging.WARNING)
        plugins: dict[str, Any] = {
            "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
        }
        if self._gate is not None:
            plugins = {"evstack.runtime.amqtt_lock.GateAuthPlugin": {"gate": self._gate}}
        listener = {"type": "tcp", "bind": f"{self._host}:{self._port}"}
        self._broker = LockedBroker(
            {"listeners": {"default": listener}, "plugins": plugins}, gate=self._gate
        )
        # amqtt 0.12 iterates its subscription table across awaits when a client
        # connects; another client subscribing meanwhile makes that iteration fail and
        # drops the connecting client. Iterating over a snapshot avoids it.
        self._broker._subscriptions = _SnapshotIterDict(self._broker._subscriptions)
        await self._broker.start()
        # amqtt has no public accessor for the bound port of an ephemeral listener.
        server = self._broker._servers["default"].instance
        port = server.sockets[0].getsockname()[1]
        return BrokerSettings(host=self._host, port=port)

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None


class _SnapshotIterDict(dict[str, Any]):
    """A dict whose iteration walks a copy of its keys, so it may change meanwhile."""

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.keys()))
