"""EC57-style beat classification scoring: a confusion matrix with a missed-beat column and a
false-detection row, per-class Se / +P / FPR, and the VEB / SVEB figures of the literature.

The matrix (:func:`confusion`) has one row per reference class and a last row ``X`` (false
detections: a classified detection matched to no reference beat), one column per decided class
and a last column ``o`` (missed: a reference beat matched to no classified detection); ``X, o``
is always 0. A reference beat matched to a detection (golden/ec57.py: 150 ms, nearest first)
takes that detection's class. Reference beats with class -1 (AAMI Q, or outside the scored part)
are left out together with the detection they matched (it is not a false detection either).

:func:`metrics` reads, for each class c, ``se = cm[c, c] / row c`` (missed beats count against
it), ``ppv = cm[c, c] / column c`` (false detections called c count against it) and
``fpr = FP / (FP + TN)`` with TN every entry outside row c and column c; ``acc`` is the diagonal
over every entry (each missed beat and false detection is an error).

:func:`veb_sveb` follows ANSI/AAMI EC57 (and PhysioNet's bxb, ``bxb -S``) as far as a four-class
matrix allows: VEB: TP = Vv, FN = the rest of row V (missed V beats included), FP = Nv + Sv + Xv
(a fusion beat called V is *not* a VEB false positive), TN = every entry of rows N, S and X outside
column v (row F takes no part); SVEB: TP = Ss, FN = the rest of row S, FP = Ns + Vs + Fs + Xs,
TN = every entry of rows N, V, F and X outside column s. Se = TP/(TP+FN), +P = TP/(TP+FP),
FPR = FP/(FP+TN), ACC = (TP+TN)/(TP+TN+FP+FN). (EC57 itself has no ACC or FPR; they are the
definitions of de Chazal et al. 2004 and Kiranyaz et al. 2016 on these counts.)
"""

from __future__ import annotations

import numpy as np

from . import ec57

CLASSES = ("N", "S", "V", "F")


def confusion(ref, ref_cls, det, det_cls, n_classes: int = 4, n_decided: int | None = None, fs: int = 360,
              det_scored=None) -> np.ndarray:
    """(n+1, d+1) int64 matrix of one record: rows reference class 0..n-1 and X (false
    detection), columns decided class 0..d-1 and o (missed); ``d = n_decided`` defaults to ``n``
    (a model with other classes, e.g. the binary N / abnormal, gives a non-square matrix).

    ``ref``: sorted reference beat samples, ``ref_cls``: their class (-1: not scored);
    ``det``: sorted classified detections, ``det_cls``: their decided class; ``det_scored``:
    optional mask of the detections whose false detection counts (default: all)."""
    ref = np.asarray(ref, np.int64)
    det = np.asarray(det, np.int64)
    ref_cls = np.asarray(ref_cls, np.int64)
    det_cls = np.asarray(det_cls, np.int64)
    n = n_classes
    d = n if n_decided is None else n_decided
    cm = np.zeros((n + 1, d + 1), np.int64)
    m = ec57.match(ref, det, fs)
    rc, dc = ref_cls[m.ref_index], det_cls[m.test_index]
    keep = rc >= 0
    np.add.at(cm, (rc[keep], dc[keep]), 1)
    fn = ref_cls[m.fn_index]
    np.add.at(cm, (fn[fn >= 0], d), 1)
    fp = m.fp_index if det_scored is None else m.fp_index[np.asarray(det_scored, bool)[m.fp_index]]
    np.add.at(cm, (n, det_cls[fp]), 1)
    return cm


def _ratio(a, b):
    return float(a) / float(b) if b else None


def metrics(cm, classes=CLASSES) -> dict:
    """``{"acc", "classes": {c: {"se", "ppv", "fpr", "count"}}, "missed", "false", "beats"}`` of a
    :func:`confusion` matrix (None where a denominator is 0)."""
    cm = np.asarray(cm, np.int64)
    n = len(classes)
    total = int(cm.sum())
    out = {}
    for i, c in enumerate(classes):
        tp = int(cm[i, i])
        fn = int(cm[i].sum()) - tp
        fp = int(cm[:, i].sum()) - tp
        tn = total - tp - fn - fp
        out[c] = {"se": _ratio(tp, tp + fn), "ppv": _ratio(tp, tp + fp), "fpr": _ratio(fp, fp + tn),
                  "count": tp + fn}
    return {"acc": _ratio(np.trace(cm), total), "classes": out, "missed": int(cm[:n, n].sum()),
            "false": int(cm[n, :n].sum()), "beats": int(cm[:n].sum()), "confusion": cm.tolist()}


def veb_sveb(cm) -> dict:
    """``{"veb": {...}, "sveb": {...}}`` with ``se``, ``ppv``, ``fpr``, ``acc`` and the counts
    ``tp``, ``fn``, ``fp``, ``tn`` (EC57 rules, module docstring) of a four-class :func:`confusion`."""
    cm = np.asarray(cm, np.int64)
    N, S, V, F, X = 0, 1, 2, 3, 4      # rows; columns n s v f o = 0 1 2 3 4

    def stats(c, neg_rows):
        tp = int(cm[c, c])
        fn = int(cm[c].sum()) - tp
        fp = int(sum(cm[r, c] for r in neg_rows))
        tn = int(sum(cm[r].sum() - cm[r, c] for r in neg_rows))
        return {"se": _ratio(tp, tp + fn), "ppv": _ratio(tp, tp + fp), "fpr": _ratio(fp, fp + tn),
                "acc": _ratio(tp + tn, tp + tn + fp + fn), "tp": tp, "fn": fn, "fp": fp, "tn": tn}
    return {"veb": stats(V, (N, S, X)), "sveb": stats(S, (N, V, F, X))}
