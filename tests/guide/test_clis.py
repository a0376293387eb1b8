"""Every command line of evstack in one style: click, `--version`, help on every option, and
every argument named in its command's help."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from evstack.modules.ApiServer import tokens

SCRIPTS = {
    ep.name: ep for ep in importlib.metadata.entry_points(group="console_scripts")
    if ep.value.startswith("evstack.")
}  # fmt: skip
# Command lines that are modules' tools rather than console scripts.
TOOLS: dict[str, click.Command] = {"python -m evstack.modules.ApiServer.tokens": tokens.main}


def commands(name: str, command: click.Command) -> Iterator[tuple[list[str], click.Command]]:
    """The command and, for a group, every subcommand with its path of names."""
    yield [], command
    if isinstance(command, click.Group):
        for sub_name, sub in command.commands.items():
            for path, found in commands(sub_name, sub):
                yield [sub_name, *path], found


def all_commands() -> dict[str, click.Command]:
    found = dict(TOOLS)
    for name, entry in SCRIPTS.items():
        loaded = entry.load()
        if isinstance(loaded, click.Command):
            found[name] = loaded
    return found


def test_the_console_scripts_are_the_ones_this_test_knows() -> None:
    assert set(SCRIPTS) == {"ev-codegen", "ev-manager", "ev-exi"}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_every_console_script_is_click_with_a_version(name: str) -> None:
    command = SCRIPTS[name].load()
    assert isinstance(command, click.Command), f"{name} is not a click command"
    result = CliRunner().invoke(command, ["--version"], prog_name=name)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{name}, version ")


@pytest.mark.parametrize("name", sorted(set(all_commands())))
def test_every_option_has_help_and_every_argument_is_explained(name: str) -> None:
    for path, command in commands(name, all_commands()[name]):
        result = CliRunner().invoke(all_commands()[name], [*path, "--help"], prog_name=name)
        where = " ".join([name, *path])
        assert result.exit_code == 0, f"{where}: {result.output}"
        if name in SCRIPTS:  # a subcommand's usage names its script, not a module
            assert "python -m" not in result.output.splitlines()[0], where
        assert command.help, f"{where} has no help"
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help or param.hidden, f"{where} {param.opts} has no help"
            elif isinstance(param, click.Argument):
                shown = (param.metavar or param.human_readable_name).strip(".[]").upper()
                assert shown in command.help.upper(), f"{where}: the help never names {shown}"
