"""The template code (config ``rr_template``, golden/spec/rr.py ``Template``): the arithmetic by
hand, a reimplementation from its docstring's text on the raw excerpts, the config's errors, and
the software monitor's stream against its whole-record path with a model that reads the code."""

import numpy as np
import pytest

from ternecg.errors import TernEcgError
from ternecg.golden import excerpts, monitor, qrs
from ternecg.golden.spec import modelfile
from ternecg.golden.spec.config import load_config, parse_config
from ternecg.golden.spec.rr import TEMPLATE_SCALE, TEMPLATE_SHIFT, Template, template_codes
from ternecg.paths import models_dir
from monitor_helpers import aami4_with_rr_code, stream


def reference(windows, bits=4, gate=None):
    """The code as the docstring states it, in plain Python integers."""
    gate = (1 << bits) if gate is None else gate
    t, out = None, []
    for x in windows:
        x = [int(v) for v in x]
        mean = (sum(x) * 4369) >> 20
        w = [(v - mean) * 16 for v in x]
        if t is None:
            t = list(w)
        d = sum(abs(a - b) for a, b in zip(w, t))
        s = max(1, sum(abs(b) for b in t))
        code = min(max(((d << bits) + s) // (2 * s), 0), (1 << bits) - 1)
        out.append(code)
        if code < gate:
            t = [b + ((a - b) >> 3) for a, b in zip(w, t)]
    return out


def test_constants_are_the_documented_ones():
    assert (TEMPLATE_SHIFT, TEMPLATE_SCALE) == (3, 4)


def test_first_beat_is_zero_and_a_repeated_beat_stays_zero():
    rng = np.random.default_rng(1)
    w = rng.integers(900, 1200, 240)
    assert template_codes(np.stack([w] * 5)).tolist() == [0] * 5


def test_a_scaled_beat_by_hand():
    # beat 2 = beat 1 with twice its deviations from the mean: D = S, code round(8 * 1) = 8
    base = np.full(240, 1000)
    base[100:140] = 1240
    mean = (int(base.sum()) * 4369) >> 20
    twice = mean + 2 * (base - mean)
    assert template_codes(np.stack([base, twice])).tolist() == [0, 8]
    # ... and the template moved 1/8 of the way (9/8 of beat 1): the same beat again has
    # D = 7/8, S = 9/8 of beat 1's: round(8 * 7 / 9) = 6
    assert template_codes(np.stack([base, twice, twice])).tolist() == [0, 8, 6]


def test_gate_keeps_the_template_from_far_beats():
    base = np.full(240, 1000)
    base[100:140] = 1240
    far = np.full(240, 1000)
    far[20:60] = 1500
    seq = np.stack([base, far, far, far, base])
    free, gated = template_codes(seq).tolist(), template_codes(seq, gate=8).tolist()
    assert gated[1:4] == [gated[1]] * 3 and gated[1] >= 8       # never learns the far beat
    assert free[3] < free[1]                                     # the ungated one does
    assert gated[4] == 0 and free[4] > 0


@pytest.mark.parametrize("gate", [None, 8])
def test_matches_the_text_on_real_beats(gate):
    for e in excerpts.load()[:3]:
        x = np.asarray(e.signal, dtype=np.int64)
        r = [int(p) for p in qrs.detect(x) if p - 120 >= 0 and p + 120 <= len(x)]
        w = monitor.windows(x, r)
        got = template_codes(w, gate=gate).tolist()
        assert got == reference(w, gate=gate)
        assert len(set(got)) > 3                                  # real beats, not a constant


def test_bad_window_is_one_clear_error():
    with pytest.raises(ValueError, match="240"):
        Template().push(np.zeros(10))


@pytest.mark.parametrize("change, msg", [
    ({"rr_template": 1, "rr_bits": None}, "needs the RR path"),
    ({"rr_template": 2}, "rr_template"),
    ({"rr_template": 1, "rr_template_gate": 17}, "rr_template_gate"),
    ({"rr_template": 1, "rr_template_gate": 0}, "rr_template_gate"),
])
def test_config_errors_name_the_field(change, msg):
    raw = dict(load_config("msgc_mux_aami4_rr").raw, **change)
    raw = {k: v for k, v in raw.items() if v is not None}
    with pytest.raises(TernEcgError, match=msg):
        parse_config(raw, source="test")


def test_config_features():
    raw = load_config("msgc_mux_aami4_rr").raw
    assert parse_config(raw).rr_features == 3
    cfg = parse_config(dict(raw, rr_template=1))
    assert (cfg.rr_features, cfg.rr_template_gate) == (4, 16)
    assert parse_config(dict(raw, rr_template=1, rr_template_gate=8)).rr_template_gate == 8


@pytest.fixture(scope="module")
def template_model(tmp_path_factory):
    """models/aami4_inter.json with the template code and a fourth table (a test model: the
    table's values are made up, large enough to change classes)."""
    path = aami4_with_rr_code(tmp_path_factory.mktemp("tmpl") / "tmpl.json",
                              lambda k, c: (c - 4) * (40 if k == 2 else -10), rr_template=1)
    return modelfile.load(path)


def test_stream_equals_whole_record_with_the_code(template_model):
    base = modelfile.load(models_dir() / "aami4_inter.json")
    for e in excerpts.load()[:1]:
        x = e.signal[:360 * 20]                                  # 20 s: about 25 beats
        got = monitor.run(template_model, x)
        out = stream(template_model, x)
        assert len(out) > 15
        assert [o.sample for o in out] == got.peaks.tolist()
        assert [list(o.logits) for o in out] == got.logits.tolist()
        # the fourth table is read: the logits differ from the model without it
        assert not np.array_equal(got.logits, monitor.run(base, x).logits)
    with pytest.raises(TernEcgError, match="windows"):
        monitor.codes(got.peaks, template_model.cfg)
