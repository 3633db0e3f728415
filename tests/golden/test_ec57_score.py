"""EC57 beat classification scoring (golden/ec57_score.py) on hand-made cases with known answers."""

import numpy as np
import pytest

from ternecg.golden import ec57_score

N, S, V, F = 0, 1, 2, 3


def test_matched_missed_false_and_excluded_beats():
    ref = [1000, 2000, 3000, 4000, 5000, 6000]
    ref_cls = [N, V, S, -1, N, F]           # 4000 is a Q beat: not scored, nor its detection
    det = [1010, 1500, 2040, 3300, 4000, 5054, 6055]
    det_cls = [N, V, V, S, V, S, F]
    cm = ec57_score.confusion(ref, ref_cls, det, det_cls)
    want = np.zeros((5, 5), np.int64)
    want[N, N] = 1                         # 1000 <- 1010
    want[V, V] = 1                         # 2000 <- 2040
    want[S, 4] = 1                         # 3000: 3300 is 300 samples away: missed ...
    want[4, S] = 1                         # ... and 3300 a false detection called S
    want[4, V] = 1                         # 1500: false detection called V
    want[N, S] = 1                         # 5000 <- 5054 (54 samples: inside the window)
    want[F, 4] = 1                         # 6000: 6055 is 55 samples away: missed ...
    want[4, F] = 1                         # ... and a false detection
    assert cm.tolist() == want.tolist()
    m = ec57_score.metrics(cm)
    assert m["acc"] == pytest.approx(2 / 8)
    assert m["missed"] == 2 and m["false"] == 3 and m["beats"] == 5
    assert m["classes"]["V"]["se"] == 1.0 and m["classes"]["V"]["ppv"] == 0.5
    assert m["classes"]["S"]["se"] == 0.0 and m["classes"]["S"]["ppv"] == 0.0
    # FPR of V: one false positive (the false detection 1500); TN = 8 - 1 - 0 - 1 = 6
    assert m["classes"]["V"]["fpr"] == pytest.approx(1 / 7)


def test_double_detection_leaves_one_false_detection():
    cm = ec57_score.confusion([1000], [V], [990, 1003], [N, V])
    assert cm[V, V] == 1 and cm[4, N] == 1 and cm.sum() == 2


def test_scored_part_only():
    ref = [100, 5000, 9000]
    cls = [-1, N, S]                       # the first is before the scored part
    det = [100, 300, 5000, 9000]
    dcls = [V, V, N, S]
    cm = ec57_score.confusion(ref, cls, det, dcls, det_scored=np.array(det) >= 1000)
    assert cm[N, N] == 1 and cm[S, S] == 1 and cm[4].sum() == 0 and cm.sum() == 2


def test_non_square_for_a_binary_model():
    cm = ec57_score.confusion([100, 500, 900], [N, S, V], [100, 500, 700], [0, 1, 1], n_decided=2)
    assert cm.shape == (5, 3)
    assert cm[N, 0] == 1 and cm[S, 1] == 1 and cm[V, 2] == 1 and cm[4, 1] == 1


def test_veb_sveb_follow_ec57():
    cm = np.zeros((5, 5), np.int64)
    cm[N] = [900, 10, 5, 1, 3]              # Nn Ns Nv Nf No
    cm[S] = [20, 60, 2, 0, 1]
    cm[V] = [4, 1, 80, 3, 2]
    cm[F] = [5, 1, 7, 10, 0]                # Fv = 7: not a VEB false positive; Fs = 1: an SVEB one
    cm[4] = [6, 2, 3, 0, 0]                 # false detections
    r = ec57_score.veb_sveb(cm)
    v, s = r["veb"], r["sveb"]
    assert (v["tp"], v["fn"], v["fp"]) == (80, 4 + 1 + 3 + 2, 5 + 2 + 3)
    assert v["tn"] == (900 + 10 + 1 + 3) + (20 + 60 + 0 + 1) + (6 + 2 + 0)
    assert v["se"] == pytest.approx(80 / 90) and v["ppv"] == pytest.approx(80 / 90)
    assert v["fpr"] == pytest.approx(10 / (10 + v["tn"]))
    assert v["acc"] == pytest.approx((80 + v["tn"]) / (80 + v["tn"] + 10 + 10))
    assert (s["tp"], s["fn"], s["fp"]) == (60, 23, 10 + 1 + 1 + 2)
    assert s["tn"] == (900 + 5 + 1 + 3) + (4 + 80 + 3 + 2) + (5 + 7 + 10 + 0) + (6 + 3 + 0)
    assert s["se"] == pytest.approx(60 / 83)


def test_empty_cases():
    cm = ec57_score.confusion([], [], [], [])
    assert cm.sum() == 0
    m = ec57_score.metrics(cm)
    assert m["acc"] is None and m["classes"]["S"]["se"] is None
    assert ec57_score.veb_sveb(cm)["veb"]["se"] is None
