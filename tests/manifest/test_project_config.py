"""Runtime configs against the project's own tree, the way `ev-manager` loads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from evstack.manifest import Connection, ManifestError, load_project_tree, load_runtime_config

CONFIG = """
settings:
  mqtt_prefix: demo
active_modules:
  store:
    module: Example
  example:
    module: Example
    config_module:
      max_current: {max_current}
    connections:
      kvs:
        - module_id: store
          implementation_id: {impl}
"""


def write(tmp_path: Path, max_current: str = "32", impl: str = "store") -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(max_current=max_current, impl=impl))
    return path


def test_example_wiring_loads_with_defaults(tmp_path: Path) -> None:
    config = load_runtime_config(write(tmp_path), load_project_tree())
    example = config.modules["example"]
    assert example.config_module == {"max_current": 32.0, "greeting": "idle"}
    assert example.config_implementation["example"] == {"channels": 8}
    assert example.connections == {"kvs": (Connection("store", "store"),)}
    assert config.modules["store"].connections == {"kvs": ()}
    assert config.settings.prefix == "demo"


def test_wrong_config_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as caught:
        load_runtime_config(write(tmp_path, max_current="81", impl="example"), load_project_tree())
    text = str(caught.value)
    assert "2 problems" in text
    assert "config.yaml:10:7: active_modules.example.config_module.max_current" in text
    assert "81 is out of range: must be at most 80" in text
    assert "provides 'example', but the requirement needs 'kvs'" in text
    assert "its implementation 'store' provides 'kvs'" in text
