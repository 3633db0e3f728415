"""The software monitor (golden/monitor.py, docs/arithmetic.md section 10) without the database:
the whole-record path against the streaming reference and against a per-beat path written out
here, on the raw excerpts of fixtures/excerpts.npz."""

import numpy as np
import pytest
import torch

from ternecg.errors import TernEcgError
from ternecg.golden import excerpts, integer_ref, monitor, qrs
from ternecg.golden.spec import modelfile
from ternecg.golden.spec.rr import irregular_codes, record_codes, template_codes
from ternecg.paths import models_dir
from monitor_helpers import stream

RR_MODEL = models_dir() / "inter_patient.json"          # binary, RR path (local mean 32)
PLAIN_MODEL = models_dir() / "default.json"             # binary, samples only
AAMI4_MODEL = models_dir() / "aami4_inter.json"         # four classes, RR path


@pytest.fixture(scope="module")
def ex():
    return excerpts.load()


@pytest.fixture(scope="module")
def rr_model():
    return modelfile.load(AAMI4_MODEL if AAMI4_MODEL.is_file() else RR_MODEL)


def spec_codes(r, cfg, x=None):
    """Section 6's codes of peaks ``r``: the three interval codes, then the template code of each
    beat's window of signal ``x``, then the irregularity code."""
    c = record_codes(np.asarray(r), cfg.rr_local, cfg.rr_bits)
    if cfg.rr_template:
        w = np.stack([x[p - 120:p + 120] for p in r])
        c = np.concatenate([c, template_codes(w, cfg.rr_bits, cfg.rr_template_gate)[:, None]], 1)
    if cfg.rr_irregular:
        c = np.concatenate([c, irregular_codes(np.asarray(r), cfg.rr_local, cfg.rr_bits)[:, None]], 1)
    return c


def per_beat(model, signal):
    """The monitor written out beat by beat: detector, windows inside the record, section 6 codes
    over those peaks, the integer reference on one window at a time."""
    x = np.asarray(signal, dtype=np.int64)
    r = [int(p) for p in qrs.detect(x) if p - 120 >= 0 and p + 120 <= len(x)]
    codes = spec_codes(r, model.cfg, x) if model.cfg.rr_bits else None
    cls, logits = [], []
    for i, p in enumerate(r):
        tr = integer_ref.forward(model, torch.as_tensor(x[p - 120:p + 120]),
                                 None if codes is None else torch.as_tensor(codes[i]))
        cls.append(int(tr.cls[0]))
        logits.append(tr.logits[0].tolist())
    return np.asarray(r), np.asarray(cls), np.asarray(logits)


@pytest.mark.parametrize("i", range(4))
def test_run_equals_stream_and_per_beat(ex, rr_model, i):
    e = ex[i]
    got = monitor.run(rr_model, e.signal)
    out = stream(rr_model, e.signal)
    assert [o.sample for o in out] == got.peaks.tolist()
    assert [o.cls for o in out] == got.classes.tolist()
    assert [list(o.logits) for o in out] == got.logits.tolist()
    plain = got.logits.argmax(1)                                    # no ties on these beats
    windows = np.asarray(e.signal, np.int64)[got.peaks[:, None] + np.arange(-120, 120)[None, :]]
    if rr_model.rr_rules:                                           # then the RR rules (docs/arithmetic.md 6)
        plain = integer_ref.apply_rules(rr_model.rr_rules, torch.as_tensor(plain),
                                        torch.as_tensor(monitor.codes(got.peaks, rr_model.cfg, windows))).numpy()
    assert np.array_equal(got.classes, plain)
    if i in (0, 2):
        r, cls, logits = per_beat(rr_model, e.signal)
        assert np.array_equal(r, got.peaks) and np.array_equal(cls, got.classes)
        assert np.array_equal(logits, got.logits)
    # one beat late: beat k is emitted when beat k + 1's window is complete (or at the end)
    emitted = [o.emitted for o in out]
    assert all(emitted[k] >= out[k + 1].sample + 120 for k in range(len(out) - 1))
    assert emitted[-1] == len(e.signal)
    assert all(b > a for a, b in zip(got.peaks, got.peaks[1:]))


def test_model_without_rr_path(ex):
    m = modelfile.load(PLAIN_MODEL)
    x = ex[1].signal[:7200]
    got = monitor.run(m, x)
    out = stream(m, x)
    assert [(o.sample, o.cls) for o in out] == list(zip(got.peaks.tolist(), got.classes.tolist()))
    r, cls, _ = per_beat(m, x)
    assert np.array_equal(cls, got.classes)


def test_stream_without_end_marker_keeps_the_last_beat(ex, rr_model):
    x = ex[2].signal[:7200]
    assert len(stream(rr_model, x, end=False)) == len(monitor.run(rr_model, x).peaks) - 1


def test_beats_inside_the_record_only(rr_model, ex):
    x = ex[0].signal[:3000]
    n = len(x)
    given = np.array([100, 119, 120, 400, 700, 1000, 1500, n - 120, n - 119])
    got = monitor.run(rr_model, x, peaks=given)
    assert got.peaks.tolist() == [120, 400, 700, 1000, 1500, n - 120]
    # the dropped peaks take no part in the RR codes: the codes are those of the kept peaks alone
    assert np.array_equal(monitor.codes(got.peaks, rr_model.cfg, monitor.windows(x, got.peaks)),
                          spec_codes(got.peaks, rr_model.cfg, np.asarray(x, np.int64)))
    assert monitor.inside([119, 120, n - 120, n - 119], n).tolist() == [False, True, True, False]


def test_a_lone_beat_has_regular_codes(rr_model, ex):
    c = monitor.codes(np.array([500]), rr_model.cfg, monitor.windows(ex[0].signal, np.array([500])))
    f = rr_model.cfg.rr_features                # the template and irregularity codes of a lone beat are 0
    assert c.tolist() == [[8, 8, 8] + [0] * (f - 3)]
    assert monitor.codes(np.zeros(0, np.int64), rr_model.cfg).shape == (0, f)


def test_false_detection_changes_its_neighbours_codes(rr_model, ex):
    x = ex[0].signal
    ref = ex[0].ref[(ex[0].ref >= 120) & (ex[0].ref + 120 <= len(x))]
    extra = np.sort(np.append(ref, ref[10] + 100))
    a = monitor.run(rr_model, x, peaks=ref)
    b = monitor.run(rr_model, x, peaks=extra)
    assert len(b.peaks) == len(a.peaks) + 1
    ca, cb = (monitor.codes(p, rr_model.cfg, monitor.windows(x, p)) for p in (ref, extra))
    assert not np.array_equal(ca[10], cb[10])          # its post interval is shorter now


def test_bad_input_is_one_clear_error(rr_model, ex):
    with pytest.raises(TernEcgError, match="360 Hz"):
        monitor.run(rr_model, ex[0].signal, fs=250)
    with pytest.raises(TernEcgError, match="360 Hz"):
        monitor.MonitorStream(rr_model, fs=500)
    with pytest.raises(TernEcgError, match="shorter than one beat window"):
        monitor.run(rr_model, ex[0].signal[:200])
    with pytest.raises(TernEcgError, match="strictly increasing"):
        monitor.run(rr_model, ex[0].signal, peaks=[500, 400])
    with pytest.raises(TernEcgError, match="11-bit|unsigned"):
        monitor.run(rr_model, np.full(1000, 4000))
    s = monitor.MonitorStream(rr_model)
    s.push(1000)
    s.end()
    with pytest.raises(TernEcgError, match="after the end-of-record marker"):
        s.push(1000)


def test_flat_record_gives_no_beats(rr_model):
    got = monitor.run(rr_model, np.full(5000, 1024))
    assert len(got.peaks) == 0 and got.logits.shape == (0, len(rr_model.cfg.classes))
    assert stream(rr_model, np.full(2000, 1024)) == []
