"""golden/aami4_operating_ds2.py without the database: the two operating points on synthetic logits,
docs/results.md's DS2-outcome paragraph from a hand-made results file (and without one), the
command's one-line error on a bad seed; the scoring of the shipped model (with its template code)
on the fixture excerpts."""

import numpy as np
import pytest

from ternecg import cli
from ternecg.golden import aami4_operating as op, aami4_operating_ds2 as ds2
from ternecg.paths import models_dir


def _point(acc, s, v, f1, cost):
    return {"acc": acc, "S": {"se": s[0], "ppv": s[1]}, "V": {"se": v[0], "ppv": v[1]}, "mean_f1_sv": f1,
            "annotated_acc": acc + cost / 100, "detection_cost_points": cost}


def _run(seed, zero, applied, patient_offsets=(0, 0, 0, 0)):
    pat = _point(0.95, (0.5, 0.6), (0.9, 0.9), 0.7, 0.2)
    return {"seed": seed, "models": "models",
            "inter_patient": {"offsets": [0, 8, 8, 0], "zero": zero, "applied": applied},
            "patient_specific": {"offsets": list(patient_offsets), "zero": pat, "applied": pat}}


def _data(runs):
    return {"runs": runs, "seeds": [r["seed"] for r in runs], "notes": [],
            "mean": {p: {pt: ds2._mean([r[p][pt] for r in runs]) for pt in ds2.POINTS}
                     for p in ("inter_patient", "patient_specific")}}


OPERATING = {"holdout": ["118", "124", "201", "215", "223"],
             "protocols": {"inter": {"base": {"summary": {"classes": {"S": {"se": 0.284}, "V": {"se": 0.704}}}}}}}
WORSE = _run(0, _point(0.9210, (0.1268, 0.1922), (0.9084, 0.6353), 0.450, 0.49),
             _point(0.8880, (0.1415, 0.1301), (0.9298, 0.5002), 0.393, 0.61))
ALSO_WORSE = _run(1, _point(0.9150, (0.2, 0.3), (0.9, 0.6711), 0.46, 0.3), _point(0.8792, (0.2, 0.2), (0.9, 0.5176), 0.40, 0.3))


def test_paragraph_from_a_results_file():
    text = "\n".join(ds2.results_lines(_data([WORSE, ALSO_WORSE]), OPERATING))
    assert "On DS2, scored once after the choice (`make aami4-operating-ds2`" in text
    assert "the choice above was not changed because of it" in text
    assert "the inter-patient offsets [0, 8, 8, 0] did not transfer: against the same seed-0 model with zero offsets" in text
    assert ("ACC 92.10 -> 88.80 %, S Se / +P 12.68 / 19.22 -> 14.15 / 13.01 %, V Se / +P 90.84 / 63.53 -> "
            "92.98 / 50.02 %, mean F1(S, V) 0.450 -> 0.393") in text
    assert "the detection cost rose from 0.49 to 0.61 points (over the 0.5 target)" in text
    assert "over seeds 0, 1 (mean) the same direction (ACC 91.80 -> 88.36 %, V +P 65.32 -> 50.89 %" in text
    assert "low S and V Se (28 / 70 %) where DS2's sits at high V Se (91 %)" in text
    assert "5 hold-out records do not fix an operating point" in text
    assert "The patient-specific files are unchanged (zero offsets, recorded in their metadata): ACC 95.00 %" in text


def test_paragraph_says_when_the_offsets_transfer():
    better = _run(0, _point(0.90, (0.1, 0.2), (0.8, 0.6), 0.40, 0.6), _point(0.92, (0.2, 0.2), (0.9, 0.7), 0.45, 0.4))
    text = "\n".join(ds2.results_lines(_data([better]), OPERATING))
    assert "[0, 8, 8, 0] transferred:" in text and "fell from 0.60 to 0.40 points (within the 0.5 target)" in text
    assert "hold-out records do not fix" not in text and "over seeds" not in text


def test_missing_results_file_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setattr(ds2, "RESULT", tmp_path / "aami4_operating_ds2.json")
    lines = ds2.results_lines()
    assert lines[0].startswith("The DS2 outcome of the operating point is not scored yet")
    assert "`make aami4-operating-ds2`" in lines[0]


def test_points_take_the_files_offsets_off_again():
    # two S beats whose S logit wins only with the file's +8; one N beat; the file carries [0, 8, 8, 0]
    logits = np.array([[10, 12, 0, 0], [10, 19, 0, 0], [10, 4, 0, 0]], np.int64)
    beats = op.Beats(logits, np.array([1, 1, 0]), np.zeros(4, np.int64))
    both = {"detected": beats, "annotated": beats}
    applied, zero = ds2.point(both, [0, 0, 0, 0]), ds2.point(both, [0, -8, -8, 0])
    assert applied["acc"] == 1.0 and applied["S"]["se"] == 1.0 and applied["detection_cost_points"] == 0.0
    assert zero["acc"] == pytest.approx(2 / 3) and zero["S"]["se"] == 0.5


@pytest.mark.parametrize("argv, needle", [
    (["--seed", "5"], "seed 5: the shipped four-class recipes have seeds 0, 1, 2"),
    (["--seed", "x"], "argument --seed: 'x' is not an integer"),
])
def test_cli_rejects_a_bad_seed_in_one_line(argv, needle, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(ds2, "RESULT", tmp_path / "aami4_operating_ds2.json")
    assert cli.main(["aami4-operating-ds2", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ternecg aami4-operating-ds2: error: ") and needle in err and "\n" not in err
    assert not list(tmp_path.iterdir())


INTER = models_dir() / "aami4_inter.json"


@pytest.mark.skipif(not INTER.is_file(), reason="four-class model not trained")
def test_protocol_beats_scores_the_shipped_model_with_its_template_code():
    # the shipped four-class models read a template code (the beats' windows) in their RR rules:
    # protocol_beats gives the rules those codes, and its classes are the monitor's (it checks)
    from ternecg.golden import detected, excerpts
    from ternecg.golden.spec import modelfile
    model = modelfile.load(INTER)
    assert model.cfg.rr_template and model.rr_rules
    ex = excerpts.load()[:2]
    records = {e.record: detected.detect_record(e.record, e.signal, e.ref, e.symbols) for e in ex}
    beats, offsets = ds2.protocol_beats({r: model for r in records}, records, list(records), 0)
    for mode in ("detected", "annotated"):
        b = beats[mode]
        assert b.hit is not None and len(b.hit) == len(b.logits) > 100
    assert offsets == [int(v) for v in model.meta.get("bias_offsets", [0] * 4)]


@pytest.mark.skipif(not INTER.is_file(), reason="four-class model not trained")
def test_with_and_without_makes_its_work_folder_in_a_fresh_build_tree(tmp_path, monkeypatch):
    # `make aami4-rule DS2=1` in a checkout without build/exp stopped with a traceback (the
    # temporary copies' folder did not exist); the scoring itself is stubbed out here
    from ternecg.golden import detected, monitor_eval
    from ternecg.golden.spec import modelfile
    from ternecg.paths import BUILD_ENV
    monkeypatch.setenv(BUILD_ENV, str(tmp_path / "fresh"))
    model = modelfile.load(INTER)
    monkeypatch.setattr(ds2, "seed_models", lambda seed: (tmp_path, {p: {"100": model} for p in monitor_eval.PROTOCOLS}))
    monkeypatch.setattr(detected, "load", lambda db=None: {})
    beats = op.Beats(np.array([[9, 0, 0, 0], [0, 9, 0, 0]]), np.array([0, 1]), np.zeros(4, np.int64))
    monkeypatch.setattr(ds2, "protocol_beats", lambda *a, **k: ({"detected": beats, "annotated": beats}, [0] * 4))
    out = ds2.with_and_without(lambda doc: doc, "rr_rule", None, "cmd", "scored", tmp_path / "r.json")
    assert (tmp_path / "fresh" / "exp").is_dir() and set(out["protocols"]) == set(monitor_eval.PROTOCOLS)
    assert out["protocols"]["inter_patient"]["with"]["acc"] == 1.0
