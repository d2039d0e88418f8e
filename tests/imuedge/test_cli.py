"""The one `imuedge` command: every subcommand and every flag explains itself."""
import argparse

import pytest

from imuedge.cli import build_parser, main


def subcommands(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                for sub_name, subsub in subcommands(sub):
                    yield f"{name} {sub_name}", subsub


def test_main_help_lists_the_jobs(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for command in ("run", "pretrain", "data", "export"):
        assert f"    {command}" in out


def test_every_flag_of_every_subcommand_has_help():
    found = dict(subcommands(build_parser()))
    assert {"run", "pretrain", "data", "export"} <= set(found)
    missing = [f"imuedge {name} {'/'.join(a.option_strings) or a.dest}"
               for name, sub in found.items() for a in sub._actions
               if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)) and not a.help]
    assert not missing, f"flags without help: {missing}"


def test_every_subcommand_explains_itself_beyond_its_one_line_help():
    found = dict(subcommands(build_parser()))
    for name in ("record", "devices decode", "firmware check", "firmware vectors", "stream", "export"):
        assert found[name].description and len(found[name].description) > 60, f"imuedge {name} has no description"


def test_the_command_table_is_what_the_modules_register():
    """`imuedge --help` lists ``COMMANDS`` without importing the components: it must match what they register."""
    from imuedge.cli import COMMANDS

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    registered = {a.dest: a.help for a in sub._choices_actions}
    assert registered == {name: help_line for name, (_, help_line) in COMMANDS.items()}
    for name, (module, _) in COMMANDS.items():
        one = next(a for a in build_parser([name])._actions if isinstance(a, argparse._SubParsersAction))
        assert one.choices[name]._actions, f"{module} does not register {name}"  # a placeholder has no flags


def test_no_help_says_default_none():
    """A flag whose default depends on another flag names it in its own help, never as "(default: None)"."""
    said = [f"imuedge {name}" for name, sub in subcommands(build_parser()) if "(default: None)" in sub.format_help()]
    assert not said, f"help that says '(default: None)': {said}"
