"""Every command documents itself: help text on each option, its default, the exit codes."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from wirewatch.cli import EXIT_CODES, cli


def all_commands(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found += all_commands(command, (*prefix, name))
    return found


def command_at(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


@pytest.mark.parametrize("path", all_commands(), ids=" ".join)
def test_help_documents_every_option_its_default_and_the_exit_codes(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"], env={"WIREWATCH_PARTITIONS": ""})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert " ".join(EXIT_CODES.split()) in text
    for param in command_at(path).params:
        if not isinstance(param, click.Option):
            continue
        assert param.help, f"{' '.join(path)} {param.opts[0]} has no help text"
        default = param.default
        if not param.is_flag and type(default).__name__ != "Sentinel" and default not in (None, False, (), ""):
            assert f"[default: {default}]".replace(" ", "") in text.replace(" ", ""), f"{param.opts[0]} hides its default"


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("wirewatch, version ")
