"""`make rr-experiment`: would RR-interval codes lift pure inter-patient abnormal F1? (a measurement)

Not the shipped model and not in the hardware yet: it trains the default topology on DS1 with,
optionally, a linear table on the thermometer-coded RR codes of :mod:`ternecg.golden.rr` added to
its logits, and tests on DS2 (inter-patient, no fine-tuning). ``--kind qat`` trains the ternary
QAT model and evaluates its float forward pass (equal to the integer reference up to rounding of
the float parts); the RR table stays float. Each run is stored in results/rr_experiment.json
(replacing an earlier run of the same kind, RR, epochs and seed; `make results` renders it).
"""

from __future__ import annotations

import argparse
import sys

import torch
from torch import nn

from ternecg.errors import TernEcgError, cli_main
from ternecg.reports import update_json

from . import splits, train
from .beats import load_beats
from .config import load_config
from .evaluate import binary_metrics
from .model import Net
from .records import REPO_ROOT
from .rr import BITS, FEATURES, rr_codes, thermometer

REPORT = REPO_ROOT / "results" / "rr_experiment.json"
N_RR = len(FEATURES) * ((1 << BITS) - 1)


class RRNet(nn.Module):
    """Net on the first WINDOW columns, plus a bias-free linear table on the RR bits after them."""

    def __init__(self, cfg, quant):
        super().__init__()
        self.cfg = cfg
        self.net = Net(cfg, quant=quant)
        self.rr = nn.Linear(N_RR, cfg.layers[-1].cout, bias=False)

    def forward(self, x):
        return self.net(x[:, :-N_RR]) + self.rr(x[:, -N_RR:])


def _scores(symbols, pred):
    """The columns of :func:`table`, from :func:`ternecg.golden.evaluate.binary_metrics`."""
    m = binary_metrics(symbols, pred.numpy())
    pc = m["per_class"]
    return {"acc": round(m["acc"], 4), "f1_abnormal": round(m["f1_abnormal"], 4),
            "ppv_abnormal": round(pc["abnormal"]["ppv"] or 0.0, 4), "se": {c: round(pc[c]["se"], 4) for c in "SVF"}}


def run(kind="qat", use_rr=True, epochs=30, seed=0, mixup=0.2, db=None, report=REPORT):
    if kind not in ("qat", "float"):
        raise TernEcgError(f"--kind {kind!r}: choose qat or float")
    if epochs < 1:
        raise TernEcgError(f"--epochs {epochs}: must be at least 1")
    beats = load_beats(db)
    x, y = train.prepare(beats, "binary")
    tr, te = splits.inter_patient(beats)
    cfg = load_config("msgc_mux")
    torch.manual_seed(seed)
    if use_rr:
        net = RRNet(cfg, kind == "qat")
        x = torch.cat([x.float(), thermometer(rr_codes(beats))], 1)
    else:
        net = Net(cfg, quant=kind == "qat")
    secs = train.fit(net, x[tr], y[tr], epochs, 1e-3, seed, 256, mixup, desc=f"rr {kind}", threads=1)
    res = {"kind": kind, "rr": use_rr, "epochs": epochs, "seed": seed, "mixup": mixup, "threads": 1,
           **_scores(beats.symbol[te], train.predict(net, x[te])), "seconds": round(secs, 1)}
    return update_json(report, lambda d: {"runs": merge(d.get("runs", []), res)})["runs"]


def merge(runs, new):
    """``runs`` with ``new`` added; a run of the same kind, RR, epochs and seed is replaced."""
    key = ("kind", "rr", "epochs", "seed")
    return [r for r in runs if tuple(r[k] for k in key) != tuple(new[k] for k in key)] + [new]


def table(runs):
    rows = ["| kind | RR | epochs | seed | acc | F1 abnormal | +P abnormal | Se S | Se V | Se F | s |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(runs, key=lambda r: (r["kind"], not r["rr"], r["epochs"], r["seed"])):
        rows.append(f"| {r['kind']} | {'yes' if r['rr'] else 'no'} | {r['epochs']} | {r['seed']} | {r['acc']:.4f} | "
                    f"{r['f1_abnormal']:.4f} | {r['ppv_abnormal']:.4f} | {r['se']['S']:.3f} | {r['se']['V']:.3f} | "
                    f"{r['se']['F']:.3f} | {r['seconds']:.0f} |")
    return "\n".join(rows)


@cli_main("rr-experiment")
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", default="qat")
    ap.add_argument("--no-rr", action="store_true", help="the same run without RR codes (baseline)")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--db", default=None)
    a = ap.parse_args(argv)
    runs = run(a.kind, not a.no_rr, a.epochs, a.seed, db=a.db)
    print(table(runs))
    print(f"\nwrote {REPORT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
