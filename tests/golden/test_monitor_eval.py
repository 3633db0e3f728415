"""`make monitor-eval` (golden/monitor_eval.py): on the reference peaks ("annotated") the monitor's
EC57 figures equal the per-beat evaluation of golden/evaluate.py for the same model and beats
(database, slow: a few DS2 records, tens of seconds; the whole of DS2 is the command's run); the
per-record scoring on the excerpts and the targets on hand-made matrices without the database."""

import numpy as np
import pytest
import torch

from ternecg import cli
from ternecg.golden import detected, evaluate, excerpts, integer_ref, monitor, monitor_eval
from ternecg.golden.spec import modelfile
from ternecg.golden.spec.rr import irregular_codes, record_codes, template_codes
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
    rr = record_codes(r, m.cfg.rr_local, m.cfg.rr_bits)
    if m.cfg.rr_template:                       # the template code of the model's template rule
        rr = np.concatenate([rr, template_codes(raw.numpy(), m.cfg.rr_bits, m.cfg.rr_template_gate)[:, None]], 1)
    if m.cfg.rr_irregular:                      # the irregularity code of the model's RR rule
        rr = np.concatenate([rr, irregular_codes(r, m.cfg.rr_local, m.cfg.rr_bits)[:, None]], 1)
    pred = integer_ref.classify(m, raw, torch.as_tensor(rr)).numpy()
    lab = detected.aami4_labels(sym)
    want = evaluate.confusion(lab[lab >= 0], pred[lab >= 0], 4)
    assert cm[:4, :4].tolist() == want.tolist()
    assert cm[4].sum() == 0 and cm[:, 4].sum() == 0 and det["fn"] == det["fp"] == 0
    # detected: the same beats, some of them moved, missed or false
    cmd, detd = monitor_eval.record_run(m, rec, "detected")
    assert cmd[:4].sum() == cm[:4].sum() and detd["tp"] + detd["fn"] == det["tp"]


#: a few DS2 records with every class (200: V, S, F; 232: S); the whole DS2 run is `make monitor-eval`'s
RECORDS = ("200", "232")


def _per_beat(m, records):
    """evaluate.py's per-beat path on whole records: load_beats windows, model_codes, the integer
    reference: (labels, predictions, symbols)."""
    from ternecg.golden.beats import load_beats
    from ternecg.golden.rr import model_codes
    beats = load_beats(records=records)
    codes = model_codes(beats, m.cfg)
    pred = integer_ref.classify(m, torch.from_numpy(beats.raw.astype(np.int64)), codes).numpy()
    return detected.aami4_labels(beats.symbol), pred, beats.symbol


@pytest.mark.slow
@needs_db
@needs_aami4
def test_monitor_eval_annotated_equals_evaluate_on_ds2_records():
    """DS2 records with every class, inter-patient model on the reference peaks: the confusion
    matrix and figures of monitor-eval equal evaluate.py's per-beat path."""
    m = modelfile.load(AAMI4)
    recs = detected.load()
    cms = {r: monitor_eval.record_run(m, recs[r], "annotated")[0] for r in RECORDS}
    total = sum(cms.values())
    lab, pred, _ = _per_beat(m, RECORDS)
    want = evaluate.confusion(lab[lab >= 0], pred[lab >= 0], 4)
    assert total[:4, :4].tolist() == want.tolist() and min(want.sum(axis=1)) > 0    # every class present
    assert total[4].sum() == 0 and total[:, 4].sum() == 0
    got = monitor_eval._run_figures(cms)
    assert got["acc"] == pytest.approx(np.trace(want) / want.sum())
    assert got["literature"]["200-234"]["records"] == list(RECORDS)


@pytest.mark.slow
@needs_db
def test_monitor_eval_annotated_equals_binary_metrics_for_the_binary_rr_model():
    """The same for the shipped binary RR model (evaluate.binary_metrics, unchanged) on record 200."""
    m = modelfile.load(models_dir() / "inter_patient.json")
    total = monitor_eval.record_run(m, detected.load()["200"], "annotated")[0]
    _, pred, symbols = _per_beat(m, ("200",))
    ref = evaluate.binary_metrics(symbols, pred)
    assert total.shape == (5, 3) and total[4].sum() == 0 and total[:, 2].sum() == 0
    for i, c in enumerate("NSVF"):
        want = 0 if c == "N" else 1
        assert total[i, want] / total[i, :2].sum() == pytest.approx(ref["per_class"][c]["se"])
    assert (total[0, 0] + total[1:4, 1].sum()) / total.sum() == pytest.approx(ref["acc"])


def _report(cm_inter, cm_patient, cost=0.002, weights=7000):
    """A monitor-eval report from hand-made matrices (both modes the same, ``cost`` moved to acc)."""
    rep = {}
    for p, cm in (("inter_patient", cm_inter), ("patient_specific", cm_patient)):
        f = monitor_eval._run_figures({"200": np.asarray(cm)})
        rep[p] = {"detected": f, "annotated": dict(f, acc=f["acc"] + cost), "detection_cost_acc": cost,
                  "weights": weights, "detection": {"tp": 1, "fn": 0, "fp": 0, "se": 1.0, "ppv": 1.0}}
    rep["detection"] = {"records": 1, "tp": 1, "fn": 0, "fp": 0, "se": 1.0, "ppv": 1.0}
    return rep


def test_targets_read_the_detected_run_and_say_met():
    """Issue 14's targets on hand-made matrices (rows N S V F X, columns n s v f o)."""
    good = [[970, 5, 5, 0, 2], [2, 95, 0, 0, 3], [0, 0, 97, 0, 3], [0, 0, 2, 8, 0], [1, 0, 0, 0, 0]]
    bad = [[900, 60, 40, 0, 0], [80, 20, 0, 0, 0], [10, 0, 90, 0, 0], [0, 0, 10, 0, 0], [0, 0, 0, 0, 0]]
    t = {(x["protocol"], x["target"]): x for x in monitor_eval.targets(_report(good, good))}
    assert len(t) == len(monitor_eval.TARGETS) and all(x["met"] for x in t.values())
    assert t[("inter_patient", "V Se >= 0.93 at V +P >= 0.90")]["value"] == [0.97, 97 / 104]
    t = {(x["protocol"], x["target"]): x for x in monitor_eval.targets(_report(bad, bad, cost=0.01, weights=9000))}
    assert not any(x["met"] for x in t.values())
    assert t[("inter_patient", "S Se >= 0.80 at S +P >= 0.60")]["value"] == [0.2, 0.25]
    assert t[("patient_specific", "detection costs at most 0.005 of ACC")]["value"] == 0.01
    rep = _report(good, bad)
    rep["targets"] = monitor_eval.targets(rep)
    text = monitor_eval.table(rep)
    assert "  inter_patient ACC >= 0.96: " in text and "SVEB Se >= 0.80 at +P >= 0.80: 0.2000 / 0.2500 NOT met\n" in text


def test_cli_names_a_missing_model(tmp_path, capsys):
    assert cli.main(["monitor-eval", "--models", str(tmp_path)]) == 2
    assert "aami4_inter.json not found" in capsys.readouterr().err


def test_cli_names_a_missing_database_folder(tmp_path, capsys):
    assert cli.main(["monitor-eval", "--db", str(tmp_path / "nowhere"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "nowhere" in err and "does not exist" in err and "\n" not in err
    assert not (tmp_path / "monitor_eval.json").exists()
