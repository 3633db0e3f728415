"""The template rule measured by golden/aami4_template.py: what it does to a beat's class (before
the RR rule), the mechanical decision on a grid, the missing-input messages; without the database."""

import numpy as np
import pytest

from ternecg.errors import TernEcgError
from ternecg.golden import aami4_template as T
from ternecg.golden.spec.rr import template_codes


def test_a_v_call_of_the_usual_shape_becomes_n_and_nothing_else_moves():
    cls = np.array([0, 1, 2, 2, 2, 3])
    code = np.array([0, 0, 2, 3, 9, 0])
    assert T.template_rule(cls, code, 3).tolist() == [0, 1, 0, 0, 2, 3]
    assert T.template_rule(cls, code, 1).tolist() == [0, 1, 2, 2, 2, 3]
    assert T.template_rule(cls, code, None).tolist() == cls.tolist()


def test_then_the_rr_rule_decides_n_against_s():
    # logits: beat 0 and 1 are called V; beat 2 N; beat 3 S
    logits = np.array([[0, 0, 9, 0], [0, 0, 9, 0], [9, 0, 0, 0], [0, 9, 0, 0]])
    tcode = np.array([1, 1, 9, 0])
    pre = np.array([5, 8, 5, 8])           # beats 0 and 2 premature (pre/local <= 6)
    irr = np.array([2, 2, 2, 2])           # a regular rhythm
    got = T.decide(logits, [0, 0, 0, 0], tcode, 2, pre, irr, (6, 5))
    assert got.tolist() == [1, 0, 1, 1]    # V of the usual shape: premature -> S, else N; N premature -> S
    assert T.decide(logits, [0, 0, 0, 0], tcode, None, pre, irr, (6, 5)).tolist() == [2, 2, 1, 1]
    assert T.decide(logits, [0, 0, 0, 0], tcode, 2, pre, np.full(4, 9), (6, 5)).tolist() == [0, 0, 0, 1]


def test_template_codes_of_a_repeated_beat_are_zero_and_of_an_odd_one_large():
    rng = np.random.default_rng(1)
    usual = 1000 + np.round(200 * np.exp(-((np.arange(240) - 90) / 6.0) ** 2)).astype(np.int64)
    odd = 1000 - np.round(300 * np.exp(-((np.arange(240) - 110) / 20.0) ** 2)).astype(np.int64)
    windows = np.stack([usual + rng.integers(-1, 2, 240) for _ in range(20)] + [odd])
    codes = template_codes(windows)
    assert codes[0] == 0 and codes[:20].max() <= 1 and codes[20] >= 8


def _data(scores):
    """A probe result: per protocol rows {(u, gate): score}."""
    return {"protocols": {p: [{"u": u, "gate": g, "score": s} for (u, g), s in scores[p].items()]
                          for p in T.PROTOCOLS}}


def test_the_decision_takes_the_best_mean_with_ties_to_the_smaller_u_then_no_gate():
    base = {(None, None): 0.50}
    inter = {**base, (2, None): 0.55, (3, None): 0.58, (3, 8): 0.58, (4, None): 0.40}
    patient = {**base, (2, None): 0.56, (3, None): 0.53, (3, 8): 0.53, (4, None): 0.70}
    d = T.decide_rule(_data({"inter": inter, "patient": patient}))
    assert (d["u"], d["gate"]) == (2, None) and d["take"] and d["gain"] == pytest.approx(0.055)
    tie = {**base, (2, None): 0.51, (2, 8): 0.51, (1, 8): 0.505}
    d = T.decide_rule(_data({"inter": tie, "patient": tie}))
    assert (d["u"], d["gate"]) == (2, None) and d["take"]
    small = {**base, (2, None): 0.505}
    d = T.decide_rule(_data({"inter": small, "patient": small}))
    assert not d["take"]                   # a gain below MIN_GAIN keeps no rule


def test_ds2_scoring_needs_the_decision_first(tmp_path):
    with pytest.raises(TernEcgError, match="make aami4-template first"):
        T.score_ds2(result=tmp_path / "ds2.json", decision=tmp_path / "missing.json")
    assert not (tmp_path / "ds2.json").exists()


def test_the_results_paragraph_names_the_decision_and_that_it_is_not_shipped():
    from ternecg.reports import read_json
    sel = read_json(T.RESULT)
    if not sel.get("decision"):
        pytest.skip("no template-rule measurement in results/")
    d = sel["decision"]
    fig = {"acc": 0.9, "S": {"se": 0.5, "ppv": 0.5}, "V": {"se": 0.9, "ppv": 0.8}, "mean_f1_sv": 0.6,
           "detection_cost_points": 0.4}
    text = T.ds2_lines({"protocols": {"inter_patient": {"without": fig, "with": dict(fig, detection_cost_points=0.3)}}})[0]
    assert f"best u {d['u']}" in text and ("not in the shipped models" in text) == d["take"]
    assert "inter-patient 0.40 -> 0.30 points" in text
    assert "not scored yet" in T.ds2_lines({})[0]


def test_the_probe_without_select_phase_models_names_the_command_and_writes_nothing(tmp_path):
    (tmp_path / "select.json").write_text('{"runs": []}')
    with pytest.raises(TernEcgError, match="make aami4-select VARIANTS=shipped"):
        T.probe(work=tmp_path, select_report=tmp_path / "select.json", result=tmp_path / "out.json")
    assert not (tmp_path / "out.json").exists()
