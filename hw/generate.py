"""`make verilog`: model file -> one Verilog file and a JSON manifest under build/verilog/.

The manifest lists ports, parameters, memories, latencies, the analytical ``cycles_per_beat``
(worst case) and the number of ternary add/sub units (``adders``).
Both files are byte-identical for the same model file and parallelism.
"""

from __future__ import annotations

import json
from pathlib import Path

from amaranth.hdl import Value

from ternecg.errors import TernEcgError
from ternecg.golden.spec import modelfile
from ternecg.paths import build_dir, relative

from .normalizer import Normalizer
from .params import width
from .top import Accelerator
from .verilog import generate as write_verilog

TOP_NAME = "ternecg_top"


def _memories(acc: Accelerator):
    s = acc.schedule
    mems = [{"name": "normalizer.samples", "depth": s.input_length, "width": 11, "kind": "RAM"},
            {"name": "engine.phases", "depth": len(s.phases), "width": acc._engine.phase_layout.size,
             "kind": "ROM (async, LUTs)"},
            ]
    for i, d in enumerate(s.bank_depth):
        mems.append({"name": f"engine.bank{i}", "depth": d, "width": 8 if i == 0 else s.act_bits, "kind": "RAM"})
    for name, md in acc.param_roms().items():
        mems.append({"name": name, "depth": md.depth, "width": width(md), "kind": "ROM (parameters, block RAM)"})
    return mems


def manifest(acc: Accelerator, model, verilog_path):
    s = acc.schedule
    ports = []
    for path, member, value in acc.signature.flatten(acc):
        ports.append({"name": "__".join(str(p) for p in path), "direction": "in" if member.flow.value == "In" else "out",
                      "width": Value.cast(value).shape().width})
    ports = [{"name": "clk", "direction": "in", "width": 1},
             {"name": "rst", "direction": "in", "width": 1}] + ports
    worst = acc.engine_cycles()
    return {
        "top": TOP_NAME,
        "verilog": str(verilog_path),
        "model": {"path": relative(model.path), "name": model.cfg.name, "sha256": model.sha256,
                  "classes": list(model.cfg.classes)},
        "parameters": {"parallel": s.parallel, "act_bits": s.act_bits, "acc_width": s.acc_width,
                       "input_length": s.input_length, "logit_width": acc._engine.logit_width,
                       "passes": len(s.passes), "phases": len(s.phases)},
        "ports": ports,
        "memories": _memories(acc),
        "latency": {"normalizer": Normalizer.LATENCY, "activation": acc.act_latency, "mux_skip": 2, "head": 1,
                    **({"rr_table": 1} if acc.rr_width else {})},
        "rr": ({"bits": model.cfg.rr_bits, "features": model.cfg.rr_features, "stream_width": acc.rr_width}
               if acc.rr_width else None),
        "macs_per_beat": model.cfg.macs,
        "adders": s.adders,
        "cycles_per_beat": {
            "definition": "engine cycles from the first pass to the last logit (o.payload.cycles); "
                          "a beat also needs input_length cycles to stream in",
            "worst": worst,
        },
        "bound_ratio_worst": round(worst / (model.cfg.macs / s.adders), 4),
    }


def generate(model_path=None, parallel=1, out_dir=None, debug=False):
    model = modelfile.load(model_path)
    if not isinstance(parallel, int) or isinstance(parallel, bool):
        raise TernEcgError(f"parallel = {parallel!r} must be an integer")
    acc = Accelerator(model, parallel, debug=debug)
    out_dir = Path(out_dir) if out_dir is not None else build_dir("verilog")
    name = f"{TOP_NAME}_p{parallel}" + ("_dbg" if debug else "")
    v = write_verilog(acc, TOP_NAME, out_dir / name)
    man = manifest(acc, model, v)
    mpath = out_dir / name / f"{TOP_NAME}.json"
    mpath.write_text(json.dumps(man, indent=1, sort_keys=True) + "\n")
    return {"verilog": v, "manifest": mpath, "manifest_data": man}
