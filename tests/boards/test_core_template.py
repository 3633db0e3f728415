"""The classifier board (boards/core.py ``BoardCore``) with a model that reads the template code
(config ``rr_template``, golden/spec/rr.py ``Template``): it builds, its link takes BEAT_RR frames
of the model's F codes (F = 5: pre/local, post/local, post/pre, template, irregular; F = 4 without
the irregularity code), and, in Amaranth's simulator (the byte streams without the UART), it
classifies real beats exactly as the integer reference does on the same five codes.

The beats are the software monitor's on a raw excerpt (fixtures/excerpts.npz, record 208):
windows at the detected R peaks, codes from golden/monitor.py ``codes`` over the excerpt's beats
in order (the codes the host sends, boards/host.py ``record_codes``). The template model is
made by tests/boards/conftest.py (``template_model_5``, ``template_model_4``).
"""

import numpy as np
import pytest
import torch
from amaranth.sim import Simulator

from ternecg.boards import protocol as P
from ternecg.boards.core import BoardCore
from ternecg.golden import excerpts, integer_ref, monitor
from ternecg.golden.spec import modelfile
from ternecg.golden.spec.rr import feature_names

RECORD = "208"


def excerpt_beats(model):
    """(windows, codes) of the monitor's beats on the excerpt of :data:`RECORD`."""
    e = next(x for x in excerpts.load() if x.record == RECORD)
    r = monitor.beat_peaks(e.signal)
    w = monitor.windows(e.signal, r)
    return w, monitor.codes(r, model.cfg, w)


@pytest.mark.parametrize("which, features", [
    ("template_model_5", ("pre/local", "post/local", "post/pre", "template", "irregular")),
    ("template_model_4", ("pre/local", "post/local", "post/pre", "template"))])
def test_board_core_builds_for_a_template_model(request, which, features):
    """No refusal: the core's link carries the model's F codes to the accelerator, code f in bits
    [f*b, (f+1)*b) of one ``rr`` word; the protocol's BEAT_RR is 481 + F bytes."""
    m = modelfile.load(request.getfixturevalue(which))
    assert feature_names(m.cfg) == features and m.cfg.rr_template
    F = len(features)
    BoardCore.check_arguments(m, divisor=8, parallel=6)
    core = BoardCore(m, divisor=8, parallel=6, uart=False)
    assert core.link.n_codes == F and core.link.rr_bits == m.cfg.rr_bits == 4
    assert core.link.rr.payload.shape().width == F * m.cfg.rr_bits
    assert P.beat_rr_len(F) == 481 + F and P.board_decoder(4, n_codes=F).lengths[P.BEAT_RR] == 481 + F


def run_core(core, steps, limit=200_000):
    """Runs ``core`` (``uart=False``) through ``steps``: bytes (sent one a cycle), an int (idle
    cycles) or ``("result", seq)`` (wait for that RESULT, at most ``limit`` cycles); returns every
    frame the board sent, parsed."""
    out = []
    dec = P.Decoder(accept=P.DEVICE_TYPES)

    async def tick(ctx):
        await ctx.tick()
        if ctx.get(core.tx.valid):
            out.extend(dec.feed(bytes([ctx.get(core.tx.payload)])))

    def has(seq):
        return any(isinstance(e, P.Frame) and e.type == P.RESULT and e.payload[0] == seq for e in out)

    async def bench(ctx):
        ctx.set(core.tx.ready, 1)
        for step in steps:
            if isinstance(step, int):
                for _ in range(step):
                    await tick(ctx)
            elif isinstance(step, tuple):
                for _ in range(limit):
                    if has(step[1]):
                        break
                    await tick(ctx)
                assert has(step[1]), f"no RESULT for seq {step[1]} after {limit} cycles: {out}"
            else:
                for byte in step:
                    assert ctx.get(core.rx.ready)
                    ctx.set(core.rx.valid, 1)
                    ctx.set(core.rx.payload, byte)
                    await tick(ctx)
                ctx.set(core.rx.valid, 0)

    sim = Simulator(core)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert not [e for e in out if isinstance(e, P.DecodeError)], out
    return [e.parse() for e in out]


@pytest.mark.slow
@pytest.mark.long
def test_board_core_classifies_template_beats_as_the_integer_reference(template_model_5):
    """Two beats of record 208 whose template code matters (the integer reference gives other
    logits with the template and irregularity codes swapped), each in a BEAT_RR with its five
    codes: RESULTs with the integer reference's class and logits. Before them, a BEAT_RR with four
    codes gets ERROR LENGTH (detail BEAT_RR) and a plain BEAT ERROR TYPE; neither gives a result.
    About 30 s (Amaranth's simulator, P = 6)."""
    m = modelfile.load(template_model_5)
    w, rr = excerpt_beats(m)
    assert rr.shape[1] == 5 and len(set(rr[:, 3].tolist())) > 3
    tr = integer_ref.forward(m, torch.as_tensor(w), torch.as_tensor(rr))
    swapped = integer_ref.forward(m, torch.as_tensor(w), torch.as_tensor(rr[:, [0, 1, 2, 4, 3]]))
    differ = np.flatnonzero((tr.logits != swapped.logits).any(1).numpy() & (rr[:, 3] != rr[:, 4]))
    picks = [int(differ[0]), int(differ[len(differ) // 2])]
    assert len(set(tr.cls[picks].tolist())) == 2 or len(differ) > 2
    b = m.cfg.rr_bits
    wrong_f = P.encode_beat_rr(200, [int(c) for c in rr[picks[0], :4]], [int(v) for v in w[picks[0]]], b)
    plain = P.encode_beat(201, [int(v) for v in w[picks[0]]])
    beats = [P.encode_beat_rr(seq, [int(c) for c in rr[k]], [int(v) for v in w[k]], b)
             for seq, k in enumerate(picks)]
    assert all(len(f) == P.HEADER + 486 + P.TRAILER for f in beats) and len(wrong_f) == len(beats[0]) - 1
    timeout = 500
    core = BoardCore(m, divisor=8, parallel=6, uart=False, timeout_cycles=timeout)
    idle = timeout + 100                # a refused frame's remaining bytes: one SYNC after the timeout
    got = run_core(core, [wrong_f, idle, plain, idle, beats[0], ("result", 0), beats[1], ("result", 1), 100])
    errors = [(e.name, e.detail) for e in got if isinstance(e, P.Error)]
    assert errors[0] == ("LENGTH", P.BEAT_RR) and errors[2] == ("TYPE", P.BEAT)
    # the refused frames' remaining bytes are hunted through (SYNC; VERSION at a stray SOF)
    assert {name for name, _ in errors[1:2] + errors[3:]} <= {"SYNC", "VERSION"}, errors
    results = [e for e in got if isinstance(e, P.Result)]
    assert [(r.seq, r.cls, r.logits) for r in results] == [
        (seq, int(tr.cls[k]), tr.logits[k].tolist()) for seq, k in enumerate(picks)]
