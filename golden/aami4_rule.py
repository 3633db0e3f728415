"""`make aami4-rule`: the RR rule of the shipped four-class recipes (a premature beat in a regular rhythm, called N, is S), chosen on the DS1 hold-outs -> results/aami4_rule.json.

The four-class models call many S beats N: an S beat is a premature beat of normal shape. The
RR table (a sum of per-code terms) cannot say "premature *and* in a regular rhythm", the AND
that keeps the premature beats of atrial fibrillation N; the RR rule of the model file does
(docs/arithmetic.md 6: after the argmax, class N becomes S when the pre/local code is at most
``t`` and the irregularity code at most ``b``; golden/aami4.py ``with_rr_rule``, hw/head.py).

The choice. ``ternecg aami4-rhythm --rule-probe`` (results/aami4_rule_probe.json) measured a
grid of ``(t, b)`` on the select-phase models of the shipped recipes (both hold-out folds, seeds
0-2, the recipes' bias offsets, no premature offset), with aami4-select's criterion. The rule is
logic in the hardware, not a parameter ROM, and the monitor's bitstream is patched between the
inter-patient and the patient models, so both protocols get one rule: this command takes the grid
point with the best mean of the two protocols' criteria (ties to the smaller ``t``, then the
smaller ``b``) when that mean gains at least :data:`MIN_GAIN` over no rule *and* is above the
premature offsets' mean (results/aami4_rhythm.json, same models and criterion); it then replaces
the premature offset in both (the two were not measured together, so they are not combined).
Disclosure: the rule, its grid and this procedure were set after exploring the same hold-out
models by hand (golden/aami4_rhythm.py says so); DS2 was not used.

``--apply`` writes the recipes' rules and premature offsets (golden/aami4.py ``INTER`` /
``FINETUNE``, which must equal this decision) into models/ and build/aami4/seeds/.
``--ds2`` scores the shipped models (seed 0) on DS2 with and without the rule, once, after the
choice -> results/aami4_rule_ds2.json.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ternecg.errors import TernEcgError
from ternecg.paths import relative, results_dir
from ternecg.reports import read_json, update_json

from . import aami4, aami4_rhythm
from .aami4_operating_ds2 import with_without_text

RESULT = results_dir() / "aami4_rule.json"
DS2_RESULT = results_dir() / "aami4_rule_ds2.json"
DS2_COMMAND = "ternecg aami4-rule --ds2"
MIN_GAIN = aami4_rhythm.MIN_GAIN
RECIPES = {"inter": aami4.INTER, "patient": aami4.FINETUNE}


def decide(probe: dict, rhythm: dict) -> dict:
    """Per protocol ``{"rr_rule": [t, b] or None, "premature_offset": [t, o], "score", "base",
    "offset_score", "best"}``, and under ``"joint"`` the figures the choice was made on.

    One rule for both protocols: the rule is part of the hardware (its bounds are logic, not a
    parameter ROM), and the monitor's bitstream is patched between the inter-patient model and
    the patient models, which must therefore carry the same rule. So the criterion of a grid point
    is the mean of the two protocols' criteria; the best point (ties to the smaller ``t``, then the
    smaller ``b``) is taken for both when it gains at least :data:`MIN_GAIN` over no rule and
    scores above the premature offsets' mean, which it then replaces in both."""
    protos = probe.get("protocols", {})
    if set(protos) != set(RECIPES) or not all(proto in rhythm.get("protocols", {}) for proto in RECIPES):
        raise TernEcgError("no rule probe or premature-offset decision for both protocols: run "
                           "'ternecg aami4-rhythm --rule-probe' and 'make aami4-rhythm'")
    rows = {proto: {(r["t"], r["b"]): r["score"] for r in protos[proto]} for proto in RECIPES}
    grid = sorted(set.intersection(*(set(k for k in r if k[0] is not None) for r in rows.values())))
    if not grid or any((None, None) not in r for r in rows.values()):
        raise TernEcgError("the rule probe has no grid (or no 'none' row): run 'ternecg aami4-rhythm --rule-probe'")
    mean = lambda f: sum(f(proto) for proto in RECIPES) / len(RECIPES)  # noqa: E731
    offset_score = {}
    for proto in RECIPES:
        ph = rhythm["protocols"][proto]
        offset_score[proto] = ph["chosen"]["score"] if ph["apply"] else ph["zero"]["score"]
    best = min(grid, key=lambda k: (-round(mean(lambda p: rows[p][k]), 12), k[0], k[1]))
    joint = {"rule": list(best), "score": mean(lambda p: rows[p][best]), "base": mean(lambda p: rows[p][None, None]),
             "offset_score": mean(lambda p: offset_score[p])}
    take = joint["score"] - joint["base"] >= MIN_GAIN and joint["score"] > joint["offset_score"]
    joint["take"] = take
    out = {"joint": joint}
    for proto in RECIPES:
        out[proto] = {"rr_rule": list(best) if take else None,
                      aami4.PREMATURE_KEY: [0, 0] if take else rhythm["protocols"][proto][aami4.PREMATURE_KEY],
                      "score": rows[proto][best], "base": rows[proto][None, None],
                      "offset_score": offset_score[proto], "best": list(best),
                      "own_best": list(min((k for k in grid), key=lambda k: (-round(rows[proto][k], 12), k[0], k[1])))}
    return out


def select(result: Path = RESULT) -> dict:
    probe, rhythm = read_json(aami4_rhythm.RULE_RESULT), read_json(aami4_rhythm.RESULT)
    data = {"criterion": probe.get("criterion"), "min_gain": MIN_GAIN,
            "procedure": "one rule for both protocols (the monitor's bitstream is patched between their models): "
                         "the grid point of results/aami4_rule_probe.json with the best mean criterion over the two "
                         "protocols (ties: smaller t, then b), taken when that mean gains >= min_gain over no rule "
                         "and is above the premature offsets' mean (results/aami4_rhythm.json), which it then replaces",
            **_split(decide(probe, rhythm))}
    update_json(result, lambda d: data)
    return data


def _split(dec: dict) -> dict:
    return {"joint": dec["joint"], "protocols": {p: v for p, v in dec.items() if p != "joint"}}


def recipe_choice() -> dict:
    """``{protocol: {"rr_rule", "premature_offset"}}`` of the shipped recipes (golden/aami4.py)."""
    return {p: {aami4.RULE_KEY: r.get(aami4.RULE_KEY), aami4.PREMATURE_KEY: list(r.get(aami4.PREMATURE_KEY, [0, 0]))}
            for p, r in RECIPES.items()}


def check_recipes(result: Path = RESULT):
    """Raise unless the recipes' rules and premature offsets are this command's decision."""
    got = read_json(result).get("protocols", {})
    for proto, want in recipe_choice().items():
        if proto not in got:
            raise TernEcgError(f"{relative(result)} has no {proto} decision: run make aami4-rule first")
        dec = {k: got[proto][k] for k in want}
        if dec != want:
            raise TernEcgError(f"golden/aami4.py {proto} recipe has {want}, the decision in {relative(result)} is "
                               f"{dec}; set the recipe first")


def apply(folders, result: Path = RESULT) -> list:
    """Give every four-class model file in ``folders`` its recipe's offsets and rule."""
    check_recipes(result)
    return [relative(p) for folder in folders for p in aami4.recipe_offsets_into(folder)]


# ---- DS2, once, after the choice ------------------------------------------------------------------
def score_ds2(db=None, result: Path = DS2_RESULT) -> dict:
    """The shipped models (seed 0, models/) on DS2 with and without their RR rule, scored once after
    the choice (golden/aami4_operating_ds2.py ``with_and_without``)."""
    from . import aami4_operating_ds2 as ods2
    return ods2.with_and_without(
        lambda doc: aami4.with_rr_rule(doc, None), aami4.RULE_KEY, None, DS2_COMMAND,
        "DS2, once, after the rule was chosen on the DS1 hold-outs (make aami4-rule); the choice was not "
        "changed because of it", result, db, label="aami4-rule --ds2")


def ds2_lines(data: dict | None = None) -> list:
    """The paragraph of docs/results.md section 6 on the RR rule, hold-out and DS2."""
    sel = read_json(RESULT)
    data = read_json(DS2_RESULT) if data is None else data
    if not sel.get("protocols"):
        return ["No RR rule chosen yet (results/aami4_rule.json): `make aami4-rule`.", ""]
    text = ("The RR rule (`make aami4-rule`, golden/aami4_rule.py, results/aami4_rule.json; docs/arithmetic.md 6): "
            "a beat the network calls N whose pre/local code is at most t and whose irregularity code is at most b "
            "becomes S; one rule for both protocols (it is logic, and the monitor's bitstream is patched between "
            "their models), chosen on both DS1 hold-out folds with the select-phase models of seeds 0-2 on the mean "
            "of the two protocols' criteria, against no rule and against the premature offset, which it replaces "
            f"when better: (t, b) {tuple(sel['joint']['rule'])}, mean criterion {sel['joint']['base']:.3f} -> "
            f"{sel['joint']['score']:.3f} (premature offsets {sel['joint']['offset_score']:.3f}), "
            f"{'taken' if sel['joint']['take'] else 'not taken'}; " + "; ".join(
                f"{proto}: {p['base']:.3f} -> {p['score']:.3f} (its own best {tuple(p['own_best'])}, premature offset "
                f"{p['offset_score']:.3f})" for proto, p in sel["protocols"].items()) + ".")
    if data.get("protocols"):
        text += (f" On DS2, scored once after the choice (`{data['command']}`, results/aami4_rule_ds2.json; seed 0, "
                 "detected peaks), without -> with the rule (neither with the premature offset): " + with_without_text(data))
    else:
        text += f" Its DS2 outcome is not scored yet: `{DS2_COMMAND}`."
    from . import aami4_seeds
    old = read_json(aami4_seeds.REPORT).get("recipes", {})
    keys = (aami4.PREMATURE_KEY, aami4.RULE_KEY)
    norm = lambda r: (list(r.get(keys[0]) or [0, 0]), r.get(keys[1]))  # noqa: E731
    if old and norm(old.get("inter", {})) != norm(aami4.INTER):
        text += (f" The seed spread above ({relative(aami4_seeds.REPORT)}) is of the recipes without the RR rule "
                 f"(its models were not scored again): `make aami4-seeds` renews it.")
    return [text, ""]


def table(data: dict) -> str:
    rows = ["| protocol | rule (t, b) | criterion: no rule | premature offset | rule | own best (t, b) | decision |",
            "|---|---|---|---|---|---|---|"]
    j = data["joint"]
    rows.append(f"| mean of both | {tuple(j['rule'])} | {j['base']:.3f} | {j['offset_score']:.3f} | {j['score']:.3f} | - | "
                f"{'rule' if j['take'] else 'premature offsets'} |")
    for proto, p in data["protocols"].items():
        rows.append(f"| {proto} | {tuple(p['best'])} | {p['base']:.3f} | {p['offset_score']:.3f} | {p['score']:.3f} | "
                    f"{tuple(p['own_best'])} | "
                    f"{'rule ' + str(p[aami4.RULE_KEY]) if p[aami4.RULE_KEY] else 'premature offset ' + str(p[aami4.PREMATURE_KEY])} |")
    return "\n".join(rows)


def add_parser(sub):
    """``ternecg aami4-rule`` (``make aami4-rule``)."""
    from .probe_cli import add_parser as add
    return add(sub, "aami4-rule", __doc__, _command, ds2=("their RR rule", DS2_RESULT),
               apply="write the recipes' RR rules and premature offsets (golden/aami4.py) into models/ and "
                     "build/aami4/seeds/seed*/ instead of choosing them")


def _command(args):
    from .probe_cli import run_apply, run_ds2
    if args.ds2:
        return run_ds2(score_ds2, ds2_lines, DS2_RESULT, args.db)
    if args.apply:
        return run_apply("aami4-rule", str(recipe_choice()), apply)
    data = select()
    print(f"criterion: {data['criterion']}")
    print(table(data))
    print(f"\nwrote {relative(RESULT)}")


if __name__ == "__main__":
    from ternecg.cli import command_main
    sys.exit(command_main("aami4-rule")())
