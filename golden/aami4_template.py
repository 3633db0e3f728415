"""`make aami4-template`: a template rule for the four-class models ("shaped like this patient's usual beat, so not V"), measured on the DS1 hold-outs -> results/aami4_template.json.

Why. On DS2 the inter-patient model calls most S beats V, and those calls are most of its V
false positives: record 232's atrial premature beats have the right-bundle-branch-block shape of
its normal beats, which one window cannot tell from a ventricular beat. What tells them apart is
the patient: a V beat is shaped unlike the patient's usual beats, an S beat (and an N beat of a
bundle branch block) like them. The template code (docs/arithmetic.md 6, golden/spec/rr.py
``Template``: the distance of a beat's window from the record's running average beat, 4 bits,
``round(8 * D / S)``) measures exactly that; as a network input (aami4-select variants ``tmpl``,
``tmpl_g8``) it did not raise the hold-out criterion. This command measures it as a rule after the
network, like the RR rule:

    a beat the network calls V whose template code is at most ``u`` becomes N;
    then the shipped RR rule (N, pre/local <= t, irregularity <= b -> S) decides N against S.

So a premature beat of the patient's usual shape in a regular rhythm ends as S, any other beat of
that shape as N; the network's other calls stay.

The procedure, fixed before any result was seen (DS2 is not used for the choice): the select-phase
models of the shipped recipes (``make aami4-select``, variant ``shipped`` on fold a and
``shipped@b`` on fold b, seeds 0, 1 and 2: six global models and six sets of fine-tuned ones,
none trained on its fold), every hold-out beat's integer logits computed once with the recipes'
bias offsets and the shipped RR rule; a grid of ``u`` in :data:`MAX_TEMPLATE` and the template's
update gate in :data:`GATES` (``None``: every beat updates the template; 8: only beats with a code
below 8, the ``tmpl_g8`` variant); aami4-select's criterion (mean of F1(S) and F1(V), EC57, detected
beats) averaged over the six models of each protocol, and, as for the RR rule, one rule for both
protocols: the grid point with the best mean of the two protocols' criteria (ties to the smaller
``u``, then gate ``None``), taken when it gains at least :data:`MIN_GAIN` over the shipped
decision (no template rule). ``--ds2`` then scores the shipped seed-0 models on DS2 with and
without the chosen rule, once, after the choice (results/aami4_template_ds2.json).

The rule was taken (u 4, every beat updating the template), and the shipped recipes carry it
(golden/aami4.py ``"template_rule": 4``): their model files get config ``rr_template`` (the
template code with a zero RR table, so the logits stay the trained ones) and the rule as their
first RR rule (``with_template_rule``, docs/arithmetic.md 6); the monitor's front end computes the
code (hw/qrs_program.py) and its head applies the rules. ``--apply`` writes the recipes' rule into
models/ and build/aami4/seeds/ (golden/aami4.py ``recipe_offsets_into``); the recipes must equal
this command's decision.

The select-phase models are build products (build/aami4/select/): ``ternecg aami4-select
--variants shipped --redo --seed N [--fold b]`` for N = 0, 1, 2 trains them again (about 12
minutes each here); ``--select-report`` names the report that lists them.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from ternecg.errors import TernEcgError
from ternecg.paths import relative, results_dir
from ternecg.reports import read_json, update_json

from . import aami4, aami4_operating as op, aami4_rhythm, aami4_select, detected, splits
from .spec.rr import BITS, template_codes

RESULT = results_dir() / "aami4_template.json"
DS2_RESULT = results_dir() / "aami4_template_ds2.json"
PROTOCOLS = aami4_rhythm.PROTOCOLS
MAX_TEMPLATE = (0, 1, 2, 3, 4, 5, 6, 7)
GATES = (None, 8)
MIN_GAIN = aami4_rhythm.MIN_GAIN
V_CLASS, N_CLASS = 2, 0
RULE = ("class V and template code <= u -> N, then the shipped RR rule (class N, pre/local <= t, "
        "irregularity <= b -> S)")


def template_rule(cls, tcode, u) -> np.ndarray:
    """The template rule on classes ``cls`` (before the RR rule): a beat called V whose template
    code is at most ``u`` becomes N (``u`` None: no rule)."""
    cls = np.asarray(cls)
    if u is None:
        return cls.copy()
    return np.where((cls == V_CLASS) & (np.asarray(tcode) <= u), N_CLASS, cls)


def decide(logits, bias, tcode, u, pre, irr, rr_rule) -> np.ndarray:
    """The classes of beats: argmax with the bias offsets, the template rule, then the RR rule
    ``rr_rule`` = ``(t, b)`` (None: none)."""
    cls = template_rule(op.decide(logits, bias), tcode, u)
    if rr_rule is None:
        return cls
    return aami4_rhythm.rule_classes(cls, pre, irr, *rr_rule)


def record_templates(records, names, gate) -> np.ndarray:
    """The template codes of every classified detection of records ``names`` (in the order
    golden/detected.py ``make_set`` gives them), each record's template started afresh."""
    return np.concatenate([template_codes(detected.make_set(records, (r,)).raw(), BITS, gate) for r in names])


def shipped_rule() -> dict:
    """``{"inter": (t, b) or None, "patient": ...}``: the shipped recipes' RR rules (golden/aami4.py)."""
    out = {}
    for proto, recipe in (("inter", aami4.INTER), ("patient", aami4.FINETUNE)):
        r = recipe.get(aami4.RULE_KEY)
        out[proto] = tuple(r) if r else None
    return out


def holdout_setup(db=None, work=None, select_report=None) -> tuple:
    """``(select report, model files, records, irregularity codes per fold)`` of a measurement on
    the select-phase models of both hold-out folds (golden/aami4_rhythm.py ``model_files``; a
    missing run or file is an error naming the command that makes it)."""
    work = Path(work) if work else aami4_select._work()
    sel = read_json(Path(select_report) if select_report else aami4_select.SELECT_REPORT)
    files = aami4_rhythm.model_files(sel, work)
    records = detected.load(db)
    icfg = aami4.config(aami4.INTER, {"rr_irregular": 1})
    irr = {f: np.concatenate([detected.make_set(records, (r,)).codes(icfg)[:, -1] for r in aami4_select.FOLDS[f]])
           for f in aami4_rhythm.FOLD_VARIANTS}
    return sel, files, records, irr


def grid_rows(files, records, proto, points, classify) -> list:
    """One row per grid point (a dict of its fields) of a protocol's hold-out measurement:
    ``classify(beats, pre, fold, point)`` gives the classes of one model set's beats (golden/
    aami4_rhythm.py ``holdout_beats``: Beats and pre/local codes; ``fold`` names its hold-out fold);
    each row holds the point's fields, the criterion and S / V figures averaged over the model sets
    (aami4_rhythm ``_summary_row``) and each set's criterion (``per_model``)."""
    keys = sorted(k for k in files if k[0] == proto)
    sets = [(aami4_rhythm.holdout_beats(records, files[k], proto == "patient"), k[1]) for k in keys]
    rows = []
    for pt in points:
        sums = [aami4.summary(op.class_confusion(beats, classify(beats, pre, fold, pt))) for (beats, pre), fold in sets]
        rows.append({**pt, **aami4_rhythm._summary_row(sums),
                     "per_model": [{"fold": k[1], "seed": k[2], "score": s["score"]} for k, s in zip(keys, sums)]})
    return rows


def probe(db=None, work=None, select_report=None, result: Path = RESULT) -> dict:
    """The grid on the hold-out models (module docstring) -> ``result``."""
    t0 = time.time()
    sel, files, records, irr = holdout_setup(db, work, select_report)
    folds = aami4_rhythm.FOLD_VARIANTS
    tcodes = {(f, g): record_templates(records, aami4_select.FOLDS[f], g) for f in folds for g in GATES}
    bias = op.recipe_offsets()
    rules = shipped_rule()
    grid = [(None, None)] + [(u, g) for g in GATES for u in MAX_TEMPLATE]
    data = {"rule": RULE, "criterion": aami4_rhythm.CRITERION, "rr_rule": {p: list(r) if r else None for p, r in rules.items()},
            "select_report": relative(Path(select_report)) if select_report else relative(aami4_select.SELECT_REPORT),
            "select_runs": [{"variant": r["variant"], "seed": r["seed"], "inter": r["inter"]["score"],
                             "patient": r["patient"]["score"]} for r in sel.get("runs", [])
                            if r["variant"] in aami4_rhythm.FOLD_VARIANTS.values() and r["seed"] in aami4_rhythm.SEEDS],
            "grid": [{"u": u, "gate": g} for u, g in grid[1:]], "min_gain": MIN_GAIN,
            "tie_break": "smaller u, then gate None", "protocols": {}}
    for proto in PROTOCOLS:
        data["protocols"][proto] = grid_rows(
            files, records, proto, [{"u": u, "gate": g} for u, g in grid],
            lambda beats, pre, fold, pt: decide(beats.logits, bias[proto], tcodes[fold, pt["gate"]] if pt["u"] is not None
                                                else None, pt["u"], pre, irr[fold], rules[proto]))
        print(f"aami4-template: {proto} measured", flush=True)
    data["decision"] = decide_rule(data)
    data["seconds"] = round(time.time() - t0, 1)
    update_json(result, lambda d: data)
    return data


def decide_rule(data: dict) -> dict:
    """The grid point with the best mean of the two protocols' criteria (ties: smaller ``u``, then
    gate None), and whether it gains at least :data:`MIN_GAIN` over no template rule."""
    rows = {p: {(r["u"], r["gate"]): r for r in data["protocols"][p]} for p in PROTOCOLS}
    mean = lambda k: float(np.mean([rows[p][k]["score"] for p in PROTOCOLS]))  # noqa: E731
    points = [k for k in rows[PROTOCOLS[0]] if k[0] is not None]
    best = min(points, key=lambda k: (-round(mean(k), 12), k[0], k[1] is not None, k[1] or 0))
    base = mean((None, None))
    return {"u": best[0], "gate": best[1], "score": mean(best), "base": base, "gain": mean(best) - base,
            "take": mean(best) - base >= MIN_GAIN,
            "per_protocol": {p: {"score": rows[p][best]["score"], "base": rows[p][None, None]["score"]}
                             for p in PROTOCOLS}}


def check_recipes(result: Path = RESULT):
    """Raise unless the recipes' template rule is this command's decision (u, every beat updating)."""
    d = read_json(result).get("decision")
    if not d:
        raise TernEcgError(f"no template-rule decision in {relative(result)}: run make aami4-template first")
    want = d["u"] if d["take"] and d["gate"] is None else None
    if d["take"] and d["gate"] is not None:
        raise TernEcgError(f"{relative(result)} chose the update gate {d['gate']}; the recipes' template rule "
                           f"updates with every beat: extend golden/aami4.py with_template_rule first")
    for proto, recipe in (("inter", aami4.INTER), ("patient", aami4.FINETUNE)):
        if recipe.get(aami4.TEMPLATE_KEY) != want:
            raise TernEcgError(f"golden/aami4.py {proto} recipe has template_rule {recipe.get(aami4.TEMPLATE_KEY)}, "
                               f"the decision in {relative(result)} is {want}; set the recipe first")


def apply(folders, result: Path = RESULT) -> list:
    """Give every four-class model file in ``folders`` its recipe's offsets and rules."""
    check_recipes(result)
    return [relative(p) for folder in folders for p in aami4.recipe_offsets_into(folder)]


def table(data: dict) -> str:
    return aami4_rhythm.grid_table(data, ["u", "gate"], lambda r: ["none" if r["u"] is None else str(r["u"]),
                                                                   str(r["gate"] or "-")])


# ---- DS2, once, after the choice --------------------------------------------------------------------
def score_ds2(db=None, result: Path = DS2_RESULT, decision: Path = RESULT) -> dict:
    """The shipped seed-0 models on DS2, detected and reference peaks, without and with the chosen
    template rule (monitor-eval's scoring; golden/aami4_operating_ds2.py ``post_rule``)."""
    from . import aami4_operating_ds2 as ods2
    got = read_json(decision).get("decision")
    if not got:
        raise TernEcgError(f"no template-rule decision in {relative(decision)}: run make aami4-template first")
    u, gate = got["u"], got["gate"]

    def classify(p, b, key, models, records):
        hit = b.hit.copy()          # the RR rule's hits; the template rule's (column 0) off
        hit[:, op.RULES.index(aami4.TEMPLATE_PAIR)] = False
        cls = op.decide(b.logits, [0] * len(op.CLASSES))
        tc = np.concatenate([_peak_templates(records[r], getattr(records[r], key), models[r], gate)
                             for r in splits.DS2])
        return op.with_rule(cls, hit), op.with_rule(template_rule(cls, tc, u), hit)
    return ods2.post_rule({"command": "ternecg aami4-template --ds2", "rule": RULE, "u": u, "gate": gate,
                           "take": got["take"]}, classify, result, db, label="aami4-template --ds2")


def _peak_templates(rec, peaks, model, gate):
    """Template codes of the beats the monitor classifies at ``peaks`` of record ``rec``."""
    from . import monitor
    got = monitor.beat_peaks(rec.signal, peaks=peaks)
    half = monitor.HALF
    x = np.asarray(rec.signal, np.int64)
    windows = x[np.asarray(got, np.int64)[:, None] + np.arange(-half, half)[None, :]]
    return template_codes(windows, BITS, gate)


def ds2_lines(data: dict | None = None) -> list:
    """The paragraph of docs/results.md section 6 on the template rule, hold-out and DS2."""
    from .aami4_operating_ds2 import with_without_text
    sel = read_json(RESULT)
    data = read_json(DS2_RESULT) if data is None else data
    d = sel.get("decision")
    if not d:
        return ["No template rule measured yet (results/aami4_template.json): `make aami4-template`.", ""]
    per = "; ".join(f"{p}: {v['base']:.3f} -> {v['score']:.3f}" for p, v in d["per_protocol"].items())
    text = ("The template rule (`make aami4-template`, golden/aami4_template.py, results/aami4_template.json): a "
            "beat the network calls V whose template code (docs/arithmetic.md 6: its distance from the record's "
            "running average beat) is at most u becomes N, and the RR rule then makes it S when it is premature in "
            "a regular rhythm; measured like the RR rule (both DS1 hold-out folds, select-phase models of seeds 0-2, "
            "the mean of the two protocols' criteria, a grid of u 0-7 with and without the template's update gate 8, "
            f"taken at a gain of at least {sel['min_gain']}): best u {d['u']}, gate {d['gate'] or 'none'}, mean "
            f"criterion {d['base']:.3f} -> {d['score']:.3f} ({per}), "
            + ("taken: the shipped models carry it as their first RR rule (golden/aami4.py `template_rule`), "
               "and the monitor's front end computes the template code." if d["take"] else "not taken."))
    if data.get("protocols"):
        text += (" On DS2, scored once after the choice (`ternecg aami4-template --ds2`, results/aami4_template_ds2.json; "
                 "seed 0, the shipped models, detected peaks), without -> with the rule: " + with_without_text(data)
                 + " Detection cost (ACC on the reference peaks minus on the detected ones): " + "; ".join(
                     f"{p.replace('_', '-')} {v['without']['detection_cost_points']:.2f} -> "
                     f"{v['with']['detection_cost_points']:.2f} points" for p, v in data["protocols"].items()) + ".")
    else:
        text += " Its DS2 outcome is not scored yet: `ternecg aami4-template --ds2`."
    return [text, ""]


def add_parser(sub):
    """``ternecg aami4-template`` (``make aami4-template``)."""
    from .probe_cli import add_parser as add
    return add(sub, "aami4-template", __doc__, _command, ds2=("the chosen rule", DS2_RESULT), select_report=True,
               apply="write the recipes' template rule (which must be this command's decision) into the "
                     "four-class model files of models/ and build/aami4/seeds/")


def _command(args):
    from .probe_cli import print_probe, run_apply, run_ds2
    if args.ds2:
        return run_ds2(score_ds2, ds2_lines, DS2_RESULT, args.db)
    if args.apply:
        return run_apply("aami4-template", f"template rule {aami4.INTER.get(aami4.TEMPLATE_KEY)}", apply)
    data = probe(args.db, select_report=args.select_report)
    d = data["decision"]
    print_probe(data, table(data), f"u {d['u']}, gate {d['gate']}", "keep no template rule", RESULT)


if __name__ == "__main__":
    from ternecg.cli import command_main
    sys.exit(command_main("aami4-template")())
