"""Synthesize, place and route a board top: ``ternecg synth --board icebreaker [--app monitor]``
(``make synth [APP=monitor]``).

Runs the amaranth-boards flow (Yosys, nextpnr, icepack/ecppack from YoWASP) in ``build/<board>/``
(``build/<board>-monitor/`` for the live monitor; a relative path: the YoWASP tools cannot see
absolute /tmp paths) and writes ``report.json`` there::

    {"board", "app", "device", "model", "model_sha256", "parallel", "baud", "lc_used", "lc_total",
     "ff", "ebr", "spram", "dsp", "fmax_mhz": {clock: MHz}, "target_mhz", "timing_met", "seconds",
     "bitstream", "patchable": {"param_roms", "param_slices", "param_brams", "patch_seconds", "tool_runs"},
     "lut4_by_module": {"mapper", "modules": {module: LUT4}}, "lut4_by_part": {part: LUT4},
     "memories": {"ebr": {memory: block RAMs}, "spram": {memory: SPRAMs}}}

``lut4_by_module`` comes from a second, unflattened synthesis of the same design
(boards/monitor_figures.py ``luts_by_module``), so that where the logic goes (UART, link,
accelerator, ...) is in every build's report (issue 17); ``lut4_by_part`` sums it per part.
``memories`` counts the block RAMs of each memory in the netlist that nextpnr placed
(boards/memories.py): where the EBRs go.

The monitor build (``app`` ``monitor``: boards/monitor_core.py, protocol version 2; its model by
default ``models/aami4_inter.json``, else ``models/inter_patient.json``) adds
(boards/monitor_figures.py): ``real_time`` (the margin of one 250-bpm beat period over the worst-case cycles per
beat at the board clock, and the lowest clock that keeps 2x) and ``sample_rate`` (samples/s the
monitor sustains at the board clock, measured in the Verilator speed harness; and what the UART
carries, ``link_samples_per_s``).

The design is placed and routed with random placeholder contents in its parameter ROMs (every
model value, hw/params.py); the routed placeholder design is kept (``placeholder.asc`` /
``placeholder.config``, ``params/``) and the model is patched in by boards/patch.py, which also
patches any other model of the same topology into it later (``make patch``).

``lc_*`` are iCE40 logic cells (ICESTORM_LC) or ECP5 LUT4s (TRELLIS_COMB); ``ff`` flip-flops;
``ebr`` block RAMs (ICESTORM_RAM / DP16KD); ``dsp`` multipliers (ICESTORM_DSP / MULT18X18D);
``fmax_mhz`` is the final (post-route) maximum frequency per clock from the nextpnr log.
nextpnr runs with ``--timing-allow-fail`` so that the report is written either way; the command
then fails with a clear message when timing is not met.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

from ternecg.errors import TernEcgError

from .memories import memories_by_module, summary as memory_summary
from .patch import PLACEHOLDER_SEED, record_build
from .top import DEFAULT_BAUD, BoardTop, add_app_option, build_name, check_app, default_model, get_board


def parse_nextpnr_log(text: str) -> dict:
    """Utilisation and per-clock fmax from a nextpnr log (the last report of each wins)."""
    util = {}
    for name, used, total in re.findall(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", text):
        util[name] = (int(used), int(total))
    fmax = {}
    for clk, mhz in re.findall(r"Max frequency for clock\s+'([^']+)':\s+([\d.]+) MHz", text):
        fmax[clk] = float(mhz)
    return {"util": util, "fmax": fmax}


def parse_yosys_ffs(text: str, family: str) -> int | None:
    """Flip-flop count from the last ``stat`` of a Yosys log (the last table of each cell wins)."""
    cell = r"SB_DFF\w*" if family == "ice40" else r"TRELLIS_FF"
    stats = text.rsplit("Printing statistics", 1)[-1]
    counts = {}
    for a, b in re.findall(rf"^\s+(\d+|{cell})\s+(\d+|{cell})\s*$", stats, flags=re.M):
        name, n = (a, b) if not a.isdigit() else (b, a)
        if not name.isdigit() and n.isdigit():
            counts[name] = int(n)
    return sum(counts.values()) if counts else None


def summarize(board: str, tim_text: str, rpt_text: str, target_mhz: float) -> dict:
    fam = "ice40" if board == "icebreaker" else "ecp5"
    parsed = parse_nextpnr_log(tim_text)
    u = parsed["util"]
    names = ({"lc": "ICESTORM_LC", "ebr": "ICESTORM_RAM", "dsp": "ICESTORM_DSP", "ff": None}
             if fam == "ice40" else
             {"lc": "TRELLIS_COMB", "ebr": "DP16KD", "dsp": "MULT18X18D", "ff": "TRELLIS_FF"})
    if names["lc"] not in u:
        raise TernEcgError(f"no utilisation report in the nextpnr log of {board}; see build/{board}/top.tim")
    ff = u[names["ff"]][0] if names["ff"] and names["ff"] in u else parse_yosys_ffs(rpt_text, fam)
    fmax = parsed["fmax"]
    if not fmax:
        raise TernEcgError(f"no 'Max frequency' line in the nextpnr log of {board}; see build/{board}/top.tim")
    return {
        "lc_used": u[names["lc"]][0], "lc_total": u[names["lc"]][1], "ff": ff,
        "ebr": u.get(names["ebr"], (0, 0))[0], "ebr_total": u.get(names["ebr"], (0, 0))[1],
        "spram": u.get("ICESTORM_SPRAM", (0, 0))[0],
        "dsp": u.get(names["dsp"], (0, 0))[0],
        "fmax_mhz": fmax, "target_mhz": target_mhz,
        "timing_met": all(f >= target_mhz for f in fmax.values()),
    }


def build(board: str, model=None, parallel: int = 1, baud: int = DEFAULT_BAUD, root="build",
          check_timing=True, seed: int = PLACEHOLDER_SEED, app: str = "classifier", figures=True) -> dict:
    """Build the bitstream of ``board`` running ``app``; return (and write) the report. Raises
    TernEcgError. ``figures=False``: a monitor build without its extra figures (tests)."""
    from ternecg.golden.spec import modelfile
    from ternecg.hw import params
    from ternecg.tools import setup_env

    b = get_board(board)
    check_app(app)
    if model is None and app != "classifier":
        from ternecg.paths import relative
        model = relative(default_model(app))
    m = modelfile.load(model)
    setup_env()
    BoardTop.check_arguments(m, board, parallel=parallel, baud=baud, app=app)
    top = BoardTop(m, board, parallel=parallel, baud=baud, app=app)
    # place and route with random placeholders in the parameter ROMs, then patch the model in
    # (boards/patch.py): the same route serves every model file of this topology
    roms = top.core.accel.param_roms()
    model_images = params.images(roms)
    placeholder_images = params.set_placeholders(roms, seed)
    plat = b.make_platform()
    build_dir = Path(root) / build_name(board, app)
    if build_dir.is_absolute():
        try:
            build_dir = build_dir.relative_to(Path.cwd())
        except ValueError:
            raise TernEcgError(f"build folder {build_dir} must be below the current folder (the YoWASP "
                               f"tools cannot see absolute paths outside it)") from None
    t0 = time.time()
    try:
        plat.build(top, name="top", build_dir=str(build_dir), do_build=True, do_program=False,
                   synth_opts=b.synth_opts, nextpnr_opts="--timing-allow-fail")
    except Exception as exc:            # the toolchain failed (not a timing failure)
        log = build_dir / "top.tim"
        raise TernEcgError(f"the {board} build failed ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                           f"see the logs in {build_dir}/ (top.rpt, top.tim)"
                           + ("" if log.is_file() else "")) from exc
    patch_info = record_build(board, build_dir, m, top, seed, model_images, placeholder_images)
    seconds = time.time() - t0
    tim = (build_dir / "top.tim").read_text(errors="replace")
    rpt = (build_dir / "top.rpt").read_text(errors="replace") if (build_dir / "top.rpt").is_file() else ""
    report = {"board": board, "app": app, "device": plat.device, "model": str(m.path), "model_sha256": m.sha256,
              "parallel": parallel, "baud": baud,
              **summarize(board, tim, rpt, b.clk_hz / 1e6), "seconds": round(seconds, 1),
              "bitstream": str(build_dir / b.bitstream), "patchable": patch_info}
    try:
        report["memories"] = memories_by_module(build_dir / "top.json", "ice40" if board == "icebreaker" else "ecp5")
    except TernEcgError as exc:                 # the bitstream is fine: say why the split is missing
        report["memories"] = None
        report["memories_error"] = str(exc)
    if figures:
        from . import monitor_figures as F
        t1 = time.time()
        try:
            luts = F.luts_by_module(build_dir, "ice40" if board == "icebreaker" else "ecp5", b.synth_opts)
            report["lut4_by_module"] = luts
            report["lut4_by_part"] = F.by_part(luts["modules"])
        except TernEcgError as exc:             # the bitstream is fine: say why the split is missing
            report["lut4_by_module"] = report["lut4_by_part"] = None
            report["lut4_by_module_error"] = str(exc)
        report["figures_seconds"] = round(time.time() - t1, 1)
    if app == "monitor" and figures:
        t1 = time.time()
        report["real_time"] = F.real_time(m, parallel, b.clk_hz)
        report["sample_rate"] = {**F.sample_rate(m, parallel, b.clk_hz),
                                 "link_samples_per_s": F.link_samples_per_s(baud)}
        report["figures_seconds"] += round(time.time() - t1, 1)
    (build_dir / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    if check_timing and not report["timing_met"]:
        worst = min(report["fmax_mhz"].items(), key=lambda kv: kv[1])
        raise TernEcgError(f"timing not met on {board}: clock {worst[0]!r} reaches {worst[1]:.2f} MHz, "
                           f"needs {report['target_mhz']:g} MHz; lower --parallel or add a slower "
                           f"clock (report: {build_dir / 'report.json'})")
    return report


def add_parser(sub):
    """``ternecg synth`` (``make synth``)."""
    from ternecg import options
    from ternecg.paths import build_dir
    p = sub.add_parser("synth", description=__doc__.split("\n")[0])
    options.add_board(p)
    add_app_option(p)
    options.add_model(p, what="(default: models/default.json; the monitor: models/aami4_inter.json, else "
                              "models/inter_patient.json)")
    options.add_parallel(p)
    options.add_baud(p, default=DEFAULT_BAUD)
    options.add_out(p, build_dir(), "relative; the board's files go to OUT/<board>/ (OUT/<board>-monitor/)")
    p.set_defaults(func=_command)
    return p


def _command(args):
    r = build(args.board, args.model, args.parallel, args.baud, args.out, app=args.app)
    fm = ", ".join(f"{k} {v:.1f} MHz" for k, v in r["fmax_mhz"].items())
    spram = f", {r['spram']} SPRAM" if r.get("spram") else ""
    print(f"{r['board']} ({r['app']}, {r['model']}): {r['lc_used']}/{r['lc_total']} LC, {r['ff']} FF, "
          f"{r['ebr']} EBR{spram}, {r['dsp']} DSP; fmax {fm} (target {r['target_mhz']:g} MHz); "
          f"{r['seconds']:.0f} s -> {r['bitstream']}")
    print(f"  block RAMs per memory: {memory_summary(r['memories']) if r.get('memories') else r.get('memories_error')}")
    if r.get("lut4_by_part"):
        print(f"  per part (LUT4, {r['lut4_by_module']['mapper']}): "
              + ", ".join(f"{k} {v}" for k, v in r["lut4_by_part"].items() if v))
    if "real_time" in r:
        rt, sr = r["real_time"], r["sample_rate"]
        print(f"  real time: {rt['with_front_end']['cycles']} cycles per beat ({rt['with_front_end']['ms']} ms) = "
              f"{rt['with_front_end']['margin']}x a 250-bpm beat period; 2x down to "
              f"{rt['with_front_end']['lowest_clock_2x_mhz']} MHz (accelerator alone: "
              f"{rt['accelerator_only']['margin']}x, {rt['accelerator_only']['lowest_clock_2x_mhz']} MHz)")
        print(f"  sample rate: {sr['samples_per_s']} samples/s at the board clock (measured, {sr['samples']} "
              f"samples); the UART carries {sr['link_samples_per_s']} samples/s at {r['baud']} baud")


if __name__ == "__main__":
    from ternecg.cli import command_main
    sys.exit(command_main("synth")())
