"""`make aami4-select`: choose the four-class recipes on DS1 records held out of training.

Each variant (:data:`VARIANTS`) trains a global four-class model on DS1 without the hold-out
records (:data:`ternecg.golden.aami4.HOLDOUT`) and scores it on the hold-out records' detected
beats (the monitor's classes, EC57 scoring: golden/ec57_score.py): the inter-patient figures of
the whole records; then it fine-tunes that model per hold-out record on its first 5 minutes and
scores the rest (the patient-specific figures). DS2 is not used. Runs go to
results/aami4_select.json (one row per variant and seed; a variant that is there is skipped
unless ``--redo``); the criterion is the mean of F1(S) and F1(V).
"""

from __future__ import annotations

import sys
import time

import torch

from ternecg.errors import TernEcgError
from ternecg.paths import build_dir, results_dir
from ternecg.reports import markdown_table, read_json, update_json

from . import detected, splits, train
from .aami4 import (FINE_TUNE_SAMPLES, FINETUNE, HOLDOUT, INTER, classes_of, config, finetune, record_confusion,
                    summary, to_model, train_inter)

#: name -> {"inter": changes to INTER, "config": config overrides, "finetune": changes to FINETUNE,
#: "from": a variant whose hold-out global model is reused (only the fine-tuning is run)}
VARIANTS = {
    "base":          {"inter": {"jitter": "none"}},
    "jit_offsets":   {"inter": {"jitter": "offsets"}},
    "jit_u4":        {"inter": {"jitter": "uniform:4"}},
    "local8":        {"inter": {"jitter": "offsets"}, "config": {"rr_local": 8}},
    "cw_s2v2":       {"inter": {"jitter": "offsets", "class_weight": [1.0, 2.0, 2.0, 1.0]}},
    "ep60":          {"inter": {"jitter": "offsets", "epochs": 60}},
    "no_mixup":      {"inter": {"jitter": "offsets", "mixup": 0.0}},
    "no_rr":         {"inter": {"jitter": "offsets"}, "config": {"rr_bits": None, "rr_local": None}},
    # fine-tuning recipes on the cw_s2v2 global model (patient protocol only)
    "ft_nojit":      {"from": "cw_s2v2", "finetune": {"jitter": "none"}},
    "ft_ep50":       {"from": "cw_s2v2", "finetune": {"epochs": 50}},
    "ft_lr3e-4":     {"from": "cw_s2v2", "finetune": {"lr": 3e-4}},
    "ft_mixup":      {"from": "cw_s2v2", "finetune": {"mixup": 0.2}},
    "ft_common":     {"from": "cw_s2v2", "finetune": {"common": 75}},
    "ft_common_ep50": {"from": "cw_s2v2", "finetune": {"common": 75, "epochs": 50}},
    # class weights against the rare classes (inter-patient S)
    "cw_s4v2":       {"inter": {"jitter": "offsets", "class_weight": [1.0, 4.0, 2.0, 1.0]}},
    "cw_s8v4f2":     {"inter": {"jitter": "offsets", "class_weight": [1.0, 8.0, 4.0, 2.0]}},
    "cw_s4v2_local8": {"inter": {"jitter": "offsets", "class_weight": [1.0, 4.0, 2.0, 1.0]}, "config": {"rr_local": 8}},
    "cw_s4v2_no_rr": {"inter": {"jitter": "offsets", "class_weight": [1.0, 4.0, 2.0, 1.0]},
                      "config": {"rr_bits": None, "rr_local": None}, "finetune": {"common": 75}},
    "cw_s4v2_common": {"from": "cw_s4v2", "finetune": {"common": 75}},
    "cw_s4v2_common150": {"from": "cw_s4v2", "finetune": {"common": 150}},
    "cw_s4v2_common_cw": {"from": "cw_s4v2", "finetune": {"common": 75, "class_weight": [1.0, 4.0, 2.0, 1.0]}},
    # the shipped recipes (golden/aami4.py INTER and FINETUNE without their bias offsets), the
    # reference for the variants below over several seeds
    "shipped":       {"inter": {"jitter": "offsets", "class_weight": [1.0, 4.0, 2.0, 1.0]},
                      "finetune": {"common": 75, "class_weight": [1.0, 4.0, 2.0, 1.0]}},
    # the template code (config rr_template: distance from the record's running average beat)
    "tmpl":          {"inter": {"jitter": "offsets", "class_weight": [1.0, 4.0, 2.0, 1.0]},
                      "config": {"rr_template": 1},
                      "finetune": {"common": 75, "class_weight": [1.0, 4.0, 2.0, 1.0]}},
    "tmpl_g8":       {"inter": {"jitter": "offsets", "class_weight": [1.0, 4.0, 2.0, 1.0]},
                      "config": {"rr_template": 1, "rr_template_gate": 8},
                      "finetune": {"common": 75, "class_weight": [1.0, 4.0, 2.0, 1.0]}},
    # the irregularity code (config rr_irregular: mean |delta RR| / mean RR over the local window)
    "irr":           {"inter": {"jitter": "offsets", "class_weight": [1.0, 4.0, 2.0, 1.0]},
                      "config": {"rr_irregular": 1},
                      "finetune": {"common": 75, "class_weight": [1.0, 4.0, 2.0, 1.0]}},
}
SELECT_REPORT = results_dir() / "aami4_select.json"
#: hold-out folds: ``a`` the selection's (golden/aami4.py HOLDOUT); ``b`` a second one, chosen by a
#: rule on the reference labels alone (no model): the three DS1 records outside ``a`` with the most
#: S beats (209, 207, 220), then the two with the most V beats (208, 106). A run on fold ``b`` is
#: stored as variant ``<name>@b``.
FOLDS = {"a": HOLDOUT, "b": ("209", "207", "220", "208", "106")}
#: the recipes the variants change (the starting point of the selection; the shipped ones,
#: golden/aami4.py INTER and FINETUNE, are what it chose)
#: (the recipes' bias and premature offsets and rules are not applied here: golden/aami4_operating.py,
#: golden/aami4_rhythm.py, golden/aami4_rule.py and golden/aami4_template.py choose them on these models)
START_INTER = dict({k: v for k, v in INTER.items() if k not in ("bias_offsets", "premature_offset", "rr_rule", "template_rule")}, class_weight=[1.0, 1.0, 1.0, 1.0],
                   jitter="offsets")
START_FINETUNE = dict({k: v for k, v in FINETUNE.items() if k not in ("bias_offsets", "premature_offset", "rr_rule", "template_rule")}, class_weight=[1.0, 1.0, 1.0, 1.0],
                      common=0)


def _work():
    return build_dir("aami4", "select")


def select(names, seed=0, db=None, report=SELECT_REPORT, redo=False, fold="a"):
    """Run the selection variants ``names`` on hold-out fold ``fold`` (:data:`FOLDS`); results into
    ``report``: per variant the inter-patient figures of its global model on the hold-out records
    (whole records) and the patient figures of that model fine-tuned per hold-out record (after
    its first 5 minutes)."""
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise TernEcgError(f"unknown aami4 variant(s) {unknown}; known: {', '.join(VARIANTS)}")
    if fold not in FOLDS:
        raise TernEcgError(f"unknown hold-out fold {fold!r}; known: {', '.join(FOLDS)}")
    holdout = FOLDS[fold]
    records = detected.load(db)
    train_names = tuple(r for r in splits.DS1 if r not in holdout)
    done = {(r["variant"], r["seed"]) for r in read_json(report).get("runs", [])}
    work = _work()
    tag = "" if fold == "a" else f"@{fold}"
    for base_name in names:
        name = base_name + tag
        if (name, seed) in done and not redo:
            print(f"aami4-select: {name} seed {seed} is in {report} (--redo to run it again)")
            continue
        v = VARIANTS[base_name]
        base = VARIANTS[v["from"]] if "from" in v else v
        recipe = dict(START_INTER, **base.get("inter", {}))
        over = base.get("config", {})
        t0 = time.time()
        row = {"variant": name, "seed": seed, "recipe": recipe, "config": over}
        if fold != "a":
            row["fold"] = fold
        if "from" in v:
            ck = work / f"{v['from']}{tag}_s{seed}.pt"
            if not ck.is_file():
                raise TernEcgError(f"{ck} not found: run variant {v['from']!r} (seed {seed}, fold {fold}) first")
            net = train.new_net(config(recipe, over), True, seed)
            net.load_state_dict(torch.load(ck, weights_only=True))
            row["from"] = v["from"]
        else:
            net, _ = train_inter(records, train_names, recipe, seed, overrides=over, desc=f"select {name}")
            model = to_model(net, {"variant": name, "seed": seed}, work / f"{name}_s{seed}.json")
            torch.save(net.state_dict(), work / f"{name}_s{seed}.pt")
            cm = sum(record_confusion(records[r], classes_of(model, detected.make_set(records, (r,))))
                     for r in holdout)
            row["inter"] = summary(cm)
        ft = dict(START_FINETUNE, **v.get("finetune", {}))
        pool = detected.make_set(records, train_names)
        cmp = 0
        for r in holdout:
            n2, _ = finetune(net, records, r, ft, seed, pool, desc=f"select {name} fine-tune {r}",
                             common_from=train_names)
            m2 = to_model(n2, {"variant": name, "seed": seed, "record": r}, work / f"{name}_s{seed}_{r}.json")
            cmp = cmp + record_confusion(records[r], classes_of(m2, detected.make_set(records, (r,))),
                                         after=FINE_TUNE_SAMPLES)
        row["finetune"] = ft
        row["patient"] = summary(cmp)
        row["seconds"] = round(time.time() - t0, 1)
        update_json(report, lambda d: {"holdout": list(HOLDOUT),
                                       "train": [r for r in splits.DS1 if r not in HOLDOUT],
                                       "folds": {k: list(v) for k, v in FOLDS.items()},
                                       "criterion": "mean of F1(S) and F1(V) on the hold-out, detected beats",
                                       "runs": [x for x in d.get("runs", [])
                                                if (x["variant"], x["seed"]) != (name, seed)] + [row]})
        print(select_table([row]), flush=True)


def _f(v):
    return "" if v is None else f"{v:.3f}"


def select_table(runs) -> str:
    rows = []
    for r in runs:
        for proto in ("inter", "patient"):
            if proto not in r:
                continue
            m = r[proto]
            c = m["classes"]
            rows.append((r["variant"], proto, r["seed"], _f(m["acc"]), _f(c["S"]["se"]), _f(c["S"]["ppv"]),
                         _f(c["V"]["se"]), _f(c["V"]["ppv"]), _f(c["F"]["se"]), _f(m["score"]),
                         f"{r['seconds']:.0f}"))
    return markdown_table(("variant", "protocol", "seed", "ACC", "S Se", "S +P", "V Se", "V +P", "F Se",
                           "mean F1(S,V)", "s"), rows)


def seed_summary(runs) -> str:
    """Mean and standard deviation of the criterion over the seeds of every variant run with more
    than one seed (per protocol), or "" when there is none."""
    import numpy as np
    rows = []
    for name in dict.fromkeys(r["variant"] for r in runs):
        mine = sorted((r for r in runs if r["variant"] == name), key=lambda r: r["seed"])
        if len(mine) < 2:
            continue
        for proto in ("inter", "patient"):
            got = [r[proto] for r in mine if proto in r]
            if len(got) < 2:
                continue
            col = lambda f: np.array([f(m) for m in got])  # noqa: E731
            ms = lambda v: f"{v.mean():.3f} ± {v.std(ddof=1):.3f}"  # noqa: E731
            rows.append((name, proto, ",".join(str(r["seed"]) for r in mine if proto in r),
                         ms(col(lambda m: m["classes"]["S"]["se"])), ms(col(lambda m: m["classes"]["S"]["ppv"])),
                         ms(col(lambda m: m["classes"]["V"]["se"])), ms(col(lambda m: m["classes"]["V"]["ppv"])),
                         ms(col(lambda m: m["score"]))))
    if not rows:
        return ""
    return markdown_table(("variant", "protocol", "seeds", "S Se", "S +P", "V Se", "V +P", "mean F1(S,V)"), rows)


def add_parser(sub):
    """``ternecg aami4-select`` (``make aami4-select``)."""
    from ternecg import options
    p = sub.add_parser("aami4-select", description=__doc__.split("\n")[0])
    p.add_argument("--variants", type=options.str_list, default=list(VARIANTS),
                   help=f"comma-separated subset of {','.join(VARIANTS)} (default: all; done ones are skipped)")
    options.add_seed(p)
    p.add_argument("--redo", action="store_true", help="run variants again that are in the report already")
    p.add_argument("--fold", choices=sorted(FOLDS), default="a",
                   help="hold-out fold: a (the selection's, default) or b (a second one; rows <variant>@b)")
    options.add_db(p)
    p.set_defaults(func=lambda a: select(a.variants, a.seed, a.db, redo=a.redo, fold=a.fold))
    return p


if __name__ == "__main__":
    from ternecg.cli import command_main
    sys.exit(command_main("aami4-select")())
