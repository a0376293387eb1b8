"""Two modules in one manager: commands, vars, errors and the ready handshake."""

from __future__ import annotations

import asyncio

import pytest

from evstack.runtime import CommandError, CommandEvent
from evstack.runtime.manager import running
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.plan import RunPlan

from .conftest import sample
from .sample_modules import INSTANCES, Consumer, Provider


def pair(prefix: str, broker: BrokerSettings | None, **settings: object) -> RunPlan:
    return RunPlan(
        modules=[
            sample(f"{prefix}-prov", "Provider", config_module={"start_total": 5}),
            sample(
                f"{prefix}-cons", "Consumer", connections={"calc": [(f"{prefix}-prov", "main")]}
            ),
        ],
        broker=broker,
        prefix=prefix,
        **settings,  # type: ignore[arg-type]
    )


async def next_event(consumer: Consumer) -> str:
    return await asyncio.wait_for(consumer.events.get(), 10)


async def test_call_var_and_error_roundtrip(broker: BrokerSettings, prefix: str) -> None:
    async with running(pair(prefix, broker)):
        consumer = INSTANCES[f"{prefix}-cons"]
        provider = INSTANCES[f"{prefix}-prov"]
        assert isinstance(consumer, Consumer)
        assert isinstance(provider, Provider)
        # Made during the consumer's init, before the manager's global ready.
        assert consumer.init_sum == 42
        # Published and raised during the provider's init: held back, then delivered.
        seen: set[str] = set()
        while not seen >= {"ready", "error init raised"}:
            seen.add(await next_event(consumer))

        assert await consumer.r_calc.call_add(1, 2) == 3
        while 50 not in consumer.totals:
            await next_event(consumer)
        # 5 from the provider's init, 47 after the consumer's call in its init: none lost.
        assert consumer.totals == [5, 47, 50]

        await provider.main.clear_error("calculator/Overheat", sub_type="init")
        while "error init cleared" not in await next_event(consumer):
            pass
        assert consumer.errors[-1].active is False
        assert consumer.errors[-1].origin_module == f"{prefix}-prov"
        # The global error subscription saw the same raise and clear.
        assert [(e.type, e.active) for e in consumer.all_errors] == [
            ("calculator/Overheat", True),
            ("calculator/Overheat", False),
        ]


async def test_handler_exception_comes_back_typed(broker: BrokerSettings, prefix: str) -> None:
    async with running(pair(prefix, broker)):
        consumer = INSTANCES[f"{prefix}-cons"]
        assert isinstance(consumer, Consumer)
        with pytest.raises(CommandError) as failure:
            await consumer.r_calc.call_fail("boom")
        assert failure.value.event is CommandEvent.HANDLER_EXCEPTION
        assert "RuntimeError: boom" in failure.value.message
        # The provider keeps serving.
        assert await consumer.r_calc.call_add(2, 2) == 4


async def test_timeout_and_wrong_result(mosquitto: BrokerSettings, prefix: str) -> None:
    async with running(pair(prefix, mosquitto, command_timeout_s=0.3)):
        consumer = INSTANCES[f"{prefix}-cons"]
        assert isinstance(consumer, Consumer)
        with pytest.raises(CommandError) as failure:
            await consumer.r_calc.call_sleep(5)
        assert failure.value.event is CommandEvent.TIMEOUT
        # A per-call timeout overrides the setting.
        await consumer.r_calc.call_sleep(0.5, timeout=5)
        with pytest.raises(CommandError) as failure:
            await consumer.r_calc.call_wrong_result()
        assert failure.value.event is CommandEvent.SCHEMA_VALIDATION_FAILED


async def test_undeclared_error_is_rejected(mosquitto: BrokerSettings, prefix: str) -> None:
    async with running(pair(prefix, mosquitto)):
        provider = INSTANCES[f"{prefix}-prov"]
        assert isinstance(provider, Provider)
        with pytest.raises(ValueError, match="does not declare error 'calculator/Melted'"):
            await provider.main.raise_error("calculator/Melted")
