"""`make morph-probe`: how far each beat is from its patient's running average beat, on DS1 only.

Issue 14's inter-patient model calls most DS2 S beats V (record 232 holds most of them): from one
window it cannot tell "premature and shaped like this patient's usual beats" (S) from "premature
and shaped otherwise" (V). This probe measures a candidate cue for that, integer-friendly, before
any model or hardware is built on it:

* the beat's window (``PRE`` samples before the R peak, ``POST`` from it), times 16, minus its
  mean (rounded);
* the patient's template: the first beat's window, then after every beat ``t += (w - t) >> SHIFT``
  (an exponential average over about 2**SHIFT beats, every beat included: no class is known);
* the deviation ``sum |w - t| / sum |t|`` of each beat against the template before its update.

It reports, on the DS1 records only (the records that train and select; DS2 is not read), the
median deviation of the N, S, V and F beats at the reference R peaks, and how well the deviation
ranks S against V, N against V and N against S (the area under the ROC curve: 1.0 = every beat
of the first class closer to its template than every beat of the second). -> build/reports/
morph_probe.json. It is a measurement, not a specification: the monitor does not use it yet.
Known weakness: the template follows every beat, so in long runs of bigeminy (record 208) it is a
blend of N and V beats and ranks neither (tests/golden/test_morph_probe.py). ``--gate X`` updates
the template only with beats whose deviation is below X (a variant to measure, not a cure: a
tight gate can lock onto a wrong first template).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ternecg.paths import build_dir

from . import detected, splits

REPORT = build_dir("reports", "morph_probe.json")
PRE, POST, SHIFT = 90, 150, 3
CLASSES = ("N", "S", "V", "F")
PAIRS = (("S", "V"), ("N", "V"), ("N", "S"))


def deviations(signal, peaks, pre=PRE, post=POST, shift=SHIFT, gate=None):
    """``(index, deviation)``: the peaks whose window lies inside ``signal`` and each one's
    ``sum |w - t| / sum |t|`` against the running template before its update (module doc);
    ``gate``: only beats with a deviation below it update the template."""
    x = np.asarray(signal, dtype=np.int64)
    keep, out = [], []
    tmpl = None
    for i, p in enumerate(np.asarray(peaks, dtype=np.int64)):
        if p < pre or p + post > len(x):
            continue
        w = x[p - pre:p + post] * 16
        w = w - int(np.round(w.mean()))
        if tmpl is None:
            tmpl = w.copy()
        d = np.abs(w - tmpl).sum() / max(1, np.abs(tmpl).sum())
        out.append(d)
        keep.append(i)
        if gate is None or d < gate:
            tmpl = tmpl + ((w - tmpl) >> shift)
    return np.array(keep, dtype=np.int64), np.array(out, dtype=np.float64)


def auc(closer, farther) -> float | None:
    """Area under the ROC curve of ``closer`` (small values) against ``farther`` (ties count
    half); None when either is empty."""
    a, b = np.asarray(closer, dtype=float), np.asarray(farther, dtype=float)
    if not len(a) or not len(b):
        return None
    both = np.concatenate([-a, -b])
    # the mean rank of each distinct value (ties share it): the ranks its run covers in sorted order
    values, inverse, counts = np.unique(both, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2)[inverse]
    return float((ranks[:len(a)].sum() - len(a) * (len(a) + 1) / 2) / (len(a) * len(b)))


def by_class(records: dict, names, gate=None) -> dict:
    """``{class: deviations}`` over the reference beats of ``names``."""
    got = {c: [] for c in CLASSES}
    for r in names:
        rec = records[r]
        idx, dev = deviations(rec.signal, rec.ref, gate=gate)
        lab = detected.aami4_labels(rec.ref_symbol)[idx]
        for k, c in enumerate(CLASSES):
            got[c].extend(dev[lab == k].tolist())
    return {c: np.array(v) for c, v in got.items()}


def evaluate(db=None, names=splits.DS1, gate=None) -> dict:
    dev = by_class(detected.load(db), names, gate)
    return {"records": list(names), "window": {"pre": PRE, "post": POST}, "shift": SHIFT, "gate": gate,
            "beats": {c: int(len(v)) for c, v in dev.items()},
            "median": {c: (round(float(np.median(v)), 4) if len(v) else None) for c, v in dev.items()},
            "auc": {f"{a}<{b}": (None if (x := auc(dev[a], dev[b])) is None else round(x, 4))
                    for a, b in PAIRS}}


def table(rep) -> str:
    gate = "" if rep["gate"] is None else f", template updated below {rep['gate']}"
    rows = [f"deviation from the running template (DS1, {len(rep['records'])} records, reference peaks{gate}):",
            "| class | beats | median |", "|---|---|---|"]
    rows += [f"| {c} | {rep['beats'][c]} | {rep['median'][c]} |" for c in CLASSES]
    rows.append("AUC (first class closer): " + ", ".join(f"{k} {v}" for k, v in rep["auc"].items()))
    return "\n".join(rows)


def add_parser(sub):
    """``ternecg morph-probe`` (``make morph-probe``)."""
    from ternecg import options
    p = sub.add_parser("morph-probe", description=__doc__.split("\n")[0])
    options.add_db(p)
    options.add_out(p, build_dir("reports"), "writes morph_probe.json")
    p.add_argument("--gate", type=_gate, default=None, metavar="X",
                   help="update the template only with beats whose deviation is below X (> 0)")
    p.set_defaults(func=_command)
    return p


def _gate(text):
    try:
        x = float(text)
    except ValueError:
        x = None
    if x is None or not x > 0 or x == float("inf"):
        raise argparse.ArgumentTypeError(f"--gate {text!r} must be a number above 0, e.g. 1.0")
    return x


def _command(args):
    t0 = time.time()
    rep = evaluate(db=args.db, gate=args.gate)
    rep["seconds"] = round(time.time() - t0, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "morph_probe.json").write_text(json.dumps(rep, indent=1) + "\n")
    print(table(rep))
