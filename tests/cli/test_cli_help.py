"""Help that helps: every option of every command has a help line that says its
default; ``rnnkit`` alone lists the commands one line each; a refused command
line points to the sub-command's own ``--help``."""
import argparse

import pytest

from rnnkit.cli import build_parser

from conftest import cli_refused, run_cli


def parsers(parser=None, path=("rnnkit",)):
    """``(path, parser)`` of every command and sub-command."""
    parser = parser or build_parser()
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parsers(sub, path + (name,))


def options():
    for path, parser in parsers():
        fresh = parser.get_default("fresh_defaults") or {}
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)) \
                    or action.help == argparse.SUPPRESS:           # an old spelling, kept for one release
                continue
            yield " ".join(path), parser, action, fresh.get(action.dest, action.default)


def test_every_option_and_argument_has_a_help_line():
    missing = [f"{cmd} {a.option_strings[0] if a.option_strings else a.dest}"
               for cmd, _, a, _ in options() if not (a.help or "").strip()]
    assert not missing, "options without help: " + ", ".join(missing)


def test_every_option_with_a_default_says_it_in_its_help():
    silent = []
    for cmd, parser, action, default in options():
        if default in (None, False) or not action.option_strings:
            continue
        text = parser._get_formatter()._get_help_string(action)
        if "default" not in text:
            silent.append(f"{cmd} {action.option_strings[0]}")
    assert not silent, "options whose help hides the default: " + ", ".join(silent)


def test_help_shows_the_defaults_of_forecast_and_anomaly_options(capsys):
    for argv, option, default in ((["forecast", "train"], "--hidden", "32"), (["anomaly", "fit"], "--window", "32")):
        with pytest.raises(SystemExit):
            run_cli([*argv, "--help"], capsys)
        text = " ".join(capsys.readouterr().out.split())
        assert f"{option} " in text and f"(default: {default})" in text


def test_rnnkit_alone_lists_every_command_on_one_line(capsys):
    rc, out, _ = run_cli([], capsys)
    names = [p[1] for p, _ in parsers() if len(p) == 2]
    assert rc == 0
    for name in names:
        line = next(ln for ln in out.splitlines() if ln.strip().startswith(name + " "))
        assert len(line.split(None, 1)) == 2                     # the name and its one-line summary
    assert "seeds'" not in out


def test_unknown_options_point_to_the_sub_commands_own_help(capsys):
    err = cli_refused(capsys, "classify", "eval", "RUN", "--data", "x.csv", "--no-such-option")
    assert "unrecognized arguments: --no-such-option" in err and "(see rnnkit classify eval --help)" in err


def test_a_group_without_an_action_lists_its_actions(capsys):
    with pytest.raises(SystemExit) as e:
        run_cli(["forecast"], capsys)
    assert e.value.code == 2 and "train" in capsys.readouterr().err
