"""The broker restarts: modules reconnect, renew subscriptions and retained state."""

from __future__ import annotations

import asyncio

import pytest

from evstack.runtime import CommandError
from evstack.runtime.manager import running
from evstack.runtime.mosquitto import PrivateMosquitto

from .conftest import Probe
from .sample_modules import INSTANCES, Consumer
from .test_roundtrip import pair


@pytest.mark.timeout(60)
async def test_modules_survive_a_broker_restart(prefix: str) -> None:
    mosquitto = PrivateMosquitto()
    with mosquitto as broker:
        async with running(pair(prefix, broker)) as manager:
            consumer = INSTANCES[f"{prefix}-cons"]
            assert isinstance(consumer, Consumer)
            assert await consumer.r_calc.call_add(1, 1) == 2

            mosquitto.stop()
            with pytest.raises(CommandError):
                await consumer.r_calc.call_add(1, 1, timeout=0.2)
            mosquitto.start_again()

            async with asyncio.timeout(30):
                while True:
                    try:
                        assert await consumer.r_calc.call_add(2, 3, timeout=0.5) == 5
                        break
                    except CommandError:
                        await asyncio.sleep(0.1)
            # Vars flow again over the renewed subscription.
            while "total" not in (event := await asyncio.wait_for(consumer.events.get(), 10)):
                pass
            assert event.startswith("total")

            # The retained state was published again: a newcomer sees the global ready.
            async with Probe(broker, f"{prefix}-late") as late:
                await late.subscribe(manager.topics.global_ready(manager.name))
                _, payload = await late.next()
                assert payload
