"""The long-term premature rule measured by golden/aami4_longterm.py: its code against a hand
computation, what the rule does to a beat's class (after the shipped rules), the mechanical
decision on a grid, the missing-input message; without the database."""

import numpy as np
import pytest

from ternecg.errors import TernEcgError
from ternecg.golden import aami4_longterm as L
from ternecg.golden import aami4_template as T


def _by_hand(samples, k, bits=4):
    d = np.diff(samples)
    pre = [int(d[0])] + [int(x) for x in d]
    a, out = pre[0] << k, []
    for p in pre:
        mean = a / (1 << k)
        out.append(min(max(int(np.floor((1 << (bits - 1)) * p / mean + 0.5)), 0), (1 << bits) - 1))
        a = a - (a >> k) + p
    return out


def test_the_code_is_the_pre_interval_over_the_running_average_before_it():
    rng = np.random.default_rng(3)
    samples = np.cumsum(rng.integers(150, 700, size=400))
    for k in L.SHIFTS:
        assert L.longterm_codes(samples, k).tolist() == _by_hand(samples, k)
    # a steady rhythm is "as long as the average" (8); a beat at 60 % of it, 5 (0.6 * 8 = 4.8)
    steady = np.arange(0, 300 * 200, 300)
    codes = L.longterm_codes(np.concatenate([steady, [steady[-1] + 180]]), 5)
    assert set(codes[:-1].tolist()) == {8} and codes[-1] == 5
    assert L.longterm_codes(np.array([7]), 5).tolist() == [8]      # a lone beat: no interval


def test_a_run_of_premature_beats_stays_premature_against_the_long_term_mean():
    # 100 beats at 1 s, then a run of 8 beats at 0.6 s: the local mean (8 intervals) follows the
    # run, the long-term one (about 128 beats) does not
    rr = [360] * 100 + [216] * 8
    samples = np.concatenate([[0], np.cumsum(rr)])
    codes = L.longterm_codes(samples, 7)
    assert codes[-8:].max() <= 5


def test_an_n_call_in_a_regular_rhythm_below_the_bound_becomes_s_and_nothing_else_moves():
    cls = np.array([0, 0, 0, 1, 2, 3, 0])
    code = np.array([4, 5, 4, 4, 4, 4, 8])
    irr = np.array([5, 5, 6, 5, 5, 5, 5])
    assert L.longterm_rule(cls, code, irr, 4, 5).tolist() == [1, 0, 0, 1, 2, 3, 0]
    assert L.longterm_rule(cls, code, irr, 8, 6).tolist() == [1, 1, 1, 1, 2, 3, 1]
    assert L.longterm_rule(cls, code, irr, None, 5).tolist() == cls.tolist()


def test_it_acts_after_the_shipped_rules_and_never_undoes_them():
    # beat 0: a V call shaped like the template -> N (template rule), premature locally -> S (RR rule);
    # beat 1: an S call stays S; beat 2: an N call, not locally premature, long-term premature -> S
    logits = np.array([[0, 0, 9, 0], [0, 9, 0, 0], [9, 0, 0, 0]])
    pre, irr, tcode = np.array([5, 8, 8]), np.array([5, 5, 5]), np.array([0, 9, 9])
    cls = T.decide(logits, [0, 0, 0, 0], tcode, 4, pre, irr, (6, 5))
    assert cls.tolist() == [1, 1, 0]
    assert L.longterm_rule(cls, np.array([8, 8, 4]), irr, 4, 5).tolist() == [1, 1, 1]


def _data(scores):
    return {"protocols": {p: [{"m": m, "k": k, "score": s, "S_se": 0.0, "S_ppv": 0.0, "V_se": 0.0, "V_ppv": 0.0}
                              for (m, k), s in scores[p].items()] for p in L.PROTOCOLS}}


def test_the_decision_takes_the_best_mean_with_ties_to_the_smaller_m_then_the_larger_k():
    base = {(None, None): 0.50}
    inter = {**base, (4, 5): 0.50, (5, 7): 0.56, (6, 5): 0.53}
    patient = {**base, (4, 5): 0.70, (5, 7): 0.56, (6, 5): 0.59}
    d = L.decide_rule(_data({"inter": inter, "patient": patient}))
    assert (d["m"], d["k"]) == (4, 5) and d["take"] and d["gain"] == pytest.approx(0.10)
    tie = {**base, (5, 5): 0.52, (5, 7): 0.52, (6, 7): 0.52, (3, 5): 0.51}
    d = L.decide_rule(_data({"inter": tie, "patient": tie}))
    assert (d["m"], d["k"]) == (5, 7) and d["take"]
    small = {**base, (3, 7): 0.505, (4, 5): 0.49}
    d = L.decide_rule(_data({"inter": small, "patient": small}))
    assert (d["m"], d["k"]) == (3, 7) and not d["take"]          # a gain below MIN_GAIN keeps no rule
    assert d["per_protocol"]["inter"]["base"] == 0.50


def test_without_the_select_phase_models_it_names_the_command(tmp_path):
    with pytest.raises(TernEcgError, match="make aami4-select VARIANTS=shipped"):
        L.probe(select_report=tmp_path / "none.json", work=tmp_path)


def test_ds2_scoring_before_the_choice_names_the_command(tmp_path):
    with pytest.raises(TernEcgError, match="no long-term rule decision .* run make aami4-longterm first"):
        L.score_ds2(result=tmp_path / "ds2.json", decision=tmp_path / "none.json")
    assert not (tmp_path / "ds2.json").exists()


def test_the_results_paragraph_states_the_decision_or_the_command():
    assert L.lines({})[0] == ("No long-term premature rule measured yet (results/aami4_longterm.json): "
                              "`make aami4-longterm`.")
    rows = [{"m": m, "k": k, "score": s} for m, k, s in ((None, None, 0.5), (4, 5, 0.52), (6, 7, 0.505))]
    per = {"score": 0.52, "base": 0.5, **{f: (0.5, 0.6) for f in ("S_se", "S_ppv", "V_se", "V_ppv")}}
    data = {"grid": {"m": [4, 6], "k": [5, 7]}, "min_gain": 0.01, "protocols": {p: rows for p in L.PROTOCOLS},
            "decision": {"m": 4, "k": 5, "score": 0.52, "base": 0.5, "take": True,
                         "per_protocol": {p: per for p in L.PROTOCOLS}}}
    text = L.lines(data)[0]
    assert "best m 4 k 5, mean criterion 0.500 -> 0.520" in text and "%)), taken. Each" in text
    assert "S Se / +P 50.0 / 50.0 -> 60.0 / 60.0 %" in text and "inter m 4 k 5: 0.500 -> 0.520" in text
    data["decision"]["take"] = False
    assert "not taken, so DS2 was not scored with it." in L.lines(data)[0]


def test_the_paragraph_adds_the_ds2_outcome_of_the_chosen_point_only():
    rows = [{"m": m, "k": k, "score": s} for m, k, s in ((None, None, 0.5), (6, 7, 0.55))]
    per = {"score": 0.55, "base": 0.5, **{f: (0.5, 0.6) for f in ("S_se", "S_ppv", "V_se", "V_ppv")}}
    data = {"grid": {"m": [6], "k": [7]}, "min_gain": 0.01, "protocols": {p: rows for p in L.PROTOCOLS},
            "decision": {"m": 6, "k": 7, "score": 0.55, "base": 0.5, "take": True,
                         "per_protocol": {p: per for p in L.PROTOCOLS}}}
    fig = {"acc": 0.9, "S": {"se": 0.2, "ppv": 0.3}, "V": {"se": 0.9, "ppv": 0.8}, "mean_f1_sv": 0.5,
           "detection_cost_points": 0.5}
    better = {**fig, "S": {"se": 0.4, "ppv": 0.3}, "mean_f1_sv": 0.6, "detection_cost_points": 0.4}
    ds2 = {"m": 6, "k": 7, "protocols": {"inter_patient": {"without": fig, "with": better}}}
    text = L.lines(data, ds2)[0]
    assert "without -> with the rule: inter-patient: ACC 90.00 -> 90.00 %, S Se / +P 20.00 / 30.00 -> 40.00 / 30.00 %" in text
    assert "(transferred)." in text and "inter-patient 0.50 -> 0.40 points." in text
    assert "do not apply it yet" in text
    # a DS2 result of another point is not this decision's: the paragraph asks for the command instead
    assert "Its DS2 outcome is not scored yet: `ternecg aami4-longterm --ds2`." in L.lines(data, {**ds2, "m": 5})[0]
