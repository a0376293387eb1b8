"""What a module's password lets a client do on a locked-down bus, and what it does not.

Every test runs on the embedded broker and on a private Mosquitto configured from
`ev-codegen broker-acl`'s files, both with config/sil-ac.yaml's wiring.
"""

from __future__ import annotations

import dataclasses

import pytest

from evstack.runtime.errors import BrokerError
from evstack.runtime.mqtt import MqttConnection
from evstack.runtime.plan import RunPlan

from .conftest import MANAGER, Account, LockedBus, observe_refusal

CALLERS = ("auth", "site_fuse", "rfid_reader", "dashboard")


@pytest.mark.timeout(30)
async def test_anonymous_unknown_and_wrong_password_clients_are_refused(
    sil_bus: LockedBus,
) -> None:
    auth = sil_bus.settings("auth")
    for settings in (
        sil_bus.broker,  # anonymous
        dataclasses.replace(auth, password="guess"),
        dataclasses.replace(auth, username="intruder@evstack"),
    ):
        with pytest.raises(BrokerError, match="refused"):
            await MqttConnection(settings, str(settings.username), lambda t, p: None).connect()
    async with Account(sil_bus, "auth"):
        pass  # the right password gets in


@pytest.mark.timeout(30)
@pytest.mark.parametrize("intruder", ["rfid_reader", "dashboard"])
async def test_a_module_cannot_publish_to_another_modules_topics(
    sil_bus: LockedBus, intruder: str
) -> None:
    topics = sil_bus.topics
    forged = [
        # a command of a module it is not wired to, in its own name and in the real caller's
        (topics.call("board_1", "board_support", "pwm_off", intruder), b'{"id": 1}'),
        (topics.call("board_1", "board_support", "pwm_off", "evse_1"), b'{"id": 2}'),
        # a command it may call (the dashboard reads evse_1), in another caller's name
        (topics.call("evse_1", "evse", "stop_transaction", "auth"), b'{"id": 3}'),
        (topics.call("evse_1", "evse", "get_transactions", "session_store"), b'{"id": 4}'),
        # another module's var, error, ready and reply
        (topics.var("evse_1", "evse", "session_event"), b'{"event": "TransactionFinished"}'),
        (topics.error("board_1", "board_support", "evse_board_support/X", ""), b"{}"),
        (topics.module_ready("auth"), b""),
        (topics.reply("auth", "allow_list"), b'{"id": 5, "result": true}'),
        # the manager's control topics: configs (its own too), global ready, crash errors
        (topics.config("evse_1"), b"{}"),
        (topics.config(intruder), b"{}"),
        (topics.global_ready(MANAGER), b"{}"),
        (topics.manager_error(MANAGER, "evstack/ModuleCrashed", "auth"), b"{}"),
    ]

    assert await observe_refusal(sil_bus, intruder, forged) == []
    assert await observe_refusal(sil_bus, intruder, forged, qos=1) == []


@pytest.mark.timeout(30)
async def test_a_forged_origin_cannot_authorize_a_token_or_change_a_limit(
    sil_bus: LockedBus,
) -> None:
    """authorize_response is auth's to call, enforce_limits site_fuse's (sil-ac.yaml)."""
    topics = sil_bus.topics
    authorize = b'{"id": 1, "args": {"provided_token": {"id_token": "NOT-ALLOWED"}}}'
    limit_63_a = b'{"id": 2, "args": {"value": {"limits_root_side": {"ac_max_current_A": 63}}}}'
    authorize_as = {c: topics.call("evse_1", "evse", "authorize_response", c) for c in CALLERS}
    limit_as = {c: topics.call("evse_1", "energy_grid", "enforce_limits", c) for c in CALLERS}
    async with Account(sil_bus, "evse_1") as evse:
        await evse.subscribe(topics.cmd_filter("evse_1", "+"))
        for intruder in ("rfid_reader", "dashboard"):
            forged = [
                (authorize_as["auth"], authorize),
                (limit_as["site_fuse"], limit_63_a),
                (limit_as[intruder], limit_63_a),  # not wired to evse_1's energy_grid
            ]
            if intruder == "rfid_reader":  # not wired to evse_1 at all
                forged.append((authorize_as[intruder], authorize))
            assert await observe_refusal(sil_bus, intruder, forged) == []

        # The dashboard is wired to evse_1's evse_manager (it reads its sessions), so it may
        # call its commands: in its own name, which the handler reads as its caller.
        async with Account(sil_bus, "dashboard") as dashboard:
            dashboard.publish(authorize_as["dashboard"], authorize)
            await dashboard.flush()
        # The modules wired to those commands get through: the ACL is no blanket ban.
        for caller, topic in (("auth", authorize_as["auth"]), ("site_fuse", limit_as["site_fuse"])):
            async with Account(sil_bus, caller) as account:
                account.publish(topic, caller.encode())
                await account.flush()
        received = {await evse.received.get() for _ in range(3)}
        assert received == {
            (authorize_as["dashboard"], authorize),
            (authorize_as["auth"], b"auth"),
            (limit_as["site_fuse"], b"site_fuse"),
        }
        assert evse.received.empty()


@pytest.mark.timeout(30)
async def test_retained_configs_reach_only_their_module(
    sil_bus: LockedBus, sil_plan: RunPlan
) -> None:
    topics = sil_bus.topics
    async with Account(sil_bus, None) as manager:
        for module_id in (m.module_id for m in sil_plan.modules):
            manager.publish(topics.config(module_id), module_id.encode(), 1, retain=True)
        await manager.flush()
        async with Account(sil_bus, "evse_1") as evse:
            await evse.subscribe(topics.config("evse_1"))
            if sil_bus.kind == "embedded":
                with pytest.raises(BrokerError):
                    await evse.subscribe(topics.config("+"))
            else:
                # Mosquitto grants the subscription, and checks every message it delivers.
                await evse.subscribe(topics.config("+"))
            # amqtt would also send a newly connected client what matches others' subscriptions.
            async with Account(sil_bus, "auth") as auth:
                await auth.subscribe(topics.config("auth"))
                for account, module_id in ((evse, "evse_1"), (auth, "auth")):
                    control = (topics.config(module_id), b"control")
                    manager.publish(*control, 1)
                    seen = await account.until(control)
                    assert {topic for topic, _ in seen} == {topics.config(module_id)}


@pytest.mark.timeout(30)
async def test_a_module_cannot_take_over_another_modules_session(sil_bus: LockedBus) -> None:
    topics = sil_bus.topics
    command = (topics.call("evse_1", "evse", "authorize_response", "auth"), b"auth")
    async with Account(sil_bus, "evse_1") as evse:
        await evse.subscribe(topics.cmd_filter("evse_1", "+"))
        intruder = Account(sil_bus, "rfid_reader", client_id=evse.username)
        if sil_bus.kind == "embedded":
            with pytest.raises(BrokerError, match="refused"):
                await intruder.__aenter__()
        else:
            # Mosquitto names the client after its account (use_username_as_clientid).
            await intruder.__aenter__()
        try:
            async with Account(sil_bus, "auth") as auth:
                auth.publish(*command)
                assert await evse.until(command) == []  # evse_1's session is still its own
        finally:
            if sil_bus.kind != "embedded":
                await intruder.__aexit__()
