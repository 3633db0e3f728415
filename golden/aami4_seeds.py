"""`make aami4-seeds`: the shipped four-class recipes over seeds 0, 1, 2, scored on DS2 -> results/aami4_seeds.json.

Seed 0 is the shipped model files (models/aami4_inter.json, models/aami4_patient/); seeds 1 and
2 are trained with exactly the same recipes (golden/aami4.py ``ship``) into
``build/aami4/seeds/seed<N>/`` (kept: a re-run evaluates them again without training; kept models
get the recipe's bias offsets, the operating point, if they were trained before it was chosen).
Every model file's ``meta["bias_offsets"]`` must be the recipe's. Every
seed's models go through ``monitor-eval`` (golden/monitor_eval.py: detected and annotated beats,
both protocols); the report keeps the figures of each seed and their mean, standard deviation,
minimum and maximum.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from ternecg.errors import TernEcgError
from ternecg.paths import build_dir, relative, results_dir
from ternecg.reports import update_json

from . import aami4, monitor_eval
from .spec import modelfile

REPORT = results_dir() / "aami4_seeds.json"
SEEDS = (0, 1, 2)


def seed_dir(seed: int) -> Path:
    return modelfile.MODELS_DIR if seed == 0 else build_dir("aami4", "seeds", f"seed{seed}")


def compact(report: dict) -> dict:
    """The figures of one monitor-eval report that the seed table needs."""
    out = {}
    for p in monitor_eval.PROTOCOLS:
        out[p] = {"detection_cost_acc": report[p]["detection_cost_acc"]}
        for mode in monitor_eval.MODES:
            r = report[p][mode]
            out[p][mode] = {"acc": r["acc"], "missed": r["missed"], "false": r["false"],
                            "classes": {c: {k: v[k] for k in ("se", "ppv", "fpr")} for c, v in r["classes"].items()},
                            "literature": {key: {e: {k: lit[e][k] for k in ("se", "ppv", "fpr", "acc")}
                                                 for e in ("veb", "sveb")}
                                           for key, lit in r["literature"].items()}}
    return out


def _leaves(d, prefix=()):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _leaves(v, prefix + (k,))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            yield prefix + (k,), v


def spread(rows: list) -> dict:
    """``{"mean", "sd", "min", "max"}`` trees over the seeds' :func:`compact` figures."""
    vals = {}
    for r in rows:
        for key, v in _leaves(r["figures"]):
            vals.setdefault(key, []).append(v)
    out = {s: {} for s in ("mean", "sd", "min", "max")}
    for key, v in vals.items():
        if len(v) != len(rows):
            continue
        stats = {"mean": statistics.fmean(v), "sd": statistics.stdev(v) if len(v) > 1 else 0.0,
                 "min": min(v), "max": max(v)}
        for s, x in stats.items():
            node = out[s]
            for k in key[:-1]:
                node = node.setdefault(k, {})
            node[key[-1]] = x
    return out


def run(seeds=SEEDS, db=None, report=REPORT, retrain=False) -> dict:
    for seed in seeds:
        folder = seed_dir(seed)
        times = {}
        if seed == 0:
            meta = modelfile.load(folder / f"{aami4.INTER_NAME}.json").meta
            if meta.get("seed") != 0:
                raise TernEcgError(f"models/{aami4.INTER_NAME}.json is seed {meta.get('seed')}, not 0; "
                                   f"run 'make train' (seed 0)")
        elif retrain or not (folder / aami4.PATIENT_DIR / "234.json").is_file():
            times = aami4.ship(seed=seed, out=folder, db=db)
        else:       # kept models: the recipe's operating point (bias offsets) as ``ship`` exports it
            aami4.recipe_offsets_into(folder)
        aami4.check_recipe_offsets(folder)
        t0 = time.time()
        rep = monitor_eval.evaluate(models=folder, db=db)
        row = {"seed": seed, "models": relative(folder), "train_seconds": times,
               "eval_seconds": round(time.time() - t0, 1), "figures": compact(rep)}
        def put(d, row=row, seed=seed):
            old = next((x for x in d.get("runs", []) if x["seed"] == seed), {})
            if not row["train_seconds"]:            # kept models: keep the time of the run that trained them
                row["train_seconds"] = old.get("train_seconds", {})
            return {"recipes": {"inter": aami4.INTER, "finetune": aami4.FINETUNE},
                    "runs": sorted([x for x in d.get("runs", []) if x["seed"] != seed] + [row], key=lambda x: x["seed"])}
        update_json(report, put)
        print(f"aami4-seeds: seed {seed} done", flush=True)
    return update_json(report, lambda d: dict(d, spread=spread(d.get("runs", []))))


def _f(v):
    return "-" if v is None else f"{v:.4f}"


def table(data: dict) -> str:
    runs = data.get("runs", [])
    rows = ["| protocol | peaks | seed | ACC | S Se | S +P | V Se | V +P | F Se |", "|---|---|---|---|---|---|---|---|---|"]
    for p in monitor_eval.PROTOCOLS:
        for mode in monitor_eval.MODES:
            for r in runs + [{"seed": "mean", "figures": data.get("spread", {}).get("mean", {})},
                             {"seed": "sd", "figures": data.get("spread", {}).get("sd", {})}]:
                f = r["figures"].get(p, {}).get(mode)
                if not f:
                    continue
                c = f["classes"]
                rows.append(f"| {p} | {mode} | {r['seed']} | {_f(f['acc'])} | {_f(c['S']['se'])} | {_f(c['S']['ppv'])} | "
                            f"{_f(c['V']['se'])} | {_f(c['V']['ppv'])} | {_f(c['F']['se'])} |")
    return "\n".join(rows)


def add_parser(sub):
    """``ternecg aami4-seeds`` (``make aami4-seeds``)."""
    from ternecg import options
    p = sub.add_parser("aami4-seeds", description=__doc__.split("\n")[0])
    options.add_seed(p, default=list(SEEDS), several=True)
    p.add_argument("--retrain", action="store_true", help="train seeds 1, 2 again even if build/aami4/seeds has them")
    options.add_db(p)
    p.set_defaults(func=_command)
    return p


def _command(args):
    data = run(tuple(args.seed), db=args.db, retrain=args.retrain)
    print(table(data))
    print(f"\nwrote {relative(REPORT)}")


if __name__ == "__main__":
    from ternecg.cli import command_main
    sys.exit(command_main("aami4-seeds")())
