"""The whole accelerator in Amaranth's simulator against the integer reference, on real beats."""

import copy

import pytest
import torch

from ternecg.golden import integer_ref
from ternecg.golden.config import MuxSpec

from engine_harness import compare, run_top


@pytest.mark.parametrize("parallel,count,idle,stall", [(6, 3, 0.3, 0.4), (3, 1, 0.0, 0.0)])
def test_accelerator_bit_exact(model, beats, parallel, count, idle, stall):
    raws = beats["raw"][:count]
    dut, results = run_top(model, raws, parallel=parallel, seed=parallel, idle=idle, stall=stall)
    compared, _ = compare(model, dut, raws, results)
    assert compared > 1000 * count


def forced_select_model(model):
    """A copy of the model whose depthwise thresholds make half the MUX channels select qa."""
    m = copy.deepcopy(model)
    for layer in m.layers:
        if isinstance(layer.spec, MuxSpec):
            th = layer.dw.thresholds
            bound = int(th.abs().max())
            th[::2] = torch.full_like(th[::2], -bound)      # even channels: qa = max level always
    return m


def test_mux_skip_skips_grouped_passes(model, beats):
    m = forced_select_model(model)
    raws = beats["raw"][:2]
    dut, results = run_top(m, raws, parallel=1, seed=1)
    compared, tr = compare(m, dut, raws, results)      # includes measured == analytical cycles
    assert compared > 0
    sel = tr.mux[2]["select"]
    assert bool(sel[:, ::2].all())
    assert all(r["cycles"] < dut.engine_cycles() for r in results)   # data-dependent skipping
