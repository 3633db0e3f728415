"""boards/memories.py: block RAMs per memory from a Yosys JSON netlist (hand-made netlists with
known answers, and the bad files), and on a real build: the per-memory counts add up to
nextpnr's totals (the iCEBreaker build of tests/boards/test_patch.py)."""

import json

import pytest

from ternecg.boards.memories import memories_by_module, memory_name, summary
from ternecg.errors import TernEcgError


def _netlist(tmp_path, cells, modules=1):
    doc = {"modules": {f"m{k}": {"cells": {n: {"type": t} for n, t in cells[k::modules]}} for k in range(modules)}}
    path = tmp_path / "top.json"
    path.write_text(json.dumps(doc))
    return path


def test_memory_names_drop_tile_positions_and_the_spram_wrapper():
    assert memory_name("core.link.framer.rom.0.0") == "core.link.framer.rom"
    assert memory_name("core.accel.engine.banks.bank1.spram") == "core.accel.engine.banks.bank1"
    assert memory_name("core.monitor.window.ram") == "core.monitor.window.ram"
    assert memory_name("0") == "0"                                    # never empty


def test_counts_per_memory_both_families(tmp_path):
    cells = [("core.a.rom.0.0", "SB_RAM40_4K"), ("core.a.rom.1.0", "SB_RAM40_4K"),
             ("core.b.ram.0.0", "SB_RAM40_4K"), ("core.c.spram", "SB_SPRAM256KA"),
             ("core.a.rom.0.0$lut", "SB_LUT4"), ("x.dp.0.0", "DP16KD")]
    got = memories_by_module(_netlist(tmp_path, cells, modules=2), "ice40")
    assert got == {"ebr": {"core.a.rom": 2, "core.b.ram": 1}, "spram": {"core.c": 1}}
    assert list(got["ebr"]) == sorted(got["ebr"])
    assert memories_by_module(_netlist(tmp_path, cells), "ecp5") == {"ebr": {"x.dp": 1}}
    assert summary(got) == "EBR: core.a.rom 2, core.b.ram 1; SPRAM: core.c 1"
    assert summary({"ebr": {}}) == "no block RAMs"


@pytest.mark.parametrize("text,words", [(None, "no Yosys netlist"), ("{not json", "cannot be read"),
                                        ('{"modules": 3}', "cannot be read"), ("[]", "cannot be read")])
def test_bad_netlists_are_one_clear_error(tmp_path, text, words):
    path = tmp_path / "top.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(TernEcgError, match=words):
        memories_by_module(path, "ice40")


def test_unknown_family_is_refused(tmp_path):
    with pytest.raises(TernEcgError, match="family must be one of"):
        memories_by_module(_netlist(tmp_path, []), "gowin")
