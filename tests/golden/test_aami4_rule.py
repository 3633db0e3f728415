"""The RR rule of the four-class models (golden/aami4.py ``with_rr_rule``, golden/aami4_rule.py):
the rewrite of a model file, what it does to a beat's class (the integer reference and the
scoring's re-decision agree), the mechanical decision, the shipped files carrying it; without the
database."""

import json

import numpy as np
import pytest
import torch

from ternecg.errors import TernEcgError
from ternecg.golden import aami4, aami4_operating as op, aami4_rule, integer_ref
from ternecg.golden.spec import modelfile
from ternecg.paths import models_dir
from ternecg.reports import read_json

INTER = models_dir() / "aami4_inter.json"
PATIENT = sorted((models_dir() / "aami4_patient").glob("*.json"))
needs_models = pytest.mark.skipif(not INTER.is_file() or not PATIENT, reason="four-class models not trained")


@needs_models
def test_rule_rewrite_adds_a_zero_irregularity_table_and_takes_it_off_again(tmp_path):
    shipped = aami4.with_template_rule(json.loads(INTER.read_text()), None)    # the RR rule alone
    bare = aami4.with_rr_rule(shipped, None)
    assert "rr_rule" not in bare["layers"][-1] and "rr_irregular" not in bare["config"]
    assert aami4.RULE_KEY not in bare["meta"] and len(bare["layers"][-1]["rr_table"][0]) == 3
    ruled = aami4.with_rr_rule(bare, [5, 4])
    assert ruled["layers"][-1]["rr_rule"] == {"from": 0, "to": 1, "max_codes": [5, 15, 15, 4]}
    assert all(row[3] == [0] * 16 for row in ruled["layers"][-1]["rr_table"])
    assert aami4.with_rr_rule(ruled, None) == bare                   # undone exactly
    assert aami4.with_rr_rule(aami4.with_rr_rule(ruled, [6, 6]), [5, 4]) == ruled     # idempotent
    for path, doc in (("a.json", bare), ("b.json", ruled)):
        modelfile.save(doc, tmp_path / path)
    a, b = modelfile.load(tmp_path / "a.json"), modelfile.load(tmp_path / "b.json")
    rng = np.random.default_rng(3)
    raw = torch.from_numpy(rng.integers(700, 1300, (64, 240)))
    codes = np.stack([rng.integers(3, 9, 64), rng.integers(0, 16, 64), rng.integers(0, 16, 64),
                      rng.integers(2, 8, 64)], 1)
    ta = integer_ref.forward(a, raw, torch.from_numpy(codes[:, :3]))
    tb = integer_ref.forward(b, raw, torch.from_numpy(codes))
    assert torch.equal(ta.logits, tb.logits)                           # the zero table: same logits
    hit = (codes[:, 0] <= 5) & (codes[:, 3] <= 4)
    want = np.where(hit & (ta.cls.numpy() == 0), 1, ta.cls.numpy())
    assert np.array_equal(tb.cls.numpy(), want) and (want != ta.cls.numpy()).any()
    # the scoring's re-decision (aami4_operating) is the integer reference's class
    assert np.array_equal(op.with_rule(op.decide(tb.logits.numpy(), [0] * 4), op.rule_hits(b, codes)), want)
    with pytest.raises(TernEcgError, match=r"must be \[t, b\]"):
        aami4.with_rr_rule(bare, [6, 16])


def _probe(inter, patient):
    row = lambda t, b, s: {"t": t, "b": b, "score": s}  # noqa: E731
    return {"protocols": {"inter": [row(None, None, 0.5)] + [row(t, b, s) for t, b, s in inter],
                          "patient": [row(None, None, 0.7)] + [row(t, b, s) for t, b, s in patient]}}


def _rhythm(inter, patient):
    pt = lambda s, o: {"apply": True, "premature_offset": o, "chosen": {"score": s}, "zero": {"score": 0}}  # noqa: E731
    return {"protocols": {"inter": pt(inter, [6, -160]), "patient": pt(patient, [6, -56])}}


def test_one_rule_for_both_protocols_against_no_rule_and_the_premature_offset():
    # inter prefers (6, 6), patient (6, 5); the mean of both is best at (6, 5)
    probe = _probe([(5, 4, 0.55), (6, 6, 0.562), (6, 5, 0.56)], [(5, 4, 0.705), (6, 5, 0.80), (6, 6, 0.79)])
    d = aami4_rule.decide(probe, _rhythm(0.52, 0.75))
    assert d["joint"]["rule"] == [6, 5] and d["joint"]["take"]
    for p in ("inter", "patient"):
        assert d[p]["rr_rule"] == [6, 5] and d[p]["premature_offset"] == [0, 0]
    assert d["inter"]["own_best"] == [6, 6] and d["patient"]["own_best"] == [6, 5]
    # a tie in the mean goes to the smaller t, then b
    assert aami4_rule.decide(_probe([(6, 6, 0.6), (5, 4, 0.6)], [(6, 6, 0.8), (5, 4, 0.8)]),
                             _rhythm(0.4, 0.5))["joint"]["rule"] == [5, 4]
    # the mean (0.65) is below the premature offsets' mean (0.655): both keep their offsets
    d = aami4_rule.decide(_probe([(6, 6, 0.56)], [(6, 6, 0.74)]), _rhythm(0.52, 0.79))
    assert not d["joint"]["take"] and d["inter"]["rr_rule"] is d["patient"]["rr_rule"] is None
    assert d["inter"]["premature_offset"] == [6, -160] and d["patient"]["premature_offset"] == [6, -56]
    # a gain below MIN_GAIN over no rule
    assert not aami4_rule.decide(_probe([(6, 6, 0.505)], [(6, 6, 0.705)]), _rhythm(0.4, 0.5))["joint"]["take"]
    with pytest.raises(TernEcgError, match="rule-probe"):
        aami4_rule.decide(_probe([], []), _rhythm(0.4, 0.5))


@needs_models
def test_shipped_files_carry_the_decision_of_results():
    data = read_json(aami4_rule.RESULT)
    assert data.get("protocols"), "results/aami4_rule.json missing: make aami4-rule"
    again = aami4_rule.decide(read_json(aami4_rule.aami4_rhythm.RULE_RESULT), read_json(aami4_rule.aami4_rhythm.RESULT))
    assert again == {"joint": data["joint"], **data["protocols"]}    # the committed decision is the mechanical one
    assert data["protocols"]["inter"]["rr_rule"] == data["protocols"]["patient"]["rr_rule"]   # one rule
    aami4_rule.check_recipes()
    assert modelfile.load(INTER).meta[aami4.RULE_KEY] == data["protocols"]["inter"]["rr_rule"]
    for f in PATIENT:
        assert modelfile.load(f).meta.get(aami4.RULE_KEY) == data["protocols"]["patient"]["rr_rule"], f.name
    aami4.check_recipe_offsets(models_dir())


def test_ds2_paragraph_says_what_the_ds2_report_says():
    pt = lambda acc, s: {"acc": acc, "S": {"se": s, "ppv": 0.5}, "V": {"se": 0.8, "ppv": 0.25},  # noqa: E731
                         "mean_f1_sv": 0.4}
    data = {"command": aami4_rule.DS2_COMMAND,
            "protocols": {"inter_patient": {"without": pt(0.9, 0.1), "with": pt(0.875, 0.2)}}}
    text = aami4_rule.ds2_lines(data)[0]
    if not read_json(aami4_rule.RESULT).get("protocols"):
        assert text.startswith("No RR rule chosen yet")
        return
    assert "inter-patient: ACC 90.00 -> 87.50 %, S Se / +P 10.00 / 50.00 -> 20.00 / 50.00 %" in text
    assert "`ternecg aami4-rule --ds2`" in text


def test_scoring_refuses_a_rule_it_does_not_know():
    class M:
        path = "m.json"
        rr_rules = [{"from": 2, "to": 1, "max_codes": [6, 15, 15, 5]}]
    with pytest.raises(TernEcgError, match=r"m.json: RR rules 2 -> 1;.*V -> N .* then N -> S"):
        op.rule_hits(M(), np.zeros((3, 4), np.int64))
    n_to_s, v_to_n = {"from": 0, "to": 1, "max_codes": [6, 15, 15, 5]}, {"from": 2, "to": 0, "max_codes": [15, 15, 15, 4]}
    M.rr_rules = [n_to_s, v_to_n]                                 # known rules, the wrong order
    with pytest.raises(TernEcgError, match=r"RR rules 0 -> 1 then 2 -> 0"):
        op.rule_hits(M(), np.zeros((3, 4), np.int64))
    M.rr_rules = [n_to_s]                                         # the RR rule alone: no template column
    assert op.rule_hits(M(), np.zeros((3, 4), np.int64)).tolist() == [[False, True]] * 3
    M.rr_rules = []
    assert op.rule_hits(M(), np.zeros((3, 4), np.int64)) is None
