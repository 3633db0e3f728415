"""RRUnit (hw/rr_unit.py) in Amaranth's simulator: the RR codes of real R peaks (the reference
beats of an excerpt) equal golden/spec/rr.py's record_codes, one peak late, under idle input,
back-pressure and a long hold; the end marker; a lone peak; the irregularity code (``irregular``:
four codes, as golden/spec/rr.py's irregular_codes; the program itself is checked on many more
peaks on the instruction model, tests/hw/test_qrs_program.py); bad arguments."""

import numpy as np
import pytest

from qrs_streams import simulate
from ternecg.golden import excerpts
from ternecg.golden.spec.rr import irregular_codes, record_codes
from ternecg.hw.rr_unit import RRUnit


def pack(codes, bits):
    return sum(int(c) << (f * bits) for f, c in enumerate(codes))


def run(dut, peaks, end=7777, **kwargs):
    def set_item(ctx, item):
        ctx.set(dut.peaks.payload.index, int(item[0]))
        ctx.set(dut.peaks.payload.end, int(item[1]))
    items = [(int(r), 0) for r in peaks] + [(end, 1)]
    return simulate(dut, dut.peaks, dut.codes, items, set_item=set_item,
                    get_item=lambda p: (int(p.index), int(p.codes), int(p.end)),
                    until=lambda got: bool(got) and got[-1][0][2] == 1, **kwargs)


@pytest.mark.parametrize("local,bits,idle,stall,hold", [
    (8, 4, 0.4, 0.5, 3000),                                 # make test-fast: the stalls and the hold
    pytest.param(32, 4, 0.0, 0.0, 0, marks=pytest.mark.slow),
    pytest.param(3, 6, 0.2, 0.2, 0, marks=pytest.mark.slow)])
def test_codes_of_real_peaks(local, bits, idle, stall, hold):
    peaks = excerpts.load()[1].ref[:14]
    dut = RRUnit(local=local, bits=bits, spram=False)
    got, stats = run(dut, peaks, idle=idle, stall=stall, hold=hold, seed=local)
    want = [(int(r), pack(c, bits), 0) for r, c in zip(peaks, record_codes(peaks, local, bits))]
    assert [g for g, _ in got] == want + [(7777, 0, 1)]
    # one peak late: peak n's codes leave after peak n + 1 went in (the last after the marker)
    assert [sent for _, sent in got] [:-2] == list(range(2, len(peaks) + 1))
    if hold:
        assert stats["pending"] > 2000


def test_lone_peak_and_empty_record():
    dut = RRUnit(local=8, bits=4, spram=False)
    got, _ = run(dut, [360], end=5)
    assert [g for g, _ in got] == [(360, pack([8, 8, 8], 4), 0), (5, 0, 1)]


def test_irregularity_code():
    """``irregular``, one short run (rr_local 2): three real R peaks of the atrial-fibrillation
    excerpt (203), then hand-made intervals (an irregular one, then 1, 2^32 - 2001, 1: the sum D of
    two |delta pre| passes 2^32 while W stays below it, and falls back; the positions wrap at
    2^32), the end marker, then a record of one lone peak: four codes each (the irregularity code
    in bits 3b .. 4b - 1; the lone peak's 0)."""
    local, bits = 2, 3
    huge = (1 << 32) - 1 - 1000 * local
    ref = excerpts.load()[2].ref
    r = np.concatenate([ref[:3], ref[2] + np.cumsum([420, 1, huge, 1, 1000])])
    want = np.concatenate([record_codes(r, local, bits), irregular_codes(r, local, bits)[:, None]], 1)
    assert want[:, 3].max() == 7 and len(set(want[:, 3].tolist())) > 2
    dut = RRUnit(local=local, bits=bits, irregular=True, spram=False)
    assert dut.codes_layout["codes"].width == 4 * bits
    items = [(int(v) & 0xFFFFFFFF, 0) for v in r] + [(7777, 1), (360, 0), (5, 1)]

    def set_item(ctx, item):
        ctx.set(dut.peaks.payload.index, item[0])
        ctx.set(dut.peaks.payload.end, item[1])
    got, _ = simulate(dut, dut.peaks, dut.codes, items, set_item=set_item,
                      get_item=lambda p: (int(p.index), int(p.codes), int(p.end)),
                      until=lambda got: sum(g[0][2] for g in got) == 2)
    assert [g for g, _ in got] == ([(int(v) & 0xFFFFFFFF, pack(c, bits), 0) for v, c in zip(r, want)]
                                   + [(7777, 0, 1), (360, pack([4, 4, 4, 0], bits), 0), (5, 0, 1)])


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(local=33), ValueError, "local"),
    (dict(bits=0), ValueError, "bits"),
    (dict(local=8.0), TypeError, "local"),
    (dict(spram="no"), TypeError, "spram"),
    (dict(irregular=1), TypeError, "irregular"),
])
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        RRUnit(**kwargs)
