"""Block RAMs per memory of a synthesized design, read from Yosys' JSON netlist: where the EBRs go.

nextpnr reports how many block RAMs a design uses; this says which memory takes them (issue 17:
"where the logic goes is always visible", the block-RAM half of ``lut4_by_module``). Yosys names
each RAM cell after its memory's hierarchical path plus the tile's position
(``core.link.framer.rom.0.0``; an SPRAM wrapper's ``...bank1.spram``); the position is dropped, so
the counts are per memory::

    {"ebr": {"core.accel.engine.wrom": 3, ...}, "spram": {"core.accel.norm.ram": 1, ...}}

The iCE40's ``SB_RAM40_4K`` count as ``ebr`` and ``SB_SPRAM256KA`` as ``spram``; the ECP5's
``DP16KD`` as ``ebr``. Their sums are the ``ebr`` and ``spram`` of the same build's nextpnr report.
"""

from __future__ import annotations

import json
from pathlib import Path

from ternecg.errors import TernEcgError

__all__ = ["RAM_CELLS", "memory_name", "memories_by_module", "summary"]

#: per FPGA family: the RAM cell types and what they count as
RAM_CELLS = {"ice40": {"SB_RAM40_4K": "ebr", "SB_SPRAM256KA": "spram"},
             "ecp5": {"DP16KD": "ebr"}}


def memory_name(cell: str) -> str:
    """The memory of a RAM cell's name: the name without its trailing tile positions (``.0``) and
    an SPRAM wrapper's ``.spram``."""
    parts = cell.split(".")
    while len(parts) > 1 and (parts[-1].isdigit() or parts[-1] == "spram"):
        parts.pop()
    return ".".join(parts)


def memories_by_module(netlist, family: str) -> dict:
    """``{"ebr": {memory: cells}, "spram": {memory: cells}}`` (names sorted) from the Yosys JSON
    netlist at ``netlist`` (every module's cells: a flattened design has one). Raises
    TernEcgError for a missing or unreadable file or an unknown family."""
    if family not in RAM_CELLS:
        raise TernEcgError(f"memories_by_module: family must be one of {sorted(RAM_CELLS)}, not {family!r}")
    path = Path(netlist)
    try:
        modules = json.loads(path.read_text())["modules"]
        cells = [(name, cell["type"]) for m in modules.values() for name, cell in m.get("cells", {}).items()]
    except FileNotFoundError:
        raise TernEcgError(f"no Yosys netlist at {path}: build the design first") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TernEcgError(f"the Yosys netlist {path} cannot be read ({type(exc).__name__}); "
                           f"build the design again") from None
    kinds = RAM_CELLS[family]
    out = {kind: {} for kind in dict.fromkeys(kinds.values())}
    for name, ctype in cells:
        if ctype in kinds:
            counts = out[kinds[ctype]]
            key = memory_name(name)
            counts[key] = counts.get(key, 0) + 1
    return {kind: dict(sorted(counts.items())) for kind, counts in out.items()}


def summary(memories: dict) -> str:
    """One line: ``EBR: <memory> <n>, ...; SPRAM: ...`` (largest first), for the commands' output."""
    parts = []
    for kind, counts in memories.items():
        if counts:
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            parts.append(f"{kind.upper()}: " + ", ".join(f"{k} {v}" for k, v in ranked))
    return "; ".join(parts) if parts else "no block RAMs"
