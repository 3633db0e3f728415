"""``make sim-monitor``: the front end and the whole monitor on whole MIT-BIH records (Verilator).

``ternecg sim-monitor [--limit N] [--jobs 2] [--records ...] [--model M] [--no-detector]
[--no-monitor]`` writes ``build/reports/monitor_regress.json``::

    {"detector": {"records", "samples", "beats", "mismatches", "samples_per_s", ...},
     "monitor":  {"records", "beats", "mismatches", "samples_per_s", "model", "parallel", ...}}

* ``detector``: every one of the 48 records, whole (lead MLII; the first lead of 102 and 104),
  through the generated :class:`~ternecg.hw.qrs_detector.QrsDetector`: its R peaks and the
  samples at which it reports them against :func:`ternecg.golden.qrs.detect` (``info=True``:
  the sample that decides each peak; the detector must report it before taking the next sample).
  ``beats`` counts the golden peaks; a mismatch is a peak missing, extra or different, or
  reported at another sample.
* ``monitor``: every DS2 record, whole, through the generated :class:`~ternecg.hw.monitor.Monitor`
  with the four-class inter-patient model (``models/aami4_inter.json``; ``models/inter_patient.json``
  until it exists): each beat's index, class and logits against :func:`ternecg.golden.monitor.run`.
  The accelerator is built with the largest ``PARALLEL`` up to 6 the model allows (the results
  do not depend on it; it only shortens the simulation).

Each record runs through the speed harness (:mod:`ternecg.sim.monitor_harness`: a Verilog module
feeding the record and writing the outputs, compiled by Verilator with a C++ loop that only
toggles the clock), the records taking turns through the idle / back-pressure patterns;
``--jobs`` harness processes run side by side. ``samples_per_s`` is one simulation process
(builds excluded). Needs the MIT-BIH database.
"""

from __future__ import annotations

import json
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ternecg.errors import TernEcgError
from ternecg.paths import build_dir, models_dir, relative
from ternecg.reports import markdown_table

REPORT = build_dir("reports", "monitor_regress.json")
WORK = build_dir("sim-monitor")
#: idle / back-pressure patterns, by record in turn
PATTERNS = (("none", "none"), ("random", "random"), ("fixed", "random"), ("random", "fixed"))
MAX_SAMPLES = 1 << 20               # a record's samples in the harness (MIT-BIH: 650,000)


def monitor_model() -> Path:
    """The monitor's model: the four-class inter-patient model once it is shipped, else the
    binary inter-patient RR model."""
    four = models_dir() / "aami4_inter.json"
    return four if four.is_file() else models_dir() / "inter_patient.json"


#: the largest accelerator PARALLEL the regression builds (more lanes: a longer Verilator build
#: for little gain once the front end sets the pace)
REGRESS_MAX_PARALLEL = 6


def regress_parallel(model) -> int:
    """The largest valid ``PARALLEL`` of ``model`` up to :data:`REGRESS_MAX_PARALLEL`."""
    from ternecg.hw.schedule import MAX_PARALLEL, check_parallel
    best = 1
    for p in range(1, min(MAX_PARALLEL, REGRESS_MAX_PARALLEL) + 1):
        try:
            check_parallel(model, p)
            best = p
        except TernEcgError:
            pass
    return best


def _records(db, names):
    from ternecg.golden.records import RECORDS48, find_database, load_record
    db = find_database(db)
    for name in names or RECORDS48:
        r = load_record(db, name)
        x = np.asarray(r.signal, dtype=np.int64)
        if x.min() < 0 or x.max() > 2047:
            raise TernEcgError(f"record {name}: samples outside 0..2047 (not 11-bit MIT-BIH ADC codes)")
        yield name, x


def _build(dut, top, out, out_bits, work):
    from ternecg.hw import verilog
    from ternecg.sim import harness
    from ternecg.sim.monitor_harness import harness_verilog
    src = verilog.generate(dut, top, work)
    h = work / f"{top}_harness.v"
    text = harness_verilog(top, out=out, out_bits=out_bits, max_samples=MAX_SAMPLES, progress=500)
    if not h.is_file() or h.read_text() != text:
        h.write_text(text)
    t0 = time.time()
    binary = harness.build_verilator([src, h], f"{top}_harness", work / "verilator")
    return binary, time.time() - t0


def _run_one(binary, rec, x, expect, run_dir, k):
    from ternecg.sim import harness
    from ternecg.sim.monitor_harness import plusargs, read_results, write_samples
    run_dir.mkdir(parents=True, exist_ok=True)
    write_samples(run_dir / "samples.hex", x)
    idle, bp = PATTERNS[k % len(PATTERNS)]
    t0 = time.time()
    harness.run_verilator(binary, plusargs(samples="samples.hex", count=len(x), results="results.txt",
                                           expect=expect, idle=idle, backpressure=bp, seed=k + 1,
                                           grace=2000), run_dir)
    seconds = time.time() - t0
    log = (run_dir / "sim.log").read_text(errors="replace")
    m = re.search(r"harness: done (\d+) outputs in (\d+) cycles", log)
    cycles = int(m.group(2)) if m else None
    return read_results(run_dir / "results.txt"), seconds, cycles, (idle, bp)


def _mismatches(got, want):
    """Outputs that differ: position by position, plus the missing and the extra ones."""
    bad = sum(1 for g, w in zip(got, want) if g != w) + abs(len(got) - len(want))
    first = next(((k, g, w) for k, (g, w) in enumerate(zip(got, want)) if g != w), None)
    if first is None and len(got) != len(want):
        k = min(len(got), len(want))
        first = (k, got[k] if k < len(got) else None, want[k] if k < len(want) else None)
    return bad, first


def _pool(jobs, tasks):
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as ex:
        futs = [ex.submit(t) for t in tasks]
        return [f.result() for f in futs]


def detector_part(db, *, names=None, signals=None, limit=None, jobs=2, work=WORK, progress=True):
    """The detector on every record (``signals``: ``[(name, samples)]`` instead of the database)."""
    from ternecg.golden import qrs
    from ternecg.hw.qrs_detector import QrsDetector

    t_all = time.time()
    binary, build_s = _build(QrsDetector(spram=False), "qrs_detector", "peaks", 33, work / "detector")
    inputs = []
    for k, (name, x) in enumerate(signals if signals is not None else _records(db, names)):
        x = x[:limit] if limit else x
        peaks, info = qrs.detect(x, info=True)
        want = [(int(p), min(int(d) + 1, len(x))) for p, d in zip(peaks, info["decided"])] + [(len(x), len(x))]
        inputs.append((k, name, x, want))

    def task(k, name, x, want):
        res, seconds, cycles, pats = _run_one(binary, name, x, len(want), work / "detector" / "runs" / name, k)
        got = [((p & 0xFFFFFFFF), s) for p, s in res]
        if res and not res[-1][0] >> 32:
            got.append(None)                     # no end marker
        bad, first = _mismatches(got, want)
        if progress:
            print(f"  detector {name}: {len(want) - 1} peaks, {bad} mismatches, {seconds:.1f} s", flush=True)
        return name, {"samples": len(x), "beats": len(want) - 1, "mismatches": bad, "seconds": round(seconds, 2),
                      "cycles": cycles, "patterns": pats, "first_mismatch": first}

    rows = dict(_pool(jobs, [lambda a=a: task(*a) for a in inputs]))
    return _summary(rows, build_s, time.time() - t_all)


def monitor_part(db, *, model_path=None, names=None, signals=None, limit=None, jobs=2, work=WORK,
                 progress=True):
    """The monitor on every DS2 record (``signals``: ``[(name, samples)]`` instead)."""
    from ternecg.golden import monitor as gm
    from ternecg.golden.splits import DS2
    from ternecg.golden.spec import modelfile
    from ternecg.hw.monitor import Monitor

    t_all = time.time()
    model_path = Path(model_path) if model_path else monitor_model()
    model = modelfile.load(model_path)
    parallel = regress_parallel(model)
    dut = Monitor(model, parallel, spram=False)
    layout = dut.beat_layout
    binary, build_s = _build(dut, "monitor", "beats", layout.size, work / f"monitor_{model_path.stem}_p{parallel}")
    from ternecg.sim.tb import unpack
    inputs = []
    for k, (name, x) in enumerate(signals if signals is not None else _records(db, names or DS2)):
        x = x[:limit] if limit else x
        b = gm.run(model, x)
        want = [(int(r), int(c), tuple(int(v) for v in lg)) for r, c, lg in zip(b.peaks, b.classes, b.logits)]
        inputs.append((k, name, x, want))

    def task(k, name, x, want):
        res, seconds, cycles, pats = _run_one(binary, name, x, len(want), work / "monitor" / "runs" / name, k)
        got = []
        for p, _ in res:
            d = unpack(layout, p)
            got.append((d["index"], d["cls"], tuple(d["logits"])))
        bad, first = _mismatches(got, want)
        if progress:
            print(f"  monitor {name}: {len(want)} beats, {bad} mismatches, {seconds:.1f} s", flush=True)
        return name, {"samples": len(x), "beats": len(want), "mismatches": bad, "seconds": round(seconds, 2),
                      "cycles": cycles, "patterns": pats, "first_mismatch": first}

    rows = dict(_pool(jobs, [lambda a=a: task(*a) for a in inputs]))
    out = _summary(rows, build_s, time.time() - t_all)
    out.update({"model": relative(model_path), "model_sha256": model.sha256, "parallel": parallel,
                "classes": list(model.cfg.classes)})
    return out


def _summary(rows, build_s, wall):
    samples = sum(r["samples"] for r in rows.values())
    sim_s = sum(r["seconds"] for r in rows.values())
    cycles = sum(r["cycles"] or 0 for r in rows.values())
    return {"records": len(rows), "samples": samples, "beats": sum(r["beats"] for r in rows.values()),
            "mismatches": sum(r["mismatches"] for r in rows.values()),
            "samples_per_s": round(samples / sim_s, 1) if sim_s else None,
            "cycles_per_sample": round(cycles / samples, 2) if samples else None,
            "sim_seconds": round(sim_s, 1), "build_seconds": round(build_s, 1), "wall_seconds": round(wall, 1),
            "per_record": rows}


def regress(db=None, *, limit=None, jobs=2, records=None, model=None, detector=True, monitor=True,
            out=None, progress=True):
    """Run the parts and write the report (``out``: a folder; default build/reports/)."""
    if limit is not None and limit < 240:
        raise TernEcgError(f"--limit {limit}: a record needs at least 240 samples (one beat window)")
    report = {"simulator": "verilator (speed harness, sim/monitor_harness.py)",
              "patterns": [list(p) for p in PATTERNS], "limit": limit}
    t0 = time.time()
    if detector:
        report["detector"] = detector_part(db, names=records, limit=limit, jobs=jobs, progress=progress)
    if monitor:
        ds2 = None
        if records:
            from ternecg.golden.splits import DS2
            ds2 = [r for r in records if r in DS2] or None
        report["monitor"] = monitor_part(db, model_path=model, names=ds2, limit=limit, jobs=jobs, progress=progress)
    report["wall_seconds"] = round(time.time() - t0, 1)
    path = Path(out) / REPORT.name if out else REPORT
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=1) + "\n")
    tmp.replace(path)
    print(table(report))
    print(f"\nwrote {relative(path)}")
    return report


def table(report):
    parts = [(part, report[part]) for part in ("detector", "monitor") if report.get(part)]
    return markdown_table(
        ("part", "records", "samples", "beats", "mismatches", "samples/s (one process)", "cycles/sample"),
        [(part, r["records"], r["samples"], r["beats"], r["mismatches"], r["samples_per_s"], r["cycles_per_sample"])
         for part, r in parts]) + f"\n\nwall time {report['wall_seconds']} s"


def add_parser(sub):
    """``ternecg sim-monitor`` (``make sim-monitor``)."""
    from ternecg import options
    p = sub.add_parser("sim-monitor", description=__doc__.split("\n")[0])
    options.add_db(p)
    options.add_limit(p, what="samples of each record")
    options.add_jobs(p)
    p.add_argument("--records", nargs="+", default=None, help="only these records")
    options.add_model(p, what="(default: models/aami4_inter.json, else models/inter_patient.json)")
    p.add_argument("--no-detector", action="store_true", help="skip the detector part")
    p.add_argument("--no-monitor", action="store_true", help="skip the monitor part")
    options.add_out(p, REPORT.parent, f"writes {REPORT.name}")
    p.set_defaults(func=_command)
    return p


def _command(args):
    report = regress(args.db, limit=args.limit, jobs=args.jobs, records=args.records, model=args.model,
                     detector=not args.no_detector, monitor=not args.no_monitor, out=args.out)
    bad = sum(report[p]["mismatches"] for p in ("detector", "monitor") if p in report)
    return 1 if bad else 0


if __name__ == "__main__":
    from ternecg.cli import command_main
    sys.exit(command_main("sim-monitor")())
