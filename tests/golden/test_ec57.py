"""The EC57 beat-by-beat matcher (golden/ec57.py): hand-made cases with known answers, and a
cross-check against wfdb.processing.compare_annotations."""

import numpy as np
import pytest

from ternecg.errors import TernEcgError
from ternecg.golden import ec57, excerpts, qrs


def test_window_is_150_ms_rounded():
    assert ec57.match_window(360) == 54
    assert ec57.match_window(250) == 38  # 37.5 rounds half up
    assert ec57.match_window(1000) == 150
    with pytest.raises(TernEcgError, match="positive integer"):
        ec57.match_window(0)


def test_window_edges_inclusive():
    inside = ec57.match([1000], [1054])
    assert (inside.tp, inside.fn, inside.fp) == (1, 0, 0)
    assert inside.offsets.tolist() == [54]
    before = ec57.match([1000], [946])
    assert (before.tp, before.fn, before.fp) == (1, 0, 0)
    outside = ec57.match([1000], [1055])
    assert (outside.tp, outside.fn, outside.fp) == (0, 1, 1)
    assert ec57.match([1000], [945]).tp == 0


def test_double_detection_leaves_one_false_positive():
    m = ec57.match([1000, 1300], [995, 1003, 1300])
    assert (m.tp, m.fn, m.fp) == (2, 0, 1)
    assert m.test_index.tolist() == [1, 2]  # 1003 is the nearer of the two (3 vs 5)
    assert m.fp_index.tolist() == [0]


def test_detection_between_two_references_goes_to_the_nearer():
    m = ec57.match([1000, 1100], [1040])
    assert (m.tp, m.fn, m.fp) == (1, 1, 0)
    assert m.ref_index.tolist() == [0] and m.fn_index.tolist() == [1]
    tie = ec57.match([1000, 1100], [1050])  # equidistant: the earlier reference
    assert tie.ref_index.tolist() == [0] and tie.fn_index.tolist() == [1]
    late = ec57.match([1000, 1100], [1060])
    assert late.ref_index.tolist() == [1]


def test_each_annotation_used_once():
    m = ec57.match([1000, 1010, 1020], [1005, 1015])
    assert (m.tp, m.fn, m.fp) == (2, 1, 0)
    assert len(set(m.ref_index.tolist())) == 2 and len(set(m.test_index.tolist())) == 2


def test_empty_inputs():
    m = ec57.match([], [])
    assert (m.tp, m.fn, m.fp, m.se, m.ppv) == (0, 0, 0, 1.0, 1.0)
    m = ec57.match([10, 500], [])
    assert (m.tp, m.fn, m.fp, m.se, m.ppv) == (0, 2, 0, 0.0, 1.0)
    m = ec57.match([], [10])
    assert (m.tp, m.fn, m.fp, m.ppv) == (0, 0, 1, 0.0)
    assert m.counts() == {"tp": 0, "fn": 0, "fp": 1, "se": 1.0, "ppv": 0.0}


def test_bad_inputs_one_message():
    with pytest.raises(TernEcgError, match="sorted"):
        ec57.match([10, 5], [])
    with pytest.raises(TernEcgError, match="integers"):
        ec57.match([10.5], [])
    with pytest.raises(TernEcgError, match="1-D"):
        ec57.match(np.zeros((2, 2), int), [])


def test_beat_symbols_and_vf_episodes():
    syms = np.array(list("+N[!!]~Vx|\"/QA"))
    assert ec57.beat_mask(syms).tolist() == [c in "NV/QA" for c in "+N[!!]~Vx|\"/QA"]
    assert set("NLRBAaJSVrFejnE/fQ?") == set(ec57.BEAT_SYMBOLS)
    samples = np.arange(len(syms)) * 100
    vf = ec57.vf_episodes(samples, syms)
    assert vf.tolist() == [[200, 500]]
    ref = [100, 300, 700]
    test = [100, 300, 350, 700]
    m = ec57.match(ref, test, exclude=vf)
    assert (m.tp, m.fn, m.fp) == (2, 0, 0)  # 300 and 350 lie inside [200, 500]
    assert ec57.vf_episodes([5, 9], ["[", "N"]).tolist() == [[5, 2 ** 62]]


def _wfdb_counts(ref, test, window):
    from wfdb.processing import compare_annotations
    c = compare_annotations(np.asarray(ref), np.asarray(test), window + 1)  # wfdb: |t - r| < width
    return c.tp, c.fn, c.fp


@pytest.mark.filterwarnings("ignore")
def test_matches_wfdb_compare_annotations_on_excerpts():
    """Same counts as wfdb's matcher (which walks references in time order) on real detections."""
    for ex in excerpts.load():
        det = qrs.detect(ex.signal)
        m = ec57.match(ex.ref, det)
        assert (m.tp, m.fn, m.fp) == _wfdb_counts(ex.ref, det, 54), ex.name
        # and shifted detections that stress the window edges
        shifted = np.unique(np.concatenate([det + 54, det[::3] - 40]))
        m2 = ec57.match(ex.ref, shifted)
        assert (m2.tp, m2.fn, m2.fp) == _wfdb_counts(ex.ref, shifted, 54), ex.name


def test_matcher_agrees_with_wfdb_on_random_streams():
    """Known definitional difference: wfdb pairs in reference order, ec57 nearest first. On
    realistic streams (references >= 200 ms apart, detections jittered, some missed, some extra)
    the counts agree almost always; they can differ by a pair when three annotations compete
    inside one window."""
    import warnings
    rng = np.random.default_rng(0)
    diffs = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(50):
            ref = np.cumsum(rng.integers(72, 400, 200))
            kept = ref[rng.random(200) > 0.05]
            test = np.concatenate([kept + rng.integers(-30, 31, len(kept)), rng.integers(0, ref[-1], 5)])
            test = np.unique(test)
            m = ec57.match(ref, test)
            w = _wfdb_counts(ref, test, 54)
            assert m.tp + m.fn == len(ref) and m.tp + m.fp == len(test)
            diffs += abs(m.tp - w[0])
    assert diffs <= 5
