"""`make aami4-operating`: each protocol's operating point (offsets to the S and V logit biases) chosen on the DS1 hold-out -> results/aami4_operating.json.

The logits layer adds a per-class integer ``bias`` from the model file (golden/integer_ref.py:
``acc + bias + RR table terms``, argmax with ties to the lowest class), so adding an integer
offset ``o[c]`` to the bias of class ``c`` moves the model's operating point (more or fewer beats
called S or V) without retraining, and the hardware builds the changed file unchanged (it reads
the bias from the file).

The offsets are chosen on the select-phase models of the *shipped* recipes
(build/aami4/select/, ``make aami4-select``: trained on DS1 without :data:`~ternecg.golden.aami4.HOLDOUT`):
``inter`` = the global model on the whole hold-out records, ``patient`` = each hold-out record's
fine-tuned model on the rest of its record (after the first 5 minutes). Every hold-out beat's
integer logits are computed once (the detected beats, as aami4-select scores them); each grid
point then re-decides the argmax with the offsets added and is scored exactly as aami4-select
scores (golden/aami4.py ``record_confusion`` / ``summary``: EC57, the mean of F1(S) and F1(V)).

Fixed before looking at any result: the grid (offsets to S and V only, ``k * step`` for ``k`` in
``-GRID_K .. GRID_K``, ``step`` = the median top-two logit gap of the protocol's hold-out beats
divided by ``STEP_DIVISOR``; N is the reference and F is left alone: it is not in the criterion
and the hold-out has 21 F beats), the criterion (aami4-select's), the tie-break (smallest
``|k_S| + |k_V|``, then smallest ``max |k|``, then the smaller ``(k_S, k_V)``) and the decision rule:
the offsets are applied only when they raise the hold-out criterion by at least ``MIN_GAIN``
over zero offsets. DS2 is not used.

``--apply`` writes the recipe's offsets (golden/aami4.py ``INTER`` / ``FINETUNE``
``"bias_offsets"``, which must equal this report's decision) into the shipped model files
(models/aami4_inter.json, models/aami4_patient/*.json) and the seed models of
build/aami4/seeds/: the bias gains the offsets, the metadata records them, the checksum is renewed.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ternecg.errors import TernEcgError
from ternecg.paths import build_dir, relative, results_dir
from ternecg.reports import read_json, update_json

from . import aami4, aami4_select, detected, ec57, monitor
from .spec import modelfile

RESULT = results_dir() / "aami4_operating.json"
REPORT = build_dir("reports", "aami4_operating.json")
PROTOCOLS = ("inter", "patient")
CLASSES = ("N", "S", "V", "F")
#: the four-class models' RR rules, in their order: (from, to) classes: the template rule V -> N
#: (golden/aami4.py ``with_template_rule``), then the rhythm rule N -> S (``with_rr_rule``)
RULES = ((2, 0), (0, 1))
#: the classes whose bias is moved (N is the reference: a common shift changes no argmax)
MOVED = ("S", "V")
GRID_K = 16            # k in -16 .. 16 steps per moved class
STEP_DIVISOR = 4       # step = median top-two logit gap / 4 (at least 1)
MIN_GAIN = 0.01        # apply only when the hold-out criterion rises by at least this much
CRITERION = "mean of F1(S) and F1(V) on the DS1 hold-out, detected beats, EC57 (as make aami4-select)"
RECIPE_KEY = "bias_offsets"


# ---- the hold-out beats, scored once -------------------------------------------------------------
@dataclass
class Beats:
    """The classified detections of some records, ready to be re-decided and scored.

    ``logits``: (n, 4) int64 integer logits (bias and RR terms included); ``row``: the EC57
    confusion row each detection's class lands in (reference class 0..3 of its matched beat, 4 for
    a scored false detection, -1 when it is not scored); ``missed``: (4,) missed reference beats
    per class (the ``o`` column, independent of the classes); ``hit``: (n, len(RULES)) bool, rule
    ``RULES[j]`` of the model (docs/arithmetic.md 6) holds for the detection's codes (False where
    the model has no such rule; None: the models have no rule)."""
    logits: np.ndarray
    row: np.ndarray
    missed: np.ndarray
    hit: np.ndarray | None = None

    @staticmethod
    def concat(parts) -> "Beats":
        parts = list(parts)
        hit = None
        if any(p.hit is not None for p in parts):
            hit = np.concatenate([np.zeros((len(p.row), len(RULES)), bool) if p.hit is None else p.hit
                                  for p in parts])
        return Beats(np.concatenate([p.logits for p in parts]), np.concatenate([p.row for p in parts]),
                     np.sum([p.missed for p in parts], axis=0), hit)


def rule_hits(model, codes) -> np.ndarray | None:
    """(n, len(RULES)) bool: column ``j``, rule ``RULES[j]`` of ``model`` holds for each beat's
    codes (``(n, F)``; False where the model lacks that rule), or None without rules."""
    rules = model.rr_rules
    if not rules:
        return None
    pairs = [(r["from"], r["to"]) for r in rules]
    if len(set(pairs)) != len(pairs) or any(p not in RULES for p in pairs) \
            or sorted(pairs, key=RULES.index) != pairs:
        raise TernEcgError(f"{model.path}: RR rules {' then '.join(f'{a} -> {b}' for a, b in pairs)}; the "
                           f"four-class scoring knows the rules V -> N (2 -> 0) then N -> S (0 -> 1) only")
    codes = np.asarray(codes, np.int64)
    hit = np.zeros((len(codes), len(RULES)), bool)
    for rule, pair in zip(rules, pairs):
        hit[:, RULES.index(pair)] = np.all(codes <= np.asarray(rule["max_codes"], np.int64)[None, :], axis=1)
    return hit


def with_rule(cls, hit) -> np.ndarray:
    """The classes after the four-class models' RR rules (:data:`RULES`, in order) where ``hit``
    (:func:`rule_hits`; None: unchanged)."""
    cls = np.asarray(cls)
    if hit is None:
        return cls
    for j, (c_from, c_to) in enumerate(RULES):
        cls = np.where(hit[:, j] & (cls == c_from), c_to, cls)
    return cls


def scored_rows(rec: detected.Record, after: int = 0, det=None):
    """(row per classified detection, missed per class) of one record: golden/aami4.py
    ``record_confusion`` taken apart so that the confusion of any classes is one bincount.
    ``det``: the classified peaks (default: the detector's, ``rec.det``; e.g. the reference peaks
    the monitor classifies, for monitor-eval's ``annotated`` run)."""
    lab = detected.aami4_labels(rec.ref_symbol)
    lab[~monitor.inside(rec.ref, len(rec.signal)) | (rec.ref < after)] = -1
    det = np.asarray(rec.det if det is None else det, np.int64)
    m = ec57.match(np.asarray(rec.ref, np.int64), det)
    row = np.full(len(det), -1, np.int64)
    row[m.test_index] = lab[m.ref_index]
    fp = m.fp_index[det[m.fp_index] >= after]
    row[fp] = len(CLASSES)
    fn = lab[m.fn_index]
    missed = np.bincount(fn[fn >= 0], minlength=len(CLASSES))[:len(CLASSES)].astype(np.int64)
    return row, missed


def decide(logits, offsets) -> np.ndarray:
    """The class of every beat with ``offsets`` (per class) added to its logits: argmax, ties to
    the lowest class (golden/integer_ref.py ``argmax_lowest``; numpy's argmax takes the first)."""
    return np.argmax(np.asarray(logits, np.int64) + np.asarray(offsets, np.int64)[None, :], axis=1)


def confusion(beats: Beats, offsets) -> np.ndarray:
    """The (5, 5) EC57 confusion of ``beats`` decided with ``offsets`` (then the RR rules, where the
    beats carry their hits)."""
    return class_confusion(beats, with_rule(decide(beats.logits, offsets), beats.hit))


def class_confusion(beats: Beats, cls) -> np.ndarray:
    """The (5, 5) EC57 confusion of ``beats`` given each detection's class ``cls``."""
    n = len(CLASSES)
    cls = np.asarray(cls)
    k = beats.row >= 0
    cm = np.bincount(beats.row[k] * (n + 1) + cls[k], minlength=(n + 1) ** 2).reshape(n + 1, n + 1)
    cm[:n, n] += beats.missed
    return cm


def median_gap(logits) -> float:
    """Median over beats of the largest logit minus the second largest: the logits' scale."""
    s = np.sort(np.asarray(logits, np.int64), axis=1)
    return float(np.median(s[:, -1] - s[:, -2])) if len(s) else 0.0


def step_of(logits) -> int:
    return max(1, int(round(median_gap(logits) / STEP_DIVISOR)))


def offsets_of(ks: dict, step: int) -> list:
    """Per-class offsets (N, S, V, F order) of grid point ``ks`` = ``{class: k}``."""
    return [int(ks.get(c, 0)) * step for c in CLASSES]


def search(beats: Beats, step: int, grid_k: int = GRID_K, moved=MOVED, score=None) -> dict:
    """Every grid point's score; the best with the fixed tie-break. Returns ``{"base", "best",
    "top", "points"}`` where base/best hold ``k``, ``offsets``, ``score`` and the summary."""
    score = score or (lambda cm: aami4.summary(cm)["score"])
    ks = np.arange(-grid_k, grid_k + 1)
    grids = np.meshgrid(*[ks] * len(moved), indexing="ij")
    points = []
    for flat in zip(*(g.ravel() for g in grids)):
        k = dict(zip(moved, (int(v) for v in flat)))
        points.append((score(confusion(beats, offsets_of(k, step))), k))

    def key(p):
        s, k = p
        a = [abs(v) for v in k.values()]
        return (-round(s, 12), sum(a), max(a), tuple(k.values()))

    points.sort(key=key)
    return {"best": _point(beats, points[0][1], step), "base": _point(beats, {c: 0 for c in moved}, step),
            "top": [{"k": k, "score": s} for s, k in points[:5]],
            "at_grid_edge": any(abs(v) == grid_k for v in points[0][1].values())}


def _point(beats, k, step) -> dict:
    off = offsets_of(k, step)
    s = aami4.summary(confusion(beats, off))
    return {"k": k, "offsets": off, "score": s["score"], "summary": s}


# ---- the shipped recipes' select-phase models -------------------------------------------------------
def _recipe(r: dict) -> dict:
    return {k: v for k, v in r.items() if k not in (RECIPE_KEY, "premature_offset", "rr_rule")}


def shipped_variants(select_report: dict) -> dict:
    """``{"inter": variant, "patient": variant}``: the aami4-select rows whose recipes are the shipped
    ones (golden/aami4.py ``INTER`` and ``FINETUNE``, without their bias offsets), seed 0."""
    runs = [r for r in select_report.get("runs", []) if r.get("seed") == 0]
    inter = [r["variant"] for r in runs if "from" not in r and r.get("config") == {}
             and _recipe(r["recipe"]) == _recipe(aami4.INTER)]
    if not inter:
        raise TernEcgError("no aami4-select run (seed 0) has the shipped inter-patient recipe; run make aami4-select")
    patient = [r["variant"] for r in runs if r.get("finetune") is not None
               and _recipe(r["finetune"]) == _recipe(aami4.FINETUNE) and r.get("from", r["variant"]) == inter[0]]
    if not patient:
        raise TernEcgError(f"no aami4-select run (seed 0) fine-tunes {inter[0]!r} with the shipped fine-tuning "
                           f"recipe; run make aami4-select")
    return {"inter": inter[0], "patient": patient[0]}


def holdout_beats(records, variants: dict, work: Path | None = None) -> tuple:
    """``({protocol: Beats}, {protocol: [model files]}, notes)``: the integer logits of every
    hold-out beat under the select-phase models of ``variants`` (computed once)."""
    work = Path(work) if work else aami4_select._work()
    out, used, notes = {}, {}, []
    for proto in PROTOCOLS:
        parts, files = [], []
        for r in aami4.HOLDOUT:
            name = f"{variants['inter']}_s0.json" if proto == "inter" else f"{variants['patient']}_s0_{r}.json"
            path = work / name
            if not path.is_file():
                notes.append(f"{relative(path)} missing: record {r} left out of the {proto} figures")
                continue
            model = modelfile.load(path)
            dset = detected.make_set(records, (r,))
            rr = dset.codes(model.cfg) if model.cfg.rr_bits else None
            cls, logits = monitor.classify(model, dset.raw(), rr)
            if not np.array_equal(decide(logits, [0] * len(CLASSES)), cls):
                raise TernEcgError(f"{relative(path)}: the argmax of the logits is not the monitor's class")
            row, missed = scored_rows(records[r], aami4.FINE_TUNE_SAMPLES if proto == "patient" else 0)
            # the fast confusion equals aami4-select's record_confusion (same matcher, same scoring)
            ref = aami4.record_confusion(records[r], cls, after=aami4.FINE_TUNE_SAMPLES if proto == "patient" else 0)
            b = Beats(logits, row, missed)
            if not np.array_equal(confusion(b, [0] * len(CLASSES)), ref):
                raise TernEcgError(f"record {r}: the operating-point confusion differs from record_confusion")
            parts.append(b)
            files.append(relative(path))
        if not parts:
            raise TernEcgError(f"no {proto} select-phase model of {variants} in {relative(work)}: run make aami4-select")
        out[proto], used[proto] = Beats.concat(parts), files
    return out, used, notes


def select(db=None, work=None, result: Path = RESULT, report: Path = REPORT) -> dict:
    """Choose each protocol's offsets on the hold-out; write ``result`` and ``report``."""
    t0 = time.time()
    sel = read_json(aami4_select.SELECT_REPORT)
    variants = shipped_variants(sel)
    records = detected.load(db)
    beats, used, notes = holdout_beats(records, variants, work)
    data = {"holdout": list(aami4.HOLDOUT), "criterion": CRITERION, "variants": variants, "models": used,
            "notes": notes, "classes": list(CLASSES), "moved": list(MOVED), "grid_k": GRID_K,
            "step_divisor": STEP_DIVISOR, "min_gain": MIN_GAIN,
            "tie_break": "smallest |k_S| + |k_V|, then smallest max |k|, then smaller (k_S, k_V)",
            "protocols": {}}
    for proto in PROTOCOLS:
        b = beats[proto]
        step = step_of(b.logits)
        res = search(b, step)
        gain = res["best"]["score"] - res["base"]["score"]
        apply = gain >= MIN_GAIN
        data["protocols"][proto] = {"beats": int((b.row >= 0).sum() + b.missed.sum()),
                                    "median_gap": median_gap(b.logits), "step": step, **res,
                                    "gain": gain, "apply": apply,
                                    RECIPE_KEY: res["best"]["offsets"] if apply else [0] * len(CLASSES)}
    data["seconds"] = round(time.time() - t0, 1)
    for path in (result, report):
        update_json(path, lambda d: data)
    return data


# ---- applying the recipe's offsets to model files ------------------------------------------------
def recipe_offsets() -> dict:
    """``{"inter": offsets, "patient": offsets}`` of the shipped recipes (golden/aami4.py)."""
    n = len(CLASSES)
    return {"inter": list(aami4.INTER.get(RECIPE_KEY, [0] * n)),
            "patient": list(aami4.FINETUNE.get(RECIPE_KEY, [0] * n))}


def apply(folders, result: Path = RESULT) -> list:
    """Give every four-class model file in ``folders`` (models/, build/aami4/seeds/seed<N>/) its
    protocol's recipe offsets (golden/aami4.py ``recipe_offsets_into``: idempotent). The recipe
    must match the decision in ``result``. Returns the files changed."""
    want = recipe_offsets()
    got = read_json(result).get("protocols", {})
    for proto in PROTOCOLS:
        if proto not in got:
            raise TernEcgError(f"{relative(result)} has no {proto} decision: run make aami4-operating first")
        if got[proto][RECIPE_KEY] != want[proto]:
            raise TernEcgError(f"golden/aami4.py {proto} bias_offsets {want[proto]} differ from the decision in "
                               f"{relative(result)} ({got[proto][RECIPE_KEY]}); set the recipe first")
    return [relative(p) for folder in folders for p in aami4.recipe_offsets_into(folder)]


# ---- report ----------------------------------------------------------------------------------------
def _f(v):
    return "-" if v is None else f"{v:.3f}"


def table(data: dict) -> str:
    rows = ["| protocol | point | offsets N S V F (k) | ACC | S Se | S +P | V Se | V +P | F Se | mean F1(S,V) |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for proto, p in data["protocols"].items():
        for name in ("base", "best"):
            pt = p[name]
            s, c = pt["summary"], pt["summary"]["classes"]
            ks = ", ".join(f"{k} {v:+d}" for k, v in pt["k"].items())
            point = "zero" if name == "base" else "best, applied" if p["apply"] else f"best, gain < {MIN_GAIN}: not applied"
            rows.append(f"| {proto} | {point} | {pt['offsets']} ({ks}) | "
                        f"{_f(s['acc'])} | {_f(c['S']['se'])} | {_f(c['S']['ppv'])} | {_f(c['V']['se'])} | "
                        f"{_f(c['V']['ppv'])} | {_f(c['F']['se'])} | {_f(s['score'])} |")
    return "\n".join(rows)


def decision_lines(data: dict) -> list:
    out = []
    for proto, p in data["protocols"].items():
        out.append(f"{proto}: step {p['step']} (median top-two gap {p['median_gap']:.1f}), gain "
                   f"{p['gain']:+.3f} -> {'apply' if p['apply'] else 'keep zero'} {p[RECIPE_KEY]}"
                   + (" (at the grid edge)" if p["at_grid_edge"] else ""))
    return out


def results_lines(data: dict | None = None) -> list:
    """The paragraph and table of docs/results.md section 6 on how the operating point was chosen."""
    data = read_json(RESULT) if data is None else data
    if not data.get("protocols"):
        return ["No operating point chosen yet (results/aami4_operating.json): `make aami4-operating`.", ""]
    pr = data["protocols"]

    def said(proto, p):
        ks = ", ".join(f"{c} {o:+d}" for c, o in zip(CLASSES, p["best"]["offsets"]) if c in MOVED)
        verdict = (f"applied: {proto} bias offsets {p[RECIPE_KEY]}" if p["apply"]
                   else f"below {MIN_GAIN}, so the {proto} offsets stay {p[RECIPE_KEY]}")
        return (f"{proto}: step {p['step']} (median top-two logit gap {p['median_gap']:.0f}), best {ks} "
                f"({p['best']['score']:.3f} against {p['base']['score']:.3f} at zero, gain {p['gain']:+.3f}: {verdict})")

    text = (f"How the operating point was chosen (`make aami4-operating`, golden/aami4_operating.py, "
            f"results/aami4_operating.json): the logits layer adds a per-class integer bias from the model "
            f"file, so integer offsets to the S and V biases move each protocol's operating point without "
            f"retraining, and the hardware builds the changed file unchanged. They were chosen on the DS1 "
            f"hold-out only ({', '.join(data['holdout'])}), on the select-phase models of the shipped recipes "
            f"(`{data['variants']['inter']}` global model on the whole records for inter-patient, "
            f"`{data['variants']['patient']}` fine-tuned per record, scored after its first 5 minutes, for "
            f"patient-specific): every hold-out beat's integer logits computed once, then a grid of S and V "
            f"offsets of k steps each (k = -{data['grid_k']} .. {data['grid_k']}, a step = the median top-two "
            f"logit gap / {data['step_divisor']}) scored with aami4-select's criterion (mean of F1(S) and F1(V), "
            f"EC57), ties to the smallest |k|; all of this, and the rule to apply the offsets only when they "
            f"raise the criterion by at least {data['min_gain']}, fixed before any result was seen. "
            + "; ".join(said(k, v) for k, v in pr.items())
            + ". The offsets are part of the recipes (golden/aami4.py `bias_offsets`: `make train` exports "
              "them, every model file records them in its metadata); the DS2 figures above are of the models "
              "with them, scored once.")
    return [text, "", table(data), ""]


def add_parser(sub):
    """``ternecg aami4-operating`` (``make aami4-operating``)."""
    from ternecg import options
    p = sub.add_parser("aami4-operating", description=__doc__.split("\n")[0])
    p.add_argument("--apply", action="store_true",
                   help="write the recipe's bias offsets (golden/aami4.py) into models/aami4_inter.json, "
                        "models/aami4_patient/*.json and build/aami4/seeds/seed*/ instead of selecting")
    options.add_db(p)
    p.set_defaults(func=_command)
    return p


def _command(args):
    if args.apply:
        from . import aami4_seeds
        folders = [aami4_seeds.seed_dir(s) for s in aami4_seeds.SEEDS]
        changed = apply(folders)
        print(f"aami4-operating: offsets {recipe_offsets()} written into {len(changed)} model file(s)")
        for c in changed:
            print(f"  {c}")
        return
    data = select(args.db)
    for n in data["notes"]:
        print(f"note: {n}")
    print(f"variants: {data['variants']}; criterion: {data['criterion']}")
    print(table(data))
    print("\n".join(decision_lines(data)))
    print(f"\nwrote {relative(RESULT)} and {relative(REPORT)}")


if __name__ == "__main__":
    from ternecg.cli import command_main
    sys.exit(command_main("aami4-operating")())
