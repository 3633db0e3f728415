"""The `ternecg` command: every make target's job is one of its subcommands.

Each subcommand lives in the module that does the work; that module registers it with two
functions::

    def add_parser(sub):                       # sub: the argparse subparsers action
        p = sub.add_parser("synth", description=__doc__.split("\\n")[0])
        options.add_board(p); options.add_model(p); ...     # shared options: ternecg/options.py
        p.set_defaults(func=_command)
        return p

    def _command(args):                        # returns the exit status (None = 0)
        ...

and this file lists it in :data:`COMMANDS` (name -> module, one-line help). Adding a subcommand is
those two lines: its entry here and its target in the Makefile. Only the chosen subcommand's
module is imported, so ``ternecg verilog`` never loads torch and ``ternecg --help`` is quick.
(A module that still has only an argparse ``main(argv)`` is called with the remaining arguments.)

Every user error of every subcommand, argument errors included, is one line
``ternecg <subcommand>: error: ...`` on stderr and exit status 2 (ternecg/errors.py).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import TernEcgError, cli_main

#: subcommand -> (module that registers it with ``add_parser(sub)``, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    # the main jobs
    "demo": ("ternecg.demo", "Verilog, cocotb bit-exact check on the fixture beats, iCEBreaker bitstream"),
    "verilog": ("ternecg.hw.generate", "generate Verilog and its JSON manifest from a model file"),
    "hw-report": ("ternecg.boards.hw_report", "synthesize PARALLEL settings for iCE40 UP5K and ECP5 85F beside the resource estimate -> hw.json, hw_pareto.png"),
    "asic-report": ("ternecg.boards.asic_report", "synthesize PARALLEL settings to CMOS gates (Yosys) -> asic.json"),
    "link-report": ("ternecg.boards.link_report", "the serial side (UARTs + link) of both board cores on the iCE40 UP5K: LC, LUT4 per part -> link.json"),
    "cycles": ("ternecg.boards.cycles_report", "where the cycles per beat go at every lane count, from the schedule (no synthesis) -> cycles.json"),
    "synth": ("ternecg.boards.build", "bitstream for a board + its report.json"),
    "patch": ("ternecg.boards.patch", "another model's parameters into a board's bitstream, no place and route"),
    "program": ("ternecg.boards.program", "load a board's bitstream with openFPGALoader"),
    "host": ("ternecg.boards.host", "stream a record to the board, WFDB annotations, Se/+P"),
    "monitor": ("ternecg.boards.monitor_host", "stream a record's raw samples to the monitor board: its beats as WFDB annotations, EC57 report, PNG"),
    # simulation at scale
    "sim-regress": ("ternecg.sim.regress", "every DS2 beat through the generated Verilog vs golden -> regress.json"),
    "sim-monitor": ("ternecg.sim.monitor_regress", "front end (48 records) and monitor (DS2) on whole records vs golden -> monitor_regress.json"),
    "monitor-report": ("ternecg.sim.monitor_report", "the monitor's front end on the iCE40 UP5K: LC/EBR per module, cycles per sample -> monitor_report.json"),
    "sim-gate": ("ternecg.sim.gate", "gate-level netlist simulation vs golden -> gate.json"),
    "fuzz": ("ternecg.boards.fuzz", "protocol fuzz of the board core in Verilator -> fuzz.json"),
    # golden: data, training, evaluation
    "eval": ("ternecg.golden.evaluate", "evaluate the shipped model files -> eval.json + confusion PNG"),
    "train": ("ternecg.golden.pipeline", "retrain every shipped model file"),
    "train-table": ("ternecg.golden.table1", "the MSGC paper's Table I runs -> results/table1_KIND.json"),
    "rr-experiment": ("ternecg.golden.rr_experiment", "DS1 -> DS2 with or without RR codes -> results/rr_experiment.json"),
    "results": ("ternecg.golden.results", "docs/results.md and its plot from the shipped models and results/"),
    "fixture": ("ternecg.golden.fixture", "regenerate fixtures/beats.npz from the database"),
    "fixture-excerpts": ("ternecg.golden.excerpts", "regenerate fixtures/excerpts.npz (raw excerpts for the R-peak detector)"),
    "qrs-eval": ("ternecg.golden.qrs_eval", "R-peak detector and peers on MIT-BIH, EC57 scoring -> qrs.json"),
    "qrs-select": ("ternecg.golden.qrs_select", "the R-peak detector's constants swept one at a time on DS1 only -> qrs_select.json, results/qrs_select.json"),
    "monitor-eval": ("ternecg.golden.monitor_eval", "the software monitor (detector + four-class models) on DS2, EC57 scoring -> monitor_eval.json"),
    "annotate": ("ternecg.golden.annotate", "the software monitor's beats of one record as WFDB annotations + PNG"),
    "aami4-select": ("ternecg.golden.aami4_select", "four-class recipe selection on DS1 hold-out records -> results/aami4_select.json"),
    "aami4-operating": ("ternecg.golden.aami4_operating", "S and V logit-bias offsets of the four-class recipes chosen on the DS1 hold-out -> results/aami4_operating.json (--apply: into the model files)"),
    "aami4-rule": ("ternecg.golden.aami4_rule", "the RR rule (N -> S for a premature beat in a regular rhythm) of the four-class recipes chosen on the DS1 hold-outs -> results/aami4_rule.json (--apply: into the model files; --ds2: scored once)"),
    "aami4-template": ("ternecg.golden.aami4_template", "a template rule (a V call shaped like the patient's usual beat becomes N, then the RR rule) measured on the DS1 hold-outs -> results/aami4_template.json (--ds2: scored once)"),
    "aami4-irregular": ("ternecg.golden.aami4_irregular", "an irregular-rhythm rule (an S call in an irregular rhythm becomes N, after the shipped rules) measured on the DS1 hold-outs -> results/aami4_irregular.json"),
    "aami4-longterm": ("ternecg.golden.aami4_longterm", "a long-term premature rule (an N call much faster than the record's average rhythm becomes S, after the shipped rules) measured on the DS1 hold-outs -> results/aami4_longterm.json"),
    "aami4-rhythm": ("ternecg.golden.aami4_rhythm", "the premature offset (N entries of the RR table for premature beats) of the four-class recipes chosen on the DS1 hold-outs -> results/aami4_rhythm.json (--apply: into the model files)"),
    "aami4-operating-ds2": ("ternecg.golden.aami4_operating_ds2", "the shipped four-class models on DS2 with zero and with the applied logit-bias offsets, after the choice -> results/aami4_operating_ds2.json"),
    "aami4-seeds": ("ternecg.golden.aami4_seeds", "the four-class recipes over seeds 0-2, DS2 figures -> results/aami4_seeds.json"),
    "morph-probe": ("ternecg.golden.morph_probe", "each beat's distance from its patient's running average beat, per AAMI class, DS1 only -> morph_probe.json"),
    # set-up
    "warm": ("ternecg.tools", "run each YoWASP tool once so that its WebAssembly is compiled and cached"),
}

#: the commands that build or run a Verilog simulation (build/sim/, capped by
#: TERNECG_SIM_CACHE_GB: a bad value is refused before they start any work or print anything)
SIMULATING = ("demo", "hw-report", "sim-regress", "sim-monitor", "monitor-report", "sim-gate", "fuzz")


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is a :class:`TernEcgError` (one line, exit 2) naming the
    subcommand's ``--help``, not argparse's usage block."""

    def error(self, message):
        raise TernEcgError(f"{message}; see '{self.prog} --help'")


def build_parser(selected=()):
    """The ``ternecg`` parser; the subcommands in ``selected`` (all: ``COMMANDS``) are registered by
    their modules, the others only by name and help (so that their modules are not imported)."""
    p = Parser(prog="ternecg", description=__doc__.split("\n")[0],
               epilog="'ternecg SUBCOMMAND --help' describes a subcommand's options.")
    sub = p.add_subparsers(dest="cmd", metavar="SUBCOMMAND", required=True)
    for name, (module, help_) in COMMANDS.items():
        if name in selected:
            sp = importlib.import_module(module).add_parser(sub)
            if sp is None or sp.prog.split()[-1] != name:
                raise RuntimeError(f"{module}.add_parser must add and return the parser of {name!r}")
        else:
            sub.add_parser(name, help=help_, add_help=False)
    return p


def subparser(name: str) -> argparse.ArgumentParser:
    """The registered parser of one subcommand (for tests and introspection)."""
    p = build_parser([name])
    return next(a for a in p._actions if isinstance(a, argparse._SubParsersAction)).choices[name]


def main(argv=None) -> int:
    """``ternecg SUBCOMMAND [options]``; returns the exit status."""
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    name = argv[0] if argv and argv[0] in COMMANDS else None

    def run(argv):
        if name:
            module = importlib.import_module(COMMANDS[name][0])
            if not hasattr(module, "add_parser") and hasattr(module, "main"):
                return module.main(argv[1:]) or 0        # a module still on its own argparse main(argv)
        args = build_parser([name] if name else []).parse_args(argv)
        func = getattr(args, "func", None)
        if func is None:
            raise TernEcgError(f"{COMMANDS[args.cmd][0]}.add_parser sets no func")
        if name in SIMULATING:
            from ternecg.sim.cache import cap_bytes
            cap_bytes()                                 # a bad TERNECG_SIM_CACHE_GB: one line, now
        status = func(args)
        return 0 if status is None else int(status)

    return cli_main(name)(run)(argv)


def command_main(name: str):
    """``main(argv=None)`` of one subcommand, for ``python -m <module>`` and older callers:
    ``command_main("synth")(["--board", "ulx3s"])`` is ``ternecg synth --board ulx3s``."""
    if name not in COMMANDS:
        raise KeyError(f"no ternecg subcommand {name!r}")

    def sub_main(argv=None):
        return main([name, *(sys.argv[1:] if argv is None else argv)])
    sub_main.__name__ = f"main_{name.replace('-', '_')}"
    return sub_main


if __name__ == "__main__":
    sys.exit(main())
