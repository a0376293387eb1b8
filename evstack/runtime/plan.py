"""What `ev-manager` runs: module instances, their wiring and the run settings.

A `RunPlan` is built from a validated runtime config (`from_runtime_config`) or directly
(tests, embedding). It is plain data, so process mode can ship it to module processes.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evstack.runtime.errors import ConfigurationError
from evstack.runtime.mqtt import BrokerSettings

__all__ = [
    "ModulePlan",
    "RestartPolicy",
    "RunPlan",
    "from_runtime_config",
    "module_class_path",
    "module_imports_named_in",
]


def module_class_path(module: str) -> str:
    """evstack's own module `Foo` is the class `evstack.modules.Foo.module:Foo`; others come
    from evstack.manifest.locate."""
    return f"evstack.modules.{module}.module:{module}"


@dataclass(frozen=True, slots=True)
class ModulePlan:
    module_id: str
    module_class: str
    config_module: Mapping[str, Any] = field(default_factory=dict)
    config_implementation: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # req_id -> [(module_id, impl_id), ...]
    connections: Mapping[str, list[tuple[str, str]]] = field(default_factory=dict)
    # The manifest's `enable_global_errors`: may see every module's errors.
    global_errors: bool = False


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """Restart a crashed module after `initial_s`, doubling up to `max_s`, `max_restarts` times."""

    max_restarts: int = 5
    initial_s: float = 0.5
    max_s: float = 30.0

    def delay(self, restarts_so_far: int) -> float:
        return float(min(self.initial_s * 2**restarts_so_far, self.max_s))


@dataclass(frozen=True, slots=True)
class RunPlan:
    modules: list[ModulePlan]
    # None: start the embedded broker.
    broker: BrokerSettings | None = None
    prefix: str = "evstack"
    command_timeout_s: float = 30.0
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    # Each module's state folder is `state_dir/<module id>`. None: a temporary folder that
    # goes with the manager, so nothing survives the run (tests, demos without a config).
    state_dir: Path | None = None
    # The modules that may end the run (`ModuleBase.finish_run`).
    finishers: frozenset[str] = frozenset()
    # Commands of one caller a module lets wait or run at once; also the calls one module
    # keeps in flight to another. The excess is answered with Busy.
    max_pending_commands: int = 64
    # Each module's password for the broker (`ev-codegen broker-acl` writes it). None: the
    # embedded broker gets fresh ones, an external broker is used as it comes.
    credentials_file: Path | None = None
    # Simulated time runs this many times faster than the wall's for every module (1: a
    # real charger); see evstack.runtime.clock.
    speedup: float = 1.0


def module_imports_named_in(path: Path) -> list[str]:
    """The module classes' import names a config mentions, read without any validation.

    Only a hint for preloading; an unreadable config gives [] and is reported properly by
    `from_runtime_config`.
    """
    try:
        document = yaml.safe_load(path.read_text())
        names = {entry["module"] for entry in document["active_modules"].values()}
        return sorted(module_class_path(str(name)).partition(":")[0] for name in names)
    except Exception:
        return []


def from_runtime_config(path: Path, module_dirs: Sequence[Path] = ()) -> RunPlan:
    """Validate a runtime config with evstack.manifest and turn it into a plan.

    Its modules are evstack's, installed distributions' (entry points) and those under
    `module_dirs`, which must be on `sys.path` for the module processes to import them.

    Raises ConfigurationError carrying evstack.manifest's message (file, line, column,
    hint) when the config or a manifest it uses is wrong.
    """
    # Imported by name: evstack.manifest is written in parallel and its loader is heavy;
    # `ev-manager` pays for it only when it reads a config file.
    manifest: Any = importlib.import_module("evstack.manifest")
    try:
        tree = manifest.load_project_tree(module_dirs)
        config = manifest.load_runtime_config(path, tree)
    except manifest.ManifestError as exc:
        raise ConfigurationError(str(exc)) from exc
    settings = config.settings
    broker = None
    if settings.broker_url:
        broker = BrokerSettings.from_url(
            settings.broker_url,
            username=settings.username,
            password=settings.password,
            tls_ca=_optional_str(settings.tls_ca),
            tls_cert=_optional_str(settings.tls_cert),
            tls_key=_optional_str(settings.tls_key),
        )
    modules = [
        ModulePlan(
            module_id=instance.module_id,
            module_class=tree.modules[instance.module].class_path,
            config_module=dict(instance.config_module),
            config_implementation={k: dict(v) for k, v in instance.config_implementation.items()},
            connections={
                req_id: [(c.module_id, c.implementation_id) for c in connections]
                for req_id, connections in instance.connections.items()
            },
            global_errors=instance.global_errors,
        )
        for instance in config.modules.values()
    ]
    return RunPlan(
        modules=modules,
        broker=broker,
        prefix=settings.prefix or "evstack",
        command_timeout_s=settings.command_timeout_s,
        state_dir=settings.state_dir,
        finishers=frozenset(settings.finish_run_by),
        max_pending_commands=settings.max_pending_commands,
        credentials_file=settings.credentials_file,
        speedup=settings.speedup,
        restart=RestartPolicy(
            max_restarts=settings.restart_max,
            initial_s=settings.restart_backoff_initial_s,
            max_s=settings.restart_backoff_max_s,
        ),
    )


def _optional_str(path: object) -> str | None:
    return None if path is None else str(path)
