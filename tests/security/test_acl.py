"""The grants of evstack.runtime.acl: account names, what each module may do, the checks."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.client import topic_matches_sub

from evstack.manifest import load_runtime_config, load_tree
from evstack.runtime.acl import AccessCheck, Grant, bus_acl, manager_user, module_user
from evstack.runtime.plan import ModulePlan, RunPlan

from .conftest import MANAGER

pytestmark = pytest.mark.timeout(30)

module_ids = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_.-]{0,8}", fullmatch=True)
# What a YAML config can hold as a prefix: any text but wildcards (and no lone surrogates).
text = st.characters(blacklist_characters="+#", codec="utf-8", min_codepoint=32)
prefixes = st.text(text, min_size=1).filter(lambda p: not p.endswith("/"))
levels = st.sampled_from(["a", "b", "+", ""])
topic_levels = st.sampled_from(["a", "b", "c", ""])


@given(prefixes, prefixes, module_ids, module_ids)
def test_account_names_never_collide_and_fit_a_password_file(
    prefix_1: str, prefix_2: str, module_1: str, module_2: str
) -> None:
    names = {
        ("module", prefix_1, module_1): module_user(prefix_1, module_1),
        ("module", prefix_2, module_2): module_user(prefix_2, module_2),
        ("manager", prefix_1, module_1): manager_user(prefix_1, module_1),
        ("manager", prefix_2, module_2): manager_user(prefix_2, module_2),
    }
    assert len(set(names.values())) == len(set(names))
    for name in names.values():
        assert ":" not in name
        assert name.isprintable()
        assert " " not in name


def test_the_grant_of_a_module_follows_its_wiring_and_nothing_else() -> None:
    plan = RunPlan(
        modules=[
            ModulePlan("auth", "x:Auth", connections={"token_provider": [("rfid", "main")]}),
            ModulePlan("rfid", "x:Rfid"),
            ModulePlan("evse", "x:Evse"),
            ModulePlan("dashboard", "x:Dashboard", connections={"evse": [("evse", "evse")]}),
        ],
        prefix="site/1",
        finishers=frozenset({"dashboard"}),
    )
    grants = bus_acl(plan, [MANAGER])

    assert grants[manager_user("site/1", MANAGER)].publish == ("site/1/#",)
    assert grants["rfid@site/1"] == Grant(
        "rfid@site/1",
        publish=(
            "site/1/modules/rfid/ready",
            "site/1/modules/rfid/+/var/+",
            "site/1/modules/rfid/+/error/#",
            "site/1/modules/auth/reply/rfid",
        ),
        subscribe=(
            "site/1/modules/rfid/config",
            "site/1/modules/rfid/+/cmd/+/+",
            "site/1/modules/rfid/reply/+",
            "site/1/managers/+/ready",
            "site/1/managers/+/error/#",
        ),
        module_id="rfid",
    )
    dashboard = grants["dashboard@site/1"]
    assert "site/1/modules/evse/evse/cmd/+/dashboard" in dashboard.publish
    assert "site/1/modules/dashboard/finish" in dashboard.publish  # in finish_run_by
    assert {"site/1/modules/evse/ready", "site/1/modules/evse/evse/var/+"} <= set(
        dashboard.subscribe
    )
    assert not any("finish" in t for t in grants["auth@site/1"].publish)
    assert "site/1/modules/+/+/error/#" not in dashboard.subscribe


def test_only_a_module_with_global_errors_sees_every_error(tmp_path: Path) -> None:
    manifest = tmp_path / "modules" / "Historian" / "manifest.yaml"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(
        textwrap.dedent("""\
            description: Keeps every error.
            enable_global_errors: true
            metadata:
              license: https://opensource.org/licenses/Apache-2.0
              authors: [evstack]
            """)
    )
    config = tmp_path / "config.yaml"
    config.write_text("active_modules:\n  history:\n    module: Historian\n")
    instance = load_runtime_config(config, load_tree(tmp_path)).modules["history"]
    assert instance.global_errors is True

    plan = RunPlan([ModulePlan("history", "x:H", global_errors=True), ModulePlan("other", "x:O")])
    check = AccessCheck(bus_acl(plan, [MANAGER]))
    everything = "evstack/modules/+/+/error/#"
    assert check.may_subscribe(module_user("evstack", "history"), everything)
    assert not check.may_subscribe(module_user("evstack", "other"), everything)


@given(st.lists(st.lists(levels, min_size=1, max_size=4), max_size=4), st.lists(topic_levels))
def test_a_publish_is_allowed_exactly_when_a_granted_filter_matches(
    grant_levels: list[list[str]], topic: list[str]
) -> None:
    filters = ["/".join(f) for f in grant_levels] + ["a/#", "b/+/#"][: len(grant_levels) % 3]
    check = AccessCheck({"u": Grant("u", tuple(filters), ())})
    name = "/".join(topic) if topic else "a"

    assert check.may_publish("u", name) == any(topic_matches_sub(f, name) for f in filters)
    assert not check.may_publish(None, name)
    assert not check.may_publish("someone else", name)


@given(
    st.lists(st.lists(st.sampled_from(["a", "b", "+", "#"]), min_size=1, max_size=4), max_size=3),
    st.lists(st.sampled_from(["a", "b", "+", "#"]), min_size=1, max_size=4),
    st.lists(st.lists(topic_levels, min_size=1, max_size=5), max_size=20),
)
def test_a_subscription_is_allowed_only_if_all_it_can_receive_is_granted(
    grant_levels: list[list[str]], wanted_levels: list[str], topics: list[list[str]]
) -> None:
    valid = [f for f in grant_levels if "#" not in f[:-1]]
    filters = tuple("/".join(f) for f in valid)
    wanted = "/".join(wanted_levels)
    check = AccessCheck({"u": Grant("u", (), filters)})
    if "#" in wanted_levels[:-1] or not check.may_subscribe("u", wanted):
        return
    for levels_of_topic in topics:
        topic = "/".join(levels_of_topic)
        if topic_matches_sub(wanted, topic):
            assert check.may_receive("u", topic), (filters, wanted, topic)


@pytest.mark.parametrize(
    ("granted", "wanted", "allowed"),
    [
        ("p/modules/m/+/cmd/+/+", "p/modules/m/evse/cmd/+/+", True),
        ("p/modules/m/+/cmd/+/+", "p/modules/m/+/cmd/#", False),
        ("p/modules/t/i/error/#", "p/modules/t/i/error/#", True),
        ("p/modules/t/i/error/#", "p/modules/t/+/error/#", False),
        ("p/modules/t/i/var/+", "p/modules/t/i/var/power", True),
        ("p/modules/t/i/var/+", "p/modules/+/i/var/power", False),
        ("p/#", "p", True),
        ("p/modules/m/config", "p/modules/+/config", False),
    ],
)
def test_subscription_coverage(granted: str, wanted: str, allowed: bool) -> None:
    assert AccessCheck({"u": Grant("u", (), (granted,))}).may_subscribe("u", wanted) is allowed


def test_control_characters_in_a_prefix_are_refused() -> None:
    with pytest.raises(ValueError, match="control characters"):
        bus_acl(RunPlan([], prefix="evstack\nuser admin"), [MANAGER])
