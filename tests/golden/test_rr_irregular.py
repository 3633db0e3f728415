"""The irregularity code (config ``rr_irregular``, golden/spec/rr.py ``irregular_codes``): by hand,
against a plain reimplementation of its docstring, the code order with the template code, and
the software monitor's stream against its whole-record path with a model that reads it."""

import numpy as np
import pytest

from ternecg.errors import TernEcgError
from ternecg.golden import excerpts, monitor, qrs
from ternecg.golden.spec import modelfile
from ternecg.golden.spec.config import load_config, parse_config
from ternecg.golden.spec.rr import feature_names, irregular_codes
from monitor_helpers import aami4_with_rr_code, stream


def reference(peaks, local=32, bits=4):
    r = [int(v) for v in peaks]
    pre = [r[1] - r[0]] + [b - a for a, b in zip(r, r[1:])]
    d = [0] + [abs(b - a) for a, b in zip(pre, pre[1:])]
    out = []
    for n in range(len(r)):
        k = min(n + 1, local)
        num, den = 4 * sum(d[n - k + 1:n + 1]), sum(pre[n - k + 1:n + 1])
        out.append(min((num * (1 << bits) + den) // (2 * den), (1 << bits) - 1))
    return out


def test_regular_rhythm_is_zero_and_alternation_by_hand():
    assert irregular_codes(np.arange(10) * 300).tolist() == [0] * 10
    # intervals 300, 200, 400, 200, 400 ...: |delta| 200 every beat after the second
    r = np.cumsum([0, 300, 200, 400, 200, 400, 200])
    got = irregular_codes(r, local=4).tolist()
    # beat 1: pre 300, 300 (delta 0) -> 0; beat 2: deltas 0, 100 over W = 300+300+200 -> 32*100/800 = 4
    assert got[:3] == [0, 0, 4]
    assert got == reference(r, local=4)


def test_matches_the_text_on_real_beats():
    for e in excerpts.load():
        r = qrs.detect(np.asarray(e.signal, dtype=np.int64))
        assert irregular_codes(r, 32).tolist() == reference(r, 32)
        assert irregular_codes(r, 8).tolist() == reference(r, 8)


def test_code_order_and_config():
    raw = load_config("msgc_mux_aami4_rr").raw
    both = parse_config(dict(raw, rr_template=1, rr_irregular=1))
    assert both.rr_features == 5
    assert feature_names(both) == ("pre/local", "post/local", "post/pre", "template", "irregular")
    assert feature_names(parse_config(dict(raw, rr_irregular=1)))[3] == "irregular"
    bad = {k: v for k, v in dict(raw, rr_irregular=1).items() if k != "rr_bits"}
    with pytest.raises(TernEcgError, match="rr_irregular"):
        parse_config(bad, source="test")
    # a lone beat: regular interval codes, irregularity 0
    assert monitor.codes(np.array([500]), parse_config(dict(raw, rr_irregular=1))).tolist() == [[8, 8, 8, 0]]


def test_stream_equals_whole_record_with_the_code(tmp_path):
    path = aami4_with_rr_code(tmp_path / "irr.json", lambda k, c: c * (30 if k == 0 else -10),
                              rr_irregular=1, rr_local=8)       # tails of N + 3 beats within 20 s
    model = modelfile.load(path)
    e = excerpts.load()[0]
    x = e.signal[:360 * 20]
    got = monitor.run(model, x)
    out = stream(model, x)
    assert len(out) > 15
    assert [o.sample for o in out] == got.peaks.tolist()
    assert [list(o.logits) for o in out] == got.logits.tolist()
    assert len(set(monitor.codes(got.peaks, model.cfg)[:, 3].tolist())) > 1
