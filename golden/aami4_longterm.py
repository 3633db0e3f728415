"""`make aami4-longterm`: a long-term premature rule for the four-class models ("an N call much
faster than this patient's usual rhythm is S"), measured on the DS1 hold-outs -> results/aami4_longterm.json.

Why. The shipped RR rule (docs/arithmetic.md 6) makes an N call S when the beat is premature
against the *local* mean of the last ``rr_local`` intervals (pre/local code at most ``t``) in a
regular rhythm (irregularity code at most ``b``). A run of premature beats, or long pauses among
the normal beats, moves that local mean with them, so the beats of a run stop looking premature.
Inter-patient methods normalise the RR intervals by the patient's *average* RR instead (Lin and
Yang 2014, "Heartbeat classification using normalized RR intervals and morphological features").
This rule asks the same question against a long-term mean:

    after the shipped rules (the template rule, then the RR rule), a beat called N whose
    long-term code is at most ``m`` and whose irregularity code is at most the shipped RR rule's
    bound ``b`` becomes S.

The long-term code (:func:`longterm_codes`) is the pre interval over an exponential average of the
record's intervals with weight ``2^-k`` (about ``2^k`` beats), in the RR codes' form (the ratio
times ``2^(bits-1)``, rounded, saturating: code 8 is "as long as the average" with 4-bit codes):
integer arithmetic a monitor's front end can do with one register, a shift and an adder, the
average updated after each beat's code (so a premature beat does not shorten its own reference).

Disclosure: the idea came from the shipped inter-patient model's DS2 errors (docs/results.md
section 6: record 232, sinus bradycardia with long pauses and runs of atrial premature beats, holds
1,382 of DS2's 1,837 S beats, and the model calls 1,329 of them N); the form, the grid and the
decision below were fixed (and committed) before the hold-out was measured, and DS2 takes no part
in the choice. No hold-out record is like 232, so the measurement asks whether the rule helps or
harms the records that are there.

The procedure, as ``make aami4-irregular``'s: the select-phase models of the shipped recipes
(``make aami4-select``, variant ``shipped`` on fold a and ``shipped@b`` on fold b, seeds 0, 1 and
2), every hold-out beat's integer logits computed once with the recipes' bias offsets and their
shipped rules; a grid of ``m`` in :data:`MAX_LONGTERM` and ``k`` in :data:`SHIFTS`; aami4-select's
criterion (mean of F1(S) and F1(V), EC57, detected beats) averaged over the six models of each
protocol; one rule for both protocols: the grid point with the best mean of the two protocols'
criteria (ties to the smaller ``m``, the one that changes fewer beats, then the larger ``k``),
taken when it gains at least :data:`MIN_GAIN` over the shipped decision (no such rule).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from ternecg.paths import relative, results_dir
from ternecg.reports import read_json, update_json

from . import aami4, aami4_operating as op, aami4_rhythm, aami4_select, aami4_template, detected
from .spec.rr import BITS, _ratio_code

RESULT = results_dir() / "aami4_longterm.json"
PROTOCOLS = aami4_rhythm.PROTOCOLS
#: long-term code bounds: pre at most (m + 1/2) / 8 of the long-term mean (4-bit codes), 0.44 .. 0.94
MAX_LONGTERM = (3, 4, 5, 6, 7)
#: the average's weight 2^-k: about 32 and 128 beats
SHIFTS = (5, 7)
MIN_GAIN = aami4_rhythm.MIN_GAIN
S_CLASS, N_CLASS = 1, 0
RULE = ("after the shipped rules (template rule, then RR rule): class N, long-term code <= m and "
        "irregularity code <= the RR rule's b -> S")


def longterm_codes(samples, k, bits=BITS) -> np.ndarray:
    """(N,) int64 long-term codes of one record's increasing R peaks: ``pre`` (the interval before
    the beat; the first beat takes the first interval, as the RR codes do) over the average ``A``
    of the intervals before it, ``A = a / 2^k`` with the register ``a`` started at ``pre_0 * 2^k``
    and, after each beat's code, ``a <- a - (a >> k) + pre`` (an exponential average of weight
    ``2^-k``); the code is ``clip(floor(2^(bits-1) * pre / A + 1/2), 0, 2^bits - 1)`` exactly
    (golden/spec/rr.py ``_ratio_code`` of ``pre * 2^k`` over ``a``)."""
    s = np.asarray(samples, dtype=np.int64)
    if len(s) < 2:
        return np.full(len(s), 1 << (bits - 1), np.int64)      # a lone beat: as long as the average
    d = np.diff(s)
    pre = np.concatenate([d[:1], d])
    out = np.empty(len(pre), np.int64)
    a = int(pre[0]) << k
    for i, p in enumerate(pre.tolist()):
        out[i] = _ratio_code(np.int64(p << k), np.int64(a), bits)
        a = a - (a >> k) + p
    return out


def longterm_rule(cls, code, irr, m, b) -> np.ndarray:
    """The rule on classes ``cls`` (after the shipped rules): a beat called N whose long-term code
    is at most ``m`` and whose irregularity code is at most ``b`` becomes S (``m`` None: no rule)."""
    cls = np.asarray(cls)
    if m is None:
        return cls.copy()
    hit = (cls == N_CLASS) & (np.asarray(code) <= m) & (np.asarray(irr) <= b)
    return np.where(hit, S_CLASS, cls)


def record_codes(records, names, k) -> np.ndarray:
    """The long-term codes of every classified detection of records ``names`` (in the order
    golden/detected.py ``make_set`` gives them), each record's average started afresh."""
    return np.concatenate([longterm_codes(detected.make_set(records, (r,)).sample, k) for r in names])


def probe(db=None, work=None, select_report=None, result: Path = RESULT) -> dict:
    """The grid on the hold-out models (module docstring) -> ``result``."""
    t0 = time.time()
    sel, files, records, irr = aami4_template.holdout_setup(db, work, select_report)
    folds = aami4_rhythm.FOLD_VARIANTS
    u = {p: r.get(aami4.TEMPLATE_KEY) for p, r in (("inter", aami4.INTER), ("patient", aami4.FINETUNE))}
    tcodes = {f: aami4_template.record_templates(records, aami4_select.FOLDS[f], None) for f in folds}
    lcodes = {(f, k): record_codes(records, aami4_select.FOLDS[f], k) for f in folds for k in SHIFTS}
    bias = op.recipe_offsets()
    rules = aami4_template.shipped_rule()
    grid = [(None, None)] + [(m, k) for k in SHIFTS for m in MAX_LONGTERM]
    data = {"rule": RULE, "criterion": aami4_rhythm.CRITERION,
            "shipped": {p: {"template_rule": u[p], "rr_rule": list(rules[p]) if rules[p] else None} for p in PROTOCOLS},
            "select_report": relative(Path(select_report)) if select_report else relative(aami4_select.SELECT_REPORT),
            "grid": {"m": list(MAX_LONGTERM), "k": list(SHIFTS)}, "min_gain": MIN_GAIN,
            "tie_break": "smaller m, then larger k", "protocols": {}}
    for proto in PROTOCOLS:
        b = rules[proto][1] if rules[proto] else None

        def classify(beats, pre, fold, pt, proto=proto, b=b):
            cls = aami4_template.decide(beats.logits, bias[proto], tcodes[fold], u[proto], pre, irr[fold], rules[proto])
            if pt["m"] is None or b is None:
                return cls
            return longterm_rule(cls, lcodes[fold, pt["k"]], irr[fold], pt["m"], b)
        data["protocols"][proto] = aami4_template.grid_rows(files, records, proto,
                                                            [{"m": m, "k": k} for m, k in grid], classify)
        print(f"aami4-longterm: {proto} measured", flush=True)
    data["decision"] = decide_rule(data)
    data["seconds"] = round(time.time() - t0, 1)
    update_json(result, lambda d: data)
    return data


def decide_rule(data: dict) -> dict:
    """The grid point ``(m, k)`` with the best mean of the two protocols' criteria (ties: smaller
    ``m``, then larger ``k``), and whether it gains at least :data:`MIN_GAIN` over no rule."""
    rows = {p: {(r["m"], r["k"]): r for r in data["protocols"][p]} for p in PROTOCOLS}
    mean = lambda key: float(np.mean([rows[p][key]["score"] for p in PROTOCOLS]))  # noqa: E731
    points = [key for key in rows[PROTOCOLS[0]] if key[0] is not None]
    best = min(points, key=lambda key: (-round(mean(key), 12), key[0], -key[1]))
    none = (None, None)
    base = mean(none)
    return {"m": best[0], "k": best[1], "score": mean(best), "base": base, "gain": mean(best) - base,
            "take": mean(best) - base >= MIN_GAIN,
            "per_protocol": {p: {"score": rows[p][best]["score"], "base": rows[p][none]["score"],
                                 **{f: (rows[p][none][f], rows[p][best][f]) for f in ("S_se", "S_ppv", "V_se", "V_ppv")}}
                             for p in PROTOCOLS}}


# ---- DS2, once, after the choice --------------------------------------------------------------------
DS2_RESULT = results_dir() / "aami4_longterm_ds2.json"


def score_ds2(db=None, result: Path = DS2_RESULT, decision: Path = RESULT) -> dict:
    """The shipped seed-0 models on DS2, detected and reference peaks, without and with the chosen
    rule (monitor-eval's scoring, golden/aami4_operating_ds2.py ``post_rule``): the monitor's
    classes (the files' offsets and rules), then the rule on the long-term and irregularity codes
    of the peaks the monitor classified."""
    from ternecg.errors import TernEcgError

    from . import aami4_operating_ds2 as ods2, monitor, splits
    from .spec.rr import irregular_codes
    got = read_json(decision).get("decision")
    if not got:
        raise TernEcgError(f"no long-term rule decision in {relative(decision)}: run make aami4-longterm first")
    m, k = got["m"], got["k"]
    rules = aami4_template.shipped_rule()
    zero = [0] * len(op.CLASSES)

    def classify(p, b, key, models, records):
        shipped = op.with_rule(op.decide(b.logits, zero), b.hit)
        lcode, irr = [], []
        for r in splits.DS2:        # the codes of the peaks the monitor classified, record by record
            cfg, peaks = models[r].cfg, monitor.beat_peaks(records[r].signal, peaks=getattr(records[r], key))
            lcode.append(longterm_codes(peaks, k, cfg.rr_bits))
            irr.append(irregular_codes(peaks, cfg.rr_local, cfg.rr_bits))
        bound = rules[ods2.OPERATING[p]][1]
        return shipped, longterm_rule(shipped, np.concatenate(lcode), np.concatenate(irr), m, bound)
    return ods2.post_rule({"command": "ternecg aami4-longterm --ds2", "rule": RULE, "m": m, "k": k,
                           "take": got["take"]}, classify, result, db, label="aami4-longterm --ds2")


def lines(data: dict | None = None, ds2: dict | None = None) -> list:
    """The paragraph of docs/results.md section 6 on this measurement."""
    data = read_json(RESULT) if data is None else data
    d = data.get("decision")
    if not d:
        return ["No long-term premature rule measured yet (results/aami4_longterm.json): `make aami4-longterm`.", ""]
    rows = {p: {(r["m"], r["k"]): r["score"] for r in data["protocols"][p]} for p in PROTOCOLS}
    own = {p: max((key for key in rows[p] if key[0] is not None), key=lambda key: (round(rows[p][key], 12), -key[0]))
           for p in PROTOCOLS}
    per = "; ".join(f"{p}: {v['base']:.3f} -> {v['score']:.3f} (S Se / +P {100 * v['S_se'][0]:.1f} / "
                    f"{100 * v['S_ppv'][0]:.1f} -> {100 * v['S_se'][1]:.1f} / {100 * v['S_ppv'][1]:.1f} %)"
                    for p, v in d["per_protocol"].items())
    def fold(p, key, f):
        row = next(r for r in data["protocols"][p] if (r["m"], r["k"]) == key)
        return float(np.mean([x["score"] for x in row["per_model"] if x["fold"] == f]))
    if all("per_model" in r for p in PROTOCOLS for r in data["protocols"][p]):
        per += "; by fold: " + "; ".join(
            f"{p} " + ", ".join(f"{f} {fold(p, (None, None), f):.3f} -> {fold(p, (d['m'], d['k']), f):.3f}"
                                for f in aami4_rhythm.FOLD_VARIANTS) for p in PROTOCOLS)
    best_own = "; ".join(f"{p} m {own[p][0]} k {own[p][1]}: {rows[p][None, None]:.3f} -> {rows[p][own[p]]:.3f}"
                         for p in PROTOCOLS)
    text = ("The long-term premature rule (`make aami4-longterm`, golden/aami4_longterm.py, results/aami4_longterm.json): "
            "after the shipped rules, a beat called N whose pre interval is at most m / 8 (+ 1/16) of an exponential "
            "average of the record's intervals (weight 2^-k) in a regular rhythm (the RR rule's irregularity bound) "
            "becomes S, for the atrial premature beats whose local mean moves with them (runs, pauses); measured like "
            "the template rule (both DS1 hold-out folds, select-phase models of seeds 0-2, one choice for both "
            f"protocols on the mean of their criteria, m {min(data['grid']['m'])}-{max(data['grid']['m'])}, "
            f"k {' and '.join(str(k) for k in data['grid']['k'])}, taken at a gain of at least {data['min_gain']}; "
            "the idea came from record 232 in the DS2 errors above, the form, grid and decision were fixed before the "
            f"hold-out was measured): best m {d['m']} k {d['k']}, mean criterion {d['base']:.3f} -> {d['score']:.3f} "
            f"({per}), " + ("taken. " if d["take"] else "not taken, so DS2 was not scored with it. ")
            + f"Each protocol's own best: {best_own}.")
    ds2 = read_json(DS2_RESULT) if ds2 is None else ds2
    if ds2.get("protocols") and (ds2.get("m"), ds2.get("k")) == (d["m"], d["k"]):
        from .aami4_operating_ds2 import with_without_text
        text += (" On DS2, scored once after the choice (`ternecg aami4-longterm --ds2`, results/aami4_longterm_ds2.json; "
                 "seed 0, the shipped models with their rules, detected peaks), without -> with the rule: "
                 + with_without_text(ds2) + " Detection cost: " + "; ".join(
                     f"{p.replace('_', '-')} {v['without']['detection_cost_points']:.2f} -> "
                     f"{v['with']['detection_cost_points']:.2f} points" for p, v in ds2["protocols"].items())
                 + ". The shipped models and the monitor's hardware do not apply it yet (the long-term code is not "
                   "in the RR unit, the head has no such rule).")
    elif d["take"]:
        text += " Its DS2 outcome is not scored yet: `ternecg aami4-longterm --ds2`."
    return [text, ""]


def table(data: dict) -> str:
    return aami4_rhythm.grid_table(data, ["m", "k"], lambda r: ["none" if r["m"] is None else str(r["m"]),
                                                                "-" if r["k"] is None else str(r["k"])])


def add_parser(sub):
    """``ternecg aami4-longterm`` (``make aami4-longterm``)."""
    from .probe_cli import add_parser as add
    return add(sub, "aami4-longterm", __doc__, _command, ds2=("the chosen rule", DS2_RESULT), select_report=True)


def _command(args):
    from .probe_cli import print_probe, run_ds2
    if args.ds2:
        from .aami4_operating_ds2 import with_without_text
        return run_ds2(score_ds2, lambda data: [f"DS2 (seed 0, detected peaks), without -> with m {data['m']} "
                                                f"k {data['k']}: {with_without_text(data)}"], DS2_RESULT, args.db)
    data = probe(args.db, select_report=args.select_report)
    d = data["decision"]
    print_probe(data, table(data), f"m {d['m']} k {d['k']}", "keep no long-term premature rule", RESULT)


if __name__ == "__main__":
    from ternecg.cli import command_main
    sys.exit(command_main("aami4-longterm")())
