"""RR codes from R-peak positions, and their thermometer bits (no database needed)."""

import numpy as np
import pytest
import torch

from ternecg.errors import TernEcgError
from ternecg.golden.beats import WINDOW, Beats
from ternecg.golden.rr import rr_codes, thermometer


def _beats(records, samples):
    n = len(samples)
    return Beats(np.zeros((n, WINDOW), np.int16), records, np.asarray(samples), ["N"] * n)


def test_regular_rhythm_codes_8_and_a_premature_beat_is_early():
    # record 1: every 300 samples, beat 5 comes 120 samples early (and its post interval is long)
    s = [300 * i for i in range(10)]
    s[5] -= 120
    b = _beats(["100"] * 10 + ["101"] * 3, s + [0, 360, 720])
    c = rr_codes(b)
    assert c[:4].tolist() == [[8, 8, 8]] * 4
    assert c[4].tolist() == [8, 5, 5]                 # its successor comes early: post 180 of 300
    pre, post = 180, 420
    mean5 = (4 * 300 + pre) / 5                       # last pre intervals of beat 5: 300 x4, 180
    assert c[5].tolist() == [round(8 * pre / mean5), min(15, round(8 * post / mean5)), min(15, round(8 * post / pre))]
    assert c[5, 0] < 8 and c[5, 2] == 15              # premature, long compensatory pause (clipped)
    assert c[10:].tolist() == [[8, 8, 8]] * 3          # a second record starts afresh


def test_mean_window_is_the_last_8_intervals():
    s = np.cumsum([0] + [100] * 8 + [200] * 9)          # rate halves after beat 8
    c = rr_codes(_beats(["100"] * len(s), s))
    assert c[9].tolist() == [round(8 * 200 / ((7 * 100 + 200) / 8)), round(8 * 200 / ((7 * 100 + 200) / 8)), 8]
    assert c[-1].tolist() == [8, 8, 8]                  # window now holds only 200s


def test_thermometer_bits():
    t = thermometer(torch.tensor([[0, 15, 3]]))
    assert t.shape == (1, 45)
    assert t[0, :15].sum() == 0 and t[0, 15:30].sum() == 15
    assert t[0, 30:].tolist() == [1.0] * 3 + [0.0] * 12


@pytest.mark.parametrize("samples, msg", [([5], "at least 2 beats"), ([5, 5], "must increase")])
def test_bad_peaks_name_the_record(samples, msg):
    with pytest.raises(TernEcgError, match=f"record 100: .*{msg}"):
        rr_codes(_beats(["100"] * len(samples), samples))


@pytest.mark.parametrize("argv, msg", [(["--kind", "fp16"], "--kind 'fp16': choose qat or float"),
                                       (["--epochs", "0"], "--epochs 0: must be at least 1"),
                                       (["--rr-bits", "9"], "--rr-bits 9: must be 1..8"),
                                       (["--local", "0"], "--local 0: the local mean needs at least 1 interval")])
def test_rr_experiment_bad_arguments_one_message(argv, msg, capsys):
    from ternecg.golden import rr_experiment
    assert rr_experiment.main(argv) == 2
    assert capsys.readouterr().err.strip() == f"ternecg rr-experiment: error: {msg}"


def test_results_section_renders_every_run_and_the_seed_mean(tmp_path, monkeypatch):
    from ternecg.golden import results, rr_experiment
    from ternecg.reports import update_json
    report = tmp_path / "rr.json"
    monkeypatch.setattr(rr_experiment, "REPORT", report)
    assert "run `make rr-experiment`" in "\n".join(results._rr_section())
    for seed, f1 in ((0, 0.75), (1, 0.81)):
        run = {"kind": "qat", "rr": True, "epochs": 30, "seed": seed, "acc": 0.95, "f1_abnormal": f1,
               "ppv_abnormal": 0.8, "se": {"S": 0.6, "V": 0.95, "F": 0.1}, "seconds": 400.0}
        update_json(report, lambda d: {"runs": d.get("runs", []) + [run]})
    md = "\n".join(results._rr_section())
    assert md.count("| qat | 4-bit, float table, local 8 | 30 |") == 2
    assert "- qat, 4-bit, float table, local 8, 30 epochs: abnormal F1 0.7800 (min 0.7500, max 0.8100, 2 seeds)" in md


def test_a_rerun_replaces_its_row():
    from ternecg.golden.rr_experiment import merge
    runs = [{"kind": "qat", "rr": True, "epochs": 30, "seed": s, "f1_abnormal": 0.7} for s in (0, 1)]
    again = {"kind": "qat", "rr": True, "epochs": 30, "seed": 0, "f1_abnormal": 0.9}
    out = merge(runs, again)
    assert [(r["seed"], r["f1_abnormal"]) for r in out] == [(1, 0.7), (0, 0.9)]
    assert len(merge(out, dict(again, rr=False))) == 3


def test_more_bits_give_a_finer_step_and_ties_round_up():
    from ternecg.golden.rr import record_codes
    s = np.cumsum([0] + [160] * 9 + [150])            # last pre = 150: ratio 150/158.75 etc.
    c4, c6 = record_codes(s, bits=4), record_codes(s, bits=6)
    assert c4[1].tolist() == [8, 8, 8] and c6[1].tolist() == [32, 32, 32]
    # pre/local of the last beat: 150 / mean(7 x 160, 150) = 150 * 8 / 1270
    assert c6[-1, 0] == (150 * 8 * 64 + 1270) // (2 * 1270) == 30
    assert c4[-1, 0] == 8                             # a 6 % shorter interval is below a 4-bit step
    # a ratio exactly half-way between two codes rounds up (integer arithmetic, no float ties)
    t = record_codes(np.array([0, 16, 33]), bits=4)     # post/pre of beat 1 = 17/16 -> 8.5
    assert t[1, 2] == 9


def test_model_codes_need_an_rr_config():
    from ternecg.golden.spec.config import load_config
    from ternecg.golden.rr import model_codes
    with pytest.raises(TernEcgError, match="has no RR path"):
        model_codes(_beats(["100"] * 3, [0, 300, 600]), load_config("msgc_mux"))
