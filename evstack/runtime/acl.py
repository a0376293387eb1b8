"""Who may publish and subscribe what on the bus, derived from a run plan's wiring alone.

Every module gets an account of its own, and each account may do what the module's manifest
and the runtime config say it does, nothing more: publish its own ready, vars and errors, its
calls to the implementations the config connects it to and its replies to the modules that
call it; subscribe to its own config, commands and replies, and to the ready, vars and errors
of what it calls. The manager may do anything under the prefix. The embedded broker, the
Mosquitto files of `ev-codegen broker-acl` and the tests all use the grants made here.

An account's client id is its name: a broker must refuse any other (Mosquitto:
`use_username_as_clientid`), or one account could take over another's session.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from evstack.runtime.plan import ModulePlan, RunPlan
from evstack.runtime.wire import Topics

__all__ = ["AccessCheck", "Grant", "bus_acl", "manager_user", "module_user"]


def _quote(text: str) -> str:
    # ':' would end the name in a password file, '@' would make names ambiguous, spaces and
    # control characters would break the ACL file's lines.
    return quote(text, safe="/")


def module_user(prefix: str, module_id: str) -> str:
    """The account, and MQTT client id, of a module: `evse_1@evstack`.

    Module ids cannot hold '@' and the quoted prefix cannot either, so chargers sharing a broker
    under different prefixes never share a name.
    """
    return f"{module_id}@{_quote(prefix)}"


def manager_user(prefix: str, manager: str) -> str:
    """The account, and client id, of manager `manager`: `@charger-1@evstack`.

    A module id never starts with '@', so no module can be named into a manager's account.
    """
    return f"@{_quote(manager)}@{_quote(prefix)}"


@dataclass(frozen=True, slots=True)
class Grant:
    """What one account may do: publish to `publish`, subscribe to and receive `subscribe`.

    Both hold MQTT topic filters; `module_id` is "" for a manager.
    """

    username: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    module_id: str = ""


def bus_acl(plan: RunPlan, managers: Iterable[str]) -> dict[str, Grant]:
    """The grants of `managers` and of every module of `plan`, by account name.

    Connections to modules outside the plan (a charger split across managers) are honoured on
    the caller's side; the callee's replies need it to be in the plan given here too.
    """
    if any(ord(c) < 32 for c in plan.prefix):
        raise ValueError(f"the prefix {plan.prefix!r} holds control characters")
    topics = Topics(plan.prefix)
    everything = (f"{plan.prefix}/#",)
    grants = {
        (user := manager_user(plan.prefix, name)): Grant(user, everything, everything)
        for name in managers
    }
    callers: dict[str, list[str]] = {}
    for module in plan.modules:
        for target, _ in _connections(module):
            callers.setdefault(target, []).append(module.module_id)
    for module in plan.modules:
        grant = _module_grant(topics, module, callers.get(module.module_id, []), plan.finishers)
        grants[grant.username] = grant
    return grants


def _connections(module: ModulePlan) -> list[tuple[str, str]]:
    return [c for connections in module.connections.values() for c in connections]


def _module_grant(
    topics: Topics, module: ModulePlan, callers: list[str], finishers: frozenset[str]
) -> Grant:
    me = module.module_id
    targets = _connections(module)
    publish = [
        topics.module_ready(me),
        topics.var(me, "+", "+"),
        topics.error_filter(me, "+"),
        *(topics.call(target, impl, "+", me) for target, impl in targets),
        *(topics.reply(caller, me) for caller in callers),
    ]
    if me in finishers:
        publish.append(topics.finish_run(me))
    subscribe = [
        topics.config(me),
        topics.cmd_filter(me, "+"),
        f"{topics.replies(me)}/+",
        *(topics.module_ready(target) for target, _ in targets),
        *(topics.var(target, impl, "+") for target, impl in targets),
        *(topics.error_filter(target, impl) for target, impl in targets),
        topics.global_ready("+"),
        topics.all_manager_errors(),
    ]
    if module.global_errors:
        subscribe.append(topics.all_module_errors())
    user = module_user(topics.prefix, me)
    return Grant(user, _unique(publish), _unique(subscribe), me)


def _unique(filters: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(filters))


class AccessCheck:
    """Answers, per message, whether an account may publish, subscribe or receive.

    The filters are compiled once per account: exact topics into a set, wildcard filters into
    one regular expression, so a check is a dict lookup and at most one match.
    """

    def __init__(self, grants: Mapping[str, Grant]) -> None:
        self._publish = {user: _Filters(g.publish) for user, g in grants.items()}
        self._subscribe = {user: _Filters(g.subscribe) for user, g in grants.items()}

    def may_publish(self, username: str | None, topic: str) -> bool:
        filters = self._publish.get(username or "")
        return filters is not None and filters.matches(topic)

    def may_receive(self, username: str | None, topic: str) -> bool:
        filters = self._subscribe.get(username or "")
        return filters is not None and filters.matches(topic)

    def may_subscribe(self, username: str | None, topic_filter: str) -> bool:
        """True if every topic `topic_filter` can match is one the account may receive."""
        filters = self._subscribe.get(username or "")
        return filters is not None and filters.covers(topic_filter)


class _Filters:
    __slots__ = ("_exact", "_levels", "_regex")

    def __init__(self, filters: tuple[str, ...]) -> None:
        wild = [f for f in filters if _is_wild(f)]
        self._exact = frozenset(f for f in filters if not _is_wild(f))
        self._levels = [f.split("/") for f in filters]
        pattern = "|".join(f"(?:{_regex(f)})" for f in wild)
        self._regex = re.compile(pattern, re.DOTALL) if wild else None

    def matches(self, topic: str) -> bool:
        if topic in self._exact:
            return True
        return self._regex is not None and self._regex.fullmatch(topic) is not None

    def covers(self, topic_filter: str) -> bool:
        if not _is_wild(topic_filter):
            return self.matches(topic_filter)
        wanted = topic_filter.split("/")
        return any(_covers(levels, wanted) for levels in self._levels)


def _is_wild(topic_filter: str) -> bool:
    return "+" in topic_filter or "#" in topic_filter


def _regex(topic_filter: str) -> str:
    levels = topic_filter.split("/")
    tail = ""
    if levels[-1] == "#":
        levels.pop()
        # `a/#` matches `a` itself too; a lone `#` matches everything.
        tail = "(?:/.*)?" if levels else ".*"
    return "/".join("[^/]*" if level == "+" else re.escape(level) for level in levels) + tail


def _covers(allowed: list[str], wanted: list[str]) -> bool:
    """Does the allowed filter match every topic the wanted filter matches?"""
    for index, level in enumerate(allowed):
        if level == "#":
            return True
        if index >= len(wanted) or wanted[index] == "#":
            return False
        if level not in ("+", wanted[index]):
            return False
    return len(wanted) == len(allowed)
