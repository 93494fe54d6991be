"""``scout --help`` and every command's help are text for a terminal."""

from __future__ import annotations

from typing import Any

import typer
from typer.testing import CliRunner

from scout_cli import app


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group
            found += _commands(command, (*prefix, name))
        elif not command.hidden:
            found.append((*prefix, name))
    return found


def test_every_help_is_plain_terminal_text() -> None:
    commands = _commands(typer.main.get_group(app))
    assert ("run",) in commands and ("db", "verify") in commands and ("models", "promote") in commands
    runner = CliRunner()
    for path in commands:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (path, result.output)
        assert "``" not in result.output and ":class:" not in result.output, (path, result.output)
