"""ActivationUnit, Head, MuxSkip and RRTable as generated Verilog on Icarus and Verilator (cocotb).

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
"""

import random

import numpy as np
import pytest
import torch

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ternecg.golden import fixture, integer_ref
from ternecg.golden.spec import modelfile
from ternecg.golden.spec.modelfile import IntMux, acc_bound, input_bound
from ternecg.hw.activation import ActivationUnit, activation_channels, activation_thresholds
from ternecg.hw.head import Head
from ternecg.hw.mux_skip import MuxSkip
from ternecg.hw.rr_table import RRTable
from ternecg.hw import verilog
from ternecg.sim import runner
from ternecg.sim.tb import BenchConfig

#: (simulator, idle = back-pressure pattern): Icarus, with and without stalls
RUNS = [("icarus", "none"), ("icarus", "random")]
TAG_WIDTH = 12
MUX_PARALLEL = 3
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


# ---- MuxSkip -------------------------------------------------------------------------------------

def _slots(channels, groups, shuffled):
    if not shuffled:
        return list(range(channels))
    inv = [0] * channels
    for new, old in enumerate(integer_ref.shuffle_permutation(channels, groups)):
        inv[old] = new
    return inv


def _crafted(qa, act_bits, seed):
    """Selecting channels: an all-max group (a skipped pass for P = 3), the exact select boundary
    (2*sum == Q*L: S = 0; one more: S = 1), scaled-up real values, all-zero and all-max."""
    rng = random.Random(seed)
    q_max = (1 << act_bits) - 1
    C, L = qa.shape
    half = q_max * L // 2
    out = qa.clone()
    out[0:3] = q_max
    for c, total in ((3, half), (4, half + 1), (5, half - 1)):
        row = [total // L + (t < total % L) for t in range(L)]
        for _ in range(4 * L):
            a, b = rng.randrange(L), rng.randrange(L)
            d = rng.randint(0, min(row[a], q_max - row[b]))
            row[a] -= d
            row[b] += d
        out[c] = torch.tensor(row)
    out[6::2] = (out[6::2] * 4).clamp(max=q_max)
    out[C - 1] = 0
    out[C - 2] = q_max
    return out


class MuxSkipTop(wiring.Component):
    """MuxSkip with its always-ready streams as plain valid/payload ports (same Verilog names).

    Amaranth cannot convert MuxSkip itself as a top level: an always-ready stream's ``ready`` is a
    constant, and ``verilog.convert`` rejects constants as ports ("Only signals and IO ports may be
    added as ports, not (const 1'd1)")."""

    SCALARS = ("rd_addr", "rd_data", "mode", "sel_base", "length", "finish", "query_base",
               "all_selected", "busy")

    def __init__(self, mux):
        self.mux = mux
        members = {name: mux.signature.members[name] for name in self.SCALARS}
        members["i"] = In(wiring.Signature({"valid": Out(1), "payload": Out(mux.in_layout)}))
        members["wr"] = Out(wiring.Signature({"valid": Out(1), "payload": Out(mux.wr_layout)}))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.mux = mux = self.mux
        m.d.comb += [mux.i.valid.eq(self.i.valid), mux.i.payload.eq(self.i.payload),
                     self.wr.valid.eq(mux.wr.valid), self.wr.payload.eq(mux.wr.payload)]
        for name in self.SCALARS:
            src, dst = (getattr(self, name), getattr(mux, name))
            if self.signature.members[name].flow == In:
                m.d.comb += dst.eq(src)
            else:
                m.d.comb += src.eq(dst)
        return m


def mux_setup(model, tr):
    b = model.cfg.act_bits
    lis = [li for li, layer in enumerate(model.layers) if isinstance(layer, IntMux)]
    specs = [model.layers[li].spec for li in lis]
    C, Lmax = max(s.cout for s in specs), max(s.lout for s in specs)
    sel_any = [int(n) for li in lis for n in tr.mux[li]["select"].any(1).nonzero().flatten()]
    beats = sorted(set([0, 1, 2, 3] + sel_any[:2]))
    blocks = []
    for n in beats:
        for li, spec in zip(lis, specs):
            qa, qg = tr.mux[li]["qa"][n], tr.mux[li]["qg"][n]
            blocks.append((qa, qg, spec, tr.mux[li]["select"][n], tr.layers[li][n]))
    for k, (li, spec) in enumerate(zip(lis, specs)):
        qa, qg = _crafted(tr.mux[li]["qa"][0], b, k), tr.mux[li]["qg"][0]
        sel = integer_ref.mux_select(qa, b)
        y = torch.where(sel.unsqueeze(-1), qa, (qa + qg) >> 1).unsqueeze(0)
        if spec.shuffle:
            y = integer_ref.shuffle(y, spec.grp.groups)
        blocks.append((qa, qg, spec, sel, y[0]))
    vec = {}
    for k, (qa, qg, spec, sel, image) in enumerate(blocks):
        vec.update({f"qa_{k}": qa.numpy(), f"qg_{k}": qg.numpy(), f"select_{k}": sel.numpy(),
                    f"slot_{k}": np.array(_slots(spec.cout, spec.grp.groups, spec.shuffle)),
                    f"image_{k}": image.flatten().numpy()})
    depth = C * Lmax
    aw, lane_w = _bits(depth - 1), _bits(MUX_PARALLEL - 1)
    vec["widths"] = [b, lane_w, aw, MUX_PARALLEL, len(blocks)]
    dut = MuxSkip(act_bits=b, addr_width=aw, lane_width=lane_w, n_select=C, sel_width=_bits(C),
                  length_width=_bits(Lmax), parallel=MUX_PARALLEL)
    return MuxSkipTop(dut), vec


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
    widths = [n, inter.cfg.rr_bits, f, width, dut.out_width, dut.latency]
    return dut, {"widths": widths, "logits": np.array(logits, dtype=np.int64),
                 "codes": np.array(codes, dtype=np.int64), "expected": expected.numpy()}


COMPONENTS = {
    "activation": (activation_setup, "ternecg.sim.tests.test_activation_cocotb"),
    "rr_table": (rr_setup, "ternecg.sim.tests.test_rr_table_cocotb"),
    "head": (head_setup, "ternecg.sim.tests.test_head_cocotb"),
    "mux_skip": (mux_setup, "ternecg.sim.tests.test_mux_skip_cocotb"),
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
