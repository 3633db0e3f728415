"""QrsDetector (hw/qrs_detector.py) in Amaranth's simulator against golden/qrs.py.

A real excerpt resampled to 100 Hz (the detector's constants scale with the rate, so its learning
period ends after 217 samples instead of 780 and a simulation of a few seconds reaches the
learning-period burst and regular beats): the same peaks, each before the sample after the one
that reports it; under idle input, back-pressure and a hold of thousands of cycles on ``peaks``;
the end marker; a reset in the middle of a record. The full 360 Hz excerpts and whole records run
on Verilator (tests/sim/test_monitor_sim.py, ``make sim-monitor``)."""

import numpy as np
import pytest
from amaranth.hdl import Module, ResetInserter, Signal

from qrs_streams import simulate
from ternecg.golden import excerpts, qrs
from ternecg.hw.qrs_detector import QrsDetector

FS = 100


@pytest.fixture(scope="module")
def record():
    x = excerpts.load()[0].signal.astype(float)
    t = np.arange(0, 2.6, 1 / FS)
    return np.round(np.interp(t, np.arange(len(x)) / 360, x)).astype(np.int64)


def expected(x):
    """``[((peak, 0), samples accepted when it came)]`` from QrsStream, then the end marker."""
    s = qrs.QrsStream(FS)
    out = []
    for i, v in enumerate(x):
        out += [((int(p), 0), i + 1) for p in s.push(int(v))]
    out += [((int(p), 0), len(x)) for p in s.finish()]
    return out + [((len(x), 1), len(x))]


def run(dut, x, **kwargs):
    def set_item(ctx, item):
        ctx.set(dut.samples.payload.sample, int(item[0]))
        ctx.set(dut.samples.payload.last, int(item[1]))
    items = [(v, i == len(x) - 1) for i, v in enumerate(x)]
    return simulate(dut, dut.samples, dut.peaks, items, set_item=set_item,
                    get_item=lambda p: (int(p.index), int(p.end)),
                    until=lambda got: bool(got) and got[-1][0][1] == 1, **kwargs)


@pytest.mark.slow
def test_peaks_equal_golden(record):
    """Idle input and back-pressure (the stall-free case runs on Verilator and Icarus, and in the
    gateware-vs-model test of tests/hw/test_qrs_sequencer.py), with a 3,000-cycle hold."""
    dut = QrsDetector(fs=FS, spram=False)
    got, stats = run(dut, record, idle=0.4, stall=0.6, hold=3000, seed=5)
    assert got == expected(record)
    assert len(got) >= 5                     # the learning-period burst, a regular beat, the marker
    assert stats["pending"] > 2000


@pytest.mark.slow
@pytest.mark.long
def test_reset_mid_record(record):
    """A reset after 40 samples: the detector starts over, the rest is a new record."""
    dut = QrsDetector(fs=FS, spram=False)
    rst = Signal()
    top = Module()
    top.submodules.dut = ResetInserter(rst)(dut)
    got, _ = run(dut, record, top=top, reset=(rst, 40))
    assert got == [(p, s + 40) for p, s in expected(record[40:])]
    assert len(got) >= 3


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(fs=1000), ValueError, "384 Hz"),
    (dict(fs=50), ValueError, "sampling rate"),
    (dict(fs="360"), TypeError, "fs"),
    (dict(spram=1), TypeError, "spram"),
])
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        QrsDetector(**kwargs)


def test_interface():
    from amaranth.hdl import Fragment
    dut = QrsDetector()
    assert dut.latency == 119
    assert len(dut.program) <= 512                # two iCE40 block RAMs
    Fragment.get(dut, None)                       # elaborates (with lib.memory RAM: no platform)
