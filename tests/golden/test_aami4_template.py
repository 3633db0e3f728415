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


def test_the_results_paragraph_names_the_decision_and_that_it_is_shipped():
    from ternecg.reports import read_json
    sel = read_json(T.RESULT)
    if not sel.get("decision"):
        pytest.skip("no template-rule measurement in results/")
    d = sel["decision"]
    fig = {"acc": 0.9, "S": {"se": 0.5, "ppv": 0.5}, "V": {"se": 0.9, "ppv": 0.8}, "mean_f1_sv": 0.6,
           "detection_cost_points": 0.4}
    text = T.ds2_lines({"protocols": {"inter_patient": {"without": fig, "with": dict(fig, detection_cost_points=0.3)}}})[0]
    assert f"best u {d['u']}" in text and ("taken: the shipped models carry it" in text) == d["take"]
    assert "inter-patient 0.40 -> 0.30 points" in text
    assert "not scored yet" in T.ds2_lines({})[0]


def test_the_probe_without_select_phase_models_names_the_command_and_writes_nothing(tmp_path):
    (tmp_path / "select.json").write_text('{"runs": []}')
    with pytest.raises(TernEcgError, match="make aami4-select VARIANTS=shipped"):
        T.probe(work=tmp_path, select_report=tmp_path / "select.json", result=tmp_path / "out.json")
    assert not (tmp_path / "out.json").exists()


INTER = __import__("ternecg.paths", fromlist=["models_dir"]).models_dir() / "aami4_inter.json"


@pytest.mark.skipif(not INTER.is_file(), reason="four-class model not trained")
def test_template_rewrite_adds_a_zero_template_table_first_rule_and_undoes_it(tmp_path):
    """golden/aami4.py with_template_rule: the template code at position 3 with a zero table (the
    same logits), the rule V -> N first, the RR rule's bounds widened by a free code; undone
    exactly; and the integer reference's classes are the two rules in order."""
    import json

    import torch

    from ternecg.golden import aami4, aami4_operating as op, integer_ref
    from ternecg.golden.spec import modelfile
    shipped = json.loads(INTER.read_text())
    assert shipped["meta"][aami4.TEMPLATE_KEY] == aami4.INTER[aami4.TEMPLATE_KEY]   # models/ carry the recipe's
    bare = aami4.with_template_rule(shipped, None)
    assert "rr_template" not in bare["config"] and aami4.TEMPLATE_KEY not in bare["meta"]
    assert bare["layers"][-1]["rr_rule"] == {"from": 0, "to": 1, "max_codes": [6, 15, 15, 5]}
    assert aami4.with_template_rule(bare, 4) == shipped                              # exactly the file
    ruled = aami4.with_template_rule(bare, 2)
    assert ruled["layers"][-1]["rr_rule"] == [{"from": 2, "to": 0, "max_codes": [15, 15, 15, 2, 15]},
                                              {"from": 0, "to": 1, "max_codes": [6, 15, 15, 15, 5]}]
    assert all(row[3] == [0] * 16 for row in ruled["layers"][-1]["rr_table"])
    assert aami4.with_template_rule(ruled, None) == bare
    # the RR rule taken off and put back keeps the template rule first
    assert aami4.with_rr_rule(aami4.with_rr_rule(ruled, None), [6, 5]) == ruled
    with pytest.raises(TernEcgError, match="template code in 0..15"):
        aami4.with_template_rule(bare, 16)
    for path, doc in (("a.json", bare), ("b.json", ruled)):
        modelfile.save(doc, tmp_path / path)
    a, b = modelfile.load(tmp_path / "a.json"), modelfile.load(tmp_path / "b.json")
    rng = np.random.default_rng(5)
    raw = torch.from_numpy(rng.integers(700, 1300, (96, 240)))
    codes = np.stack([rng.integers(3, 9, 96), rng.integers(0, 16, 96), rng.integers(0, 16, 96),
                      rng.integers(0, 5, 96), rng.integers(2, 8, 96)], 1)
    ta = integer_ref.forward(a, raw, torch.from_numpy(codes[:, [0, 1, 2, 4]]))
    tb = integer_ref.forward(b, raw, torch.from_numpy(codes))
    assert torch.equal(ta.logits, tb.logits)                                        # the zero table
    plain = integer_ref.argmax_lowest(ta.logits).numpy()
    want = np.where((plain == 2) & (codes[:, 3] <= 2), 0, plain)
    want = np.where((want == 0) & (codes[:, 0] <= 6) & (codes[:, 4] <= 5), 1, want)
    assert np.array_equal(tb.cls.numpy(), want)
    assert np.array_equal(op.with_rule(op.decide(tb.logits.numpy(), [0] * 4), op.rule_hits(b, codes)), want)


def test_apply_needs_the_recipes_to_be_the_decision(tmp_path):
    import json
    bad = tmp_path / "d.json"
    bad.write_text(json.dumps({"decision": {"u": 3, "gate": None, "take": True}}))
    with pytest.raises(TernEcgError, match="recipe has template_rule 4, the decision .* is 3"):
        T.apply([tmp_path], result=bad)
    with pytest.raises(TernEcgError, match="make aami4-template first"):
        T.apply([tmp_path], result=tmp_path / "missing.json")
