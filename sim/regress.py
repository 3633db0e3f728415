"""Full regression: every DS2 patient-specific test beat through the generated accelerator Verilog,
bit-exact against the integer reference, on Verilator (every beat) and Icarus (a subset).

``python -m ternecg.sim.regress [--limit N] [--parallel 6] [--jobs 2] [--icarus-beats 200]``
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

By default the beats go through the speed harness (:mod:`ternecg.sim.harness`: Verilog drives the
accelerator, class/logits/cycles of every beat compared with golden; the records take turns
through the idle/back-pressure patterns of ``PATTERN_CYCLE``, seeded per record); a record with mismatches gets its first mismatching
beats re-run through the cocotb testbench with the debug tap, which names the first differing
layer, channel and position. ``--layers`` instead runs every beat through the cocotb testbench
with the tap (every hidden layer checked; a few beats per second). Needs the MIT-BIH database.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from ternecg.paths import build_dir, relative

REPORT = build_dir("reports", "regress.json")
WORK = build_dir("regress")
TEST_MODULE = "ternecg.sim.tests.test_network_cocotb"
DIAGNOSE_BEATS = 3
# harness patterns (idle, back-pressure) by record, in turn: cycles are checked exactly on the
# records without stalls and as a lower bound on the others
PATTERN_CYCLE = (("none", "none"), ("random", "random"), ("fixed", "random"), ("random", "fixed"))


def _job_cocotb(rec, model_path, raws, records, samples, simulator, parallel, progress, patterns):
    """Worker (``--layers``): one record through the cocotb testbench with the debug tap."""
    from ternecg.golden.spec import modelfile
    from ternecg.hw.top import Accelerator
    from ternecg.sim import runner
    from ternecg.hw import verilog
    from ternecg.sim.network_tb import make_vectors

    t0 = time.perf_counter()
    model = modelfile.load(model_path)
    acc = Accelerator(model, parallel, debug=True)
    name = f"acc_r{rec}_p{parallel}"
    src = verilog.generate(acc, name, WORK / "verilog")
    vec = make_vectors(model, raws, records=records, samples=samples, accel=acc, layers=True)
    vpath = runner.write_vectors(WORK / "vectors" / f"{name}_{simulator}.npz", **vec)
    t1 = time.perf_counter()
    build = runner.build([src], name, simulator, build_dir=WORK / "sim" / f"{name}-{simulator}")
    t2 = time.perf_counter()
    report = WORK / "runs" / f"{name}_{simulator}.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.unlink(missing_ok=True)
    env = {"SIM_VECTORS": vpath, "SIM_IDLE": "none", "SIM_BACKPRESSURE": "none",
           "SIM_REPORT": report, "SIM_PROGRESS": progress, "SIM_TAP": "1"}
    error = None
    try:
        build.run(TEST_MODULE, extra_env=env, run_name="regress", testcase="stream_beats")
    except Exception as exc:                    # mismatches fail the cocotb test: still counted
        error = str(exc)[:4000]
    t3 = time.perf_counter()
    res = {"record": rec, "simulator": simulator, "beats": len(raws), "prepare_seconds": t1 - t0,
           "build_seconds": t2 - t1, "sim_seconds": t3 - t2}
    if report.is_file():
        r = json.loads(report.read_text())
        res.update(mismatches=r["mismatched_beats"], first_mismatches=r["mismatches"][:5])
    else:
        res.update(mismatches=len(raws), first_mismatches=[f"no report: {error}"])
    if error and not res["first_mismatches"]:
        res["first_mismatches"] = [error]
    return res


def _job_harness(rec, model_path, raws, records, samples, simulator, parallel, progress, patterns):
    """Worker (default): one record through the speed harness; mismatches are diagnosed."""
    from ternecg.golden.spec import modelfile
    from ternecg.sim.harness import diagnose, run_harness

    def on_progress(k):
        Path(progress).write_text(str(k))
    model = modelfile.load(model_path)
    r = run_harness(model, raws, simulator=simulator, parallel=parallel, idle=patterns[0],
                    backpressure=patterns[1], seed=int(rec), records=records, samples=samples,
                    work=WORK / "harness", on_progress=on_progress)
    on_progress(len(raws))
    res = {"record": rec, "simulator": simulator, "beats": r.beats, "build_seconds": r.build_seconds,
           "sim_seconds": r.seconds, "prepare_seconds": 0.0, "cycles": r.cycles,
           "idle": patterns[0], "backpressure": patterns[1],
           "cycles_checked": "exact" if patterns == ("none", "none") else "lower bound",
           "mismatches": len(r.mismatched_beats),
           "first_mismatches": [str(m) for m in r.mismatches[:5]]}
    if r.mismatched_beats:
        res["diagnosis"] = diagnose(model, raws, r.mismatched_beats[:DIAGNOSE_BEATS],
                                    simulator=simulator, parallel=parallel, records=records,
                                    samples=samples, work=WORK / "harness")["mismatches"]
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
    job = _job_cocotb if tap else _job_harness
    """Run every (record, model, beats) of ``plan`` on ``simulator``; returns the summary dict."""
    from tqdm import tqdm

    total = sum(len(p["raw"]) for p in plan)
    progress_dir = WORK / "progress"
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
            futures.append(pool.submit(job, p["record"], str(p["model"]), p["raw"], p["records"],
                                       p["samples"], simulator, parallel, str(f), patterns))
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
    from ternecg.sim.harness import run_harness

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
        r = run_harness(model, beats.raw[idx].astype(np.int64), simulator=sim, parallel=parallel,
                        idle="random", backpressure="random", seed=2, rr=codes[idx],
                        records=beats.record[idx].astype(np.int64), samples=beats.sample[idx],
                        work=WORK / "harness")
        out[sim] = {"beats": r.beats, "mismatches": len(r.mismatched_beats),
                    "first_mismatches": [str(m) for m in r.mismatches[:5]],
                    "beats_per_s": r.beats / r.seconds if r.seconds else 0.0,
                    "sim_seconds": r.seconds, "build_seconds": r.build_seconds,
                    "idle": "random", "backpressure": "random", "cycles_checked": "lower bound"}
        print(f"inter-patient model on {sim}: {r.beats} DS2 beats with RR codes, "
              f"{len(r.mismatched_beats)} mismatches ({out[sim]['beats_per_s']:.1f} beats/s)", file=sys.stderr)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m ternecg.sim.regress", description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=None, help="at most N Verilator beats (quick run)")
    ap.add_argument("--parallel", type=int, default=6, help="accelerator PARALLEL (default 6)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--icarus-beats", type=int, default=200,
                    help="beats on Icarus, spread over the records (0: skip Icarus)")
    ap.add_argument("--layers", action="store_true",
                    help="every beat through the cocotb testbench with the debug tap (every hidden "
                         "layer checked; a few beats/s, hours for all of DS2)")
    ap.add_argument("--no-inter", action="store_true",
                    help="skip the inter-patient model (models/inter_patient.json) on all DS2 beats")
    ap.add_argument("--db", default=None, help="MIT-BIH database folder (default: auto)")
    ap.add_argument("--report", default=str(REPORT))
    args = ap.parse_args(argv)

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
    report = Path(args.report)
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
