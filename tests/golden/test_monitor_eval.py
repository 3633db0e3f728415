"""`make monitor-eval` (golden/monitor_eval.py): on the reference peaks ("annotated") the monitor's
EC57 figures equal the per-beat evaluation of golden/evaluate.py for the same model and beats
(database: slow); the per-record scoring on the excerpts without the database."""

import numpy as np
import pytest
import torch

from ternecg import cli
from ternecg.golden import detected, evaluate, excerpts, integer_ref, monitor, monitor_eval, splits
from ternecg.golden.spec import modelfile
from ternecg.golden.spec.rr import record_codes
from ternecg.paths import models_dir

AAMI4 = models_dir() / "aami4_inter.json"
needs_aami4 = pytest.mark.skipif(not AAMI4.is_file(), reason="models/aami4_inter.json not trained yet")


def _db():
    from ternecg.golden.records import find_database
    try:
        return find_database(None)
    except Exception:
        return None


needs_db = pytest.mark.skipif(_db() is None, reason="MIT-BIH database not available")


@needs_aami4
def test_annotated_run_of_an_excerpt_is_the_per_beat_evaluation():
    """Without the database: an excerpt as a record, its reference beats as the peaks."""
    m = modelfile.load(AAMI4)
    e = excerpts.load()[0]
    rec = detected.detect_record(e.record, e.signal, e.ref, e.symbols)
    cm, det = monitor_eval.record_run(m, rec, "annotated")
    keep = monitor.inside(e.ref, len(e.signal))
    r, sym = e.ref[keep], e.symbols[keep]
    x = e.signal.astype(np.int64)
    raw = torch.as_tensor(np.stack([x[p - 120:p + 120] for p in r]))
    pred = integer_ref.classify(m, raw, torch.as_tensor(record_codes(r, m.cfg.rr_local, m.cfg.rr_bits))).numpy()
    lab = detected.aami4_labels(sym)
    want = evaluate.confusion(lab[lab >= 0], pred[lab >= 0], 4)
    assert cm[:4, :4].tolist() == want.tolist()
    assert cm[4].sum() == 0 and cm[:, 4].sum() == 0 and det["fn"] == det["fp"] == 0
    # detected: the same beats, some of them moved, missed or false
    cmd, detd = monitor_eval.record_run(m, rec, "detected")
    assert cmd[:4].sum() == cm[:4].sum() and detd["tp"] + detd["fn"] == det["tp"]


@pytest.mark.slow
@needs_db
@needs_aami4
def test_monitor_eval_annotated_equals_evaluate_on_ds2():
    """The whole DS2 inter-patient run on the reference peaks: the confusion matrix and per-class
    figures of monitor-eval equal evaluate.py's per-beat path (load_beats windows, model_codes)."""
    m = modelfile.load(AAMI4)
    recs = detected.load()
    cms = {r: monitor_eval.record_run(m, recs[r], "annotated")[0] for r in splits.DS2}
    total = sum(cms.values())
    from ternecg.golden.beats import load_beats
    from ternecg.golden.rr import model_codes
    beats = load_beats()
    _, test = splits.inter_patient(beats)
    codes = model_codes(beats, m.cfg)[test]
    pred = integer_ref.classify(m, torch.from_numpy(beats.raw[test].astype(np.int64)), codes).numpy()
    lab = detected.aami4_labels(beats.symbol[test])
    want = evaluate.confusion(lab, pred, 4)
    assert total[:4, :4].tolist() == want.tolist()
    assert total[4].sum() == 0 and total[:, 4].sum() == 0
    got = monitor_eval._run_figures(cms)
    assert got["acc"] == pytest.approx(np.trace(want) / want.sum())


@pytest.mark.slow
@needs_db
def test_monitor_eval_annotated_equals_binary_metrics_for_the_binary_rr_model():
    """The same for the shipped binary RR model (evaluate.binary_metrics, unchanged)."""
    m = modelfile.load(models_dir() / "inter_patient.json")
    recs = detected.load()
    total = sum(monitor_eval.record_run(m, recs[r], "annotated")[0] for r in splits.DS2)
    from ternecg.golden.beats import load_beats
    from ternecg.golden.rr import model_codes
    beats = load_beats()
    _, test = splits.inter_patient(beats)
    pred = integer_ref.classify(m, torch.from_numpy(beats.raw[test].astype(np.int64)),
                                model_codes(beats, m.cfg)[test]).numpy()
    ref = evaluate.binary_metrics(beats.symbol[test], pred)
    assert total.shape == (5, 3) and total[4].sum() == 0 and total[:, 2].sum() == 0
    for i, c in enumerate("NSVF"):
        want = 0 if c == "N" else 1
        assert total[i, want] / total[i, :2].sum() == pytest.approx(ref["per_class"][c]["se"])
    assert (total[0, 0] + total[1:4, 1].sum()) / total.sum() == pytest.approx(ref["acc"])


def test_cli_names_a_missing_model(tmp_path, capsys):
    assert cli.main(["monitor-eval", "--models", str(tmp_path)]) == 2
    assert "aami4_inter.json not found" in capsys.readouterr().err
