"""Hand-written classes in the style ev-codegen generates, and small modules built on them.

They stand in for generated code so the runtime's tests do not depend on the generator.
"""

# The generated API takes a per-call `timeout`, as ours does here.
# ruff: noqa: ASYNC109

from __future__ import annotations

import abc
import asyncio
import enum
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar

import msgspec

from evstack.runtime import (
    Client,
    CommandSpec,
    ErrorEvent,
    ErrorSpec,
    ImplBase,
    ModuleBase,
    ProvidedSpec,
    RequirementSpec,
    VarSpec,
)

# -- "generated" interface `calculator` ------------------------------------------------


class CalculatorError(enum.StrEnum):
    OVERHEAT = "calculator/Overheat"


class _AddArgs(msgspec.Struct, frozen=True):
    a: int
    b: int


class _FailArgs(msgspec.Struct, frozen=True):
    message: str


class _SleepArgs(msgspec.Struct, frozen=True):
    seconds: float


class _NoArgs(msgspec.Struct, frozen=True):
    pass


class CalculatorImplBase(ImplBase):
    INTERFACE = "calculator"
    COMMANDS: ClassVar = {
        "add": CommandSpec("add", _AddArgs, int, "handle_add"),
        "fail": CommandSpec("fail", _FailArgs, None, "handle_fail"),
        "sleep": CommandSpec("sleep", _SleepArgs, None, "handle_sleep"),
        "wrong_result": CommandSpec("wrong_result", _NoArgs, int, "handle_wrong_result"),
    }
    VARS: ClassVar = {"total": VarSpec("total", int, 1)}
    ERRORS: ClassVar = {
        "calculator/Overheat": ErrorSpec("calculator/Overheat", "Too hot to calculate.")
    }

    @abc.abstractmethod
    async def handle_add(self, a: int, b: int) -> int: ...

    @abc.abstractmethod
    async def handle_fail(self, message: str) -> None: ...

    @abc.abstractmethod
    async def handle_sleep(self, seconds: float) -> None: ...

    @abc.abstractmethod
    async def handle_wrong_result(self) -> int: ...

    async def publish_total(self, value: int) -> None:
        await self._publish_var("total", value)


class CalculatorClient(Client):
    INTERFACE = "calculator"

    async def call_add(self, a: int, b: int, *, timeout: float | None = None) -> int:
        result: int = await self._call(
            CalculatorImplBase.COMMANDS["add"], _AddArgs(a=a, b=b), timeout
        )
        return result

    async def call_fail(self, message: str, *, timeout: float | None = None) -> None:
        await self._call(CalculatorImplBase.COMMANDS["fail"], _FailArgs(message=message), timeout)

    async def call_sleep(self, seconds: float, *, timeout: float | None = None) -> None:
        await self._call(CalculatorImplBase.COMMANDS["sleep"], _SleepArgs(seconds=seconds), timeout)

    async def call_wrong_result(self, *, timeout: float | None = None) -> int:
        result: int = await self._call(
            CalculatorImplBase.COMMANDS["wrong_result"], _NoArgs(), timeout
        )
        return result

    def subscribe_total(self, handler: Callable[[int], Awaitable[None] | None]) -> None:
        self._subscribe_var(CalculatorImplBase.VARS["total"], handler)


# -- "generated" module bases ----------------------------------------------------------


class ProviderConfig(msgspec.Struct, frozen=True):
    start_total: int = 0
    # A file that, while it does not exist, makes the module crash once (and create it).
    crash_marker: str = ""


class EmptyConfig(msgspec.Struct, frozen=True):
    pass


class ProviderModuleBase(ModuleBase):
    MODULE = "Provider"
    CONFIG = ProviderConfig
    PROVIDES: ClassVar = {"main": ProvidedSpec("main", CalculatorImplBase, EmptyConfig)}
    config: ProviderConfig

    @abc.abstractmethod
    def create_main(self, config: EmptyConfig) -> CalculatorImplBase: ...


class ConsumerModuleBase(ModuleBase):
    MODULE = "Consumer"
    CONFIG = EmptyConfig
    REQUIRES: ClassVar = {"calc": RequirementSpec("calc", CalculatorClient, 1, 1)}

    @property
    def r_calc(self) -> CalculatorClient:
        client = self._requirement("calc")[0]
        assert isinstance(client, CalculatorClient)
        return client


# -- hand-written modules --------------------------------------------------------------

# In-process tests look at the instances; module ids are unique per test.
INSTANCES: dict[str, ModuleBase] = {}
_INSTANCE_ARRIVED: dict[str, asyncio.Event] = {}


def _register(module: ModuleBase) -> None:
    INSTANCES[module.module_id] = module
    _INSTANCE_ARRIVED.setdefault(module.module_id, asyncio.Event()).set()


async def instance(module_id: str) -> ModuleBase:
    """The in-process instance of `module_id`, once its init() has started."""
    await _INSTANCE_ARRIVED.setdefault(module_id, asyncio.Event()).wait()
    return INSTANCES[module_id]


class Calculator(CalculatorImplBase):
    def __init__(self, module: Provider) -> None:
        self.module = module
        self.total = module.config.start_total

    async def handle_add(self, a: int, b: int) -> int:
        self.total += a + b
        await self.publish_total(self.total)
        return a + b

    async def handle_fail(self, message: str) -> None:
        raise RuntimeError(message)

    async def handle_sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def handle_wrong_result(self) -> int:
        return "not an int"  # type: ignore[return-value]


class Provider(ProviderModuleBase):
    main: Calculator

    def create_main(self, config: EmptyConfig) -> Calculator:
        self.main = Calculator(self)
        return self.main

    async def init(self) -> None:
        _register(self)
        if self.config.crash_marker:
            _crash_once(Path(self.config.crash_marker))
        # Published during init: must still reach subscribers (held back until global ready).
        await self.main.publish_total(self.main.total)
        await self.main.raise_error(CalculatorError.OVERHEAT, "warming up", sub_type="init")


def _crash_once(marker: Path) -> None:
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        raise RuntimeError("crashing on purpose, once")


class Consumer(ConsumerModuleBase):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.totals: list[int] = []
        self.errors: list[ErrorEvent] = []
        self.crashes: list[ErrorEvent] = []
        self.all_errors: list[ErrorEvent] = []
        self.init_sum: int | None = None
        self.shut_down = False
        self.events = asyncio.Queue[str]()

    async def init(self) -> None:
        _register(self)
        self.r_calc.subscribe_total(self._on_total)
        self.r_calc.subscribe_errors(self._on_error)
        self.subscribe_module_crashes(self._on_crash)
        self.subscribe_all_errors(self.all_errors.append)
        self.events.put_nowait("subscribed")
        # A call made during init waits for the provider to be ready.
        self.init_sum = await self.r_calc.call_add(20, 22)

    async def ready(self) -> None:
        self.events.put_nowait("ready")

    async def shutdown(self) -> None:
        self.shut_down = True

    def _on_total(self, value: int) -> None:
        self.totals.append(value)
        self.events.put_nowait(f"total {value}")

    def _on_crash(self, event: ErrorEvent) -> None:
        self.crashes.append(event)
        self.events.put_nowait(f"crash {event.sub_type} {'raised' if event.active else 'cleared'}")

    async def _on_error(self, event: ErrorEvent) -> None:
        self.errors.append(event)
        self.events.put_nowait(f"error {event.sub_type} {'raised' if event.active else 'cleared'}")
