"""docs/results.md sections 5 and 6 (golden/results_monitor.py) from a hand-made monitor-eval
report and seeds file, without the database: the targets with met / not met as monitor-eval says,
where each class's beats go, the seeds' mean ± sd, the training time against 90 minutes."""

import json

import numpy as np
import pytest

from ternecg.golden import aami4_seeds, monitor_eval, results_monitor
from ternecg.paths import models_dir
from ternecg.reports import update_json

from test_monitor_eval import _report

GOOD = [[970, 5, 5, 0, 2], [2, 95, 0, 0, 3], [0, 0, 97, 0, 3], [0, 0, 2, 8, 0], [1, 0, 0, 0, 0]]
BAD = [[900, 60, 40, 0, 0], [80, 20, 0, 0, 0], [10, 0, 90, 0, 0], [0, 0, 10, 0, 0], [0, 0, 0, 0, 0]]
needs_aami4 = pytest.mark.skipif(not (models_dir() / "aami4_inter.json").is_file(), reason="no four-class model")


@pytest.fixture
def section(tmp_path, monkeypatch):
    rep = _report(BAD, GOOD)
    rep["targets"] = monitor_eval.targets(rep)
    monkeypatch.setattr(monitor_eval, "evaluate", lambda db=None: rep)
    figures = [aami4_seeds.compact(_report(m, GOOD)) for m in (BAD, GOOD)]
    seeds = tmp_path / "aami4_seeds.json"
    seeds.write_text(json.dumps({"runs": [
        {"seed": s, "figures": f, "train_seconds": {"aami4_inter_s": 3000.0, "aami4_patient_s": 1500.0 + 1000 * s}}
        for s, f in zip((1, 2), figures)]}))
    data = update_json(seeds, lambda d: dict(d, spread=aami4_seeds.spread(d["runs"])))
    assert data["spread"]["mean"]["inter_patient"]["detected"]["acc"] > 0
    monkeypatch.setattr(aami4_seeds, "REPORT", seeds)
    monkeypatch.setattr(results_monitor, "TRAIN_REPORT", tmp_path / "none.json")
    return "\n".join(results_monitor.aami4_section())


@needs_aami4
def test_targets_say_what_monitor_eval_says(section):
    rows = {line.split(" | ")[1]: line for line in section.splitlines() if line.startswith("| inter-patient | ")
            or line.startswith("| patient-specific | ")}
    assert rows["S Se >= 0.80 at S +P >= 0.60"].endswith("| 20.00 / 25.00 % | no |")
    assert rows["VEB Se >= 0.95 at +P >= 0.95"].endswith("| yes |")
    assert "| detection costs at most 0.005 of ACC | +0.20 points | yes |" in section
    assert "seed 1: 92 min, seed 2: 108 min | no |" in section


@needs_aami4
def test_errors_and_seed_spread(section):
    assert "inter-patient: S beats (100) called 80 N / 20 S, V beats (100) called 10 N / 90 V" in section
    acc = [np.trace(np.asarray(m)) / np.sum(m) for m in (BAD, GOOD)]
    sd = np.std(acc, ddof=1)
    assert f"| inter-patient, detected | {100 * np.mean(acc):.2f} ± {100 * sd:.2f} |" in section


@pytest.fixture
def no_ds2_outcome(tmp_path, monkeypatch):
    from ternecg.golden import aami4_operating_ds2, aami4_rhythm, aami4_rule, aami4_template
    monkeypatch.setattr(aami4_operating_ds2, "RESULT", tmp_path / "aami4_operating_ds2.json")
    monkeypatch.setattr(aami4_template, "DS2_RESULT", tmp_path / "aami4_template_ds2.json")
    monkeypatch.setattr(aami4_rhythm, "DS2_RESULT", tmp_path / "aami4_rhythm_ds2.json")
    monkeypatch.setattr(aami4_rule, "DS2_RESULT", tmp_path / "aami4_rule_ds2.json")


@needs_aami4
def test_section_ends_with_the_ds2_outcome_or_the_command_that_makes_it(no_ds2_outcome, section):
    lines = [x for x in section.rstrip().splitlines() if x]
    # the operating point's DS2 outcome, the premature offset's, the RR rule's, the template rule's,
    # then the irregular-rhythm and the long-term premature rules measured on the hold-outs
    longterm = lines.pop()
    assert longterm.startswith(("The long-term premature rule (`make aami4-longterm`",
                                "No long-term premature rule measured yet"))
    assert longterm.endswith("`make aami4-longterm`.") or "taken" in longterm and "Each protocol's own best" in longterm
    irregular = lines.pop()
    assert irregular.startswith(("The irregular-rhythm rule (`make aami4-irregular`",
                                 "No irregular-rhythm rule measured yet"))
    assert irregular.endswith("`make aami4-irregular`.") or "taken" in irregular and "Each protocol's own best" in irregular
    op_line = lines[-4]
    assert op_line.startswith("The DS2 outcome of the operating point is not scored yet (")
    assert op_line.endswith("aami4_operating_ds2.json): `make aami4-operating-ds2`.")
    assert lines[-3].startswith("The premature offset (`make aami4-rhythm`")
    assert lines[-3].endswith("Its DS2 outcome is not scored yet: `ternecg aami4-rhythm --ds2`.")
    assert lines[-2].startswith("The RR rule (`make aami4-rule`")
    assert "Its DS2 outcome is not scored yet: `ternecg aami4-rule --ds2`." in lines[-2]
    assert lines[-1].startswith(("The template rule (`make aami4-template`", "No template rule measured yet"))
    assert lines[-1].endswith(("`ternecg aami4-template --ds2`.", "`make aami4-template`."))


#: a `make train` report of both shipped four-class stages (seed 0)
TRAIN = '{"seed": 0, "seconds": {"aami4_inter_s": 460, "aami4_patient_s": 3000}}'


def test_results_refuses_to_drop_figures_whose_report_is_missing(tmp_path, monkeypatch, capsys):
    """`make results` in a checkout without build/reports/qrs.json (or train.json) would replace the
    committed detection section (or seed-0 training time) with a placeholder: one line, before any
    evaluation, and the file is not touched; --partial writes anyway (not run here: it needs the
    database)."""
    from ternecg import cli
    from ternecg.golden import results
    doc = tmp_path / "results.md"
    doc.write_text("## 5\n| this project (integer, 9.7 kbit of state) | 99.79 |\n| both | ... | seed 0: 58 min |\n")
    monkeypatch.setattr(results_monitor, "QRS_REPORT", tmp_path / "qrs.json")
    monkeypatch.setattr(results_monitor, "TRAIN_REPORT", tmp_path / "train.json")
    with pytest.raises(results.TernEcgError, match="qrs.json .*qrs-eval.*train.json.*--partial"):
        results.check_reports(doc)
    (tmp_path / "qrs.json").write_text("{}")
    (tmp_path / "train.json").write_text('{"seed": 0, "seconds": {"aami4_inter_s": 460}}')
    with pytest.raises(results.TernEcgError, match="train.json .*both aami4 stages"):
        results.check_reports(doc)                           # one stage only: no seed-0 time either
    (tmp_path / "train.json").write_text(TRAIN)
    results.check_reports(doc)                               # both present: no complaint
    results.check_reports(tmp_path / "absent.md")            # nothing to lose
    (tmp_path / "qrs.json").unlink()
    monkeypatch.setattr(results, "DOC", doc)
    monkeypatch.setattr(results.build, "__defaults__", (None, doc, False, False))
    before = doc.read_text()
    assert cli.main(["results"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "qrs-eval" in err[0] and "--keep" in err[0] and "Traceback" not in err[0]
    assert doc.read_text() == before


def test_results_keep_takes_the_missing_reports_figures_from_the_current_page(tmp_path, monkeypatch):
    """--keep: without qrs.json section 5 is the current page's, word for word, and without
    train.json so is the training row of section 6; the rest is the regenerated text. With both
    reports present nothing is taken."""
    from ternecg.golden import results
    old = ("# Results\n\n## 5. R-peak detection (`make qrs-eval`)\n\n| this project (integer, 9.7 kbit) | 99.79 |\n"
           "kept prose\n\n## 6. Four classes\n\n| inter-patient | V Se | 1 | no |\n"
           f"{results.TRAIN_ROW} (`make train`) | seed 0: 58 min, seed 1: 61 min | yes |\n")
    new = ["# Results", "", "## 5. R-peak detection (`make qrs-eval`)", "",
           "No detection report yet (build/reports/qrs.json): run `make qrs-eval`.", "",
           "## 6. Four classes", "", "| inter-patient | V Se | 2 | no |",
           f"{results.TRAIN_ROW} (`make train`) | seed 1: 61 min | yes |", "new prose"]
    monkeypatch.setattr(results_monitor, "QRS_REPORT", tmp_path / "qrs.json")
    monkeypatch.setattr(results_monitor, "TRAIN_REPORT", tmp_path / "train.json")
    lines, kept = results.keep_figures(new, old)
    assert lines == ["# Results", "", "## 5. R-peak detection (`make qrs-eval`)", "",
                     "| this project (integer, 9.7 kbit) | 99.79 |", "kept prose", "",
                     "## 6. Four classes", "", "| inter-patient | V Se | 2 | no |",
                     f"{results.TRAIN_ROW} (`make train`) | seed 0: 58 min, seed 1: 61 min | yes |", "new prose"]
    assert len(kept) == 2 and "section 5" in kept[0] and "training row" in kept[1]
    (tmp_path / "qrs.json").write_text("{}")
    (tmp_path / "train.json").write_text(TRAIN)
    assert results.keep_figures(new, old) == (new, [])
    # a page without those figures gives nothing to keep: the placeholder stays
    (tmp_path / "qrs.json").unlink()
    assert results.keep_figures(new, "# Results\n")[0] == new


def test_seed_runs_of_older_recipes_say_what_changed_since(tmp_path, monkeypatch):
    """results/aami4_seeds.json records the recipes its runs trained with: a key that differs from
    golden/aami4.py's recipes today is named, so the spread is not read as today's."""
    from ternecg.golden import aami4
    figures = aami4_seeds.compact(_report(GOOD, GOOD))
    seeds = tmp_path / "aami4_seeds.json"
    runs = [{"seed": s, "figures": figures, "train_seconds": {}} for s in (1, 2)]
    old = {"inter": {k: v for k, v in aami4.INTER.items() if k != "template_rule"},
           "finetune": dict(aami4.FINETUNE)}
    seeds.write_text(json.dumps({"recipes": old, "runs": runs, "spread": aami4_seeds.spread(runs)}))
    monkeypatch.setattr(aami4_seeds, "REPORT", seeds)
    assert "before `template_rule` changed" in results_monitor.seeds_section()[0]
    seeds.write_text(json.dumps({"recipes": {"inter": aami4.INTER, "finetune": aami4.FINETUNE}, "runs": runs,
                                 "spread": aami4_seeds.spread(runs)}))
    assert "of the same recipes" in results_monitor.seeds_section()[0]


def test_record_by_record_names_the_record_with_most_s_beats_and_the_n_called_s():
    from ternecg.golden import results_monitor as R

    def cm(n_s, s_row):
        return [[100, n_s, 0, 0, 0], s_row, [0] * 5, [0] * 5, [0] * 5]
    per = {"232": cm(1, [90, 10, 0, 0, 0]), "202": cm(40, [0, 3, 0, 0, 1]), "219": cm(60, [1, 5, 0, 0, 0])}
    rep = {p: {"detected": {"per_record": per}} for p in ("inter_patient", "patient_specific")}
    text = R._s_records(rep, top=2)
    assert text.startswith("Record by record (detected peaks; a diagnosis of the DS2 result, not used for any choice): ")
    assert ("inter-patient: record 232 holds 100 of the 110 S beats (called 90 N / 10 S), S Se 16.36 % with it "
            "and 80.00 % without it; of the 101 N beats called S, the most in 219 (60), 202 (40)") in text
    assert R._s_records({p: {"detected": {}} for p in ("inter_patient", "patient_specific")}) == ""


def test_results_keep_reaches_the_build(tmp_path, monkeypatch, capsys):
    """`ternecg results --keep` (make results KEEP=1) hands keep=True to the build and writes
    nothing of its own."""
    from ternecg import cli
    from ternecg.golden import results
    seen = {}
    doc = tmp_path / "results.md"
    doc.write_text("# Results\n")

    def fake_build(db=None, out=results.DOC, partial=False, keep=False):
        seen.update(partial=partial, keep=keep)
        return doc
    monkeypatch.setattr(results, "build", fake_build)
    assert cli.main(["results", "--keep"]) in (0, None)
    assert seen == {"partial": False, "keep": True}
