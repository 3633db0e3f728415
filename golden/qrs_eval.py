"""`make qrs-eval`: the R-peak detector (golden/qrs.py) and peer detectors on MIT-BIH, EC57 scoring.

Every record is scored whole (lead MLII, or the first signal of 102/104 which have no MLII) with
the matcher of golden/ec57.py (150 ms, nearest first, wfdb beat symbols). The primary figure is
the whole record; a secondary figure leaves the ventricular flutter/fibrillation episodes out
(from ``[`` to ``]``, record 207 only in MIT-BIH), as bxb does. Subtotals over the inter-patient
split (golden/splits.py): ``gross_ds1`` (the records on which ``make qrs-select`` checks the
detector's constants) and ``gross_ds2`` (held out from that choice); the paced records are in
neither.

Peers, on the same signal in physical units (mV, ``wfdb.rdrecord(physical=True)``) and the same
matcher: wfdb's XQRS and GQRS (``xqrs_detect``, ``gqrs_detect``), py-ecg-detectors' Pan-Tompkins
and Hamilton (``ecgdetectors.Detectors``), NeuroKit2's default (``ecg_clean`` then ``ecg_peaks``,
method ``neurokit``, as ``ecg_process`` does). Their detections are cached per record under
``build/cache/qrs_peers/<peer>-<package version>/<record>.npy`` (a failure as ``<record>.err``
with the message, reported and not retried until the cache is removed).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from ternecg.errors import TernEcgError

from . import ec57
from ternecg.paths import build_dir

from .records import RECORDS48, find_database, load_record
from .spec.qrs import qrs_params
from .splits import DS1, DS2

HARD = ("105", "108", "203", "207")
PEERS = ("xqrs", "gqrs", "pantompkins", "hamilton", "neurokit")
PEER_PACKAGE = {"xqrs": "wfdb", "gqrs": "wfdb", "pantompkins": "py-ecg-detectors",
                "hamilton": "py-ecg-detectors", "neurokit": "neurokit2"}
CACHE = build_dir("cache", "qrs_peers")
REPORT = build_dir("reports", "qrs.json")


def read_annotated(db, name):
    """``(raw int16 signal, fs, beat samples, all annotation samples, all symbols, lead, gain, baseline)``
    (records.load_record: the files are checked, a damaged one is one error line)."""
    r = load_record(db, name)
    beats = r.samples[ec57.beat_mask(r.symbols)]
    return r.signal, r.fs, beats, r.samples, r.symbols, r.lead, r.adc_gain, r.baseline


def _version(pkg):
    from importlib.metadata import version
    return version(pkg)


def _run_peer(peer, mv, fs):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore")
        if peer == "xqrs":
            from wfdb import processing
            return processing.xqrs_detect(mv, fs, verbose=False)
        if peer == "gqrs":
            from wfdb import processing
            return processing.gqrs_detect(sig=mv, fs=fs)
        if peer in ("pantompkins", "hamilton"):
            from ecgdetectors import Detectors
            d = Detectors(fs)
            f = d.pan_tompkins_detector if peer == "pantompkins" else d.hamilton_detector
            return f(mv)
        if peer == "neurokit":
            import neurokit2 as nk
            clean = nk.ecg_clean(mv, sampling_rate=fs, method="neurokit")
            _, info = nk.ecg_peaks(clean, sampling_rate=fs, method="neurokit")
            return info["ECG_R_Peaks"]
    raise TernEcgError(f"unknown peer detector {peer!r}; known: {', '.join(PEERS)}")


def peer_detections(peer, db, name, cache=CACHE):
    """Sorted detections of ``peer`` on record ``name`` (cached), or a string: the failure."""
    folder = Path(cache) / f"{peer}-{_version(PEER_PACKAGE[peer])}"
    npy, err = folder / f"{name}.npy", folder / f"{name}.err"
    if npy.is_file():
        return np.load(npy)
    if err.is_file():
        return err.read_text()
    raw, fs, _b, _s, _y, _lead, gain, base = read_annotated(db, name)
    mv = (raw.astype(np.float64) - base) / gain
    folder.mkdir(parents=True, exist_ok=True)
    try:
        det = np.unique(np.asarray(_run_peer(peer, mv, fs), dtype=np.int64))
        det = det[(det >= 0) & (det < len(raw))]
    except Exception as exc:  # a peer failing on a record is a result, not a crash
        msg = f"{type(exc).__name__}: {exc}"
        err.write_text(msg)
        return msg
    tmp = folder / f"{name}.{os.getpid()}.tmp.npy"
    np.save(tmp, det)
    os.replace(tmp, npy)
    return det


def _score(det, beats, vf, fs):
    m = ec57.match(beats, det, fs)
    row = m.counts()
    mx = ec57.match(beats, det, fs, exclude=vf) if len(vf) else m
    return row, mx.counts(), m.offsets


def _record_job(args):
    """One record: the detector's and the peers' scores (runs in a worker process)."""
    db, name, peers, cache = args
    from .qrs import detect

    raw, fs, beats, samples, symbols, lead, _g, _b = read_annotated(db, name)
    vf = ec57.vf_episodes(samples, symbols)
    from .spec.qrs import qrs_params

    P = qrs_params(fs)
    t0 = time.perf_counter()
    det, info = detect(raw, fs, info=True)
    secs = time.perf_counter() - t0
    row, row_vf, offsets = _score(det, beats, vf, fs)
    lat = info["decided"] - det
    learning = info["decided"] == P.learn + P.peak_half
    kinds = {"regular": ~info["search"] & ~learning, "search_back": info["search"], "learning": learning}
    latency = {k: {"count": int(v.sum()), "max": int(lat[v].max(initial=0))} for k, v in kinds.items()}
    out = {"name": name, "lead": lead, "samples": len(raw), "row": row, "row_vf": row_vf,
           "offsets": offsets, "seconds": secs, "latency": latency, "peers": {}}
    for peer in peers:
        d = peer_detections(peer, db, name, cache)
        if isinstance(d, str):
            out["peers"][peer] = {"error": d}
        else:
            p, pv, _ = _score(d, beats, vf, fs)
            out["peers"][peer] = {"row": p, "row_vf": pv}
    return out


def _gross(rows):
    rows = list(rows)
    tp = sum(r["tp"] for r in rows)
    fn = sum(r["fn"] for r in rows)
    fp = sum(r["fp"] for r in rows)
    return {"tp": tp, "fn": fn, "fp": fp, "se": ec57.rate(tp, fn), "ppv": ec57.rate(tp, fp)}


def parse_records(text):
    if text is None or text == "all":
        return RECORDS48
    names = [t.strip() for t in str(text).split(",") if t.strip()]
    bad = [n for n in names if n not in RECORDS48]
    if bad or not names:
        raise TernEcgError(f"--records: unknown MIT-BIH record(s) {bad or [text]}; "
                           f"give a comma-separated subset of 100 ... 234, e.g. --records 100,105")
    return tuple(dict.fromkeys(names))


def evaluate(records=RECORDS48, db=None, peers=PEERS, out=REPORT, jobs=2, cache=CACHE, progress=True):
    """Run the detector (and ``peers``) over ``records``; write ``out`` (JSON) and return the report."""
    from tqdm import tqdm

    t0 = time.perf_counter()
    db = find_database(db)
    peers = tuple(peers)
    jobs_args = [(str(db), r, peers, str(cache)) for r in records]
    results = {}
    # the bar only on a terminal (disable=None), so that a log or an error stays one clean line
    with tqdm(total=len(records), desc="qrs-eval", unit="record", disable=None if progress else True,
              file=sys.stderr, leave=False) as bar:
        if jobs > 1 and len(records) > 1:
            with ProcessPoolExecutor(max_workers=jobs) as ex:
                for res in ex.map(_record_job, jobs_args):
                    results[res["name"]] = res
                    bar.update(1)
        else:
            for a in jobs_args:
                res = _record_job(a)
                results[res["name"]] = res
                bar.update(1)
    wall = time.perf_counter() - t0
    per = {r: results[r]["row"] for r in records}
    per_vf = {r: results[r]["row_vf"] for r in records}
    offsets = np.concatenate([results[r]["offsets"] for r in records]) if records else np.zeros(0, np.int64)
    report = {
        "detector": "ternecg.golden.qrs (integer streaming Pan-Tompkins family, docs/arithmetic.md section 9)",
        "matcher": "golden/ec57.py: 150 ms inclusive window (54 samples at 360 Hz), nearest first, wfdb beat symbols",
        "records": {r: {**per[r], "lead": results[r]["lead"]} for r in records},
        "gross": _gross(per.values()),
        # the inter-patient split (golden/splits.py): DS1 chose the detector's constants (make qrs-select),
        # DS2 is held out; the four paced records are in neither
        "gross_ds1": _gross(per[r] for r in records if r in DS1),
        "gross_ds2": _gross(per[r] for r in records if r in DS2),
        "vf_excluded": {"note": "ventricular flutter/fibrillation episodes ([ to ]) left out, as bxb does; "
                                "secondary figure (the primary one is 'gross', whole records)",
                        "gross": _gross(per_vf.values()),
                        "records": {r: per_vf[r] for r in records if per_vf[r] != per[r]}},
        "offsets": offset_stats(offsets),
        "latency_samples": {k: {"count": sum(results[r]["latency"][k]["count"] for r in records),
                                "max": max((results[r]["latency"][k]["max"] for r in records), default=0)}
                            for k in ("regular", "search_back", "learning")},
        "latency_bound_regular": qrs_params(360).latency,
        "state_bits": qrs_params(360).state_bits,
        "params_360": dataclasses.asdict(qrs_params(360)),
        "peers": {},
        "detector_seconds": sum(results[r]["seconds"] for r in records),
        "wall_seconds": wall,
    }
    for peer in peers:
        ok = [r for r in records if "row" in results[r]["peers"][peer]]
        failed = {r: results[r]["peers"][peer]["error"] for r in records if r not in ok}
        g = _gross(results[r]["peers"][peer]["row"] for r in ok)
        gv = _gross(results[r]["peers"][peer]["row_vf"] for r in ok)
        report["peers"][peer] = {**g, "package": f"{PEER_PACKAGE[peer]} {_version(PEER_PACKAGE[peer])}",
                                 "gross_ds1": _gross(results[r]["peers"][peer]["row"] for r in ok if r in DS1),
                                 "gross_ds2": _gross(results[r]["peers"][peer]["row"] for r in ok if r in DS2),
                                 "records": {r: results[r]["peers"][peer]["row"] for r in ok},
                                 "vf_excluded": gv, "failed": failed}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(report, indent=1))
    os.replace(tmp, out)
    return report


def offset_stats(offsets) -> dict:
    """Distribution of detected minus reference sample over the matched beats."""
    o = np.asarray(offsets, dtype=np.int64)
    if not len(o):
        return {"n": 0}
    vals, counts = np.unique(o, return_counts=True)
    return {"n": int(len(o)), "mean": float(o.mean()), "std": float(o.std()), "median": float(np.median(o)),
            "p01": float(np.percentile(o, 1)), "p99": float(np.percentile(o, 99)),
            "min": int(o.min()), "max": int(o.max()),
            "abs_le_1": int((np.abs(o) <= 1).sum()), "abs_gt_5": int((np.abs(o) > 5).sum()),
            "abs_gt_10": int((np.abs(o) > 10).sum()),
            "histogram": {str(int(v)): int(c) for v, c in zip(vals, counts)}}


def table(report) -> str:
    peers = list(report["peers"])
    head = f"{'record':>6} {'TP':>6} {'FN':>5} {'FP':>5} {'Se':>7} {'+P':>7}"
    for p in peers:
        head += f" | {p[:11]:>11} FN/FP"
    lines = [head, "-" * len(head)]

    def fmt(name, row, peer_rows):
        s = f"{name:>6} {row['tp']:>6} {row['fn']:>5} {row['fp']:>5} {row['se']:>7.4f} {row['ppv']:>7.4f}"
        for pr in peer_rows:
            s += f" | {pr:>17}"
        return s

    for r, row in report["records"].items():
        prs = []
        for p in peers:
            pr = report["peers"][p]["records"].get(r)
            prs.append(f"{pr['fn']}/{pr['fp']}" if pr else "failed")
        mark = " *" if r in HARD else ""
        lines.append(fmt(r, row, prs) + mark)
    lines.append("-" * len(head))
    g = report["gross"]
    lines.append(fmt("gross", g, [f"{report['peers'][p]['fn']}/{report['peers'][p]['fp']}" for p in peers]))
    for key, label in (("gross_ds1", "DS1"), ("gross_ds2", "DS2")):
        if key in report:
            sub = [report["peers"][p].get(key) for p in peers]
            lines.append(fmt(label, report[key], [f"{s['fn']}/{s['fp']}" if s else "-" for s in sub]))
    lines.append("(* hard records 105, 108, 203, 207; DS1 (22 records) chose the detector's constants "
                 "(make qrs-select), DS2 (22) is held out; paced 102, 104, 107, 217 in neither)")
    lines.append("")
    lines.append(f"{'detector':<22} {'Se':>7} {'+P':>7} {'FN':>5} {'FP':>5} {'FN+FP':>6}   VF/VFL excluded: Se / +P / FN+FP")
    rows = [("ternecg qrs", g, report["vf_excluded"]["gross"])]
    rows += [(p, report["peers"][p], report["peers"][p]["vf_excluded"]) for p in peers]
    for name, a, b in rows:
        fail = report["peers"].get(name, {}).get("failed") if name in report["peers"] else None
        lines.append(f"{name:<22} {a['se']:>7.4f} {a['ppv']:>7.4f} {a['fn']:>5} {a['fp']:>5} {a['fn'] + a['fp']:>6}"
                     f"   {b['se']:.4f} / {b['ppv']:.4f} / {b['fn'] + b['fp']}"
                     + (f"   (failed on {', '.join(fail)})" if fail else ""))
    o = report["offsets"]
    if o.get("n"):
        lines.append("")
        lines.append(f"offset detected - reference over {o['n']} matched beats: mean {o['mean']:+.2f}, "
                     f"std {o['std']:.2f}, 1-99 % [{o['p01']:+.0f}, {o['p99']:+.0f}], "
                     f"|offset| <= 1: {o['abs_le_1']}, > 5: {o['abs_gt_5']}, > 10: {o['abs_gt_10']}")
    la = report["latency_samples"]
    lines.append(f"latency (samples from the R peak to its report), max: regular {la['regular']['max']} "
                 f"(bound {report['latency_bound_regular']}), search-back {la['search_back']['max']} "
                 f"({la['search_back']['count']} beats), learning period {la['learning']['max']} "
                 f"({la['learning']['count']} beats); state {report['state_bits']['total']} bits")
    lines.append(f"detector time {report['detector_seconds']:.1f} s (sum over records), "
                 f"wall time {report['wall_seconds']:.1f} s")
    return "\n".join(lines)


def add_parser(sub):
    """``ternecg qrs-eval`` (``make qrs-eval``)."""
    from ternecg import options
    p = sub.add_parser("qrs-eval", description=__doc__.split("\n\n")[0])
    p.add_argument("--records", default=None, help="comma-separated records (default: all 48)")
    options.add_db(p)
    p.add_argument("--no-peers", action="store_true", help="skip the peer detectors")
    options.add_jobs(p)
    options.add_out(p, REPORT.parent, f"writes {REPORT.name}")
    p.set_defaults(func=_command)
    return p


def _command(args):
    args.out = str(Path(args.out) / REPORT.name)
    return run(args)


def main(argv=None):
    from ternecg.cli import command_main
    return command_main("qrs-eval")(argv)


def run(args):
    records = parse_records(args.records)
    if args.jobs < 1:
        raise TernEcgError(f"--jobs must be >= 1, got {args.jobs}")
    report = evaluate(records, db=args.db, peers=() if args.no_peers else PEERS, out=args.out, jobs=args.jobs)
    print(table(report))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
