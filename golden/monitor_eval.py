"""`make monitor-eval`: the whole software monitor on DS2, scored EC57 style -> build/reports/monitor_eval.json.

For each protocol, ``inter_patient`` (models/aami4_inter.json on every DS2 record, whole
records) and ``patient_specific`` (models/aami4_patient/<record>.json, the part of each DS2
record after its first 5 minutes), two runs of the same integer models through the monitor
(golden/monitor.py):

* ``detected``: raw samples -> R-peak detector -> windows and RR codes at the detected peaks;
* ``annotated``: the same chain on the reference R peaks (the database's beat annotations).

Scoring (golden/ec57_score.py): each reference beat matched to a classified detection (150 ms)
takes that detection's class; a missed reference beat counts in the ``o`` column and a false
detection in the ``X`` row; AAMI Q beats (and beats whose window leaves the record) are not
scored. Each run holds ``acc``, ``confusion`` (rows N S V F X, columns n s v f o), ``classes``
(``se``, ``ppv``, ``fpr`` per class) and the literature's VEB / SVEB figures (EC57 rules) over
all of the protocol's records and over its records 200-234; each protocol also holds the
detection counts of its scored part, and the report the detection totals over the DS2 records.
``targets`` holds issue 14's targets, each with the figure it reads (detected beats) and ``met``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


from ternecg.errors import TernEcgError
from ternecg.paths import build_dir, relative

from . import detected, ec57, ec57_score, monitor, splits
from .spec import modelfile

REPORT = build_dir("reports", "monitor_eval.json")
PROTOCOLS = ("inter_patient", "patient_specific")
MODES = ("detected", "annotated")
INTER_MODEL = "aami4_inter.json"
PATIENT_DIR = "aami4_patient"
#: the literature's second record set (Hu et al. 1997; Kiranyaz et al. 2016): records 200 to 234
R200 = tuple(r for r in splits.DS2 if r >= "200")


#: issue 14's targets (integer models, detected beats, DS2): (protocol, target, figure(report of the
#: protocol) -> (value, met)); read on the ``detected`` run, VEB / SVEB on all of the protocol's records
TARGETS = (
    ("inter_patient", "V Se >= 0.93 at V +P >= 0.90",
     lambda r: _pair(r["detected"]["classes"]["V"], 0.93, 0.90)),
    ("inter_patient", "S Se >= 0.80 at S +P >= 0.60",
     lambda r: _pair(r["detected"]["classes"]["S"], 0.80, 0.60)),
    ("inter_patient", "ACC >= 0.96", lambda r: (r["detected"]["acc"], _ge(r["detected"]["acc"], 0.96))),
    ("patient_specific", "VEB Se >= 0.95 at +P >= 0.95",
     lambda r: _pair(r["detected"]["literature"]["all"]["veb"], 0.95, 0.95)),
    ("patient_specific", "SVEB Se >= 0.80 at +P >= 0.80",
     lambda r: _pair(r["detected"]["literature"]["all"]["sveb"], 0.80, 0.80)),
    ("inter_patient", "detection costs at most 0.005 of ACC",
     lambda r: (r["detection_cost_acc"], r["detection_cost_acc"] <= 0.005)),
    ("patient_specific", "detection costs at most 0.005 of ACC",
     lambda r: (r["detection_cost_acc"], r["detection_cost_acc"] <= 0.005)),
    ("inter_patient", "at most 8,000 ternary weights per model", lambda r: (r["weights"], r["weights"] <= 8000)),
    ("patient_specific", "at most 8,000 ternary weights per model", lambda r: (r["weights"], r["weights"] <= 8000)),
)


def _ge(v, bound):
    return v is not None and v >= bound


def _pair(f, se, ppv):
    return [f["se"], f["ppv"]], _ge(f["se"], se) and _ge(f["ppv"], ppv)


def targets(report: dict) -> list:
    """``[{"protocol", "target", "value", "met"}]``: issue 14's targets on a monitor-eval report
    (``value``: the figure, or ``[se, ppv]``)."""
    out = []
    for protocol, text, check in TARGETS:
        value, met = check(report[protocol])
        out.append({"protocol": protocol, "target": text, "value": value, "met": bool(met)})
    return out


def scored_after(protocol: str) -> int:
    """The first scored sample of a record under ``protocol``: patient-specific models are
    fine-tuned on the first 5 minutes, so only the rest is scored; inter-patient scores it all."""
    return splits.FINE_TUNE_SECONDS * splits.FS if protocol == "patient_specific" else 0


def _model_paths(models: Path, protocol: str, names) -> dict:
    if protocol == "inter_patient":
        p = models / INTER_MODEL
        return {r: p for r in names}
    return {r: models / PATIENT_DIR / f"{r}.json" for r in names}


def record_run(model, rec: detected.Record, mode: str, after: int = 0):
    """``(confusion, detection counts)`` of one record through the monitor: ``mode`` detected or
    annotated; only reference beats and false detections at samples >= ``after`` are scored."""
    if mode == "detected":
        out = monitor.run(model, rec.signal)
    elif mode == "annotated":
        out = monitor.run(model, rec.signal, peaks=rec.ref)
    else:
        raise TernEcgError(f"monitor-eval mode {mode!r}: detected or annotated")
    lab = detected.aami4_labels(rec.ref_symbol)
    scored = monitor.inside(rec.ref, len(rec.signal)) & (rec.ref >= after)
    lab[~scored] = -1
    cm = ec57_score.confusion(rec.ref, lab, out.peaks, out.classes, n_decided=len(model.cfg.classes),
                              det_scored=out.peaks >= after)
    m = ec57.match(rec.ref[scored], out.peaks[out.peaks >= after])
    return cm, {"tp": m.tp, "fn": m.fn, "fp": m.fp}


def _detection(counts) -> dict:
    tp, fn, fp = (sum(c[k] for c in counts) for k in ("tp", "fn", "fp"))
    return {"tp": tp, "fn": fn, "fp": fp, "se": ec57.rate(tp, fn), "ppv": ec57.rate(tp, fp)}


def _run_figures(cms: dict) -> dict:
    total = sum(cms.values())
    m = ec57_score.metrics(total)
    lit = {"all": {"records": list(cms), **ec57_score.veb_sveb(total)}}
    sub = [r for r in cms if r in R200]
    if sub:
        lit["200-234"] = {"records": sub, **ec57_score.veb_sveb(sum(cms[r] for r in sub))}
    return {"acc": m["acc"], "confusion": m["confusion"], "classes": m["classes"], "beats": m["beats"],
            "missed": m["missed"], "false": m["false"], "literature": lit,
            "per_record": {r: c.tolist() for r, c in cms.items()}}


def evaluate(models=modelfile.MODELS_DIR, db=None, records=splits.DS2, progress=None) -> dict:
    models = Path(models)
    for protocol in PROTOCOLS:                  # every model file first: one clear error before any work
        missing = sorted({str(p) for p in _model_paths(models, protocol, records).values() if not p.is_file()})
        if missing:
            raise TernEcgError(f"model file {missing[0]} not found; train it with 'make train' "
                               f"(stages aami4_inter, aami4_patient)")
    recs = detected.load(db)
    report = {"records": list(records), "scoring": "EC57 (golden/ec57_score.py): rows N S V F X (false detection), "
                                                   "columns n s v f o (missed); Q beats not scored"}
    for protocol in PROTOCOLS:
        paths = _model_paths(models, protocol, records)
        after = scored_after(protocol)
        loaded = {}
        res = {"models": relative(paths[records[0]]) if protocol == "inter_patient"
               else relative(models / PATIENT_DIR) + "/<record>.json",
               "scored": "whole records" if not after else f"after the first {splits.FINE_TUNE_SECONDS} s of each record"}
        for mode in MODES:
            cms, det = {}, []
            for r in records:
                p = paths[r]
                model = loaded.setdefault(p, modelfile.load(p))
                if model.cfg.classes != ec57_score.CLASSES:
                    raise TernEcgError(f"{relative(p)} has classes {', '.join(model.cfg.classes)}; monitor-eval "
                                       f"scores four-class models (N, S, V, F)")
                cms[r], d = record_run(model, recs[r], mode, after)
                det.append(d)
                if progress:
                    progress(protocol, mode, r)
            res[mode] = _run_figures(cms)
            if mode == "detected":
                res["detection"] = _detection(det)
        res["detection_cost_acc"] = res["annotated"]["acc"] - res["detected"]["acc"]
        res["weights"] = max(m.cfg.weights for m in loaded.values())     # the largest model's ternary weights
        report[protocol] = res
    whole = []
    for r in records:
        rec = recs[r]
        inside = monitor.inside(rec.ref, len(rec.signal))
        m = ec57.match(rec.ref[inside], rec.det)
        whole.append({"tp": m.tp, "fn": m.fn, "fp": m.fp})
    report["detection"] = {"records": len(records), "scored": "whole records, every reference beat with its "
                                                              "window inside the record (Q included)",
                           **_detection(whole)}
    report["targets"] = targets(report)
    return report


def _f(v, d=4):
    return "-" if v is None else f"{v:.{d}f}"


def table(report) -> str:
    rows = ["| protocol | peaks | ACC | N Se | S Se | S +P | V Se | V +P | F Se | missed | false |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in PROTOCOLS:
        for mode in MODES:
            r = report[p][mode]
            c = r["classes"]
            rows.append(f"| {p} | {mode} | {_f(r['acc'])} | {_f(c['N']['se'])} | {_f(c['S']['se'])} | "
                        f"{_f(c['S']['ppv'])} | {_f(c['V']['se'])} | {_f(c['V']['ppv'])} | {_f(c['F']['se'])} | "
                        f"{r['missed']} | {r['false']} |")
    rows += ["", "| protocol | peaks | records | VEB Se | VEB +P | VEB FPR | VEB ACC | SVEB Se | SVEB +P | SVEB FPR | SVEB ACC |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in PROTOCOLS:
        for mode in MODES:
            for key, lit in report[p][mode]["literature"].items():
                v, s = lit["veb"], lit["sveb"]
                rows.append(f"| {p} | {mode} | {key} ({len(lit['records'])}) | {_f(v['se'])} | {_f(v['ppv'])} | "
                            f"{_f(v['fpr'])} | {_f(v['acc'])} | {_f(s['se'])} | {_f(s['ppv'])} | {_f(s['fpr'])} | "
                            f"{_f(s['acc'])} |")
    d = report["detection"]
    rows.append(f"\ndetection over the {d['records']} DS2 records: Se {d['se']:.4f}, +P {d['ppv']:.4f} "
                f"({d['fn']} missed, {d['fp']} false); detection costs ACC "
                + ", ".join(f"{p} {report[p]['detection_cost_acc']:+.4f}" for p in PROTOCOLS))
    rows.append("\ntargets of issue 14 (detected beats):")
    rows += [f"  {t['protocol']} {t['target']}: {_value(t['value'])} {'met' if t['met'] else 'NOT met'}"
             for t in report.get("targets", [])]
    return "\n".join(rows)


def _value(v) -> str:
    if isinstance(v, list):
        return " / ".join(_f(x) for x in v)
    return f"{v:,}" if isinstance(v, int) else _f(v)


def add_parser(sub):
    """``ternecg monitor-eval`` (``make monitor-eval``)."""
    from ternecg import options
    p = sub.add_parser("monitor-eval", description=__doc__.split("\n")[0])
    options.add_models(p)
    options.add_db(p)
    options.add_out(p, build_dir("reports"), "writes monitor_eval.json")
    p.set_defaults(func=_command)
    return p


def _command(args):
    t0 = time.time()
    done = []

    def progress(protocol, mode, r):
        done.append(r)
        if sys.stderr.isatty():
            print(f"\rmonitor-eval: {protocol} {mode} {r} ({len(done)}/{4 * len(splits.DS2)})", end="",
                  file=sys.stderr, flush=True)
    report = evaluate(models=args.models or modelfile.MODELS_DIR, db=args.db, progress=progress)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    report["seconds"] = round(time.time() - t0, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "monitor_eval.json").write_text(json.dumps(report, indent=1) + "\n")
    print(table(report))
    print(f"\nwrote {relative(out / 'monitor_eval.json')} ({report['seconds']:.0f} s)")
