"""Runtime configs: wiring and config values checked against the manifests."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from evstack.manifest import (
    Connection,
    ManifestError,
    Problem,
    RuntimeConfig,
    load_runtime_config,
    load_tree,
)

from .conftest import BASE_CONFIG, WriteFile


def load(root: Path, write_file: WriteFile, text: str = BASE_CONFIG) -> RuntimeConfig:
    path = write_file("config.yaml", text)
    return load_runtime_config(path, load_tree(root))


def problems(root: Path, write_file: WriteFile, text: str) -> list[Problem]:
    with pytest.raises(ManifestError) as caught:
        load(root, write_file, text)
    return caught.value.problems


def edit(old: str, new: str) -> str:
    text = textwrap.dedent(BASE_CONFIG)
    assert old in text
    return text.replace(old, new)


def test_valid_config_fills_defaults(tree_root: Path, write_file: WriteFile) -> None:
    config = load(tree_root, write_file)
    provider = config.modules["provider"]
    assert provider.config_module == {"gain": 1, "mode": "fast", "serial": "AB123"}
    assert provider.config_implementation == {"main": {"channels": 2}, "aux": {}}
    consumer = config.modules["consumer"]
    assert consumer.connections == {"source": (Connection("provider", "main"),), "extra": ()}
    assert config.settings.broker_url is None
    assert config.settings.prefix == "evstack"


def test_number_item_given_as_integer_becomes_float(tree_root: Path, write_file: WriteFile) -> None:
    config = load(tree_root, write_file, edit("serial: AB123", "serial: AB123\n      gain: 4"))
    gain = config.modules["provider"].config_module["gain"]
    assert gain == 4.0
    assert isinstance(gain, float)


def test_requirement_without_connection(tree_root: Path, write_file: WriteFile) -> None:
    text = edit(
        "    connections:\n      source:\n        - module_id: provider\n"
        "          implementation_id: main\n",
        "",
    )
    [problem] = problems(tree_root, write_file, text)
    assert problem.yaml_path == "active_modules.consumer.connections"
    assert problem.line == 6
    assert "requirement 'source' (example) has 0 connection(s), needs exactly 1" in problem.message
    assert problem.hint == "active implementations of it: provider:main"


def test_connection_to_the_wrong_interface(tree_root: Path, write_file: WriteFile) -> None:
    [problem] = problems(
        tree_root, write_file, edit("implementation_id: main", "implementation_id: aux")
    )
    assert problem.yaml_path == "active_modules.consumer.connections.source[0].implementation_id"
    assert "provides 'other', but the requirement needs 'example'" in problem.message
    assert problem.hint == "its implementation 'main' provides 'example'"
    assert problem.line == 11


def test_too_many_connections(tree_root: Path, write_file: WriteFile) -> None:
    one = "        - module_id: provider\n          implementation_id: main\n"
    text = textwrap.dedent(BASE_CONFIG) + "      extra:\n" + one * 3
    [problem] = problems(tree_root, write_file, text)
    assert problem.yaml_path == "active_modules.consumer.connections.extra[2]"
    assert "has 3 connections, takes 0 to 2" in problem.message


def test_too_few_connections(tree_root: Path, write_file: WriteFile) -> None:
    text = edit(
        "      source:\n        - module_id: provider\n          implementation_id: main\n",
        "      source: []\n",
    )
    [problem] = problems(tree_root, write_file, text)
    assert problem.yaml_path == "active_modules.consumer.connections.source"
    assert "has 0 connection(s), needs exactly 1" in problem.message


def test_unknown_module(tree_root: Path, write_file: WriteFile) -> None:
    [problem] = problems(tree_root, write_file, edit("module: Provider", "module: Provder"))
    assert problem.yaml_path == "active_modules.provider.module"
    assert problem.message == "unknown module 'Provder'"
    assert problem.hint == "did you mean 'Provider'?"


def test_unknown_module_id_and_implementation(tree_root: Path, write_file: WriteFile) -> None:
    found = problems(tree_root, write_file, edit("module_id: provider", "module_id: provier"))
    assert [p.yaml_path for p in found] == [
        "active_modules.consumer.connections.source[0].module_id"
    ]
    assert found[0].hint == "did you mean 'provider'?"
    [problem] = problems(
        tree_root, write_file, edit("implementation_id: main", "implementation_id: mian")
    )
    assert "provides no implementation 'mian'" in problem.message
    assert problem.hint == "did you mean 'main'?"


@pytest.mark.parametrize(
    ("line", "path", "message"),
    [
        ("gain: fast", "gain", "expected number, got a string"),
        ("gain: 11", "gain", "11 is out of range: must be at most 10"),
        ("gain: -1", "gain", "-1 is out of range: must be at least 0"),
        ("mode: slw", "mode", "'slw' is not one of the allowed values"),
        ("serial: ab1", "serial", "'ab1' does not match the pattern '^[A-Z]{2}[0-9]+$'"),
        ("gian: 2", "gian", "unknown config key 'gian'"),
    ],
)
def test_config_value_faults(
    tree_root: Path, write_file: WriteFile, line: str, path: str, message: str
) -> None:
    replaces_serial = line.startswith("serial")
    text = edit("serial: AB123", line if replaces_serial else f"serial: AB123\n      {line}")
    [problem] = problems(tree_root, write_file, text)
    assert problem.yaml_path == f"active_modules.provider.config_module.{path}"
    assert problem.message == message
    assert problem.line == (5 if replaces_serial else 6)


def test_missing_config_value_without_default(tree_root: Path, write_file: WriteFile) -> None:
    [problem] = problems(tree_root, write_file, edit("serial: AB123", "gain: 2"))
    assert "missing config value 'serial'" in problem.message


def test_every_problem_is_reported_at_once(tree_root: Path, write_file: WriteFile) -> None:
    text = edit("serial: AB123", "serial: 5\n      gain: 20").replace(
        "module: Consumer", "module: Nope"
    )
    found = problems(tree_root, write_file, text)
    assert len(found) == 3


def test_implementation_config_and_unknown_impl(tree_root: Path, write_file: WriteFile) -> None:
    text = edit(
        "      serial: AB123\n",
        "      serial: AB123\n    config_implementation:\n      main:\n"
        "        channels: 2.5\n      mian: {}\n",
    )
    found = problems(tree_root, write_file, text)
    assert [(p.yaml_path, p.message) for p in found] == [
        (
            "active_modules.provider.config_implementation.main.channels",
            "expected integer, got a number",
        ),
        (
            "active_modules.provider.config_implementation.mian",
            "module 'Provider' provides no implementation 'mian'",
        ),
    ]


def test_settings_everest_keys_and_ours(tree_root: Path, write_file: WriteFile) -> None:
    text = textwrap.dedent(BASE_CONFIG) + textwrap.dedent(
        """
        settings:
          mqtt_broker_host: 127.0.0.1
          mqtt_broker_port: 1884
          mqtt_everest_prefix: site1
          telemetry_enabled: true
          tls_ca: certs/ca.pem
          command_timeout_s: 5
        """
    )
    settings = load(tree_root, write_file, text).settings
    assert settings.broker_url == "mqtt://127.0.0.1:1884"
    assert settings.prefix == "site1"
    assert settings.tls_ca == tree_root / "certs/ca.pem"
    assert settings.command_timeout_s == 5.0


def test_settings_of_the_wrong_type(tree_root: Path, write_file: WriteFile) -> None:
    text = textwrap.dedent(BASE_CONFIG) + "settings:\n  mqtt_broker_port: high\n  brokr_url: x\n"
    found = problems(tree_root, write_file, text)
    assert [(p.yaml_path, p.message, p.hint) for p in found] == [
        ("settings.mqtt_broker_port", "expected integer, got a string", ""),
        ("settings.brokr_url", "unknown key 'brokr_url'", "did you mean 'broker_url'?"),
    ]
    assert "config.yaml:" in str(ManifestError(found))
