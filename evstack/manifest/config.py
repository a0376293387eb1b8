"""Runtime configs (EVerest's format): which module instances run, configured and wired how.

`load_runtime_config` checks the whole config against the manifest tree before anything
starts: unknown modules, config values of the wrong type or out of range, missing or
surplus connections, connections to the wrong interface. All faults come at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evstack.manifest.model import ConfigItem, ManifestTree, ModuleManifest
from evstack.manifest.problems import ManifestError, Problem, YamlPath, did_you_mean
from evstack.manifest.schema_check import check_against_schema, check_value
from evstack.manifest.source import Document, load_document

__all__ = [
    "Connection",
    "ModuleInstance",
    "RuntimeConfig",
    "RuntimeSettings",
    "load_runtime_config",
]


@dataclass(frozen=True)
class Connection:
    """One fulfilment of a requirement: implementation `implementation_id` of `module_id`."""

    module_id: str
    implementation_id: str


@dataclass(frozen=True)
class ModuleInstance:
    """One active module, with its configs complete (manifest defaults filled in) and checked."""

    module_id: str
    module: str
    config_module: Mapping[str, Any]
    config_implementation: Mapping[str, Mapping[str, Any]]
    connections: Mapping[str, tuple[Connection, ...]]
    # The manifest's `enable_global_errors`: the module may see every module's errors.
    global_errors: bool = False


@dataclass(frozen=True)
class RuntimeSettings:
    """How to reach the broker and how to supervise modules.

    `broker_url` None means: start the embedded broker. TLS paths, `state_dir` and
    `credentials_file` (each module's broker password, see `ev-codegen broker-acl`) are
    resolved against the config file's folder; without `state_dir` the modules keep their
    state in `var/state` of the working directory. `prefix` is the MQTT topic prefix
    (`settings.mqtt_prefix`, or EVerest's `mqtt_everest_prefix`; EVerest's `prefix` is an
    install path and is ignored). `finish_run_by` names the modules that may end the run.
    `speedup` makes the run's clock (evstack.runtime.clock) that much faster than the wall's,
    for every module at once: a simulation's setting; a charger leaves it at 1.
    """

    broker_url: str | None = None
    username: str | None = None
    password: str | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    prefix: str = "evstack"
    command_timeout_s: float = 30.0
    restart_max: int = 5
    restart_backoff_initial_s: float = 0.5
    restart_backoff_max_s: float = 10.0
    state_dir: Path = Path("var/state")
    finish_run_by: tuple[str, ...] = ()
    max_pending_commands: int = 64
    credentials_file: Path | None = None
    speedup: float = 1.0


@dataclass(frozen=True)
class RuntimeConfig:
    path: Path
    modules: Mapping[str, ModuleInstance]
    settings: RuntimeSettings


def load_runtime_config(path: Path, tree: ManifestTree) -> RuntimeConfig:
    """Load and check `path` against `tree`; raises ManifestError listing every fault."""
    problems: list[Problem] = []
    document = load_document(path, problems)
    if document is not None:
        problems.extend(check_against_schema(document, "config"))
    if problems or document is None:
        raise ManifestError(problems)
    checker = _ConfigChecker(document, tree)
    modules = checker.check_modules()
    settings = checker.settings()
    if checker.problems:
        raise ManifestError(sorted(checker.problems, key=_position))
    return RuntimeConfig(path=path, modules=modules, settings=settings)


def _position(problem: Problem) -> tuple[int, int]:
    return (problem.line or 0, problem.column or 0)


class _ConfigChecker:
    def __init__(self, document: Document, tree: ManifestTree) -> None:
        self.document = document
        self.tree = tree
        self.problems: list[Problem] = []
        self.active: dict[str, Any] = document.data["active_modules"] or {}

    def fault(self, path: YamlPath, message: str, hint: str = "") -> None:
        self.problems.append(self.document.problem(path, message, hint))

    def check_modules(self) -> dict[str, ModuleInstance]:
        instances = {}
        for module_id, entry in self.active.items():
            where: YamlPath = ("active_modules", module_id)
            manifest = self.tree.modules.get(entry["module"])
            if manifest is None:
                self.fault(
                    (*where, "module"),
                    f"unknown module {entry['module']!r}",
                    did_you_mean(entry["module"], self.tree.modules),
                )
                continue
            instances[module_id] = ModuleInstance(
                module_id=module_id,
                module=manifest.name,
                config_module=self._config(
                    (*where, "config_module"), entry.get("config_module"), manifest.config
                ),
                config_implementation=self._impl_configs(where, entry, manifest),
                connections=self._connections(where, entry.get("connections") or {}, manifest),
                global_errors=manifest.enable_global_errors,
            )
        return instances

    def _impl_configs(
        self, where: YamlPath, entry: Mapping[str, Any], manifest: ModuleManifest
    ) -> dict[str, dict[str, Any]]:
        given = entry.get("config_implementation") or {}
        for impl_id in given:
            if impl_id not in manifest.provides:
                self.fault(
                    (*where, "config_implementation", impl_id),
                    f"module {manifest.name!r} provides no implementation {impl_id!r}",
                    did_you_mean(impl_id, manifest.provides),
                )
        return {
            impl_id: self._config(
                (*where, "config_implementation", impl_id), given.get(impl_id), provided.config
            )
            for impl_id, provided in manifest.provides.items()
        }

    def _config(
        self, where: YamlPath, given: Mapping[str, Any] | None, items: Mapping[str, ConfigItem]
    ) -> dict[str, Any]:
        given = given or {}
        result: dict[str, Any] = {}
        for name in given:
            if name not in items:
                self.fault(
                    (*where, name), f"unknown config key {name!r}", did_you_mean(name, items)
                )
        for name, item in items.items():
            if name in given:
                value = given[name]
                schema = {
                    k: v for k, v in item.schema.items() if k not in ("default", "description")
                }
                faults = check_value(self.document, (*where, name), value, schema)
                if faults:
                    self.problems.extend(faults)
                    continue
                # YAML writes 16 for a number item; the module should still get a float.
                result[name] = float(value) if item.type == "number" else value
            elif item.has_default:
                result[name] = item.default
            else:
                self.fault(
                    (*where, name) if given else where,
                    f"missing config value {name!r} ({item.type})",
                    "the manifest gives no default, so the config must set it",
                )
        return result

    def _connections(
        self, where: YamlPath, given: Mapping[str, Any], manifest: ModuleManifest
    ) -> dict[str, tuple[Connection, ...]]:
        result: dict[str, tuple[Connection, ...]] = {}
        for req_id in given:
            if req_id not in manifest.requires:
                self.fault(
                    (*where, "connections", req_id),
                    f"module {manifest.name!r} has no requirement {req_id!r}",
                    did_you_mean(req_id, manifest.requires),
                )
        for req_id, requirement in manifest.requires.items():
            listed = given.get(req_id) or []
            req_where = (*where, "connections", req_id)
            count = len(listed)
            wanted = (
                f"exactly {requirement.min_connections}"
                if requirement.min_connections == requirement.max_connections
                else f"{requirement.min_connections} to {requirement.max_connections}"
            )
            if count < requirement.min_connections:
                self.fault(
                    req_where if req_id in given else (*where, "connections"),
                    f"requirement {req_id!r} ({requirement.interface}) has {count} "
                    f"connection(s), needs {wanted}",
                    self._providers_hint(requirement.interface),
                )
            elif count > requirement.max_connections:
                self.fault(
                    (*req_where, requirement.max_connections),
                    f"requirement {req_id!r} ({requirement.interface}) has {count} "
                    f"connections, takes {wanted}",
                )
            connections = []
            for index, item in enumerate(listed):
                connection = Connection(item["module_id"], item["implementation_id"])
                if self._check_connection((*req_where, index), connection, requirement.interface):
                    connections.append(connection)
            result[req_id] = tuple(connections)
        return result

    def _check_connection(self, where: YamlPath, connection: Connection, interface: str) -> bool:
        target = self.active.get(connection.module_id)
        if target is None:
            self.fault(
                (*where, "module_id"),
                f"no active module {connection.module_id!r}",
                did_you_mean(connection.module_id, self.active),
            )
            return False
        manifest = self.tree.modules.get(target["module"])
        if manifest is None:
            return False  # reported where that module is declared
        provided = manifest.provides.get(connection.implementation_id)
        if provided is None:
            self.fault(
                (*where, "implementation_id"),
                f"module {connection.module_id!r} ({manifest.name}) provides no "
                f"implementation {connection.implementation_id!r}",
                did_you_mean(connection.implementation_id, manifest.provides),
            )
            return False
        if provided.interface != interface:
            matching = [i for i, p in manifest.provides.items() if p.interface == interface]
            hint = (
                f"its implementation {matching[0]!r} provides {interface!r}"
                if matching
                else self._providers_hint(interface)
            )
            self.fault(
                (*where, "implementation_id"),
                f"{connection.module_id}:{connection.implementation_id} provides "
                f"{provided.interface!r}, but the requirement needs {interface!r}",
                hint,
            )
            return False
        return True

    def _providers_hint(self, interface: str) -> str:
        candidates = sorted(
            f"{module_id}:{impl_id}"
            for module_id, entry in self.active.items()
            if (manifest := self.tree.modules.get(entry["module"])) is not None
            for impl_id, provided in manifest.provides.items()
            if provided.interface == interface
        )
        if candidates:
            return "active implementations of it: " + ", ".join(candidates)
        return f"no active module provides {interface!r}"

    def settings(self) -> RuntimeSettings:
        raw: Mapping[str, Any] = self.document.data.get("settings") or {}
        base = self.document.path.parent
        broker_url = raw.get("broker_url")
        if broker_url is None and ("mqtt_broker_host" in raw or "mqtt_broker_port" in raw):
            host = raw.get("mqtt_broker_host", "localhost")
            broker_url = f"mqtt://{host}:{raw.get('mqtt_broker_port', 1883)}"
        if raw.get("tls_key") and not raw.get("tls_cert"):
            self.fault(("settings", "tls_key"), "tls_key given without tls_cert")
        defaults = RuntimeSettings()
        backoff_initial = float(
            raw.get("restart_backoff_initial_s", defaults.restart_backoff_initial_s)
        )
        backoff_max = float(raw.get("restart_backoff_max_s", defaults.restart_backoff_max_s))
        if backoff_max < backoff_initial:
            self.fault(
                ("settings", "restart_backoff_max_s"),
                f"restart_backoff_max_s ({backoff_max}) is below restart_backoff_initial_s "
                f"({backoff_initial})",
            )

        def path_of(key: str) -> Path | None:
            value = raw.get(key)
            return None if value is None else (base / value)

        finish_run_by = tuple(raw.get("finish_run_by") or ())
        for index, module_id in enumerate(finish_run_by):
            if module_id not in self.active:
                self.fault(
                    ("settings", "finish_run_by", index),
                    f"no active module {module_id!r}",
                    did_you_mean(module_id, self.active),
                )

        return RuntimeSettings(
            broker_url=broker_url,
            username=raw.get("username"),
            password=raw.get("password"),
            tls_ca=path_of("tls_ca"),
            tls_cert=path_of("tls_cert"),
            tls_key=path_of("tls_key"),
            prefix=raw.get("mqtt_prefix", raw.get("mqtt_everest_prefix", defaults.prefix)),
            command_timeout_s=float(raw.get("command_timeout_s", defaults.command_timeout_s)),
            restart_max=int(raw.get("restart_max", defaults.restart_max)),
            restart_backoff_initial_s=backoff_initial,
            restart_backoff_max_s=backoff_max,
            state_dir=path_of("state_dir") or defaults.state_dir,
            finish_run_by=finish_run_by,
            max_pending_commands=int(
                raw.get("max_pending_commands", defaults.max_pending_commands)
            ),
            credentials_file=path_of("credentials_file"),
            speedup=float(raw.get("speedup", defaults.speedup)),
        )
