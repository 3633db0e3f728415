"""`make rr-experiment`: would RR-interval codes lift pure inter-patient abnormal F1? (a measurement)

It trains the default topology on DS1 with, optionally, the RR path of config ``msgc_mux_rr``
(the RR codes of :mod:`ternecg.golden.rr`, thermometer-coded, through a table added to the logits),
and tests on DS2 (inter-patient, no fine-tuning). ``--kind qat`` trains the ternary QAT model
(its RR table in whole logit units, as the hardware adds it) and evaluates its float forward pass
(equal to the integer reference up to rounding of the float parts). Each run is stored in
results/rr_experiment.json (replacing an earlier run of the same kind, RR bits, epochs and seed;
`make results` renders it).
"""

from __future__ import annotations

import sys

import torch

from ternecg.errors import TernEcgError
from ternecg.paths import results_dir
from ternecg.reports import update_json

from . import splits, train
from .beats import load_beats
from .spec.config import load_config, parse_config
from .evaluate import binary_metrics
from .model import Net
from .rr import BITS, LOCAL, rr_inputs

REPORT = results_dir() / "rr_experiment.json"


def _scores(symbols, pred):
    """The columns of :func:`table`, from :func:`ternecg.golden.evaluate.binary_metrics`."""
    m = binary_metrics(symbols, pred.numpy())
    pc = m["per_class"]
    return {"acc": round(m["acc"], 4), "f1_abnormal": round(m["f1_abnormal"], 4),
            "ppv_abnormal": round(pc["abnormal"]["ppv"] or 0.0, 4), "se": {c: round(pc[c]["se"], 4) for c in "SVF"}}


def run(kind="qat", use_rr=True, epochs=30, seed=0, mixup=0.2, db=None, report=REPORT, bits=BITS,
        abnormal_weight=1.0, local=LOCAL, scale_aug=0.0):
    if kind not in ("qat", "float"):
        raise TernEcgError(f"--kind {kind!r}: choose qat or float")
    if epochs < 1:
        raise TernEcgError(f"--epochs {epochs}: must be at least 1")
    if not 1 <= bits <= 8:
        raise TernEcgError(f"--rr-bits {bits}: must be 1..8")
    if local < 1:
        raise TernEcgError(f"--local {local}: the local mean needs at least 1 interval")
    beats = load_beats(db)
    x, y = train.prepare(beats, "binary")
    tr, te = splits.inter_patient(beats)
    if use_rr:
        cfg = parse_config(dict(load_config("msgc_mux_rr").raw, rr_bits=bits, rr_local=local))
        x = rr_inputs(beats, x, bits, local)
    else:
        cfg, bits = load_config("msgc_mux"), 0
    torch.manual_seed(seed)
    net = Net(cfg, quant=kind == "qat")
    secs = train.fit(net, x[tr], y[tr], epochs, 1e-3, seed, 256, mixup, desc=f"rr {kind}", threads=1,
                     class_weight=[1.0, abnormal_weight], scale_aug=scale_aug)
    res = {"kind": kind, "rr": use_rr, "rr_bits": bits, "rr_table": _table_kind(kind, use_rr), "abnormal_weight": abnormal_weight, "rr_local": local, "scale_aug": scale_aug, "epochs": epochs, "seed": seed, "mixup": mixup, "threads": 1,
           **_scores(beats.symbol[te], train.predict(net, x[te])), "seconds": round(secs, 1)}
    return update_json(report, lambda d: {"runs": merge(d.get("runs", []), res)})["runs"]


def _table_kind(kind, use_rr):
    return ("integer" if kind == "qat" else "float") if use_rr else "-"


def _key(r):
    # runs before the integer RR table (session 5) had a float table and 4-bit codes
    return (r["kind"], r["rr"], r.get("rr_bits", BITS if r["rr"] else 0),
            r.get("rr_table", "float" if r["rr"] else "-"), r.get("abnormal_weight", 1.0), r.get("rr_local", LOCAL),
            r.get("scale_aug", 0.0), r["epochs"], r["seed"])


def merge(runs, new):
    """``runs`` with ``new`` added; a run of the same kind, RR bits and table, epochs and seed is replaced."""
    return [r for r in runs if _key(r) != _key(new)] + [new]


def label(r):
    """The variant of a run in words (everything of its key but kind, epochs and seed)."""
    k = _key(r)
    rr = f"{k[2]}-bit, {k[3]} table, local {k[5]}" if r["rr"] else "no RR"
    if k[4] != 1.0:
        rr += f", abnormal x{k[4]:g}"
    if k[6]:
        rr += f", scale aug {k[6]:g}"
    return rr


def table(runs):
    rows = ["| kind | RR codes | epochs | seed | acc | F1 abnormal | +P abnormal | Se S | Se V | Se F | s |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(runs, key=lambda r: (r["kind"], not r["rr"], _key(r)[2:])):
        rows.append(f"| {r['kind']} | {label(r)} | {r['epochs']} | {r['seed']} | {r['acc']:.4f} | "
                    f"{r['f1_abnormal']:.4f} | {r['ppv_abnormal']:.4f} | {r['se']['S']:.3f} | {r['se']['V']:.3f} | "
                    f"{r['se']['F']:.3f} | {r['seconds']:.0f} |")
    return "\n".join(rows)


def seed_means(runs):
    """[(kind, label, epochs, mean F1, min, max, seeds)] over the seeds of each variant."""
    groups = {}
    for r in runs:
        groups.setdefault((r["kind"], label(r), r["epochs"]), []).append(r["f1_abnormal"])
    return [(*k, sum(f) / len(f), min(f), max(f), len(f)) for k, f in sorted(groups.items())]


def add_parser(sub):
    """``ternecg rr-experiment`` (``make rr-experiment``)."""
    from ternecg import options
    p = sub.add_parser("rr-experiment", description=__doc__.splitlines()[0])
    p.add_argument("--kind", default="qat", help="qat (the ternary model) or float")
    p.add_argument("--no-rr", action="store_true", help="the same run without RR codes (baseline)")
    p.add_argument("--epochs", metavar="N", type=options.integer, default=30, help="training epochs (default: 30)")
    options.add_seed(p)
    p.add_argument("--rr-bits", type=options.integer, default=BITS, help="bits per RR code (step 2^-(b-1))")
    p.add_argument("--abnormal-weight", type=options.positive_float, default=1.0,
                   help="loss weight of the abnormal class")
    p.add_argument("--local", type=options.integer, default=LOCAL, help="RR intervals in the local mean")
    p.add_argument("--scale-aug", type=float, default=0.0, help="random amplitude scaling +- this fraction")
    options.add_db(p)
    p.set_defaults(func=_command)
    return p


def _command(a):
    runs = run(a.kind, not a.no_rr, a.epochs, a.seed, db=a.db, bits=a.rr_bits, abnormal_weight=a.abnormal_weight,
               local=a.local, scale_aug=a.scale_aug)
    print(table(runs))
    print(f"\nwrote {REPORT}")


def main(argv=None):
    from ternecg.cli import command_main
    return command_main("rr-experiment")(argv)


if __name__ == "__main__":
    sys.exit(main())
