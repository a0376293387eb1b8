"""A small, valid manifest tree that each test bends in one place."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

WriteFile = Callable[[str, str], Path]

BASE_FILES = {
    "errors/example.yaml": """
        description: Errors of the example interface.
        errors:
          - name: ExampleErrorA
            description: The first thing that can go wrong.
          - name: ExampleErrorB
            description: The second thing that can go wrong.
    """,
    "types/example.yaml": """
        description: Types of the example interface.
        types:
          Reading:
            description: One reading.
            type: object
            additionalProperties: false
            required: [value]
            properties:
              value:
                description: The value.
                type: number
              children:
                description: Readings below this one.
                type: array
                items:
                  description: A child.
                  type: object
                  $ref: /example#/Reading
    """,
    "interfaces/example.yaml": """
        description: An example interface.
        cmds:
          read:
            description: Take a reading.
            arguments:
              channel:
                description: Which channel.
                type: integer
                minimum: 0
            result:
              description: The reading.
              type: object
              $ref: /example#/Reading
        vars:
          level:
            description: The level.
            type: number
        errors:
          - reference: /errors/example
    """,
    "interfaces/other.yaml": """
        description: Another interface.
    """,
    "modules/Provider/manifest.yaml": """
        description: Provides the example.
        config:
          gain:
            description: Gain.
            type: number
            minimum: 0
            maximum: 10
            default: 1
          mode:
            description: Mode.
            type: string
            enum: [fast, slow]
            default: fast
          serial:
            description: Serial number.
            type: string
            pattern: ^[A-Z]{2}[0-9]+$
        provides:
          main:
            description: The example.
            interface: example
            config:
              channels:
                description: How many channels.
                type: integer
                default: 2
          aux:
            description: Something else.
            interface: other
        metadata:
          license: https://opensource.org/licenses/Apache-2.0
          authors: [evstack]
    """,
    "modules/Consumer/manifest.yaml": """
        description: Needs the example.
        requires:
          source:
            interface: example
          extra:
            interface: example
            min_connections: 0
            max_connections: 2
        metadata:
          license: https://opensource.org/licenses/Apache-2.0
          authors: [evstack]
    """,
}

BASE_CONFIG = """
    active_modules:
      provider:
        module: Provider
        config_module:
          serial: AB123
      consumer:
        module: Consumer
        connections:
          source:
            - module_id: provider
              implementation_id: main
"""


@pytest.fixture
def write_file(tmp_path: Path) -> WriteFile:
    def write(relative: str, text: str) -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    return write


@pytest.fixture
def tree_root(tmp_path: Path, write_file: WriteFile) -> Path:
    for relative, text in BASE_FILES.items():
        write_file(relative, text)
    return tmp_path
