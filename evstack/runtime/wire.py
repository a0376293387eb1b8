"""What travels over MQTT: topic names and payload structs.

This module is the single place that builds topic strings; docs/runtime-protocol.md
describes the same layout for humans. All payloads are JSON encoded with msgspec.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import quote, unquote

import msgspec

from evstack.runtime.specs import Severity

__all__ = [
    "CMD_QOS",
    "CONTROL_QOS",
    "ERROR_QOS",
    "CommandReply",
    "CommandRequest",
    "ErrorEvent",
    "GlobalReady",
    "ModuleAssignment",
    "ModuleReady",
    "ReplyFailure",
    "RunFinished",
    "Topics",
]

# Commands and replies: at most once. A command is an action (close a contactor, start a
# session); QoS 1 may deliver it twice after a reconnect, and the caller's timeout already
# covers a lost message. See docs/runtime-protocol.md, "QoS".
CMD_QOS: Final = 0
# Errors must reach safety logic exactly as raised; duplicates are harmless (same uuid).
ERROR_QOS: Final = 1
# Config, module ready and global ready are retained state: delivered at least once.
CONTROL_QOS: Final = 1


class CommandRequest(msgspec.Struct, frozen=True):
    """A call; `args` stays raw until the callee decodes it against the command's arg struct.

    The caller is not named here: it is the last level of the command topic, which the broker's
    ACL lets only that caller publish to. `expires_at` (Unix time) is the caller's deadline; a
    request that arrives later, say one a client queued during a broker outage, is dropped.
    """

    id: int
    args: msgspec.Raw = msgspec.Raw(b"{}")
    expires_at: float | None = None


class ReplyFailure(msgspec.Struct, frozen=True):
    event: str
    message: str


class CommandReply(msgspec.Struct, frozen=True, omit_defaults=True):
    """Exactly one of `result` (raw, decoded by the caller) and `error` is meaningful."""

    id: int
    result: msgspec.Raw = msgspec.Raw(b"null")
    error: ReplyFailure | None = None


class ErrorEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An error raised by an implementation; retained on its topic while active.

    A cleared error is an empty retained payload on the same topic; subscribers receive a
    copy of the last raise with `active=False`.
    """

    type: str
    sub_type: str = ""
    message: str = ""
    description: str = ""
    severity: Severity = Severity.HIGH
    origin_module: str
    origin_impl: str
    timestamp: float
    uuid: str
    active: bool = True


class ModuleAssignment(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a module process needs to run one module instance (retained config topic)."""

    run_id: str
    manager: str
    module_id: str
    module_class: str
    config_module: dict[str, Any] = {}
    config_implementation: dict[str, dict[str, Any]] = {}
    connections: dict[str, list[tuple[str, str]]] = {}
    command_timeout_s: float = 30.0
    # The module's own folder for what must survive a restart (see ModuleBase.state_dir).
    state_dir: str = ""
    may_finish_run: bool = False
    max_pending_commands: int = 64
    # The run's clock speed-up (evstack.runtime.clock); one value for every module.
    speedup: float = 1.0


class ModuleReady(msgspec.Struct, frozen=True):
    """A module is up; `instance` is new at every start, so a restart shows even in-process."""

    run_id: str
    pid: int
    instance: str = ""


class GlobalReady(msgspec.Struct, frozen=True):
    run_id: str
    modules: list[str]


class RunFinished(msgspec.Struct, frozen=True):
    """A module asks its manager to end the run (`ModuleBase.finish_run`).

    It travels on the module's own `finish` topic, so the topic names who asks. `result` stays
    raw: the manager hands it on (`ev-manager run --summary-json`) without knowing its shape.
    """

    run_id: str
    exit_code: int
    result: msgspec.Raw = msgspec.Raw(b"null")


def _segment_for_sub_type(sub_type: str) -> str:
    # The leading "_" keeps the empty sub type a non-empty topic level; quoting keeps "/",
    # "+" and "#" from turning into topic structure.
    return "_" + quote(sub_type, safe="")


def sub_type_from_segment(segment: str) -> str:
    return unquote(segment[1:])


class Topics:
    """Topic names under one prefix, e.g. `evstack` or a per-test random prefix."""

    def __init__(self, prefix: str) -> None:
        if not prefix or any(c in prefix for c in "+#") or prefix.endswith("/"):
            raise ValueError(f"invalid MQTT topic prefix {prefix!r}")
        self.prefix = prefix

    def module(self, module_id: str) -> str:
        return f"{self.prefix}/modules/{module_id}"

    def config(self, module_id: str) -> str:
        return f"{self.prefix}/modules/{module_id}/config"

    def module_ready(self, module_id: str) -> str:
        return f"{self.prefix}/modules/{module_id}/ready"

    def replies(self, caller_module_id: str) -> str:
        """The level under which `caller_module_id` receives replies, one level per callee."""
        return f"{self.prefix}/modules/{caller_module_id}/reply"

    def reply(self, caller_module_id: str, callee_module_id: str) -> str:
        return f"{self.prefix}/modules/{caller_module_id}/reply/{callee_module_id}"

    def var(self, module_id: str, impl_id: str, name: str) -> str:
        return f"{self.prefix}/modules/{module_id}/{impl_id}/var/{name}"

    def cmd(self, module_id: str, impl_id: str, name: str) -> str:
        """The level under which `name` is called, one level per caller."""
        return f"{self.prefix}/modules/{module_id}/{impl_id}/cmd/{name}"

    def call(self, module_id: str, impl_id: str, name: str, caller_module_id: str) -> str:
        return f"{self.prefix}/modules/{module_id}/{impl_id}/cmd/{name}/{caller_module_id}"

    def cmd_filter(self, module_id: str, impl_id: str) -> str:
        return f"{self.prefix}/modules/{module_id}/{impl_id}/cmd/+/+"

    def error(self, module_id: str, impl_id: str, error_type: str, sub_type: str) -> str:
        segment = _segment_for_sub_type(sub_type)
        return f"{self.prefix}/modules/{module_id}/{impl_id}/error/{error_type}/{segment}"

    def error_filter(self, module_id: str, impl_id: str) -> str:
        return f"{self.prefix}/modules/{module_id}/{impl_id}/error/#"

    def all_module_errors(self) -> str:
        return f"{self.prefix}/modules/+/+/error/#"

    def global_ready(self, manager: str) -> str:
        return f"{self.prefix}/managers/{manager}/ready"

    def finish_run(self, module_id: str) -> str:
        """Where `module_id` asks its manager to end the run."""
        return f"{self.prefix}/modules/{module_id}/finish"

    def all_finish_requests(self) -> str:
        return f"{self.prefix}/modules/+/finish"

    def manager_error(self, manager: str, error_type: str, sub_type: str) -> str:
        segment = _segment_for_sub_type(sub_type)
        return f"{self.prefix}/managers/{manager}/error/{error_type}/{segment}"

    def all_manager_errors(self) -> str:
        return f"{self.prefix}/managers/+/error/#"
