"""The irregular-rhythm rule measured by golden/aami4_irregular.py: what it does to a beat's class
(after the shipped rules), the mechanical decision on a grid, the missing-input message; without
the database."""

import numpy as np
import pytest

from ternecg.errors import TernEcgError
from ternecg.golden import aami4_irregular as I
from ternecg.golden import aami4_template as T


def test_an_s_call_in_an_irregular_rhythm_becomes_n_and_nothing_else_moves():
    cls = np.array([0, 1, 1, 1, 2, 3, 1])
    irr = np.array([15, 5, 6, 15, 15, 15, 9])
    assert I.irregular_rule(cls, irr, 6).tolist() == [0, 1, 0, 0, 2, 3, 0]
    assert I.irregular_rule(cls, irr, 10).tolist() == [0, 1, 1, 0, 2, 3, 1]
    assert I.irregular_rule(cls, irr, None).tolist() == cls.tolist()


def test_it_never_undoes_the_rr_rule_whose_bound_is_below_the_grid():
    # beat 0 called N, premature in a regular rhythm (irregularity 5 = the shipped RR rule's bound): S
    logits = np.array([[9, 0, 0, 0], [0, 9, 0, 0]])
    pre, irr, tcode = np.array([5, 5]), np.array([5, 12]), np.array([0, 0])
    cls = T.decide(logits, [0, 0, 0, 0], tcode, 4, pre, irr, (6, 5))
    assert cls.tolist() == [1, 1]
    assert min(I.MIN_IRREGULAR) > 5
    for m in I.MIN_IRREGULAR:
        got = I.irregular_rule(cls, irr, m).tolist()
        assert got[0] == 1 and got[1] == (0 if m <= 12 else 1)


def test_the_table_form_lowers_s_where_the_rhythm_is_irregular_and_the_beat_takes_its_next_class():
    logits = np.array([[5, 9, 7, 0], [5, 9, 0, 0], [5, 9, 0, 0], [9, 0, 0, 0]])
    irr = np.array([12, 12, 3, 12])
    lg = I.table_offset(logits, irr, 8)
    assert lg.argmax(1).tolist() == [2, 0, 1, 0]       # S -> its best other class (V, N); regular: S stays
    assert (lg[:, [0, 2, 3]] == logits[:, [0, 2, 3]]).all() and lg[2, 1] == 9
    assert (I.table_offset(logits, irr, None) == logits).all()
    assert I.TABLE_OFFSET == (1 << 15) - 1          # an RR table entry (16 bits signed) can hold it


def _data(scores):
    return {"protocols": {p: [{"form": f, "m": m, "score": s, "S_se": 0.0, "S_ppv": 0.0, "V_se": 0.0, "V_ppv": 0.0}
                              for (f, m), s in scores[p].items()] for p in I.PROTOCOLS}}


def test_the_decision_takes_the_best_mean_with_ties_to_the_larger_m_then_the_table():
    base = {(None, None): 0.50}
    inter = {**base, ("rule", 6): 0.50, ("table", 8): 0.56, ("rule", 10): 0.53}
    patient = {**base, ("rule", 6): 0.70, ("table", 8): 0.56, ("rule", 10): 0.59}
    d = I.decide_rule(_data({"inter": inter, "patient": patient}))
    assert (d["form"], d["m"]) == ("rule", 6) and d["take"] and d["gain"] == pytest.approx(0.10)
    tie = {**base, ("rule", 7): 0.52, ("rule", 9): 0.52, ("table", 9): 0.52, ("table", 12): 0.51}
    d = I.decide_rule(_data({"inter": tie, "patient": tie}))
    assert (d["form"], d["m"]) == ("table", 9) and d["take"]
    small = {**base, ("table", 7): 0.505, ("rule", 8): 0.49}
    d = I.decide_rule(_data({"inter": small, "patient": small}))
    assert (d["form"], d["m"]) == ("table", 7) and not d["take"]    # a gain below MIN_GAIN keeps neither
    assert d["per_protocol"]["inter"]["base"] == 0.50


def test_without_the_select_phase_models_it_names_the_command(tmp_path):
    with pytest.raises(TernEcgError, match="make aami4-select VARIANTS=shipped"):
        I.probe(select_report=tmp_path / "none.json", work=tmp_path)


def test_the_results_paragraph_states_the_decision_or_the_command(tmp_path):
    assert I.lines({})[0] == ("No irregular-rhythm rule measured yet (results/aami4_irregular.json): "
                              "`make aami4-irregular`.")
    rows = [{"form": f, "m": m, "score": s} for f, m, s in
            ((None, None, 0.5), ("table", 6, 0.52), ("rule", 6, 0.505))]
    per = {"score": 0.52, "base": 0.5, **{k: (0.5, 0.6) for k in ("S_se", "S_ppv", "V_se", "V_ppv")}}
    data = {"grid": {"m": [6]}, "min_gain": 0.01, "protocols": {p: rows for p in I.PROTOCOLS},
            "decision": {"form": "table", "m": 6, "score": 0.52, "base": 0.5, "take": True,
                         "per_protocol": {p: per for p in I.PROTOCOLS}}}
    text = I.lines(data)[0]
    assert "best table m 6, mean criterion 0.500 -> 0.520" in text and "%)), taken. Each" in text
    assert "S Se / +P 50.0 / 50.0 -> 60.0 / 60.0 %" in text and "inter table 6: 0.500 -> 0.520" in text
    data["decision"]["take"] = False
    assert "not taken, so DS2 was not scored with it." in I.lines(data)[0]
