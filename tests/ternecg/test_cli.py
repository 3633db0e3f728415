"""The one command line (issue 16 item 4): every make job is a `ternecg` subcommand, registered by
its own module, with the shared options meaning the same everywhere; the Makefile calls nothing
else; every error is one line."""

import argparse
import re
import shlex
import subprocess
import sys
import types
from pathlib import Path

import pytest

from ternecg import cli, options

REPO = Path(__file__).resolve().parents[2]
MAKEFILE = (REPO / "Makefile").read_text()


def _options(parser):
    return [a for a in parser._actions if a.option_strings]


@pytest.mark.parametrize("name", cli.COMMANDS)
def test_every_subcommand_is_registered_by_its_module(name):
    module = __import__(cli.COMMANDS[name][0], fromlist=["add_parser"])
    assert callable(getattr(module, "add_parser", None)), f"{module.__name__} has no add_parser(sub)"
    p = cli.subparser(name)
    assert p.prog == f"ternecg {name}" and callable(p.get_default("func"))


@pytest.mark.parametrize("name", cli.COMMANDS)
def test_shared_options_have_one_meaning(name):
    """--model is a model file, --out an output folder, ... in every subcommand."""
    for action in _options(cli.subparser(name)):
        for opt in action.option_strings:
            if opt in options.MEANINGS:
                assert (action.help or "").startswith(options.MEANINGS[opt]), (name, opt, action.help)
            if opt == "--out":
                assert action.metavar == "DIR"
            if opt == "--model":
                assert action.metavar == "FILE"


def test_top_level_help_lists_every_subcommand_without_importing_them():
    code = ("import sys; from ternecg import cli; cli.build_parser().format_help(); "
            "print(sorted(m for m in sys.modules if m.startswith(('torch', 'amaranth', 'ternecg.hw', 'ternecg.sim'))))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.stdout.strip() == "[]", r.stdout
    r = subprocess.run([sys.executable, "-m", "ternecg.cli", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and all(name in r.stdout for name in cli.COMMANDS)


def test_verilog_subcommand_loads_no_torch():
    code = ("import sys; from ternecg import cli; cli.subparser('verilog'); "
            "print('torch' in sys.modules, 'ternecg.sim' in sys.modules, 'ternecg.boards' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.stdout.split() == ["False", "False", "False"], r.stdout + r.stderr


# ---- the Makefile ----------------------------------------------------------------------------------

#: make targets that are not a ternecg subcommand of the same name (set-up, the test tiers, help)
NOT_JOBS = {"help", "setup", "test", "test-long", "test-all", "test-fpga", "test-fast", "sim", "clean"}


def _targets():
    return re.findall(r"^([a-z][a-z0-9-]*):", MAKEFILE, flags=re.M)


def _recipe_lines():
    return [l.strip() for l in MAKEFILE.splitlines() if l.startswith("\t")]


def test_make_help_lists_every_target():
    phony = set(re.search(r"^\.PHONY:(.*)$", MAKEFILE, flags=re.M).group(1).split())
    targets = _targets()
    assert set(targets) == phony, set(targets) ^ phony
    out = subprocess.run(["make", "-s", "-C", str(REPO), "help"], capture_output=True, text=True, timeout=60).stdout
    listed = [l.split()[0] for l in out.splitlines() if l.strip()]
    assert listed == targets


def test_makefile_runs_only_ternecg_subcommands():
    """No recipe runs a `python -m` module other than pytest and the ternecg CLI, and every
    $(TERNECG) call names a registered subcommand."""
    assert re.search(r"^TERNECG \?= \$\(PY\) -m ternecg\.cli$", MAKEFILE, flags=re.M)
    for line in _recipe_lines():
        for mod in re.findall(r"-m ([\w.]+)", line):
            assert mod in ("pytest", "pip", "venv"), line
    used = {m for line in _recipe_lines() for m in re.findall(r"\$\(TERNECG\) ([a-z0-9-]+)", line)}
    assert used <= set(cli.COMMANDS), used - set(cli.COMMANDS)
    # every job target is a subcommand of the same name (setup's last step is `ternecg warm`)
    jobs = set(_targets()) - NOT_JOBS
    assert jobs <= used and "warm" in used


@pytest.mark.parametrize("target", sorted(set(_targets()) - NOT_JOBS))
def test_make_targets_pass_options_the_subcommand_accepts(target):
    """`make -n TARGET` (with every variable set) parses with the subcommand's own parser."""
    r = subprocess.run(["make", "-n", "-s", "-C", str(REPO), target, "LIMIT=3", "DB=/x", "NO_RR=1", "RESUME=1",
                        "BEATS=2"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    line = next(l for l in r.stdout.splitlines() if "ternecg.cli" in l)
    argv = shlex.split(line)
    argv = argv[argv.index("ternecg.cli") + 1:]
    name = argv[0]
    args = cli.build_parser([name]).parse_args(argv)        # raises (TernEcgError) on a bad option
    assert args.cmd == name
    if any(a.option_strings == ["--db"] for a in _options(cli.subparser(name))):
        assert args.db == "/x", f"make {target} does not pass DB"


# ---- errors ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, needle", [
    (["nonsense"], "ternecg: error: argument SUBCOMMAND: invalid choice: 'nonsense'"),
    ([], "ternecg: error: the following arguments are required: SUBCOMMAND"),
    (["verilog", "--parallel", "two"], "ternecg verilog: error: argument --parallel: 'two' is not an integer"),
    (["verilog", "--bogus"], "ternecg verilog: error: unrecognized arguments: --bogus"),
    (["synth", "--board", "de10nano"], "ternecg synth: error: argument --board: unknown board 'de10nano'"),
    (["hw-report", "--parallel", "1,,2"], "ternecg hw-report: error: argument --parallel"),
    (["train", "--seed", "-1"], "ternecg train: error: argument --seed: -1 must not be negative"),
    (["train-table", "--seed", "0,x"], "ternecg train-table: error: argument --seed: 'x' is not an integer"),
    (["sim-regress", "--jobs", "0"], "ternecg sim-regress: error: argument --jobs: 0 must be at least 1"),
    (["sim-gate", "--beats", "-5"], "ternecg sim-gate: error: argument --beats: -5 must not be negative"),
    (["demo", "--beats", "0"], "ternecg demo: error: argument --beats: 0 must be at least 1"),
    (["demo", "--simulator", "nope"], "ternecg demo: error: argument --simulator: invalid choice: 'nope'"),
    (["patch", "--board", "ulx3s"], "ternecg patch: error: the following arguments are required: --model"),
    (["rr-experiment", "--abnormal-weight", "nan"], "ternecg rr-experiment: error: argument --abnormal-weight"),
])
def test_argument_errors_are_one_line(argv, needle, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(needle), err


def test_train_epochs_without_the_global_stage_is_refused_before_any_work(capsys, monkeypatch):
    """--epochs is the global stage's: with other stages only it would be ignored (minutes of
    training with the recipe's epochs), so it is one message, before the database is read."""
    from ternecg.golden import pipeline
    monkeypatch.setattr(pipeline, "load_beats", lambda db: pytest.fail("training data loaded"))
    assert cli.main(["train", "--stages", "aami4_inter", "--epochs", "1", "--models", "/nonexistent"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--epochs 1 sets the global stage's epochs" in err[0] and "aami4_inter" in err[0]


def test_help_exits_zero(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["synth", "--help"])
    assert e.value.code == 0 and "--board NAME" in capsys.readouterr().out


# ---- adding a subcommand -----------------------------------------------------------------------------

def test_adding_a_subcommand_is_two_lines(monkeypatch, capsys):
    """A module with add_parser(sub) and its entry in COMMANDS: that is all (the Makefile line aside)."""
    mod = types.ModuleType("ternecg_test_hello")

    def add_parser(sub):
        p = sub.add_parser("hello", description="say hello")
        options.add_out(p, "build/hello")
        p.set_defaults(func=lambda args: print(f"hello {args.out}"))
        return p
    mod.add_parser = add_parser
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setitem(cli.COMMANDS, "hello", (mod.__name__, "say hello"))
    assert cli.main(["hello", "--out", "x"]) == 0
    assert capsys.readouterr().out == "hello x\n"
    assert cli.main(["hello", "--out"]) == 2
    assert "ternecg hello: error: argument --out: expected one argument" in capsys.readouterr().err


def test_a_module_on_its_own_argparse_main_still_runs(monkeypatch):
    mod = types.ModuleType("ternecg_test_legacy")
    mod.main = lambda argv: 7 if argv == ["--x", "1"] else 0
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setitem(cli.COMMANDS, "legacy", (mod.__name__, "old style"))
    assert cli.main(["legacy", "--x", "1"]) == 7


def test_options_types():
    assert options.positive_float("0.5") == 0.5
    for bad in ("0", "-1", "nan", "inf", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            options.positive_float(bad)
    assert options.int_list("1, 2,3") == [1, 2, 3]
    with pytest.raises(argparse.ArgumentTypeError):
        options.positive_int("True")
