"""ActivationUnit, Head and RRTable as generated Verilog on Icarus (cocotb).

Expected values come from the golden model (``integer_ref``) on the shipped model and the
fixture beats, computed here and passed to the cocotb modules (sim/tests/test_*_cocotb.py) as a
vectors file; the options (vectors, stall patterns, seed) reach the bench as one
:class:`ternecg.sim.tb.BenchConfig`. Each component's Verilog is generated once and each simulator
model built once (reused across sessions and pytest-xdist workers by ternecg.sim.runner).

Runs: Icarus with no stalls and with random stalls (each module's latency/throughput tests run
without stalls in every run). Issue 16 dropped the Verilator runs of these components (four
Verilator builds, ~2 minutes of CPU in a clean clone): their Verilog is checked here on Icarus, in
Amaranth's simulator with the same vectors and random stalls (tests/hw/test_<component>.py), and on
Verilator inside the whole accelerator, every hidden layer and the logits against golden
(tests/sim/test_network_sim.py, the default and the RR model).

MuxSkip has no bench of its own here since the lane rework (issue 17): it writes the feature banks
of several streams directly, so it is checked where it works, inside the engine (Amaranth's
simulator on the tiny model, both select branches at P = 1, 3, 4: tests/hw/test_mux_skip.py), and
as Verilog inside the whole accelerator with every hidden layer on the debug tap
(tests/sim/test_network_sim.py).
"""

import random

import numpy as np
import pytest
import torch


from ternecg.golden import fixture, integer_ref
from ternecg.golden.spec import modelfile
from ternecg.golden.spec.modelfile import IntMux, acc_bound, input_bound
from ternecg.hw.activation import ActivationUnit, activation_channels, activation_thresholds
from ternecg.hw.head import Head
from ternecg.hw.rr_table import RRTable
from ternecg.hw import verilog
from ternecg.sim import runner
from ternecg.sim.tb import BenchConfig

#: (simulator, idle = back-pressure pattern): Icarus, with and without stalls
RUNS = [("icarus", "none"), ("icarus", "random")]
TAG_WIDTH = 12
VEC_DIR = runner.BUILD_ROOT / "vectors"


def _bits(n):
    return max(1, int(n).bit_length())


@pytest.fixture(scope="module")
def model():
    return modelfile.load()


@pytest.fixture(scope="module")
def trace(model):
    raw = torch.as_tensor(fixture.load()["raw"]).to(torch.int64)
    return integer_ref.forward(model, raw)


# ---- ActivationUnit ------------------------------------------------------------------------------

def _branch_accs(model, tr):
    """(layer, branch) -> accumulators (N, C, L) of every activated conv."""
    out = {}
    for li, layer in enumerate(model.layers):
        if isinstance(layer, IntMux):
            x = tr.input.unsqueeze(1) if li == 0 else tr.layers[li - 1]
            out[(li, "dw")] = integer_ref.conv_acc(layer.dw, x)
            out[(li, "grp")] = integer_ref.conv_acc(layer.grp, x)
        elif not layer.spec.final:
            out[(li, None)] = tr.accs[li]
    return out


def activation_setup(model, tr):
    rows, width = activation_thresholds(model)
    chans = activation_channels(model)
    convs = [getattr(model.layers[li], br) if br else model.layers[li] for li, br, _ in chans]
    accs = _branch_accs(model, tr)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    rng = random.Random(5)
    items = []
    for n, (li, br, c) in enumerate(chans):
        real = accs[(li, br)][:, c, :].flatten().tolist()
        vals = set(rng.sample(real, 16))
        vals |= {min(max(t + d, lo), hi) for t in rows[n] for d in (-1, 0, 1)}
        bound = acc_bound(convs[n].codes, input_bound(model.cfg.act_bits, li))
        vals |= {-bound, bound, min(bound + 1, hi), lo, hi}
        items += [(n, v) for v in sorted(vals)]
    rng.shuffle(items)
    # golden: integer_ref.activate through each channel's own conv thresholds
    expected = []
    for n, acc in items:
        conv, c = convs[n], chans[n][2]
        a = torch.zeros(1, conv.thresholds.shape[0], 1, dtype=torch.int64)
        a[0, c, 0] = acc
        expected.append(int(integer_ref.activate(conv, a)[0, c, 0]))
    dut = ActivationUnit(rows, acc_width=width, act_bits=model.cfg.act_bits, tag_width=TAG_WIDTH)
    widths = [_bits(len(rows) - 1) if len(rows) > 1 else 0, width, TAG_WIDTH, model.cfg.act_bits,
              dut.latency]
    assert widths[0] == dut.i.payload.channel.shape().width
    assert len(set(expected)) == 1 << model.cfg.act_bits
    return dut, {"widths": widths, "items": np.array(items, dtype=np.int64),
                 "expected": np.array(expected, dtype=np.int64)}


# ---- Head ----------------------------------------------------------------------------------------

def head_setup(model, tr):
    beats = tr.logits.tolist()
    n = len(beats[0])
    width = max(int(tr.logits.abs().max()).bit_length() + 1, model.layers[-1].acc_bits + 1)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    beats += [[v] * n for v in (0, lo, hi, -1, 7)]                      # all tied
    beats += [[lo] * (n - 1) + [hi], [hi] + [lo] * (n - 1), [lo + 1] + [lo] * (n - 1)]
    beats += [beat[:1] * n for beat in beats[:40]]                     # real values, tied
    beats += [[beat[0] + 1] + beat[1:] for beat in beats[:40]]         # real, off by one
    beats += [[beat[0]] + [beat[0] + 1] * (n - 1) for beat in beats[:40]]
    expected = integer_ref.argmax_lowest(torch.tensor(beats, dtype=torch.int64)).tolist()
    assert len(set(expected)) == n
    dut = Head(n, width)
    widths = [n, width, dut.o.payload.cls.shape().width, dut.latency]
    return dut, {"widths": widths, "logits": np.array(beats, dtype=np.int64),
                 "expected": np.array(expected, dtype=np.int64)}


# ---- RRTable -------------------------------------------------------------------------------------

def rr_setup(model, tr):
    """The inter-patient model's RR table on the fixture beats' real codes, plus extremes."""
    inter = modelfile.load(modelfile.MODELS_DIR / "inter_patient.json")
    fx = fixture.load()
    t = integer_ref.forward(inter, torch.as_tensor(fx["raw"]).to(torch.int64), fx["rr"])
    logits, codes = (t.logits - t.rr).tolist(), fx["rr"].tolist()
    width = inter.layers[-1].acc_bits + 2
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    top = (1 << inter.cfg.rr_bits) - 1
    n, f = len(logits[0]), inter.cfg.rr_features
    for k in range(top + 1):                     # every code of every feature, extreme logits
        logits.append([lo if (k + c) % 2 else hi for c in range(n)])
        codes.append([(k + j) % (top + 1) for j in range(f)])
    expected = torch.tensor(logits) + integer_ref.rr_sum(inter.rr_table, torch.tensor(codes))
    dut = RRTable(inter.rr_table, width)
    widths = [n, inter.cfg.rr_bits, f, width, dut.out_width, dut.latency, dut.sum_cycles]
    return dut, {"widths": widths, "logits": np.array(logits, dtype=np.int64),
                 "codes": np.array(codes, dtype=np.int64), "expected": expected.numpy()}


COMPONENTS = {
    "activation": (activation_setup, "ternecg.sim.tests.test_activation_cocotb"),
    "rr_table": (rr_setup, "ternecg.sim.tests.test_rr_table_cocotb"),
    "head": (head_setup, "ternecg.sim.tests.test_head_cocotb"),
}


@pytest.fixture(scope="module")
def prepared(model, trace):
    """component -> (Verilog path, vectors path), generated once per session."""
    out = {}
    for name, (setup, _) in COMPONENTS.items():
        dut, vec = setup(model, trace)
        with runner.locked(runner.BUILD_ROOT / "verilog" / name):      # xdist workers
            src = verilog.generate(dut, name, runner.BUILD_ROOT / "verilog")
        out[name] = (src, runner.write_vectors(VEC_DIR / f"{name}.npz", **vec))
    return out


_builds = {}


def _build(prepared, name, simulator):
    key = (name, simulator)
    if key not in _builds:
        _builds[key] = runner.build([prepared[name][0]], name, simulator)
    return _builds[key]


@pytest.mark.sim
@pytest.mark.parametrize("simulator,pattern", RUNS, ids=[f"{s}-{p}" for s, p in RUNS])
@pytest.mark.parametrize("component", list(COMPONENTS))
def test_component(prepared, component, simulator, pattern):
    model = _build(prepared, component, simulator)
    cfg = BenchConfig(vectors=str(prepared[component][1]), idle=pattern, backpressure=pattern, seed=3)
    results = model.run(COMPONENTS[component][1], config=cfg, run_name=pattern)
    assert results.is_file()
