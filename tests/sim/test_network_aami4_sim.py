"""The four-class models (N, S, V, F; models/aami4_inter.json and models/aami4_patient/) built by the
unchanged hardware generator (``n_classes = 4`` is a parameter of the head and the RR table) in the
cocotb network testbench with the debug tap, bit-exact against the integer reference (every hidden
layer, the four logits, class, cycles), through :func:`ternecg.sim.verify.verify`. The beats are
the software monitor's own (golden/monitor.py): windows at the R peaks the integer detector finds
in the raw excerpts of fixtures/excerpts.npz, with the RR codes of the detected peaks.

* ``ternecg verilog`` (``make verilog``) on both kinds of file: four logits in the manifest;
* the inter-patient model, Verilator P = 6: 12 monitor beats of 208 (V and F beats) and 209 (S
  beats), no stalls (cycles exact), with reset recovery and the worst-case beats (extreme codes);
* a model with the template code (config ``rr_template``: four codes per beat, a fourth table;
  the inter-patient file with a made-up fourth table) under random stalls, Verilator P = 3;
* a patient model (record 105's, on monitor beats of its excerpt after the first 5 minutes) under
  random stalls; 2 beats of the inter-patient model on Icarus.
"""

import json

import numpy as np
import pytest

from ternecg import cli
from ternecg.golden import excerpts, monitor
from ternecg.golden.spec import modelfile
from ternecg.sim.verify import Beats, Options, verify
from monitor_helpers import aami4_with_rr_code
from test_network_sim import ALL_TESTS, _check

pytestmark = pytest.mark.sim

INTER = modelfile.MODELS_DIR / "aami4_inter.json"
PATIENT = modelfile.MODELS_DIR / "aami4_patient" / "105.json"
needs_models = pytest.mark.skipif(not (INTER.is_file() and PATIENT.is_file()),
                                  reason="four-class models not trained (make train STAGES=aami4_inter,aami4_patient)")


def monitor_beats(model_path, record, count, first=0) -> Beats:
    """``count`` beats of the monitor on an excerpt: windows at the detected peaks, their RR codes."""
    cfg = modelfile.load(model_path).cfg
    e = next(x for x in excerpts.load() if x.record == record)
    r = monitor.beat_peaks(e.signal)
    pick = np.arange(first, first + count)
    w = monitor.windows(e.signal, r)
    return Beats(w[pick], monitor.codes(r, cfg, w)[pick],
                 np.full(count, int(record)), r[pick] + e.start)


@needs_models
@pytest.mark.parametrize("model,parallel", [(INTER, 6), (PATIENT, 2)], ids=["inter", "patient"])
def test_make_verilog_builds_the_four_class_files(tmp_path, capsys, model, parallel):
    assert cli.main(["verilog", "--model", str(model), "--parallel", str(parallel), "--out", str(tmp_path)]) == 0, \
        capsys.readouterr().err
    man = json.loads(next(tmp_path.glob("*/ternecg_top.json")).read_text())
    fields = [f["name"] for f in man["streams"]["o"]["fields"]]
    assert [f for f in fields if f.startswith("logits")] == [f"logits[{i}]" for i in range(4)]
    assert (man["rr"] is not None) == (modelfile.load(model).cfg.rr_features > 0)
    rules = modelfile.load(model).rr_rules
    assert rules and man["rr"]["rules"] == rules                  # the RR rules, in the manifest


@needs_models
@pytest.mark.long
def test_inter_model_monitor_beats_resets_and_worst_case():
    a, b = monitor_beats(INTER, "208", 6, first=10), monitor_beats(INTER, "209", 6, first=20)
    beats = Beats(*(np.concatenate([x, y]) for x, y in zip((a.raw, a.rr, a.record, a.sample),
                                                            (b.raw, b.rr, b.record, b.sample))))
    classes = set(monitor.classify(modelfile.load(INTER), beats.raw, beats.rr)[0].tolist())
    assert len(classes) >= 2                                     # not all N
    r = verify(beats, Options(model=INTER, parallel=6, bench="cocotb", layers=True, tests=ALL_TESTS))
    _check(r)


@needs_models
def test_patient_model_random_stalls():
    r = verify(monitor_beats(PATIENT, "105", 4, first=30),
               Options(model=PATIENT, parallel=6, bench="cocotb", layers=True, idle="random",
                       backpressure="random", seed=14))
    _check(r)


@needs_models
def test_inter_model_icarus():
    r = verify(monitor_beats(INTER, "208", 2, first=40),
               Options(model=INTER, parallel=6, simulator="icarus", bench="cocotb", layers=True,
                       idle="random", backpressure="random", seed=4))
    _check(r)


@needs_models
@pytest.mark.long
def test_template_code_model_four_codes(tmp_path):
    path = aami4_with_rr_code(tmp_path / "tmpl.json", lambda k, c: (c - 4) * (40 if k == 2 else -10),
                              rr_template=1)
    beats = monitor_beats(path, "208", 4, first=10)
    assert beats.rr.shape == (4, 4) and len(set(beats.rr[:, 3].tolist())) > 1
    assert cli.main(["verilog", "--model", str(path), "--parallel", "3", "--out", str(tmp_path / "v")]) == 0
    man = json.loads(next((tmp_path / "v").glob("*/ternecg_top.json")).read_text())
    assert man["rr"]["features"] == ["pre/local", "post/local", "post/pre", "template"]
    r = verify(beats, Options(model=path, parallel=3, bench="cocotb", layers=True, idle="random",
                              backpressure="random", seed=7))
    _check(r)


@needs_models
def test_rr_rule_changes_the_class_in_the_verilog():
    """The inter-patient file's RR rules (docs/arithmetic.md 6: V -> N for a template code within
    its bound, then N -> S for pre/local and irregularity codes within bounds) in the generated
    Verilog on monitor beats of the excerpts: beats whose class the rules change (V ones among
    them), beats within the N -> S bounds that are not N, and N beats just outside one bound
    (pre/local within, irregularity above; or the reverse), under random stalls."""
    from ternecg.golden import integer_ref
    model = modelfile.load(INTER)
    assert [(r["from"], r["to"]) for r in model.rr_rules] == [(2, 0), (0, 1)], \
        "models/aami4_inter.json lacks its RR rules (make aami4-rule APPLY=1, make aami4-template APPLY=1)"
    rule = model.rr_rules[-1]
    t, b = rule["max_codes"][0], rule["max_codes"][-1]
    picked = []
    for e in excerpts.load():
        r = monitor.beat_peaks(e.signal)
        w = monitor.windows(e.signal, r)
        rr = monitor.codes(r, model.cfg, w)
        tr = integer_ref.forward(model, w, rr)
        plain, cls = integer_ref.argmax_lowest(tr.logits).numpy(), tr.cls.numpy()
        inside = np.all(rr <= np.asarray(rule["max_codes"])[None, :], axis=1)
        near = (plain == 0) & (((rr[:, 0] <= t) & (rr[:, -1] > b)) | ((rr[:, 0] == t + 1) & (rr[:, -1] <= b)))
        for k in [*np.flatnonzero(cls != plain)[:3], *np.flatnonzero((plain == 2) & (cls != 2))[:2],
                  *np.flatnonzero(inside & (plain != 0))[:1],
                  *np.flatnonzero(near)[:1]]:
            picked.append((w[k], rr[k], int(e.record), int(r[k] + e.start), cls[k] != plain[k]))
    changed = sum(p[4] for p in picked)
    assert changed >= 1 and len(picked) >= changed + 4, "the excerpts have too few beats near the rule"
    beats = Beats(*(np.stack([p[i] for p in picked]) for i in range(4)))
    r = verify(beats, Options(model=INTER, parallel=6, bench="cocotb", idle="random",
                              backpressure="random", seed=21))
    _check(r)
