"""RRUnit (hw/rr_unit.py) in Amaranth's simulator: the RR codes of real R peaks (the reference
beats of an excerpt) equal golden/spec/rr.py's record_codes, one peak late, under idle input,
back-pressure and a long hold; the end marker; a lone peak; bad arguments."""

import numpy as np
import pytest

from qrs_streams import simulate
from ternecg.golden import excerpts
from ternecg.golden.spec.rr import record_codes
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


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(local=33), ValueError, "local"),
    (dict(bits=0), ValueError, "bits"),
    (dict(local=8.0), TypeError, "local"),
    (dict(spram="no"), TypeError, "spram"),
])
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        RRUnit(**kwargs)
