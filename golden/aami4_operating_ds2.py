"""`make aami4-operating-ds2`: the shipped four-class models on DS2 with zero and with the applied logit-bias offsets -> results/aami4_operating_ds2.json.

The operating point (golden/aami4_operating.py, ``make aami4-operating``) is chosen on the DS1
hold-out only. This command scores its outcome on DS2 *after* the choice, once: it does not choose
anything, and its figures do not feed back into the recipes. For each seed's models (seed 0 =
models/, seeds 1 and 2 = build/aami4/seeds/seed<N>/ of ``make aami4-seeds``; a seed whose models
are missing is left out with a note) and each protocol (``inter_patient``: models/aami4_inter.json
on whole DS2 records; ``patient_specific``: models/aami4_patient/<record>.json after the first
5 minutes), every DS2 beat's integer logits are computed once on the detected peaks (the detector's
peaks from golden/detected.py's cache: the detector is not run again) and once on the reference
peaks, then decided twice (golden/aami4_operating.py ``decide``): with the offsets the files carry
(``meta["bias_offsets"]``, the ``applied`` point) and with them taken off again (``zero``: exactly
the logits of the file before ``make aami4-operating APPLY=1``). An RR rule (``make aami4-rule``,
golden/aami4_rule.py) or a premature offset the files carry (``make aami4-rhythm``,
golden/aami4_rhythm.py) stays in both points: ``make aami4-rule DS2=1`` and ``make aami4-rhythm
DS2=1`` score the files with and without them. Scoring is monitor-eval's (EC57,
golden/ec57_score.py; aami4_operating ``scored_rows`` / ``confusion``): ACC, S and V Se / +P and the
mean of F1(S) and F1(V) on detected peaks, and the detection cost (ACC on the reference peaks minus
ACC on the detected peaks, in points).
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

from ternecg.errors import TernEcgError
from ternecg.paths import relative, results_dir
from ternecg.reports import markdown_table, read_json, update_json

from . import aami4, aami4_operating, aami4_seeds, detected, monitor, monitor_eval, splits
from .spec import modelfile

RESULT = results_dir() / "aami4_operating_ds2.json"
COMMAND = "make aami4-operating-ds2"
POINTS = ("zero", "applied")
#: monitor-eval's protocol -> aami4-operating's
OPERATING = {"inter_patient": "inter", "patient_specific": "patient"}
COST_TARGET = 0.5       # issue 14: detection costs at most 0.5 points of ACC


# ---- scoring ---------------------------------------------------------------------------------------
def protocol_beats(models: dict, records: dict, names, after: int) -> tuple:
    """``({"detected": Beats, "annotated": Beats}, offsets)``: every beat of records ``names`` through
    its model (``models[name]``), logits computed once per peak set; ``offsets``: the bias offsets
    the files carry (one value for all of them)."""
    out = {m: [] for m in monitor_eval.MODES}
    offsets = set()
    for r in names:
        model, rec = models[r], records[r]
        offsets.add(tuple(int(v) for v in model.meta.get("bias_offsets", [0] * len(aami4_operating.CLASSES))))
        for mode, peaks in (("detected", rec.det), ("annotated", rec.ref)):
            got = monitor.run(model, rec.signal, peaks=peaks)
            # the codes as the monitor computed them (a template code needs the beats' windows)
            codes = monitor.codes(got.peaks, model.cfg, monitor.windows(rec.signal, got.peaks))
            hit = aami4_operating.rule_hits(model, codes) if model.rr_rules else None
            cls = aami4_operating.with_rule(aami4_operating.decide(got.logits, [0] * len(aami4_operating.CLASSES)), hit)
            if not np.array_equal(cls, got.classes):
                raise TernEcgError(f"record {r}: the argmax of the logits (and the RR rule) is not the monitor's class")
            row, missed = aami4_operating.scored_rows(rec, after, det=got.peaks)
            out[mode].append(aami4_operating.Beats(got.logits, row, missed, hit))
    if len(offsets) != 1:
        raise TernEcgError(f"the models of records {', '.join(names)} carry different bias offsets {sorted(offsets)}; "
                           f"run 'make aami4-operating APPLY=1'")
    return {m: aami4_operating.Beats.concat(b) for m, b in out.items()}, list(offsets.pop())


def point(beats: dict, delta) -> dict:
    """The figures of one operating point: ``beats`` decided with ``delta`` added to the logits."""
    return figures(aami4.summary(aami4_operating.confusion(beats["detected"], delta)),
                   aami4.summary(aami4_operating.confusion(beats["annotated"], delta)))


def figures(det: dict, ann: dict) -> dict:
    """The figures of one point from its summaries (golden/aami4.py ``summary``) on the detected
    (``det``) and the reference peaks (``ann``): ACC, S and V Se / +P, the mean F1(S, V) on the
    detected peaks and the detection cost in points."""
    return {"acc": det["acc"], **{c: {k: det["classes"][c][k] for k in ("se", "ppv")} for c in ("S", "V")},
            "mean_f1_sv": det["score"], "annotated_acc": ann["acc"],
            "detection_cost_points": 100 * (ann["acc"] - det["acc"])}


def seed_models(seed: int):
    """``(folder, {protocol: {record: model}})`` of one seed, or ``(folder, None)`` when its files are missing."""
    folder = aami4_seeds.seed_dir(seed)
    paths = {p: monitor_eval._model_paths(folder, p, splits.DS2) for p in monitor_eval.PROTOCOLS}
    if any(not f.is_file() for ps in paths.values() for f in ps.values()):
        return folder, None
    aami4.check_recipe_offsets(folder)
    loaded = {}
    return folder, {p: {r: loaded.setdefault(f, modelfile.load(f)) for r, f in ps.items()} for p, ps in paths.items()}


def _shipped(db=None) -> tuple:
    """``(models, records)``: the shipped seed-0 models (:func:`seed_models`; one message when they
    are missing) and the detected records of the database ``db``."""
    folder, models = seed_models(0)
    if models is None:
        raise TernEcgError(f"the shipped four-class models in {relative(folder)} are missing; 'make train' trains them")
    return models, detected.load(db)


def with_and_without(rewrite, key: str, default, command: str, scored: str, result, db=None, label=None) -> dict:
    """The shipped models (seed 0, models/) on DS2 as shipped (``with``) and with ``rewrite(doc) ->
    doc`` applied to copies of their files (``without``), scored once after a choice (monitor-eval's
    scoring, :func:`point` with zero offsets); ``key``: the metadata entry recorded per protocol
    (``default`` when a file has none). Writes and returns ``result``."""
    import json
    import tempfile
    from pathlib import Path
    from ternecg.paths import build_dir
    t0 = time.time()
    models, records = _shipped(db)
    data = {"command": command, "scored": scored, "records": list(splits.DS2), "seed": 0, "protocols": {}}
    zero = [0] * len(aami4_operating.CLASSES)
    work = build_dir("exp")
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        copies = {}
        for p in monitor_eval.PROTOCOLS:
            after = monitor_eval.scored_after(p)
            without = {}
            for rec, model in models[p].items():
                if model.path not in copies:
                    path = Path(tmp) / f"{len(copies)}_{Path(model.path).name}"
                    modelfile.save(rewrite(json.loads(Path(model.path).read_text())), path)
                    copies[model.path] = modelfile.load(path)
                without[rec] = copies[model.path]
            spec = next(iter(models[p].values())).meta.get(key, default)
            with_, _ = protocol_beats(models[p], records, splits.DS2, after)
            without_, _ = protocol_beats(without, records, splits.DS2, after)
            data["protocols"][p] = {key: list(spec) if isinstance(spec, list) else spec,
                                    "without": point(without_, zero), "with": point(with_, zero)}
            print(f"{label or command}: {p} done", flush=True)
    data["seconds"] = round(time.time() - t0, 1)
    update_json(result, lambda d: data)
    return data


def post_rule(data: dict, classify, result, db=None, label=None) -> dict:
    """The shipped models (seed 0, models/) on DS2 without and with a rule that acts on the
    monitor's classes (the files' offsets and rules applied), scored once after a choice
    (monitor-eval's scoring, :func:`figures`). ``data``: the result's leading entries (command, the
    rule and its parameters); ``classify(protocol, beats, peaks, models, records) -> (without,
    with)``: the classes of one peak set's ``beats`` (``peaks`` ``"det"`` or ``"ref"``, the
    records' attribute) without and with the rule. Writes and returns ``result``."""
    t0 = time.time()
    models, records = _shipped(db)
    data = {**data, "scored": "DS2, once, after the choice on the DS1 hold-outs; the choice was not changed because of it",
            "records": list(splits.DS2), "seed": 0, "protocols": {}}
    for p in monitor_eval.PROTOCOLS:
        after = monitor_eval.scored_after(p)
        beats, _ = protocol_beats(models[p], records, splits.DS2, after)    # offsets in the logits
        out = {}
        for mode, key in (("detected", "det"), ("annotated", "ref")):
            without, with_ = classify(p, beats[mode], key, models[p], records)
            out[mode] = {w: aami4.summary(aami4_operating.class_confusion(beats[mode], cls))
                         for w, cls in (("without", without), ("with", with_))}
        data["protocols"][p] = {w: figures(out["detected"][w], out["annotated"][w]) for w in ("without", "with")}
        print(f"{label or data['command']}: {p} done", flush=True)
    data["seconds"] = round(time.time() - t0, 1)
    update_json(result, lambda d: data)
    return data


def with_without_text(data: dict) -> str:
    """The per-protocol sentence of a :func:`with_and_without` result: ACC, S and V Se / +P and the
    mean F1(S, V) without -> with, and whether the change transferred to DS2."""
    pc = lambda v: "-" if v is None else f"{100 * v:.2f}"  # noqa: E731
    return "; ".join(
        f"{p.replace('_', '-')}: ACC {pc(d['without']['acc'])} -> {pc(d['with']['acc'])} %, S Se / +P "
        f"{pc(d['without']['S']['se'])} / {pc(d['without']['S']['ppv'])} -> {pc(d['with']['S']['se'])} / "
        f"{pc(d['with']['S']['ppv'])} %, V Se / +P {pc(d['without']['V']['se'])} / "
        f"{pc(d['without']['V']['ppv'])} -> {pc(d['with']['V']['se'])} / {pc(d['with']['V']['ppv'])} %, "
        f"mean F1(S, V) {d['without']['mean_f1_sv']:.3f} -> {d['with']['mean_f1_sv']:.3f} ("
        f"{'transferred' if d['with']['mean_f1_sv'] >= d['without']['mean_f1_sv'] else 'did not transfer'})"
        for p, d in data["protocols"].items()) + "."


def _mean(points: list) -> dict:
    """The mean over seeds of each figure of :func:`point` (None when a seed has none)."""
    def walk(nodes):
        if isinstance(nodes[0], dict):
            return {k: walk([n[k] for n in nodes]) for k in nodes[0]}
        if isinstance(nodes[0], list):
            return nodes[0]
        return None if any(v is None for v in nodes) else statistics.fmean(nodes)
    return walk(points)


def score(seeds=aami4_seeds.SEEDS, db=None, result=None) -> dict:
    """Score DS2 at both points for every seed whose models exist; write ``result`` (default :data:`RESULT`)."""
    result = RESULT if result is None else result
    bad = [s for s in seeds if s not in aami4_seeds.SEEDS]
    if bad:
        raise TernEcgError(f"seed {bad[0]}: the shipped four-class recipes have seeds "
                           f"{', '.join(map(str, aami4_seeds.SEEDS))} (make aami4-seeds); choose among them")
    t0 = time.time()
    found, notes = {}, []
    for s in seeds:
        folder, models = seed_models(s)
        if models is None:
            notes.append(f"seed {s}: the models in {relative(folder)} are missing (make aami4-seeds trains them): "
                         f"left out")
        else:
            found[s] = (folder, models)
    if 0 in seeds and 0 not in found:
        raise TernEcgError(f"the shipped four-class models (seed 0, {relative(aami4_seeds.seed_dir(0))}) are missing; "
                           f"train them with 'make train' (stages aami4_inter, aami4_patient)")
    if not found:
        raise TernEcgError(f"no models of seed(s) {', '.join(map(str, seeds))}: 'make aami4-seeds' trains them")
    records = detected.load(db)
    seeds_figs = read_json(aami4_seeds.REPORT)
    runs = []
    for s, (folder, models) in found.items():
        row = {"seed": s, "models": relative(folder)}
        for p in monitor_eval.PROTOCOLS:
            after = monitor_eval.scored_after(p)
            beats, off = protocol_beats(models[p], records, splits.DS2, after)
            row[p] = {"offsets": off, "zero": point(beats, [-v for v in off]), "applied": point(beats, [0] * len(off))}
            # the applied point is the shipped files as make aami4-seeds scored them
            ref = next((x for x in seeds_figs.get("runs", []) if x["seed"] == s), None)
            if ref is not None:
                row[p]["applied_equals_aami4_seeds"] = bool(
                    np.isclose(ref["figures"][p]["detected"]["acc"], row[p]["applied"]["acc"], rtol=0, atol=1e-12))
        print(f"aami4-operating-ds2: seed {s} done", flush=True)
        runs.append(row)
    data = {"command": COMMAND,
            "scored": "DS2, once, after the offsets were chosen on the DS1 hold-out (make aami4-operating); "
                      "the choice was not changed because of it",
            "records": list(splits.DS2), "peaks": "detected (golden/detected.py cache) and reference",
            "points": {"zero": "the files' bias offsets taken off", "applied": "the offsets the files carry"},
            "notes": notes, "seeds": [r["seed"] for r in runs], "runs": runs,
            "mean": {p: {pt: _mean([r[p][pt] for r in runs]) for pt in POINTS} for p in monitor_eval.PROTOCOLS},
            "seconds": round(time.time() - t0, 1)}
    update_json(result, lambda d: data)
    return data


# ---- docs/results.md section 6 ---------------------------------------------------------------------
def _pc(v):
    return "-" if v is None else f"{100 * v:.2f}"


def _sepp(p, c):
    return f"{_pc(p[c]['se'])} / {_pc(p[c]['ppv'])}"


def results_lines(data: dict | None = None, operating: dict | None = None) -> list:
    """The paragraph of docs/results.md section 6 on the offsets' DS2 outcome (after the choice)."""
    data = read_json(RESULT) if data is None else data
    if not data.get("runs"):
        return [f"The DS2 outcome of the operating point is not scored yet ({relative(RESULT)}): `{COMMAND}`.", ""]
    operating = read_json(aami4_operating.RESULT) if operating is None else operating
    run0 = next((r for r in data["runs"] if r["seed"] == 0), data["runs"][0])
    inter = run0["inter_patient"]
    z, a = inter["zero"], inter["applied"]
    transfer = a["mean_f1_sv"] >= z["mean_f1_sv"]
    cost_z, cost_a = z["detection_cost_points"], a["detection_cost_points"]
    moved = "rose" if cost_a > cost_z else "fell" if cost_a < cost_z else "stayed"
    text = (f"On DS2, scored once after the choice (`{COMMAND}`, golden/aami4_operating_ds2.py, "
            f"{relative(RESULT)}; the choice above was not changed because of it), the inter-patient offsets "
            f"{inter['offsets']} {'transferred' if transfer else 'did not transfer'}: against the same seed-"
            f"{run0['seed']} model with zero offsets (the shipped file with its bias offsets taken off, its RR rule kept; detected peaks), ACC "
            f"{_pc(z['acc'])} -> {_pc(a['acc'])} %, S Se / +P {_sepp(z, 'S')} -> {_sepp(a, 'S')} %, V Se / +P "
            f"{_sepp(z, 'V')} -> {_sepp(a, 'V')} %, mean F1(S, V) {z['mean_f1_sv']:.3f} -> {a['mean_f1_sv']:.3f}, "
            f"and the detection cost {moved} from {cost_z:.2f} to {cost_a:.2f} points "
            f"({'over' if cost_a > COST_TARGET else 'within'} the {COST_TARGET} target)")
    others = [r for r in data["runs"] if r is not run0]
    if others:
        m = data["mean"]["inter_patient"]
        same = (m["applied"]["mean_f1_sv"] >= m["zero"]["mean_f1_sv"]) == transfer
        text += (f"; over seeds {', '.join(str(s) for s in data['seeds'])} (mean) "
                 f"{'the same direction' if same else 'the other direction'} (ACC {_pc(m['zero']['acc'])} -> "
                 f"{_pc(m['applied']['acc'])} %, V +P {_pc(m['zero']['V']['ppv'])} -> {_pc(m['applied']['V']['ppv'])} %, "
                 f"mean F1(S, V) {m['zero']['mean_f1_sv']:.3f} -> {m['applied']['mean_f1_sv']:.3f})")
    text += "."
    hold = operating.get("protocols", {}).get("inter", {}).get("base", {}).get("summary", {}).get("classes")
    if not transfer and hold:
        text += (f" The hold-out's inter-patient model sits at low S and V Se ({100 * hold['S']['se']:.0f} / "
                 f"{100 * hold['V']['se']:.0f} %) where DS2's sits at high V Se ({100 * z['V']['se']:.0f} %), so the "
                 f"hold-out asks for more S and V calls and DS2 for fewer: {len(operating.get('holdout', []))} "
                 f"hold-out records do not fix an operating point that carries to the other patients.")
    pat = run0["patient_specific"]
    if not any(pat["offsets"]):
        text += (f" The patient-specific files are unchanged (zero offsets, recorded in their metadata): "
                 f"ACC {_pc(pat['applied']['acc'])} % at both points.")
    else:
        pz, pa = pat["zero"], pat["applied"]
        text += (f" Patient-specific offsets {pat['offsets']}: ACC {_pc(pz['acc'])} -> {_pc(pa['acc'])} %, "
                 f"mean F1(S, V) {pz['mean_f1_sv']:.3f} -> {pa['mean_f1_sv']:.3f}.")
    for n in data.get("notes", []):
        text += f" ({n}.)"
    return [text, ""]


# ---- command -----------------------------------------------------------------------------------------
def table(data: dict) -> str:
    rows = []
    for r in data["runs"] + [dict(data["mean"], seed="mean")]:
        for p in monitor_eval.PROTOCOLS:
            for pt in POINTS:
                f = r[p][pt]
                rows.append((r["seed"], p, r[p].get("offsets", ""), pt, _pc(f["acc"]), _pc(f["S"]["se"]),
                             _pc(f["S"]["ppv"]), _pc(f["V"]["se"]), _pc(f["V"]["ppv"]),
                             f"{f['mean_f1_sv']:.3f}", f"{f['detection_cost_points']:+.2f}"))
    return markdown_table(("seed", "protocol", "offsets", "point", "ACC", "S Se", "S +P", "V Se", "V +P",
                           "mean F1(S,V)", "detection cost (points)"), rows)


def add_parser(sub):
    """``ternecg aami4-operating-ds2`` (``make aami4-operating-ds2``)."""
    from ternecg import options
    p = sub.add_parser("aami4-operating-ds2", description=__doc__.split("\n")[0])
    options.add_seed(p, default=list(aami4_seeds.SEEDS), several=True)
    options.add_db(p)
    p.set_defaults(func=_command)
    return p


def _command(args):
    data = score(tuple(args.seed), db=args.db)
    for n in data["notes"]:
        print(f"note: {n}")
    print(table(data))
    print()
    print("\n".join(results_lines(data)).strip())
    print(f"\nwrote {relative(RESULT)} ({data['seconds']:.0f} s)")


if __name__ == "__main__":
    from ternecg.cli import command_main
    sys.exit(command_main("aami4-operating-ds2")())
