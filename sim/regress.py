"""Full regression: every DS2 patient-specific test beat through the generated accelerator Verilog,
bit-exact against the integer reference, on Verilator (every beat) and Icarus (a subset).

``ternecg sim-regress [--limit N] [--parallel 6] [--jobs 2] [--icarus-beats 200]``
(``make sim-regress``) writes ``build/reports/regress.json``::

    {"verilator": {"beats", "mismatches", "beats_per_s" (one simulation process, builds
                   excluded), "wall_beats_per_s", "seconds", "build_seconds", "sim_seconds",
                   "records": {...}},
     "icarus": {...same...}, "records": {rec: {"model", "fallback", "beats"}},
     "inter_patient": {"model", "verilator": {"beats", "mismatches", ...}, "icarus": {...}}, ...}

For each DS2 record the beats of ``splits.patient_specific(beats, rec)`` (test part) run on that
record's model ``models/patient/<rec>.json`` (the weights are ROM contents, so every record needs
its own Verilog and simulator build); a missing patient model falls back to ``models/default.json``
(reported per record). Records run in ``--jobs`` worker processes; a tqdm bar follows the
finished beats. Then the inter-patient model (``models/inter_patient.json``, an RR path) runs every
DS2 beat with its RR codes through one Verilator harness (and ``--icarus-beats`` / 4 beats on
Icarus); ``--no-inter`` skips it.

Every run goes through :func:`ternecg.sim.verify.verify`. By default the beats go through the
speed harness (:mod:`ternecg.sim.harness`: Verilog drives the
accelerator, class/logits/cycles of every beat compared with golden; the records take turns
through the idle/back-pressure patterns of ``PATTERN_CYCLE``, seeded per record); a record with mismatches gets its first mismatching
beats re-run through the cocotb testbench with the debug tap, which names the first differing
layer, channel and position. ``--layers`` instead runs every beat through the cocotb testbench
with the tap (every hidden layer checked; a few beats per second). Needs the MIT-BIH database.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import shutil
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from ternecg.paths import build_dir, relative

REPORT = build_dir("reports", "regress.json")
WORK = build_dir("regress")
DIAGNOSE_BEATS = 3
# harness patterns (idle, back-pressure) by record, in turn: cycles are checked exactly on the
# records without stalls and as a lower bound on the others
PATTERN_CYCLE = (("none", "none"), ("random", "random"), ("fixed", "random"), ("random", "fixed"))


def _job(rec, model_path, raws, records, samples, simulator, parallel, progress, patterns, tap):
    """Worker: one record's beats on its model through :func:`ternecg.sim.verify.verify`: the speed
    harness (default; mismatching beats are diagnosed with the debug tap) or, with ``tap``, the
    cocotb testbench checking every hidden layer."""
    from ternecg.sim.verify import Beats, Options, diagnose, verify

    beats = Beats(raws, record=records, sample=samples)
    if tap:
        opts = Options(model=model_path, parallel=parallel, simulator=simulator, bench="cocotb",
                       layers=True)
    else:
        opts = Options(model=model_path, parallel=parallel, simulator=simulator, idle=patterns[0],
                       backpressure=patterns[1], seed=int(rec))
    r = verify(beats, opts, progress=progress)
    res = {"record": rec, "simulator": simulator, "beats": r.beats, "build_seconds": r.build_seconds,
           "sim_seconds": r.seconds, "prepare_seconds": 0.0, "cycles": r.cycles,
           "idle": opts.idle, "backpressure": opts.backpressure,
           "cycles_checked": "exact" if (opts.idle, opts.backpressure) == ("none", "none") else "lower bound",
           "mismatches": len(r.mismatched_beats),
           "first_mismatches": [str(m) for m in r.mismatches[:5]] + r.failures[:2]}
    if r.mismatched_beats and not tap:
        res["diagnosis"] = diagnose(beats, r.mismatched_beats[:DIAGNOSE_BEATS], opts).mismatches
    return res


def _progress_total(files):
    n = 0
    for f in files:
        try:
            n += int(Path(f).read_text() or 0)
        except (OSError, ValueError):
            pass
    return n


def run_simulator(simulator, plan, *, parallel, jobs, tap, desc):
    """Run every (record, model, beats) of ``plan`` on ``simulator``; returns the summary dict."""
    from tqdm import tqdm

    total = sum(len(p["raw"]) for p in plan)
    # one folder per run: two runs side by side (e.g. at two lane counts) keep their own counts
    progress_dir = WORK / "progress" / f"{simulator}-p{parallel}-{os.getpid()}"
    progress_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    results = []
    t0 = time.perf_counter()
    with tqdm(total=total, desc=desc, unit="beat", file=sys.stderr) as bar, \
            ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = []
        for k, p in enumerate(plan):
            patterns = PATTERN_CYCLE[k % len(PATTERN_CYCLE)] if not tap else ("none", "none")
            f = progress_dir / f"{simulator}_{p['record']}.txt"
            f.write_text("0")
            files[p["record"]] = f
            futures.append(pool.submit(_job, p["record"], str(p["model"]), p["raw"], p["records"],
                                       p["samples"], simulator, parallel, str(f), patterns, tap))
        stop = threading.Event()

        def poll():
            while not stop.wait(1.0):
                bar.n = _progress_total(files.values())
                bar.refresh()
        th = threading.Thread(target=poll, daemon=True)
        th.start()
        for fut in as_completed(futures):
            results.append(fut.result())
            r = results[-1]
            if r["mismatches"]:
                tqdm.write(f"{simulator} record {r['record']}: {r['mismatches']} of {r['beats']} "
                           f"beats mismatch: {r['first_mismatches'][:2]}", file=sys.stderr)
                for line in r.get("diagnosis", [])[:3]:
                    tqdm.write(f"  debug tap: {line}", file=sys.stderr)
        stop.set()
        th.join()
        bar.n = total
        bar.refresh()
    shutil.rmtree(progress_dir, ignore_errors=True)
    seconds = time.perf_counter() - t0
    sim_seconds = sum(r["sim_seconds"] for r in results)
    beats = sum(r["beats"] for r in results)
    return {"beats": beats, "mismatches": sum(r["mismatches"] for r in results),
            "seconds": seconds,
            # simulator speed: beats per second of one simulation process (builds excluded)
            "beats_per_s": beats / sim_seconds if sim_seconds else 0.0,
            # end to end, all jobs together, builds included
            "wall_beats_per_s": beats / seconds if seconds else 0.0,
            "build_seconds": sum(r["build_seconds"] for r in results),
            "prepare_seconds": sum(r["prepare_seconds"] for r in results),
            "sim_seconds": sum(r["sim_seconds"] for r in results),
            "jobs": jobs, "layers_checked": tap,
            "mode": "cocotb testbench, debug tap" if tap else "speed harness (idle/back-pressure patterns in turn)",
            "records": {r["record"]: {k: v for k, v in r.items() if k not in ("record", "simulator")}
                        for r in sorted(results, key=lambda r: r["record"])}}


def plan_records(beats, *, limit=None, per_record=None, models_dir=None):
    """[{record, model, fallback, raw, records, samples}] for the DS2 records (test beats)."""
    import numpy as np

    from ternecg.golden import splits
    from ternecg.golden.spec.modelfile import DEFAULT_MODEL, MODELS_DIR

    models_dir = Path(models_dir) if models_dir else MODELS_DIR / "patient"
    if limit is not None:
        per_record = max(1, math.ceil(limit / len(splits.DS2)))
    plan = []
    for rec in splits.DS2:
        _, test = splits.patient_specific(beats, rec)
        if per_record is not None:
            test = test[:per_record]
        path = models_dir / f"{rec}.json"
        fallback = not path.is_file()
        plan.append({"record": rec, "model": DEFAULT_MODEL if fallback else path, "fallback": fallback,
                     "raw": beats.raw[test].astype(np.int64),
                     "records": beats.record[test].astype(np.int64),
                     "samples": beats.sample[test].astype(np.int64)})
    if limit is not None:                       # trim to exactly `limit` beats
        left = limit
        for p in plan:
            n = min(len(p["raw"]), left)
            for k in ("raw", "records", "samples"):
                p[k] = p[k][:n]
            left -= n
        plan = [p for p in plan if len(p["raw"])]
    return plan


def run_inter(beats, *, parallel, limit=None, icarus_beats=0):
    """The inter-patient model on every DS2 beat (inter-patient split) with its RR codes."""
    import numpy as np

    from ternecg.golden import splits

    from ternecg.golden.spec import modelfile
    from ternecg.golden.rr import model_codes
    from ternecg.sim.verify import Beats, Options, verify

    path = modelfile.MODELS_DIR / "inter_patient.json"
    model = modelfile.load(path)
    _, test = splits.inter_patient(beats)
    codes = model_codes(beats, model.cfg).numpy()
    out = {"model": relative(path)}
    for sim, n in (("verilator", limit or len(test)), ("icarus", icarus_beats)):
        if not n:
            continue
        idx = test[np.linspace(0, len(test) - 1, min(n, len(test))).round().astype(np.int64)] \
            if sim == "icarus" else test[:n]
        r = verify(Beats(beats.raw[idx], codes[idx], beats.record[idx], beats.sample[idx]),
                   Options(model=model, parallel=parallel, simulator=sim, idle="random",
                           backpressure="random", seed=2))
        out[sim] = {"beats": r.beats, "mismatches": len(r.mismatched_beats),
                    "first_mismatches": [str(m) for m in r.mismatches[:5]],
                    "beats_per_s": r.beats / r.seconds if r.seconds else 0.0,
                    "sim_seconds": r.seconds, "build_seconds": r.build_seconds,
                    "idle": "random", "backpressure": "random", "cycles_checked": "lower bound"}
        print(f"inter-patient model on {sim}: {r.beats} DS2 beats with RR codes, "
              f"{len(r.mismatched_beats)} mismatches ({out[sim]['beats_per_s']:.1f} beats/s)", file=sys.stderr)
    return out


def add_parser(sub):
    """``ternecg sim-regress`` (``make sim-regress``)."""
    from ternecg import options
    ap = sub.add_parser("sim-regress", description=__doc__.split("\n\n")[0])
    options.add_limit(ap)
    options.add_parallel(ap, default=6)
    options.add_jobs(ap)
    ap.add_argument("--icarus-beats", metavar="N", type=options.nonnegative_int, default=200,
                    help="beats on Icarus, spread over the records (0: skip Icarus)")
    ap.add_argument("--layers", action="store_true",
                    help="every beat through the cocotb testbench with the debug tap (every hidden "
                         "layer checked; a few beats/s, hours for all of DS2)")
    ap.add_argument("--no-inter", action="store_true",
                    help="skip the inter-patient model (models/inter_patient.json) on all DS2 beats")
    options.add_db(ap)
    options.add_out(ap, REPORT.parent, f"writes {REPORT.name}")
    ap.set_defaults(func=_command)
    return ap


def main(argv=None):
    from ternecg.cli import command_main
    return command_main("sim-regress")(argv)


def _command(args):
    from ternecg.golden.beats import load_beats
    beats = load_beats(args.db)
    tap = args.layers
    plan = plan_records(beats, limit=args.limit)
    fallbacks = [p["record"] for p in plan if p["fallback"]]
    if fallbacks:
        print(f"regress: no patient model for record(s) {', '.join(fallbacks)}: using "
              f"models/default.json for them", file=sys.stderr)
    out = {"parallel": args.parallel, "layers_checked": tap, "limit": args.limit,
           "records": {p["record"]: {"model": relative(p["model"]),
                                     "fallback": p["fallback"], "beats": len(p["raw"])} for p in plan}}
    out["verilator"] = run_simulator("verilator", plan, parallel=args.parallel, jobs=args.jobs,
                                     tap=tap, desc="verilator")
    if args.icarus_beats:
        n_ic = args.icarus_beats if args.limit is None else min(args.icarus_beats, args.limit)
        iplan = plan_records(beats, limit=n_ic)
        out["icarus"] = run_simulator("icarus", iplan, parallel=args.parallel, jobs=args.jobs,
                                      tap=tap, desc="icarus")
    if not args.no_inter and not tap:
        out["inter_patient"] = run_inter(beats, parallel=args.parallel, limit=args.limit,
                                         icarus_beats=min(4, args.icarus_beats))
    report = Path(args.out) / REPORT.name
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(out, indent=1, default=str))
    ok = all(s["mismatches"] == 0 for s in out.get("inter_patient", {}).values() if isinstance(s, dict))
    for sim in ("verilator", "icarus"):
        if sim in out:
            s = out[sim]
            print(f"{sim}: {s['beats']} beats, {s['mismatches']} mismatches; simulator speed "
                  f"{s['beats_per_s']:.1f} beats/s per process; {s['seconds']:.0f} s wall with "
                  f"{s['jobs']} jobs ({s['wall_beats_per_s']:.1f} beats/s; builds {s['build_seconds']:.0f} s, "
                  f"simulation {s['sim_seconds']:.0f} s summed over jobs)")
            ok &= s["mismatches"] == 0
    print(f"report: {report}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
