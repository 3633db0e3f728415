"""`make cycles`: where the accelerator's cycles per beat go at every lane count, from the schedule alone (no synthesis) -> build/reports/cycles.json.

For each lane count P (default: every P from 1 to ``MAX_PARALLEL``) the compiled schedule's
geometry (streams x lanes, memories per bank), its worst-case cycles per beat (no MUX-skip pass
skipped: what the accelerator reports and the tests measure in simulation), the bound ratio
(cycles against MACs / P) beside the target the compiler aims at (hw/schedule.py
``ratio_target``: 1.10 up to 18 lanes, 1.25 beyond), and the cycles in three parts
(``cycle_breakdown``): the bound, the tap cycles the tiling leaves idle (the depthwise branches'
share named: their polyphase lanes share one read per stream, so a stride-2 kernel of 5 taps keeps
at most 5/2 of L lanes busy), and the phases' START cycles and drains; per phase in
``cycles_by_phase``. A lane count that builds a narrower one's geometry (hw/schedule_search.py
``choose_geometry``: ``adders`` < P) is still counted against its P lanes: the idle lanes' cycles
are in the tiling. `make hw-report` prints the same for the settings it synthesises.
"""

from __future__ import annotations

from pathlib import Path

from ternecg.golden.spec import modelfile
from ternecg.hw.schedule import (MAX_PARALLEL, act_latency_of, check_parallel, compile_schedule,
                                 cycle_breakdown, cycles, cycles_by_phase, ratio_target)
from ternecg.paths import build_dir, relative
from ternecg.reports import markdown_table, update_json

REPORT_DIR = build_dir("reports")


def schedule_figures(sch, act_latency) -> dict:
    """A compiled schedule's cycle figures (a row of cycles.json, and part of hw.json's)."""
    worst = cycles(sch, act_latency)
    asked = sch.lanes_asked
    ratio = round(worst / (sch.macs / asked), 4)
    return {"geometry": {"streams": sch.streams, "lanes": sch.lanes, "mems": sch.mems}, "adders": sch.adders,
            "cycles_per_beat": worst, "bound_ratio": ratio, "ratio_target": ratio_target(asked),
            "meets_target": ratio <= ratio_target(asked),
            "cycle_breakdown": cycle_breakdown(sch, act_latency),
            "cycles_by_phase": cycles_by_phase(sch, act_latency)}


def run(model=None, parallels=None, out=REPORT_DIR) -> dict:
    """Every lane count of ``parallels`` (default 1..MAX_PARALLEL): write ``out``/cycles.json."""
    m = modelfile.load(model)
    parallels = list(range(1, MAX_PARALLEL + 1)) if parallels is None else list(parallels)
    for p in parallels:
        check_parallel(m, p)
    lat = act_latency_of(m)
    settings = [{"parallel": p, **schedule_figures(compile_schedule(m, p), lat)} for p in parallels]
    report = {"model": relative(m.path), "macs": m.cfg.macs, "settings": settings,
              "meet_target": [s["parallel"] for s in settings if s["meets_target"]],
              "miss_target": [s["parallel"] for s in settings if not s["meets_target"]]}
    update_json(Path(out) / "cycles.json", lambda _: report)       # atomic: never half a file
    return report


def _depthwise(row) -> float:
    return round(sum(x["taps"] - x["bound"] for x in row["cycles_by_phase"] if x["branch"] == "dw"), 2)


def _built(row) -> str:
    """``R x L``, and the lanes built where they are fewer than P (hw/schedule_search.py choose_geometry:
    the idle lanes count in the tiling)."""
    g = row["geometry"]
    built = g["streams"] * g["lanes"]
    return f"{g['streams']} x {g['lanes']}" + (f" ({built} built)" if built < row["parallel"] else "")


def table(settings) -> str:
    """The rows of ``settings`` (cycles.json's, or hw.json's with a ``device``) as a markdown table."""
    device = any("device" in r for r in settings)
    head = (["device"] if device else []) + ["P", "streams x lanes", "cycles", "bound (MACs / P)",
                                             "tiling (depthwise)", "phase ends", "bound ratio (target)"]
    rows = []
    for r in settings:
        b = r["cycle_breakdown"]
        rows.append(([r["device"]] if device else []) + [
            r["parallel"], _built(r), r["cycles_per_beat"], f"{b['bound']:g}",
            f"{b['tiling']:g} ({_depthwise(r):g})", b["ends"],
            f"{r['bound_ratio']} ({'<=' if r['meets_target'] else '>'} {r['ratio_target']})"])
    return markdown_table(head, rows)


def add_parser(sub):
    """``ternecg cycles`` (``make cycles``)."""
    from ternecg import options
    p = sub.add_parser("cycles", description=__doc__.split("\n")[0])
    options.add_model(p)
    options.add_parallel(p, default=None, several=True)
    options.add_out(p, REPORT_DIR, "writes cycles.json")
    p.set_defaults(func=_command)
    return p


def _command(args):
    report = run(args.model, args.parallel, Path(args.out))
    print(table(report["settings"]))
    miss = report["miss_target"]
    print(f"\nbound ratio within the target at {len(report['meet_target'])} of {len(report['settings'])} "
          f"lane counts" + (f"; over it at P = {', '.join(map(str, miss))}" if miss else ""))
    print(f"wrote {relative(Path(args.out) / 'cycles.json')}")

