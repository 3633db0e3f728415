"""`ternecg verilog` (`make verilog`): model file -> one Verilog file and its JSON manifest.

``generate(model, parallel, out, name=NAME)`` writes ``<out>/<NAME>_p<P>/<NAME>.v`` (top module
``NAME``, every submodule ``NAME_...``, so cores generated under different names can sit in one
design) and ``<NAME>.json``, the manifest (:data:`MANIFEST_VERSION`):

- ``streams``: per stream of the core (``i``, ``rr``, ``o``), its ports and the bit fields of its
  payload, LSB first, derived from the Amaranth layouts (``{"name", "offset", "width", "signed"}``,
  arrays flattened as ``logits[0]``, ``logits[1]``, ...); ``ports``: every port with its width,
  checked against the port declarations of the generated Verilog;
- ``rr``: the RR codes of a model with an RR path (the word's fields are in ``streams.rr``);
- ``valid_parallel``, ``parameters``, ``model`` (with ``id``, what the ``model_id`` port reads);
- ``latency`` of every stage that declares one, ``cycles_per_beat`` (worst and best case of the
  engine), ``memories`` (every memory of the netlist, with the parameter ROMs marked);
- ``adders`` (the add/sub lanes built: ``parameters.parallel``), ``lanes_asked`` (``--parallel``;
  more than ``adders`` where the compiler built a narrower lane count's geometry because every
  geometry of P missed its bound ratio target, hw/schedule_search.py ``choose_geometry``) and
  ``bound_ratio_worst`` (worst-case cycles against MACs / ``lanes_asked``);
- ``limits``: the size limits of the generator (:func:`check_limits`), checked before anything
  is built;
- ``target``: ``"fpga"`` (registers and RAMs with initial values) or ``"asic"`` (``--asic``:
  without; ``reset.initial_values`` says the same).

The two files are written atomically (temporary files in the same folder, renamed at the end): a
failure leaves the folder as it was. Both are byte-identical for the same inputs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from amaranth.hdl import Shape
from amaranth.lib import data, memory, stream, wiring

from ternecg.errors import TernEcgError, user_values
from ternecg.golden.spec import modelfile
from ternecg.golden.spec.config import MAX_ACC_BITS, MuxSpec
from ternecg.golden.spec.rr import feature_names
from ternecg.paths import build_dir, relative

from .params import model_id
from .schedule import MAX_PARALLEL, check_parallel, compile_schedule
from .top import Accelerator
from .verilog import (check_module_name, convert, memory_declarations, module_names, port_declarations,
                      walk)

TOP_NAME = "ternecg_top"
MANIFEST_VERSION = 2

#: Size limits of the generator, checked before anything is built: a model beyond them is
#: rejected with one line naming the limit. A feature bank holds one layer's output map
#: (channels x positions); no single memory exceeds 4 Mbit (more than the 3.7 Mbit of block RAM of
#: the largest supported FPGA, the ECP5-85F); the accumulator is at most MAX_ACC_BITS (24) bits.
MAX_BANK_WORDS = 1 << 16
MAX_MEMORY_BITS = 1 << 22
MAX_WEIGHTS = 1 << 20

LIMITS = {"parallel": MAX_PARALLEL, "acc_bits": MAX_ACC_BITS, "bank_words": MAX_BANK_WORDS,
          "memory_bits": MAX_MEMORY_BITS, "weights": MAX_WEIGHTS}


# ---- size limits -------------------------------------------------------------------------------

def _convs(model):
    for layer in model.layers:
        yield from ((layer.dw, layer.grp) if isinstance(layer.spec, MuxSpec) else (layer,))


def check_limits(model, parallel):
    """Reject a model (and lane count) that this generator cannot build, before building anything:
    :class:`TernEcgError` naming the value and the limit."""
    check_parallel(model, parallel)
    where = f"model {model.cfg.name!r}"
    for conv in _convs(model):
        if conv.acc_bits > MAX_ACC_BITS:
            raise TernEcgError(f"{where}: layer {conv.spec.name} has a {conv.acc_bits}-bit accumulator, wider "
                               f"than the {MAX_ACC_BITS} bits the hardware supports (MAX_ACC_BITS); "
                               f"re-export it with acc_bits <= {MAX_ACC_BITS}")
    maps = [("input", 1, model.cfg.input_length)]
    maps += [(layer.spec.name, layer.spec.cout, layer.spec.lout) for layer in model.layers
             if isinstance(layer.spec, MuxSpec) or not layer.spec.final]
    for name, channels, length in maps:
        if channels * length > MAX_BANK_WORDS:
            raise TernEcgError(f"{where}: the output map of {name} needs {channels * length:,} words "
                               f"({channels} channels x {length} positions), more than a feature bank "
                               f"holds (MAX_BANK_WORDS = {MAX_BANK_WORDS:,}); use fewer channels, a "
                               f"larger stride or a shorter input")
    if model.cfg.weights > MAX_WEIGHTS:
        raise TernEcgError(f"{where} has {model.cfg.weights:,} ternary weights, more than the generator "
                           f"takes (MAX_WEIGHTS = {MAX_WEIGHTS:,}); use a smaller topology")
    _check_memories(model, parallel)


def _check_memories(model, parallel):
    """The feature banks, weight ROM and threshold ROM of the compiled schedule within
    MAX_MEMORY_BITS (the schedule is plain Python: nothing is elaborated yet)."""
    s = compile_schedule(model, parallel)
    sizes = [(f"feature bank {i}", depth, 8 if i == 0 else s.act_bits) for i, depth in enumerate(s.bank_depth)]
    sizes.append(("weight ROM", len(s.weights), 2 * parallel))
    sizes.append(("threshold ROM", len(s.thresholds) * ((1 << s.act_bits) - 1), s.acc_width))
    for name, depth, bits in sizes:
        if depth * bits > MAX_MEMORY_BITS:
            raise TernEcgError(f"model {model.cfg.name!r} at parallel {parallel}: its {name} needs "
                               f"{depth * bits:,} bits ({depth:,} words of {bits} bits), more than one "
                               f"memory may hold (MAX_MEMORY_BITS = {MAX_MEMORY_BITS:,}); use a smaller "
                               f"topology" + (" or fewer lanes (--parallel)" if parallel > 1 else ""))


# ---- the manifest -----------------------------------------------------------------------------

def layout_fields(shape, name="payload"):
    """``[{"name", "offset", "width", "signed"}]`` of an Amaranth shape, LSB first: the fields of a
    ``data.Layout`` (nested layouts flattened: ``logits[0]``, ``a.b``), or one field ``name``."""
    if isinstance(shape, data.Layout):
        out = []
        for key, field in shape:
            sub = f"{name}[{key}]" if isinstance(key, int) else (key if name == "payload" else f"{name}.{key}")
            for f in layout_fields(field.shape, sub):
                out.append(dict(f, offset=f["offset"] + field.offset))
        return sorted(out, key=lambda f: f["offset"])
    s = Shape.cast(shape)
    return [{"name": name, "offset": 0, "width": s.width, "signed": s.signed}]


def _streams(acc: Accelerator, ports):
    out = {}
    for name, member in acc.signature.members.items():
        if not (member.is_signature and isinstance(member.signature, stream.Signature)):
            continue
        sig = member.signature
        payload = sig.members["payload"].shape
        fields = layout_fields(acc.rr_layout if name == "rr" else payload)
        w = Shape.cast(payload).width
        assert sum(f["width"] for f in fields) == w == ports[f"{name}__payload"]["width"], name
        out[name] = {"direction": "in" if member.flow == wiring.In else "out",
                     "payload": f"{name}__payload", "valid": f"{name}__valid", "ready": f"{name}__ready",
                     "width": w, "fields": fields}
    return out


def _ports(acc: Accelerator):
    ports = {"clk": {"direction": "in", "width": 1, "signed": False},
             "rst": {"direction": "in", "width": 1, "signed": False}}
    for path, member, value in acc.signature.flatten(acc):
        shape = Shape.cast(value.shape())
        ports["__".join(str(p) for p in path)] = {
            "direction": "in" if member.flow == wiring.In else "out", "width": shape.width,
            "signed": shape.signed and not isinstance(value.shape(), data.Layout)}
    return ports


def _hierarchy(model, parallel, debug, top):
    """Memories and latencies of a fresh copy of the accelerator, from its elaborated hierarchy."""
    acc = Accelerator(model, parallel, debug=debug)
    roms = {id(md): name for name, md in acc.param_roms().items()}
    mems, latency = [], {}
    for path, origins in walk(acc, top):
        where = ".".join(path[1:])
        for origin in origins:
            if isinstance(origin, memory.Memory):
                reads = {p.domain for p in origin.read_ports}
                mems.append({"name": where, "module": "_".join(path[:-1]), "memory": path[-1],
                             "depth": origin.depth, "width": Shape.cast(origin.shape).width,
                             "kind": "RAM" if origin.write_ports else "ROM",
                             "read": "async" if reads == {"comb"} else "sync",
                             "parameter_rom": roms.get(id(origin.data))})
            elif path[1:] and type(getattr(origin, "latency", None)) is int:
                latency[where] = origin.latency
    return sorted(mems, key=lambda m: m["name"]), latency


def _best_selects(model):
    """MUX selects of a beat where every grouped pass can be skipped (the fastest beat)."""
    return {i: [True] * layer.spec.cout for i, layer in enumerate(model.layers) if isinstance(layer.spec, MuxSpec)}


def valid_parallel(model):
    """The lane counts the model can be built with (hw/schedule.py ``check_parallel``)."""
    ok = []
    for p in range(1, MAX_PARALLEL + 1):
        try:
            check_parallel(model, p)
        except TernEcgError:
            continue
        ok.append(p)
    return ok


def manifest(acc: Accelerator, model, text, top, hierarchy, *, asic=False):
    """The manifest of ``acc`` (an :class:`Accelerator` of ``model``) generated as ``text`` with
    top module ``top``; checks its ports and memories against the text."""
    s = acc.schedule
    ports = _ports(acc)
    declared = port_declarations(text, top)
    if {k: v["width"] for k, v in declared.items()} != {k: v["width"] for k, v in ports.items()}:
        raise TernEcgError(f"internal error: the ports of {top} differ from its signature: "
                           f"{declared} != {ports}")
    memories, latency = hierarchy
    found = memory_declarations(text)
    listed = {(m["module"], m["memory"]): {"width": m["width"], "depth": m["depth"]} for m in memories}
    if found != listed:
        raise TernEcgError(f"internal error: the memories of {top} differ from its hierarchy: {found} != {listed}")
    streams = _streams(acc, ports)
    logits = [f for f in streams["o"]["fields"] if f["name"].startswith("logits[")]
    worst = acc.engine_cycles()
    return {
        "manifest_version": MANIFEST_VERSION,
        "top": top,
        "verilog": f"{top}.v",
        "modules": module_names(text),
        "clock": {"port": "clk", "edge": "rising"},
        "reset": {"port": "rst", "synchronous": True, "active": "high",
                  "initial_values": not asic},
        "target": "asic" if asic else "fpga",
        "model": {"path": relative(model.path), "name": model.cfg.name, "sha256": model.sha256,
                  "id": model_id(model.sha256), "id_hex": f"{model_id(model.sha256):08x}",
                  "classes": list(model.cfg.classes)},
        "parameters": {"parallel": s.parallel, "act_bits": s.act_bits, "acc_width": s.acc_width,
                       "input_length": s.input_length, "logit_width": logits[0]["width"],
                       "passes": len(s.passes), "phases": len(s.phases)},
        "valid_parallel": valid_parallel(model),
        "ports": [dict(name=k, **v) for k, v in ports.items()],
        "streams": streams,
        "rr": ({"bits": model.cfg.rr_bits, "features": list(feature_names(model.cfg)), "local": model.cfg.rr_local,
                "stream": "rr", "rules": acc.rr_rules} if acc.rr_width else None),
        "memories": memories,
        "latency": latency,
        "cycles_per_beat": {
            "definition": "engine compute cycles of one beat, from its first pass to its last logit, "
                          "cycles in which a logit waits (output or RR back-pressure) not counted: "
                          "o.payload.cycles (0 in an error result); the next beat is loaded meanwhile",
            "worst": worst,
            "best": acc.engine_cycles(_best_selects(model)),
        },
        "macs_per_beat": model.cfg.macs,
        "adders": s.adders,
        "lanes_asked": s.lanes_asked,
        "bound_ratio_worst": round(worst / (model.cfg.macs / s.lanes_asked), 4),
        "limits": dict(LIMITS),
    }


# ---- writing ----------------------------------------------------------------------------------

def _check_folder(folder: Path):
    """``folder`` can be created (no file on its path), else one clear error."""
    for p in (folder, *folder.parents):
        if p.exists() or p.is_symlink():
            if not p.is_dir():
                raise TernEcgError(f"output folder {folder}: {p} is a file, not a folder; "
                                   f"pass another folder with --out")
            return


def _write_atomically(folder: Path, files: dict):
    """Write ``{file name: text}`` into ``folder`` all or nothing: each to a temporary file there
    first, then the existing files are set aside and the new ones renamed into place; on a failure
    the old files come back and nothing else is left behind."""
    tag = f"{os.getpid()}.tmp"
    tmps, backups, placed = {}, {}, []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            tmps[name] = folder / f".{name}.new.{tag}"
            with open(tmps[name], "w") as f:
                f.write(text)
        for name in files:
            if (folder / name).exists():
                backups[name] = folder / f".{name}.old.{tag}"
                os.replace(folder / name, backups[name])
        for name, tmp in tmps.items():
            os.replace(tmp, folder / name)
            placed.append(folder / name)
    except OSError as e:
        for path in placed:
            path.unlink(missing_ok=True)
        for name, old in backups.items():
            if old.exists():
                os.replace(old, folder / name)
        raise TernEcgError(f"cannot write the outputs into {folder}: {e.strerror or e}; "
                           f"pass a writable folder with --out") from None
    finally:
        for path in (*tmps.values(), *backups.values()):
            path.unlink(missing_ok=True)


def generate(model_path=None, parallel=1, out_dir=None, debug=False, *, name=TOP_NAME, asic=False):
    """Write ``<out_dir>/<name>_p<parallel>/<name>.v`` and its manifest ``<name>.json``; return
    ``{"verilog": path, "manifest": path, "manifest_data": dict}``.

    ``asic``: registers and RAMs without initial values (:func:`ternecg.hw.verilog.convert_asic`;
    the reset is the only way into a known state; ROMs keep their contents), into
    ``<name>_p<parallel>_asic/``; the manifest says ``"target": "asic"``."""
    check_module_name(name)
    if not isinstance(asic, bool):
        raise TernEcgError(f"asic = {asic!r} must be True or False")
    out_dir = Path(out_dir) if out_dir is not None else build_dir("verilog")
    folder = out_dir / (f"{name}_p{parallel}" + ("_dbg" if debug else "") + ("_asic" if asic else ""))
    _check_folder(folder)
    model = modelfile.load(model_path)
    if not isinstance(parallel, int) or isinstance(parallel, bool):
        raise TernEcgError(f"parallel = {parallel!r} must be an integer")
    check_limits(model, parallel)
    with user_values(f"model {model.path}"):
        acc = Accelerator(model, parallel, debug=debug)
        hierarchy = _hierarchy(model, parallel, debug, name)
        text = convert(acc, name, flat_names=True, asic=asic)
    man = manifest(acc, model, text, name, hierarchy, asic=asic)
    _write_atomically(folder, {f"{name}.v": text, f"{name}.json": json.dumps(man, indent=1, sort_keys=True) + "\n"})
    return {"verilog": folder / f"{name}.v", "manifest": folder / f"{name}.json", "manifest_data": man}


# ---- command line -----------------------------------------------------------------------------

def add_parser(sub):
    """``ternecg verilog`` (``make verilog``)."""
    from ternecg import options
    p = sub.add_parser("verilog", description=__doc__.split("\n")[0])
    options.add_model(p)
    options.add_parallel(p)
    options.add_out(p, build_dir("verilog"), f"writes {TOP_NAME}_p<P>/{TOP_NAME}.v and .json")
    p.add_argument("--name", metavar="NAME", default=TOP_NAME,
                   help=f"name of the top module (default {TOP_NAME}); every submodule is NAME_..., so "
                        f"cores generated under different names can be instantiated in one design; "
                        f"the files are NAME_p<P>/NAME.v and NAME.json")
    p.add_argument("--asic", action="store_true",
                   help="no initial values on registers and RAMs (the reset is the only way into a "
                        "known state; ROMs keep their contents): NAME_p<P>_asic/ (docs/core.md)")
    p.set_defaults(func=_command)
    return p


def _command(args):
    out = generate(args.model, args.parallel, Path(args.out), name=args.name, asic=args.asic)
    print(f"wrote {out['verilog']} and {out['manifest']}")
