"""The operating-point search of golden/aami4_operating.py (offsets to the S and V logit biases) and the
shipped four-class model files that carry its decision, without the database: synthetic logits with
a known answer, the fixture excerpts (fixtures/excerpts.npz) for the scoring, tmp copies of the
shipped files for the bias rewrite."""

import json
import shutil

import numpy as np
import pytest

from ternecg.errors import TernEcgError
from ternecg.golden import aami4, aami4_operating as op, detected, excerpts, monitor
from ternecg.golden.spec import modelfile
from ternecg.paths import models_dir
from ternecg.reports import read_json

INTER = models_dir() / "aami4_inter.json"
PATIENT = sorted((models_dir() / "aami4_patient").glob("*.json"))
needs_models = pytest.mark.skipif(not INTER.is_file() or not PATIENT, reason="four-class models not trained")


def _beats(groups):
    """Beats from ``[(row, logits, count), ...]`` (row: reference class, 4 = false detection)."""
    logits = np.concatenate([np.tile(np.asarray(lg, np.int64), (n, 1)) for _, lg, n in groups])
    row = np.concatenate([np.full(n, r, np.int64) for r, _, n in groups])
    return op.Beats(logits, row, np.zeros(4, np.int64))


def test_search_finds_the_known_offsets_on_synthetic_logits():
    # S beats need S offset >= 4 (10 vs 7 + 3 is a tie: the lowest class, N, wins); N beats with a
    # strong S logit turn S at S offset >= 6; so S +4 and +5 are both perfect: the tie-break takes +4.
    # V beats are V down to V offset -1; N beats with V = 9 turn V at V offset >= 2: V -1 .. +1 are
    # perfect, the tie-break takes 0.
    b = _beats([(1, [10, 7, 0, 0], 20), (1, [10, 8, 0, 0], 10), (0, [10, 5, 0, 0], 50), (2, [10, 0, 12, 0], 30),
                (0, [10, 0, 9, 0], 40), (0, [10, 0, 0, 0], 500)])
    res = op.search(b, step=1, grid_k=6)
    assert res["best"]["k"] == {"S": 4, "V": 0} and res["best"]["offsets"] == [0, 4, 0, 0]
    assert res["best"]["score"] == pytest.approx(1.0)
    assert res["base"]["score"] < 1.0 and not res["at_grid_edge"]
    # with step 2 the grid holds S +4 as k = 2
    assert op.search(b, step=2, grid_k=6)["best"]["k"] == {"S": 2, "V": 0}
    # a grid too small for the answer ends on its edge (S +3 finds the S beats at 8, not those at 7)
    small = op.search(b, step=1, grid_k=3)
    assert small["best"]["k"] == {"S": 3, "V": 0} and small["at_grid_edge"]


def test_decide_breaks_ties_to_the_lowest_class_and_matches_the_integer_reference():
    from ternecg.golden.integer_ref import argmax_lowest
    import torch
    rng = np.random.default_rng(3)
    lg = rng.integers(-4, 5, (500, 4))
    off = [0, 2, -1, 1]
    assert np.array_equal(op.decide(lg, off), argmax_lowest(torch.as_tensor(lg + np.array(off))).numpy())
    assert op.step_of(np.array([[0, 9, 1, 0], [3, 0, 0, 1]])) == 1        # median gap (8 + 2) / 2 / 4
    assert op.step_of(np.array([[0, 40, 0, 0]] * 3)) == 10


@needs_models
def test_fast_confusion_is_aami4_selects_record_confusion():
    model = modelfile.load(INTER)
    for e in excerpts.load():
        rec = detected.detect_record(e.record, e.signal, e.ref, e.symbols)
        dset = detected.make_set({e.record: rec}, (e.record,))
        cls, logits = monitor.classify(model, dset.raw(), dset.codes(model.cfg))
        for after in (0, 7200):
            row, missed = op.scored_rows(rec, after)
            b = op.Beats(logits, row, missed)
            for off in ([0, 0, 0, 0], [0, 16, -8, 0], [0, -30, 40, 5]):
                assert np.array_equal(op.confusion(b, off),
                                      aami4.record_confusion(rec, op.decide(logits, off), after=after)), (e.record, after, off)


@needs_models
def test_bias_offsets_rewrite_is_idempotent_and_checked(tmp_path):
    p = tmp_path / "m.json"
    shutil.copy(INTER, p)
    doc = json.loads(p.read_text())
    trained = np.array(doc["layers"][-1]["bias"]) - np.array(doc["meta"].get("bias_offsets", [0] * 4))
    assert aami4.set_bias_offsets(p, [0, 3, -5, 0])
    assert not aami4.set_bias_offsets(p, [0, 3, -5, 0])                  # idempotent
    m = modelfile.load(p)
    assert m.meta["bias_offsets"] == [0, 3, -5, 0] and m.layers[-1].bias.tolist() == (trained + [0, 3, -5, 0]).tolist()
    aami4.set_bias_offsets(p, [0, 0, 0, 0])                              # back to the trained bias
    assert modelfile.load(p).layers[-1].bias.tolist() == trained.tolist()
    with pytest.raises(TernEcgError, match="24-bit"):                    # BIAS_BITS still guards the file
        aami4.set_bias_offsets(p, [0, 1 << 23, 0, 0])
    assert modelfile.load(p).layers[-1].bias.tolist() == trained.tolist()  # the file is left as it was
    assert list(tmp_path.iterdir()) == [p]
    with pytest.raises(TernEcgError, match="one integer per class"):
        aami4.set_bias_offsets(p, [1, 2])


@needs_models
def test_shipped_files_carry_the_offsets_results_names():
    data = read_json(op.RESULT)
    assert data, "results/aami4_operating.json missing: make aami4-operating"
    want = {p: data["protocols"][p]["bias_offsets"] for p in op.PROTOCOLS}
    for p in op.PROTOCOLS:         # the mechanical decision
        d = data["protocols"][p]
        assert d["apply"] == (d["gain"] >= op.MIN_GAIN)
        assert want[p] == (d["best"]["offsets"] if d["apply"] else [0, 0, 0, 0])
    assert op.recipe_offsets() == want                                   # the recipe make train exports
    assert modelfile.load(INTER).meta["bias_offsets"] == want["inter"]
    for f in PATIENT:
        assert modelfile.load(f).meta["bias_offsets"] == want["patient"], f.name
    aami4.check_recipe_offsets(models_dir())


def test_export_adds_the_recipe_offsets_to_the_trained_bias(tmp_path):
    """``make train``'s export path (golden/aami4.py ``to_model`` from ``ship``): the file's bias is
    the trained bias plus the recipe's offsets, even though the recipe in ``meta`` names them."""
    from ternecg.golden import train
    from ternecg.golden.export import export
    net = train.new_net(aami4.config(aami4.INTER), True, 0)
    trained = export(net, {})["layers"][-1]["bias"]
    off = [0, 5, -3, 2]
    m = aami4.to_model(net, aami4.meta_of(dict(aami4.INTER, bias_offsets=off), 0, "test"), tmp_path / "m.json", off)
    assert m.layers[-1].bias.tolist() == [b + o for b, o in zip(trained, off)] and m.meta["bias_offsets"] == off
    plain = aami4.to_model(net, {"seed": 0}, tmp_path / "p.json")      # select-phase models: no offsets
    assert plain.layers[-1].bias.tolist() == trained and "bias_offsets" not in plain.meta
