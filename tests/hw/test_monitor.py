"""Monitor (hw/monitor.py): construction and interface. Its behaviour against golden/monitor.py
runs as generated Verilog (the accelerator inside makes Amaranth's simulator too slow for whole
beats): cocotb on Icarus and Verilator with stalls, a long hold and a reset mid-stream, and the
whole excerpts through the speed harness (tests/sim/test_monitor_sim.py), every DS2 record in
``make sim-monitor``."""

import dataclasses

import pytest
from amaranth.hdl import Fragment

from ternecg.errors import TernEcgError
from ternecg.golden.spec import modelfile
from ternecg.hw.monitor import STATUS_LAYOUT, Monitor
from ternecg.hw.qrs_program import front_end_program
from ternecg.hw.verilog import port_names
from monitor_helpers import aami4_with_irregular_code, aami4_with_rr_code


@pytest.fixture(scope="module")
def inter():
    return modelfile.load(modelfile.MODELS_DIR / "inter_patient.json")


def test_interface(inter):
    dut = Monitor(inter, 1, spram=False)
    names = port_names(dut)
    for port in ("samples.valid", "samples.ready", "samples.payload", "beats.valid", "beats.ready",
                 "beats.payload", "status", "model_id"):
        assert port in names
    layout = dut.beat_layout
    assert layout["index"].width == 32
    assert layout["logits"].shape.length == len(inter.cfg.classes)
    assert layout["logits"].shape == dut.accelerator.result_layout["logits"].shape
    assert STATUS_LAYOUT["beats"].width == 32
    assert set(dut.param_roms()) == set(dut.accelerator.param_roms())
    assert dut.sample_ring.depth == 256
    Fragment.get(dut, None)


def test_model_without_rr_path():
    """A model without RR codes builds (the beat slot carries only the index)."""
    dut = Monitor(modelfile.load(), 1, spram=False)
    assert "beats.payload" in port_names(dut)
    Fragment.get(dut, None)


def test_bad_arguments(inter):
    with pytest.raises(TypeError, match="loaded model file"):
        Monitor("models/inter_patient.json")
    with pytest.raises(TypeError, match="spram"):
        Monitor(inter, spram="yes")
    wide = dataclasses.replace(inter, cfg=dataclasses.replace(inter.cfg, rr_local=64))
    with pytest.raises(ValueError, match="rr_local"):
        Monitor(wide)
    with pytest.raises(TernEcgError, match="parallel"):
        Monitor(inter, 0)


def test_model_with_the_irregularity_code(tmp_path):
    """A model with the irregularity code (config ``rr_irregular``) builds: the front end computes
    four codes, the accelerator's ``rr`` word (its behaviour: tests/hw/test_qrs_program.py, and the
    whole monitor in tests/sim/test_monitor_sim.py)."""
    model = modelfile.load(aami4_with_irregular_code(tmp_path / "irr.json", lambda k, c: c * (k - 1)))
    dut = Monitor(model, 1, spram=False)
    bits = model.cfg.rr_bits
    assert dut.front_end.beat_layout["codes"].width == 4 * bits == dut.accelerator.rr_width
    assert dict(dut.front_end.program.out_fields)["codes"] == 4 * bits
    assert "ds" in dut.front_end.program.cells
    Fragment.get(dut, None)


def test_model_with_the_template_code(tmp_path):
    """A model with the template code (config ``rr_template``, a gate below 2^b) builds: the front
    end computes four codes, the template code as code 3, with the model's gate (its behaviour:
    tests/hw/test_qrs_program.py)."""
    model = modelfile.load(aami4_with_rr_code(tmp_path / "tmpl.json", lambda k, c: c * (k - 1),
                                              rr_template=1, rr_template_gate=8))
    dut = Monitor(model, 1, spram=False)
    bits = model.cfg.rr_bits
    assert dut.front_end.beat_layout["codes"].width == 4 * bits == dut.accelerator.rr_width
    program = dut.front_end.program
    assert "tcode" in program.cells and "template" in program.labels
    assert program.words == front_end_program(local=model.cfg.rr_local, bits=bits, template=True,
                                              template_gate=8).words
    Fragment.get(dut, None)


def test_four_sprams_on_the_up5k(inter):
    """On an iCE40 UP the ring, the front end and the feature banks take the four SPRAMs; the
    accelerator's normaliser keeps its sample RAM in block RAM."""
    from spram_count import sprams
    assert sprams(Monitor(inter, 1)) == ["accelerator.engine.banks.bank1.spram",
                                         "accelerator.engine.banks.bank2.spram",
                                         "front_end.seq.ram.spram", "window.ram.spram"]
