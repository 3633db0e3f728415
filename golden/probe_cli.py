"""The command line the four-class hold-out probes share (golden/aami4_rhythm.py, aami4_rule.py,
aami4_template.py, aami4_irregular.py, aami4_longterm.py): their options and what they print.

A probe measures a rule or offset on the DS1 hold-outs and writes its choice (the default action);
``--ds2`` scores the shipped models on DS2 without and with the choice, once, after it; ``--apply``
writes the choice into the four-class model files (of models/ and build/aami4/seeds/);
``--select-report`` names the aami4-select report of the hold-out models.
"""

from __future__ import annotations

from ternecg.paths import relative

__all__ = ["add_parser", "print_probe", "run_apply", "run_ds2"]


def add_parser(sub, name: str, doc: str, command, *, ds2=None, apply=None, select_report=False, extra=()):
    """Add the probe ``name`` (``ternecg name``; ``doc``'s first line is its description) calling
    ``command(args)``. ``ds2``: ``(what, result)`` for ``--ds2`` (the shipped models with and
    without ``what``, written to ``result``); ``apply``: the help of ``--apply``; ``select_report``:
    add ``--select-report``; ``extra``: more ``(flag, help)`` switches. Returns the parser."""
    from ternecg import options
    p = sub.add_parser(name, description=doc.split("\n")[0])
    if ds2:
        what, result = ds2
        p.add_argument("--ds2", action="store_true",
                       help=f"score the shipped models (seed 0) on DS2 with and without {what}, once, after the "
                            f"choice -> {relative(result)}")
    if apply:
        p.add_argument("--apply", action="store_true", help=apply)
    if select_report:
        p.add_argument("--select-report", default=None,
                       help="the aami4-select report naming the select-phase models (default: results/aami4_select.json)")
    for flag, help_ in extra:
        p.add_argument(flag, action="store_true", help=help_)
    options.add_db(p)
    p.set_defaults(func=command)
    return p


def run_ds2(score, show, result, db=None):
    """``--ds2``: ``score(db)``, print ``show(data)`` (lines) and where it was written."""
    data = score(db)
    print("\n".join(show(data)))
    print(f"wrote {relative(result)}")


def run_apply(name: str, what: str, apply):
    """``--apply``: ``apply(folders)`` on models/ and every seed's folder; print what changed."""
    from . import aami4_seeds
    changed = apply([aami4_seeds.seed_dir(s) for s in aami4_seeds.SEEDS])
    print(f"{name}: {what} written into {len(changed)} model file(s)")
    for c in changed:
        print(f"  {c}")


def print_probe(data: dict, table: str, best: str, keep: str, result):
    """A probe's outcome: its rule and criterion, the grid ``table``, the best point (``best``,
    its parameters) against no rule and the decision (``keep``: what stays when it is not taken)."""
    d = data["decision"]
    print(f"rule: {data['rule']}\ncriterion: {data['criterion']}")
    print(table)
    print(f"best {best}: {d['base']:.3f} -> {d['score']:.3f} ({d['gain']:+.3f}): {'take' if d['take'] else keep}")
    print(f"wrote {relative(result)}")
