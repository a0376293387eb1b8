"""The Example module: a small, complete module for end-to-end tests and as a model.

It implements the `example` interface (commands with and without results, an inline
object argument, vars and errors) and the `kvs` interface (an in-memory store), and uses
another module's store when the config connects one.
"""

from __future__ import annotations

from typing import Any

from evstack.generated.interfaces.example import ExampleImplBase, ExampleSetLimitsLimits
from evstack.generated.interfaces.kvs import KvsImplBase
from evstack.generated.modules.example import (
    ExampleExampleConfig,
    ExampleModuleBase,
    ExampleStoreConfig,
)
from evstack.generated.types.example import Reading, Unit

__all__ = ["Example"]


class Example(ExampleModuleBase):
    """Publishes its limit and status when ready, and serves both implementations."""

    def create_example(self, config: ExampleExampleConfig) -> ExampleImplBase:
        self.example = ExampleImpl(self, config.channels)
        return self.example

    def create_store(self, config: ExampleStoreConfig) -> KvsImplBase:
        return MemoryStore()

    async def init(self) -> None:
        # Published during init: the runtime holds these back until every module is up.
        await self.example.publish_max_current(self.config.max_current)
        await self.example.publish_status(self.config.greeting)


class ExampleImpl(ExampleImplBase):
    """Answers from a small table; remembers keys stored through `uses_something`."""

    def __init__(self, module: Example, channels: int) -> None:
        self._module = module
        self._channels = channels
        self._max_current = module.config.max_current

    async def handle_uses_something(self, key: str) -> bool:
        # Ask the connected store, if there is one; keys starting with "known" always are.
        for store in self._module.r_kvs:
            if await store.call_exists(key):
                return True
        return key.startswith("known")

    async def handle_measure(self, channel: int) -> Reading:
        if channel >= self._channels:
            raise ValueError(f"channel {channel} does not exist; this device has {self._channels}")
        reading = Reading(channel=channel, value=self._max_current / (channel + 1), unit=Unit.A)
        await self.publish_reading(reading)
        return reading

    async def handle_set_limits(self, limits: ExampleSetLimitsLimits) -> None:
        low = limits.min_current or 0.0
        if low > limits.max_current:
            raise ValueError(f"min_current {low} is above max_current {limits.max_current}")
        self._max_current = limits.max_current
        await self.publish_max_current(limits.max_current)

    async def handle_fail(self, message: str) -> None:
        raise RuntimeError(message)

    async def handle_reset(self) -> None:
        self._max_current = self._module.config.max_current
        await self.publish_status("idle")


class MemoryStore(KvsImplBase):
    """The `kvs` interface over a dict: forgets everything when the module restarts."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}

    async def handle_store(self, key: str, value: Any) -> None:
        self._values[key] = value

    async def handle_load(self, key: str) -> Any:
        return self._values.get(key)

    async def handle_delete(self, key: str) -> None:
        self._values.pop(key, None)

    async def handle_exists(self, key: str) -> bool:
        return key in self._values
