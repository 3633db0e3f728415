"""`make aami4-rhythm`: the premature offset of the shipped four-class recipes, chosen on the DS1 hold-outs -> results/aami4_rhythm.json.

An S beat is a premature beat of normal shape. The four-class models call many premature beats
of normal shape N: on the hold-out folds, most of their S errors are S called N (fold b: 468 of
586 S beats), while the RR codes alone mark those beats (pre/local <= 6/8 holds for 57 % of 209's
S beats and for none of its N beats). The model file's RR table (golden/integer_ref.py: the
logits gain ``table[class][feature][code]`` per RR code) can say so without retraining: an offset
``o < 0`` on the N entries of the pre/local code for codes ``0 .. t`` (golden/aami4.py
``with_premature_offset``) makes a premature beat N only by a margin above ``-o``; the others go
to their second class, which for a premature beat of normal shape is S. The hardware builds the
changed table unchanged.

The choice (its grid, criterion and tie-break were set after exploring these same hold-out models by
hand: an S boost for premature codes, which trades V for S, and this N offset; DS2 was not used):
the select-phase models of the shipped recipes
(``make aami4-select``: variant ``shipped`` on fold a, ``shipped@b`` on fold b, seeds 0, 1 and 2
each, so six global and six sets of fine-tuned models, none trained on its fold), every hold-out
beat's integer logits computed once with the recipe's bias offsets (golden/aami4.py), then a grid
of ``t`` in :data:`MAX_CODES` and ``o = -k * step`` for ``k`` in :data:`KS` (``step`` = the median
top-two logit gap of the protocol's beats / 4, as aami4-operating), scored with aami4-select's
criterion (mean of F1(S) and F1(V), EC57) averaged over the six models; ties to the smaller
``k``, then the smaller ``t``; applied only for a gain of at least :data:`MIN_GAIN`. DS2 is not
used. (While exploring, the per-record share of premature S and N beats was also looked at on
DS2: record 222's N beats are premature in 20 % of cases (atrial flutter), which argues against
this offset there, not for it.)

``--rule-probe`` measures, on the same models and scoring, a rule the RR table cannot express (an
AND): a beat called N whose pre/local code is at most t and whose irregularity code (docs/
arithmetic.md 6) is at most b becomes S -> results/aami4_rule_probe.json. ``make aami4-rule``
(golden/aami4_rule.py) chooses from it: the RR rule replaced the premature offset in the shipped
recipes (their ``premature_offset`` is [0, 0]; this report's decision stays as it was made).

``--apply`` writes the recipe's premature offsets (golden/aami4.py ``INTER`` / ``FINETUNE``
``"premature_offset"``, which must equal this report's decision) into the shipped model files and
the seed models of build/aami4/seeds/, as ``make aami4-operating APPLY=1`` does for the bias.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from ternecg.errors import TernEcgError
from ternecg.paths import build_dir, relative, results_dir
from ternecg.reports import read_json, update_json

from . import aami4, aami4_operating as op, aami4_select, detected, monitor
from .spec import modelfile
from .aami4_operating_ds2 import with_without_text

RESULT = results_dir() / "aami4_rhythm.json"
REPORT = build_dir("reports", "aami4_rhythm.json")
PROTOCOLS = ("inter", "patient")
#: the select-phase variants per hold-out fold (their recipes must be the shipped ones) and seeds
FOLD_VARIANTS = {"a": "shipped", "b": "shipped@b"}
SEEDS = (0, 1, 2)
MAX_CODES = (4, 5, 6, 7)           # pre/local <= t / 8 (+ 1/16): 0.56 .. 0.94 of the local mean
KS = (0, 1, 2, 4, 8, 16)           # offset = -k * step
MIN_GAIN = 0.01
CRITERION = ("mean over folds a and b and seeds 0-2 of the mean of F1(S) and F1(V) on the DS1 "
             "hold-out, detected beats, EC57 (as make aami4-select), with the recipes' bias offsets")


def _recipe_ok(run, proto):
    key = "recipe" if proto == "inter" else "finetune"
    want = aami4.INTER if proto == "inter" else aami4.FINETUNE
    strip = lambda r: {k: v for k, v in (r or {}).items() if k not in (aami4.BIAS_KEY, aami4.PREMATURE_KEY, aami4.RULE_KEY,
                                                                      aami4.TEMPLATE_KEY)}  # noqa: E731
    return run.get("config") == {} and strip(run.get(key)) == strip(want)


def model_files(select_report: dict, work: Path) -> dict:
    """``{(protocol, fold, seed): [(record, model file)]}``: the select-phase models of the shipped
    recipes; a missing run or file is an error naming the command that makes it."""
    out = {}
    runs = {(r["variant"], r["seed"]): r for r in select_report.get("runs", [])}
    for fold, variant in FOLD_VARIANTS.items():
        names = aami4_select.FOLDS[fold]
        for seed in SEEDS:
            run = runs.get((variant, seed))
            for proto in PROTOCOLS:
                if run is None or not _recipe_ok(run, proto):
                    raise TernEcgError(f"no aami4-select run {variant!r} seed {seed} with the shipped {proto} recipe; "
                                       f"run make aami4-select VARIANTS={variant.split('@')[0]} FOLD={fold} (seeds 0-2)")
                files = [(r, work / (f"{variant}_s{seed}.json" if proto == "inter" else f"{variant}_s{seed}_{r}.json"))
                         for r in names]
                missing = [relative(f) for _, f in files if not f.is_file()]
                if missing:
                    raise TernEcgError(f"select-phase model(s) {missing} missing: run make aami4-select "
                                       f"VARIANTS={variant.split('@')[0]} FOLD={fold}")
                out[proto, fold, seed] = files
    return out


def holdout_beats(records, files, patient=False) -> tuple:
    """(Beats, (n,) pre/local codes) of one model set: the integer logits as the file gives them;
    ``patient``: each record scored after its first 5 minutes (the fine-tuning data)."""
    parts, codes = [], []
    for rec, path in files:
        model = modelfile.load(path)
        if aami4.PREMATURE_KEY in model.meta:
            raise TernEcgError(f"{relative(path)} already carries a premature offset; the choice needs the trained table")
        dset = detected.make_set(records, (rec,))
        rr = dset.codes(model.cfg)
        _, logits = monitor.classify(model, dset.raw(), rr)
        row, missed = op.scored_rows(records[rec], aami4.FINE_TUNE_SAMPLES if patient else 0)
        parts.append(op.Beats(logits, row, missed))
        codes.append(rr[:, aami4.PREMATURE_FEATURE])
    return op.Beats.concat(parts), np.concatenate(codes)


def with_offset(beats: op.Beats, codes, t, offset, bias) -> op.Beats:
    """``beats`` with the bias offsets ``bias`` and the premature offset ``[t, offset]`` in the logits."""
    lg = np.asarray(beats.logits, np.int64) + np.asarray(bias, np.int64)[None, :]
    lg[np.asarray(codes) <= t, aami4.PREMATURE_CLASS] += int(offset)
    return op.Beats(lg, beats.row, beats.missed)


def score(sets, t, offset, bias) -> tuple:
    """(mean criterion, per-set summaries) of ``sets`` = [(Beats, codes)] at one grid point."""
    sums = [aami4.summary(op.confusion(with_offset(b, c, t, offset, bias), [0] * len(op.CLASSES))) for b, c in sets]
    return float(np.mean([s["score"] for s in sums])), sums


def search(sets, step, bias) -> dict:
    """Every grid point's mean score; the best with the fixed tie-break (smaller k, then t)."""
    points = []
    for k in KS:
        for t in MAX_CODES:
            points.append((score(sets, t, -k * step, bias)[0], k, t))
    best = min(points, key=lambda p: (-round(p[0], 12), p[1], p[2]))
    base = score(sets, 0, 0, bias)[0]
    return {"base": base, "best": {"score": best[0], "k": best[1], "max_code": best[2], "offset": -best[1] * step},
            "points": [{"score": s, "k": k, "max_code": t} for s, k, t in points]}


def _summary_row(sums) -> dict:
    mean = lambda f: float(np.mean([f(s) or 0.0 for s in sums]))  # noqa: E731
    return {"acc": mean(lambda s: s["acc"]), "score": mean(lambda s: s["score"]),
            **{f"{c}_{m}": mean(lambda s, c=c, m=m: s["classes"][c][m]) for c in ("S", "V") for m in ("se", "ppv")}}


def select(db=None, work=None, result: Path = RESULT, report: Path = REPORT) -> dict:
    t0 = time.time()
    work = Path(work) if work else aami4_select._work()
    files = model_files(read_json(aami4_select.SELECT_REPORT), work)
    records = detected.load(db)
    bias = op.recipe_offsets()
    data = {"criterion": CRITERION, "folds": {f: list(aami4_select.FOLDS[f]) for f in FOLD_VARIANTS},
            "variants": FOLD_VARIANTS, "seeds": list(SEEDS), "max_codes": list(MAX_CODES), "ks": list(KS),
            "min_gain": MIN_GAIN, "tie_break": "smaller k, then smaller max_code",
            "feature": "pre/local", "class": "N", "protocols": {}}
    for proto in PROTOCOLS:
        keys = sorted(k for k in files if k[0] == proto)
        sets = [holdout_beats(records, files[k], proto == "patient") for k in keys]
        step = op.step_of(np.concatenate([b.logits for b, _ in sets]))
        res = search(sets, step, bias[proto])
        gain = res["best"]["score"] - res["base"]
        apply = gain >= MIN_GAIN
        _, at_zero = score(sets, 0, 0, bias[proto])
        b = res["best"]
        _, at_best = score(sets, b["max_code"], b["offset"], bias[proto])
        data["protocols"][proto] = {
            "models": [relative(f) for k in keys for _, f in files[k]], "step": step, "bias_offsets": bias[proto],
            **res, "gain": gain, "apply": apply,
            aami4.PREMATURE_KEY: [b["max_code"], b["offset"]] if apply else [0, 0],
            "zero": _summary_row(at_zero), "chosen": _summary_row(at_best),
            "per_model": [{"fold": k[1], "seed": k[2], "zero": z["score"], "chosen": c["score"]}
                          for k, z, c in zip(keys, at_zero, at_best)]}
    data["seconds"] = round(time.time() - t0, 1)
    for path in (result, report):
        update_json(path, lambda d: data)
    return data


def recipe_premature() -> dict:
    """``{"inter": [t, offset], "patient": [t, offset]}`` of the shipped recipes (golden/aami4.py)."""
    return {"inter": list(aami4.INTER.get(aami4.PREMATURE_KEY, [0, 0])),
            "patient": list(aami4.FINETUNE.get(aami4.PREMATURE_KEY, [0, 0]))}


def apply(folders, result: Path = RESULT) -> list:
    """Give every four-class model file in ``folders`` its recipe's offsets (golden/aami4.py
    ``recipe_offsets_into``); the recipes' premature offsets must equal the decision in ``result``."""
    from . import aami4_rule
    want = recipe_premature()
    got = read_json(result).get("protocols", {})
    ruled = read_json(aami4_rule.RESULT).get("protocols", {})
    for proto in PROTOCOLS:
        if proto not in got:
            raise TernEcgError(f"{relative(result)} has no {proto} decision: run make aami4-rhythm first")
        if ruled.get(proto, {}).get(aami4.RULE_KEY):        # the RR rule replaced it (make aami4-rule)
            aami4_rule.check_recipes()
        elif got[proto][aami4.PREMATURE_KEY] != want[proto]:
            raise TernEcgError(f"golden/aami4.py {proto} premature_offset {want[proto]} differs from the decision in "
                               f"{relative(result)} ({got[proto][aami4.PREMATURE_KEY]}); set the recipe first")
    return [relative(p) for folder in folders for p in aami4.recipe_offsets_into(folder)]


# ---- DS2, once, after the choice ------------------------------------------------------------------
DS2_RESULT = results_dir() / "aami4_rhythm_ds2.json"
DS2_COMMAND = "ternecg aami4-rhythm --ds2"


def score_ds2(db=None, result: Path = DS2_RESULT) -> dict:
    """The shipped models (seed 0, models/) on DS2 with and without their premature offset, scored
    once after the choice (golden/aami4_operating_ds2.py ``with_and_without``)."""
    from . import aami4_operating_ds2 as ods2
    return ods2.with_and_without(
        lambda doc: aami4.with_premature_offset(doc, [0, 0]), aami4.PREMATURE_KEY, [0, 0], DS2_COMMAND,
        "DS2, once, after the premature offsets were chosen on the DS1 hold-outs (make aami4-rhythm); the "
        "choice was not changed because of it", result, db, label="aami4-rhythm --ds2")


def ds2_lines(data: dict | None = None) -> list:
    """The paragraph of docs/results.md section 6 on the premature offset, hold-out and DS2."""
    sel = read_json(RESULT)
    data = read_json(DS2_RESULT) if data is None else data
    if not sel.get("protocols"):
        return ["No premature offset chosen yet (results/aami4_rhythm.json): `make aami4-rhythm`.", ""]
    pc = lambda v: "-" if v is None else f"{100 * v:.2f}"  # noqa: E731
    text = ("The premature offset (`make aami4-rhythm`, golden/aami4_rhythm.py, results/aami4_rhythm.json): the "
            "RR table's N entries of the pre/local codes 0..t gain an offset, so that a premature beat is N only "
            "by a margin; chosen on both DS1 hold-out folds with the select-phase models of seeds 0-2 (mean "
            "criterion over the six models). " + "; ".join(
                f"{proto}: [t, offset] {p['premature_offset']} (criterion {p['base']:.3f} -> {p['best']['score']:.3f}, "
                f"S Se / +P {pc(p['zero']['S_se'])} / {pc(p['zero']['S_ppv'])} -> {pc(p['chosen']['S_se'])} / "
                f"{pc(p['chosen']['S_ppv'])} %)" for proto, p in sel["protocols"].items()) + ".")
    if data.get("protocols"):
        text += (f" On DS2, scored once after the choice (`{data['command']}`, results/aami4_rhythm_ds2.json; seed 0, "
                 "detected peaks), without -> with the offset: " + with_without_text(data)
                 + " These figures are of the models of that time: the RR rule replaced the offset, so the shipped "
                   "files carry a zero offset, and a re-run now compares two identical files.")
    else:
        text += f" Its DS2 outcome is not scored yet: `{DS2_COMMAND}`."
    return [text, ""]


# ---- the measurement behind the RR rule (golden/aami4_rule.py chooses from it) ---------------------
RULE_RESULT = results_dir() / "aami4_rule_probe.json"
RULE_GRID = [(t, b) for t in (5, 6) for b in (4, 5, 6, 15)]


def rule_classes(cls, pre, irr, t, b) -> np.ndarray:
    """The head rule: a beat the model calls N whose pre/local code is at most ``t`` and whose
    irregularity code (docs/arithmetic.md 6, config ``rr_irregular``) is at most ``b`` becomes S
    (premature, regular rhythm, normal shape); every other class stays."""
    cls = np.asarray(cls)
    hit = (cls == aami4.PREMATURE_CLASS) & (np.asarray(pre) <= t) & (np.asarray(irr) <= b)
    return np.where(hit, 1, cls)


def rule_probe(db=None, work=None, result: Path = RULE_RESULT) -> dict:
    """The head rule on the same hold-out models and scoring as :func:`select` (recipe bias offsets,
    no premature offset), over :data:`RULE_GRID`: the measurement ``make aami4-rule``
    (golden/aami4_rule.py) chooses the shipped RR rule from."""
    t0 = time.time()
    work = Path(work) if work else aami4_select._work()
    files = model_files(read_json(aami4_select.SELECT_REPORT), work)
    records = detected.load(db)
    icfg = aami4.config(aami4.INTER, {"rr_irregular": 1})
    irr = {f: np.concatenate([detected.make_set(records, (r,)).codes(icfg)[:, -1] for r in aami4_select.FOLDS[f]])
           for f in FOLD_VARIANTS}
    bias = op.recipe_offsets()
    data = {"rule": "class N and pre/local code <= t and irregularity code <= b -> S",
            "criterion": CRITERION, "grid": RULE_GRID, "protocols": {}}
    for proto in PROTOCOLS:
        keys = sorted(k for k in files if k[0] == proto)
        sets = [(holdout_beats(records, files[k], proto == "patient"), irr[k[1]]) for k in keys]
        rows = []
        for t, b in [(None, None)] + RULE_GRID:
            sums = []
            for (beats, pre), ir in sets:
                cls = op.decide(beats.logits, bias[proto])
                if t is not None:
                    cls = rule_classes(cls, pre, ir, t, b)
                sums.append(aami4.summary(op.class_confusion(beats, cls)))
            rows.append({"t": t, "b": b, **_summary_row(sums),
                         "per_model": [{"fold": kk[1], "seed": kk[2], "score": sm["score"]} for kk, sm in zip(keys, sums)]})
        data["protocols"][proto] = rows
    data["seconds"] = round(time.time() - t0, 1)
    update_json(result, lambda d: data)
    return data


def rule_table(data: dict) -> str:
    return grid_table(data, ["rule (t, b)"], lambda r: ["none" if r["t"] is None else str((r["t"], r["b"]))])


def grid_table(data: dict, point_heads, point_cells) -> str:
    """A hold-out grid (per protocol, rows with ``score``, ``per_model``, S and V Se / +P) as a
    markdown table; ``point_cells(row)`` gives the cells of the columns ``point_heads``."""
    heads = ["protocol", *point_heads, "mean F1(S,V)", "fold a", "fold b", "S Se", "S +P", "V Se", "V +P"]
    rows = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for proto, rs in data["protocols"].items():
        for r in rs:
            fold = lambda f: float(np.mean([m["score"] for m in r["per_model"] if m["fold"] == f]))  # noqa: E731
            cells = [proto, *point_cells(r), f"{r['score']:.3f}", f"{fold('a'):.3f}", f"{fold('b'):.3f}",
                     *(f"{r[k]:.3f}" for k in ("S_se", "S_ppv", "V_se", "V_ppv"))]
            rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def table(data: dict) -> str:
    rows = ["| protocol | point | [max code, offset] | ACC | S Se | S +P | V Se | V +P | mean F1(S,V) |",
            "|---|---|---|---|---|---|---|---|---|"]
    for proto, p in data["protocols"].items():
        for name, spec in (("zero", [0, 0]), ("chosen", [p["best"]["max_code"], p["best"]["offset"]])):
            r = p[name]
            label = name if name == "zero" else ("best, applied" if p["apply"] else f"best, gain < {data['min_gain']}")
            rows.append(f"| {proto} | {label} | {spec} | {r['acc']:.3f} | {r['S_se']:.3f} | {r['S_ppv']:.3f} | "
                        f"{r['V_se']:.3f} | {r['V_ppv']:.3f} | {r['score']:.3f} |")
    return "\n".join(rows)


def add_parser(sub):
    """``ternecg aami4-rhythm`` (``make aami4-rhythm``)."""
    from .probe_cli import add_parser as add
    return add(sub, "aami4-rhythm", __doc__, _command, ds2=("their premature offset", DS2_RESULT),
               apply="write the recipes' premature offsets (golden/aami4.py) into models/ and "
                     "build/aami4/seeds/seed*/ instead of choosing them",
               extra=[("--rule-probe", "measure the head rule 'N, premature and regular -> S' on the same hold-out "
                                       "models -> results/aami4_rule_probe.json (make aami4-rule chooses from it)")])


def _command(args):
    from .probe_cli import run_apply, run_ds2
    if args.rule_probe:
        data = rule_probe(args.db)
        print(rule_table(data))
        print(f"wrote {relative(RULE_RESULT)}")
        return
    if args.ds2:
        return run_ds2(score_ds2, ds2_lines, DS2_RESULT, args.db)
    if args.apply:
        return run_apply("aami4-rhythm", f"premature offsets {recipe_premature()}", apply)
    data = select(args.db)
    print(f"criterion: {data['criterion']}")
    print(table(data))
    for proto, p in data["protocols"].items():
        print(f"{proto}: step {p['step']}, gain {p['gain']:+.3f} -> "
              f"{'apply' if p['apply'] else 'keep'} {p[aami4.PREMATURE_KEY]}")
    print(f"\nwrote {relative(RESULT)} and {relative(REPORT)}")


if __name__ == "__main__":
    from ternecg.cli import command_main
    sys.exit(command_main("aami4-rhythm")())
