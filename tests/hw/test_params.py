"""Every model value of the generated hardware is in a parameter ROM (hw/params.py)."""

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Fragment

from ternecg.golden.spec import modelfile
from ternecg.hw import params
from ternecg.hw.top import Accelerator

PATIENTS = ["models/patient/100.json", "models/patient/233.json"]


def _design(path, parallel, seed=None, images=None):
    acc = Accelerator(modelfile.load(path), parallel)
    roms = acc.param_roms()
    if seed is not None:
        params.set_placeholders(roms, seed)
    if images is not None:
        for name, md in roms.items():
            params.set_init(md, images[name])
    return acc, rtlil.convert(acc, name="ternecg_top")


@pytest.mark.parametrize("parallel", [1, 3])
def test_models_differ_only_in_parameter_roms(parallel):
    """Patient models and the default model: with the same placeholder ROM contents the designs
    are identical (no model value in the logic), and each model's design is the placeholder
    design with its own ROM images put back."""
    _, ref = _design(None, parallel, seed=5)
    for path in PATIENTS:
        acc, text = _design(path, parallel, seed=5)
        assert text == ref, f"{path}: the logic depends on model values outside the parameter ROMs"
    direct_acc, direct = _design(PATIENTS[0], parallel)
    images = params.images(direct_acc.param_roms())
    _, rebuilt = _design(None, parallel, images=images)          # default model's hardware
    assert rebuilt == direct


def test_parameter_roms_are_block_ram_roms(model):
    acc = Accelerator(model, 1)
    roms = acc.param_roms()
    assert set(roms) == {"engine.weights", "engine.params", "engine.act.rom"}
    assert [roms["engine.weights"].depth, params.width(roms["engine.weights"])] == [len(acc.schedule.weights), 2]
    text = rtlil.convert(acc, name="ternecg_top")
    assert text.count('attribute \\rom_style "block"') == len(roms)
    words = params.images(roms)["engine.params"]
    assert words[0] | words[1] << 16 == params.model_id(model.sha256)
    acc2 = Accelerator(model, 2)
    assert len(acc2.param_roms()) == 2 + model.cfg.act_bits       # a threshold ROM per stage
    Fragment.get(acc2, None)


def _placeholders(model, seed):
    acc = Accelerator(model, 1)
    roms = acc.param_roms()
    words = params.set_placeholders(roms, seed)
    Fragment.get(acc, None)                 # elaborated with them (and no unused-design warning)
    return roms, words


def test_placeholders(model):
    (a, pa), (_, pb), (_, pc) = (_placeholders(model, s) for s in (7, 7, 8))
    assert pa == pb and pa != pc
    assert params.images(a) == pa                          # signed ROMs hold the same raw words
    t = a["engine.act.rom"]
    assert any(v < 0 for v in t.init) and all(-(1 << 12) <= v < (1 << 12) for v in t.init)
