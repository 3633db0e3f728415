"""Four-class data and training on detected beats (golden/detected.py, golden/aami4.py) without the
database: the excerpts of fixtures/excerpts.npz stand in for records."""

import json

import numpy as np
import pytest
import torch

from ternecg.errors import TernEcgError
from ternecg.golden import aami4, detected, ec57, excerpts, monitor
from ternecg.golden.export import export


@pytest.fixture(scope="module")
def records():
    return {e.record: detected.detect_record(e.record, e.signal, e.ref, e.symbols) for e in excerpts.load()}


def test_labels():
    assert detected.aami4_labels(list("NLReAaJSVEFjQ/f") + [""]).tolist() == \
        [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 0, -1, -1, -1, -1]


def test_detections_take_their_matched_reference_symbol(records):
    for name, r in records.items():
        assert np.all(monitor.inside(r.det, len(r.signal)))
        m = ec57.match(r.ref, r.det)
        assert r.det_symbol[m.test_index].tolist() == r.ref_symbol[m.ref_index].tolist()
        assert np.all(r.det_symbol[m.fp_index] == "") and np.all(r.det_ref[m.fp_index] == -1)
        assert np.all(np.abs(r.det[m.test_index] - r.det_ref[m.test_index]) <= 54)
    # 208's excerpt: V and F beats among the labels
    lab = detected.aami4_labels(records["208"].det_symbol)
    assert (lab == 2).sum() > 30 and (lab == 3).sum() > 10


def test_set_windows_codes_and_shifts(records):
    s = detected.make_set(records, ("209", "203"))
    assert len(s) == len(records["209"].det) + len(records["203"].det)
    i = np.flatnonzero(s.record == "203")
    sig = records["203"].signal.astype(np.int64)
    assert np.array_equal(s.raw(i), monitor.windows(sig, records["203"].det))
    # RR codes exactly as the monitor computes them, per record
    cfg = aami4.config(aami4.INTER)
    assert np.array_equal(s.codes(cfg)[i], monitor.codes(records["203"].det, cfg))
    # a shift moves the window; it never leaves the record (clamped)
    j = i[5]
    assert np.array_equal(s.raw([j], [3])[0], sig[s.sample[j] - 117: s.sample[j] + 123])
    k = np.flatnonzero(s.record == "209")[0]
    w = s.raw([k], [-10 ** 6])[0]
    assert np.array_equal(w, records["209"].signal[:240].astype(np.int64))


def test_jitter_pools():
    assert aami4.jitter_pool(None, "none") is None
    assert aami4.jitter_pool(None, "uniform:2").tolist() == [-2, -1, 0, 1, 2]
    with pytest.raises(TernEcgError, match="jitter 'wobble'"):
        aami4.jitter_pool(None, "wobble")


def test_offsets_pool_is_symmetric_and_clipped(records):
    s = detected.make_set(records, tuple(records))
    pool = aami4.jitter_pool(s, "offsets")
    assert abs(pool.sum()) == 0 and np.abs(pool).max() <= aami4.JITTER_MAX
    assert len(pool) == 2 * (s.ref >= 0).sum()


def test_inputs_are_a_function_of_the_generator(records):
    s = detected.make_set(records, ("208",))
    cfg = aami4.config(aami4.INTER)
    idx = aami4.labelled(s)
    inp = aami4.Inputs(s, idx, cfg, aami4.jitter_pool(s, "offsets"))
    b = torch.arange(16)
    x1 = inp(b, torch.Generator().manual_seed(3))
    x2 = inp(b, torch.Generator().manual_seed(3))
    assert torch.equal(x1, x2) and x1.shape == (16, 240 + 3 * 15)
    assert not torch.equal(x1, aami4.Inputs(s, idx, cfg)(b, torch.Generator().manual_seed(3)))


def test_same_seed_same_model_file(records):
    """A tiny training twice: byte-identical exported documents (the recipe's one thread)."""
    recipe = dict(aami4.INTER, epochs=1, batch=64)
    docs = []
    for _ in range(2):
        net, _ = aami4.train_inter(records, ("208", "209"), recipe, seed=5)
        docs.append(json.dumps(export(net, {"seed": 5}), sort_keys=True))
    assert docs[0] == docs[1]
    assert torch.get_num_threads() == 1


def test_record_confusion_scores_after_the_fine_tuning_part(records):
    r = records["209"]
    cls = np.zeros(len(r.det), np.int64)
    whole = aami4.record_confusion(r, cls)
    late = aami4.record_confusion(r, cls, after=30 * 360)
    assert whole[:4].sum() > late[:4].sum() > 0
    assert whole[1, 0] == (detected.aami4_labels(r.det_symbol) == 1).sum()    # every S beat called N


def test_fine_tuning_with_a_common_set(records):
    """common = k adds up to k beats per class of the other records; seeded, so repeatable."""
    recipe = dict(aami4.FINETUNE, epochs=1, common=5)
    net, _ = aami4.train_inter(records, ("208", "209"), dict(aami4.INTER, epochs=1, batch=64), seed=1)
    pool = detected.make_set(records, ("208", "209"))
    a, _ = aami4.finetune(net, records, "105", recipe, 1, pool, common_from=("208", "209"))
    b, _ = aami4.finetune(net, records, "105", recipe, 1, pool, common_from=("208", "209"))
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], net.state_dict()[k]) for k in sa)


def test_a_last_batch_of_one_beat_is_skipped():
    """65 beats in batches of 64: the one-beat batch used to stop batch norm with an error."""
    from ternecg.golden import train
    from ternecg.golden.spec.config import load_config
    net = train.new_net(load_config("msgc_mux_aami4"), True, 0)
    x = torch.randint(-100, 100, (65, 240))
    y = torch.randint(0, 4, (65,))
    train.fit(net, x, y, epochs=1, lr=1e-3, seed=0, batch=64, mixup=0.0, quiet=True, threads=1)


def test_select_folds_and_bad_names():
    """aami4-select's hold-out folds are disjoint DS1 records; a bad variant or fold is one clear
    error before any data is read."""
    from ternecg.golden import aami4_select, splits
    a, b = (set(aami4_select.FOLDS[k]) for k in ("a", "b"))
    assert a == set(aami4.HOLDOUT) and not a & b and (a | b) <= set(splits.DS1) and len(b) == 5
    with pytest.raises(TernEcgError, match="unknown hold-out fold 'c'"):
        aami4_select.select(["shipped"], fold="c", db="/nonexistent")
    with pytest.raises(TernEcgError, match="unknown aami4 variant"):
        aami4_select.select(["nope"], db="/nonexistent")
