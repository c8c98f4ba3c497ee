"""``picscribe --help`` lists the commands from picscribe.cli.COMMANDS without
importing them; what it lists must be what each command says of itself."""

from __future__ import annotations

import click

from picscribe.cli import COMMANDS, main


def test_each_listed_sentence_is_the_commands_own_short_help() -> None:
    ctx = click.Context(main)
    for name, (_, _, sentence) in COMMANDS.items():
        command = main.get_command(ctx, name)
        assert command is not None and command.name == name
        listed = click.Command(name, help=sentence)
        for limit in range(20, 200, 9):
            assert listed.get_short_help_str(limit) == command.get_short_help_str(limit), (
                f"picscribe {name}: update its sentence in picscribe/cli/__init__.py COMMANDS"
            )


def test_help_lists_every_command_as_it_would_once_they_are_loaded() -> None:
    fresh = type(main)("picscribe")  # main's class with nothing loaded yet, whatever ran before
    ctx = click.Context(fresh)
    listed = ctx.make_formatter()
    fresh.format_commands(ctx, listed)
    assert fresh.commands == {}  # listing them imported none
    commands = [main.get_command(click.Context(main), name) for name in COMMANDS]
    loaded = click.Group("picscribe", commands=[c for c in commands if c is not None])
    assert len(loaded.commands) == len(COMMANDS)
    expected = ctx.make_formatter()
    loaded.format_commands(ctx, expected)
    assert listed.getvalue() == expected.getvalue()
    assert all(f"  {name} " in listed.getvalue() for name in COMMANDS)
