"""The premature offset of golden/aami4_rhythm.py (N entries of the RR table for premature beats)
and the shipped four-class model files that carry its decision, without the database: synthetic
logits with a known answer for the search, tmp copies of the shipped files for the table rewrite,
the integer reference for what the rewrite does to a beat's logits."""

import json
import shutil

import numpy as np
import pytest
import torch

from ternecg.errors import TernEcgError
from ternecg.golden import aami4, aami4_rule, aami4_operating as op, aami4_rhythm as rh, integer_ref
from ternecg.golden.spec import modelfile
from ternecg.paths import models_dir
from ternecg.reports import read_json

INTER = models_dir() / "aami4_inter.json"
PATIENT = sorted((models_dir() / "aami4_patient").glob("*.json"))
needs_models = pytest.mark.skipif(not INTER.is_file() or not PATIENT, reason="four-class models not trained")


def _table(doc):
    return np.array(doc["layers"][-1]["rr_table"], np.int64)


@needs_models
def test_premature_offset_rewrite_changes_only_the_n_entries_of_premature_codes(tmp_path):
    p = tmp_path / "m.json"
    shutil.copy(INTER, p)
    doc = json.loads(p.read_text())
    old = doc["meta"].get("premature_offset", [0, 0])
    trained = _table(doc)
    trained[0, 0, :old[0] + 1] -= old[1]
    assert aami4.set_bias_offsets(p, doc["meta"]["bias_offsets"], [3, -40])
    assert not aami4.set_bias_offsets(p, doc["meta"]["bias_offsets"], [3, -40])      # idempotent
    new = json.loads(p.read_text())
    want = trained.copy()
    want[0, 0, :4] -= 40                        # class N, feature pre/local, codes 0..3
    assert (_table(new) == want).all() and new["meta"]["premature_offset"] == [3, -40]
    assert new["layers"][-1]["bias"] == doc["layers"][-1]["bias"]                     # the bias untouched
    aami4.set_bias_offsets(p, doc["meta"]["bias_offsets"], [0, 0])                     # back to the trained table
    assert (_table(json.loads(p.read_text())) == trained).all()
    with pytest.raises(TernEcgError, match=r"rr_table must be .* in \[-32768, 32767\]"):   # RR_ENTRY_BITS guards it
        aami4.set_bias_offsets(p, doc["meta"]["bias_offsets"], [2, -(1 << 16)])
    assert (_table(json.loads(p.read_text())) == trained).all() and list(tmp_path.iterdir()) == [p]
    for bad in ([16, -1], [-1, 5], [1], [1.5, 2], "x"):
        with pytest.raises(TernEcgError, match="max_code"):
            aami4.with_premature_offset(new, bad)


@needs_models
def test_premature_offset_moves_the_integer_logits_of_premature_beats_only(tmp_path):
    p = tmp_path / "m.json"
    doc = aami4.with_rr_rule(aami4.with_template_rule(aami4.with_premature_offset(json.loads(INTER.read_text()), [0, 0]),
                                                      None), None)
    modelfile.save(doc, p)
    q = tmp_path / "q.json"
    modelfile.save(aami4.with_premature_offset(doc, [5, -100]), q)
    a, b = modelfile.load(p), modelfile.load(q)
    rng = np.random.default_rng(0)
    raw = torch.from_numpy(rng.integers(900, 1100, (16, 240)))
    codes = torch.from_numpy(np.stack([np.arange(16), rng.integers(0, 16, 16), rng.integers(0, 16, 16)], 1))
    la = integer_ref.forward(a, raw, codes).logits
    lb = integer_ref.forward(b, raw, codes).logits
    diff = (lb - la).numpy()
    assert (diff[:6, 0] == -100).all() and (diff[6:, 0] == 0).all() and (diff[:, 1:] == 0).all()


def test_search_finds_a_known_offset_on_synthetic_logits():
    """Premature beats (code 2) of S (row 1) that the network calls N by a margin of 5, premature
    N beats (code 6) called N by 50: the offset must reach the S beats (t >= 2, -offset > 5) and
    leave the N beats of code 6 alone (t < 6, or -offset < 50)."""
    def beats(groups):
        lg = np.concatenate([np.tile(np.asarray(x, np.int64), (n, 1)) for _, x, _, n in groups])
        row = np.concatenate([np.full(n, r, np.int64) for r, _, _, n in groups])
        codes = np.concatenate([np.full(n, c, np.int64) for _, _, c, n in groups])
        return op.Beats(lg, row, np.zeros(4, np.int64)), codes
    sets = [beats([(0, [100, 0, 0, 0], 8, 500), (1, [10, 5, 0, 0], 2, 40), (0, [60, 10, 0, 0], 6, 100),
                   (2, [0, 0, 50, 0], 2, 30)])]
    res = rh.search(sets, 4, [0, 0, 0, 0])
    b = res["best"]
    assert res["base"] < b["score"] and 2 <= b["max_code"] and -b["offset"] > 5
    assert b["max_code"] < 6 or -b["offset"] < 50
    assert b["k"] == 2 and b["max_code"] == 4                    # the tie-break: smallest k, then t
    s, sums = rh.score(sets, b["max_code"], b["offset"], [0, 0, 0, 0])
    assert sums[0]["classes"]["S"]["se"] == 1.0 and sums[0]["classes"]["V"]["se"] == 1.0


def test_choice_needs_the_select_phase_runs(tmp_path):
    with pytest.raises(TernEcgError, match="make aami4-select"):
        rh.model_files({"runs": []}, tmp_path)


@needs_models
def test_shipped_files_carry_the_premature_offsets_results_names():
    data = read_json(rh.RESULT)
    assert data, "results/aami4_rhythm.json missing: make aami4-rhythm"
    want = {}
    for p in rh.PROTOCOLS:                                       # the mechanical decision
        d = data["protocols"][p]
        assert d["apply"] == (d["gain"] >= rh.MIN_GAIN)
        want[p] = [d["best"]["max_code"], d["best"]["offset"]] if d["apply"] else [0, 0]
        assert d["premature_offset"] == want[p] and len(d["per_model"]) == 2 * len(rh.SEEDS)
        if (read_json(aami4_rule.RESULT).get("protocols", {}).get(p) or {}).get("rr_rule"):
            want[p] = [0, 0]                                     # the RR rule replaced it (make aami4-rule)
    assert rh.recipe_premature() == want                         # the recipe make train exports
    assert modelfile.load(INTER).meta["premature_offset"] == want["inter"]
    for f in PATIENT:
        assert modelfile.load(f).meta["premature_offset"] == want["patient"], f.name
    aami4.check_recipe_offsets(models_dir())


def test_ds2_paragraph_says_what_the_ds2_report_says():
    pt = lambda acc, s, v: {"acc": acc, "S": {"se": s, "ppv": 0.5}, "V": {"se": v, "ppv": 0.25},  # noqa: E731
                            "mean_f1_sv": 0.4}
    data = {"command": rh.DS2_COMMAND, "protocols": {"inter_patient": {"without": pt(0.9, 0.1, 0.8),
                                                                       "with": pt(0.875, 0.2, 0.85)}}}
    text = rh.ds2_lines(data)[0]
    if not read_json(rh.RESULT).get("protocols"):
        assert text.startswith("No premature offset chosen yet")
        return
    assert "inter-patient: ACC 90.00 -> 87.50 %, S Se / +P 10.00 / 50.00 -> 20.00 / 50.00 %" in text
    assert "V Se / +P 80.00 / 25.00 -> 85.00 / 25.00 %" in text and "`ternecg aami4-rhythm --ds2`" in text
    assert text.endswith("These figures are of the models of that time: the RR rule replaced the offset, so the "
                         "shipped files carry a zero offset, and a re-run now compares two identical files.")


def test_head_rule_turns_only_premature_regular_n_beats_into_s():
    cls = np.array([0, 0, 0, 0, 2, 1, 3])
    pre = np.array([6, 7, 6, 2, 1, 1, 1])
    irr = np.array([6, 0, 7, 0, 0, 0, 0])
    # N premature and regular -> S; N not premature, N irregular stay N; V, S, F never change
    assert rh.rule_classes(cls, pre, irr, 6, 6).tolist() == [1, 0, 0, 1, 2, 1, 3]
    assert rh.rule_classes(cls, pre, irr, 1, 15).tolist() == [0, 0, 0, 0, 2, 1, 3]


def test_rule_probe_result_covers_its_grid():
    data = read_json(rh.RULE_RESULT)
    if not data:
        pytest.skip("results/aami4_rule_probe.json not made: ternecg aami4-rhythm --rule-probe")
    for proto, rows in data["protocols"].items():
        assert rows[0]["t"] is None and len(rows) == 1 + len(rh.RULE_GRID)
        assert all(len(r["per_model"]) == 2 * len(rh.SEEDS) for r in rows)
