"""`make train-table`: the MSGC paper's Table I experiment on this project's pipeline.

For M conv layers (3, 5, 7), hidden channels c_h and fully connected neurons n_h (the paper's
(9, 64) and (18, 128)), four conv types (regular, MSGC, MSGC without channel shuffle, group conv)
and several seeds: train a global model on DS1, fine-tune it per DS2 record on the first 5 minutes
and test on the rest (the paper's protocol, resetting between records); record MACs, weights,
ACC and abnormal F1 and the wall time of each run in ``results/table1_<kind>.json`` (kind
``float``, or ``integer`` for the ternary QAT model through the integer reference).

The paper's Fig. 3 gives no kernel sizes or strides, so the topology here is (see :func:`config`):
conv 0 regular 1 -> c_h, kernel 7; conv 1..M-1 of the type under test with 3 groups, kernels
(3, 5, 7) per group for the MSGC types, 3 for group conv (its MACs are the lowest, as in
the paper) and 5 for regular; strides halve the length until
it is 8 (M = 3 uses strides 4, 4, 2); then dense n_h and dense 2. Training schedule: reduced
from the paper's 200 global epochs to ``GLOBAL_EPOCHS`` (two CPU cores); fine-tuning as in the
paper (50 epochs, AdamW 3e-4, cosine, mixup). Runs are resumable: a finished (config, seed)
is skipped.
"""

from __future__ import annotations

import copy
import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from ternecg.errors import TernEcgError
from ternecg.paths import results_dir

RESULTS = results_dir()
KINDS = ("regular", "msgc", "msgc_noshuffle", "group")
WIDTHS = ((9, 64), (18, 128))
DEPTHS = (3, 5, 7)
GLOBAL_EPOCHS = 10
GLOBAL = {"lr": 1e-3, "batch": 256}
FINETUNE = {"epochs": 50, "lr": 3e-4, "batch": 64}


def strides(m, length=240, final=8):
    """Stride per conv layer: 2 until the length reaches ``final`` (M = 3: 4, 4, 2)."""
    if m == 3:
        return [4, 4, 2]
    out, n = [], length
    for _ in range(m):
        s = 2 if n > final else 1
        out.append(s)
        n = (n - 1) // s + 1
    return out


def config(m, ch, nh, kind):
    """A config dict (golden/config.py) of the Table I family."""
    layers = []
    for i, s in enumerate(strides(m)):
        if i == 0:
            layers.append({"type": "conv", "conv": "regular", "out": ch, "kernel": 7, "stride": s})
        elif kind in ("msgc", "msgc_noshuffle"):
            layers.append({"type": "conv", "conv": kind, "out": ch, "groups": 3,
                           "kernels": [3, 5, 7], "stride": s})
        elif kind == "group":
            layers.append({"type": "conv", "conv": "group", "out": ch, "groups": 3, "kernel": 3,
                           "stride": s})
        else:
            layers.append({"type": "conv", "conv": "regular", "out": ch, "kernel": 5, "stride": s})
    layers += [{"type": "dense", "out": nh}, {"type": "dense", "out": 2}]
    return {"name": f"table1_m{m}_c{ch}_{kind}", "task": "binary", "input_length": 240,
            "act_bits": 4, "layers": layers}


def key(m, ch, nh, kind, seed):
    return f"m{m}_c{ch}_n{nh}_{kind}_s{seed}"


def run_one(m, ch, nh, kind, seed, quant, global_epochs, db=None):
    """Train + fine-tune + evaluate one (config, seed); returns its result dict."""
    import numpy as np
    import torch

    from . import integer_ref, splits, train
    from .beats import load_beats
    from .spec.config import parse_config
    from .evaluate import binary_metrics
    from .export import export
    from .spec.modelfile import load, save

    train.THREADS = 1                       # two runs share the two cores
    t0 = time.time()
    cfg = parse_config(config(m, ch, nh, kind))
    beats = load_beats(db)
    x, y = train.prepare(beats, "binary")
    tr, _ = splits.inter_patient(beats)
    net = train.new_net(cfg, quant, seed)
    train.fit(net, x[tr], y[tr], global_epochs, GLOBAL["lr"], seed, GLOBAL["batch"], quiet=True)
    syms, preds = [], []
    for rec in splits.DS2:
        ft, test = splits.patient_specific(beats, rec)
        n2 = copy.deepcopy(net)
        train.fit(n2, x[ft], y[ft], FINETUNE["epochs"], FINETUNE["lr"], seed, FINETUNE["batch"],
                  quiet=True)
        if quant:       # what the hardware computes: the exported model through the integer reference
            with tempfile.TemporaryDirectory() as tmp:       # through the file, validated
                save(export(n2, {"seed": seed}), Path(tmp) / "m.json")
                model = load(Path(tmp) / "m.json")
            p = integer_ref.classify(model, torch.from_numpy(beats.raw[test].astype(np.int64)))
        else:
            p = train.predict(n2, x[test])
        syms.append(beats.symbol[test])
        preds.append(p.numpy())
    met = binary_metrics(np.concatenate(syms), np.concatenate(preds))
    return {"m": m, "channels": ch, "hidden": nh, "conv": kind, "seed": seed,
            "kind": "integer" if quant else "float", "global_epochs": global_epochs,
            "macs": cfg.macs, "weights": cfg.weights, "acc": met["acc"], "f1": met["f1_abnormal"],
            "beats": met["beats"], "seconds": round(time.time() - t0, 1)}


def train_table(kind="float", widths=WIDTHS, depths=DEPTHS, convs=KINDS, seeds=(0, 1, 2),
                global_epochs=GLOBAL_EPOCHS, jobs=2, out=None, db=None):
    """Run every missing (width, depth, conv, seed) and merge it into ``out`` (JSON)."""
    out = Path(out) if out else RESULTS / f"table1_{kind}.json"
    done = json.loads(out.read_text()) if out.is_file() else {"runs": {}}
    todo = [(m, ch, nh, c, s) for ch, nh in widths for m in depths for c in convs for s in seeds
            if key(m, ch, nh, c, s) not in done["runs"]]
    done.update(protocol="patient_specific (DS1 global, DS2 first 5 min fine-tune, rest test)",
                global_epochs=global_epochs, finetune=FINETUNE, global_training=GLOBAL)
    print(f"train-table ({kind}): {len(todo)} runs to do, {len(done['runs'])} done", file=sys.stderr)
    out.parent.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futs = {pool.submit(run_one, m, ch, nh, c, s, kind == "integer", global_epochs, db):
                key(m, ch, nh, c, s) for m, ch, nh, c, s in todo}
        for f in futs:
            r = f.result()
            done["runs"][futs[f]] = r
            out.write_text(json.dumps(done, indent=1, sort_keys=True) + "\n")
            print(f"  {futs[f]}: acc {r['acc']:.4f} f1 {r['f1']:.4f} ({r['seconds']} s)",
                  file=sys.stderr)
    return done


def add_parser(sub):
    """``ternecg train-table`` (``make train-table``)."""
    from ternecg import options
    p = sub.add_parser("train-table", description=__doc__.split("\n")[0])
    p.add_argument("--kind", choices=("float", "integer"), default="float",
                   help="float, or integer (the ternary QAT model through the integer reference)")
    p.add_argument("--channels", metavar="C,...", type=options.int_list, default=[w[0] for w in WIDTHS],
                   help="c_h values, comma-separated (9 -> n_h 64, 18 -> n_h 128; default: both)")
    p.add_argument("--depths", metavar="M,...", type=options.positive_int_list, default=list(DEPTHS),
                   help=f"conv layers M, comma-separated (default: {','.join(map(str, DEPTHS))})")
    p.add_argument("--convs", metavar="KIND,...", type=options.str_list, default=list(KINDS),
                   help=f"conv types, comma-separated subset of {','.join(KINDS)} (default: all)")
    options.add_seed(p, default=[0, 1, 2], several=True)
    options.add_epochs(p, default=GLOBAL_EPOCHS, what=f"of the global stage (default: {GLOBAL_EPOCHS})")
    options.add_jobs(p)
    options.add_db(p)
    p.set_defaults(func=_command)
    return p


def _command(a):
    widths = dict(WIDTHS)
    bad = [c for c in a.channels if c not in widths]
    if bad:
        raise TernEcgError(f"--channels {bad} not in the paper's widths {sorted(widths)}")
    bad = [c for c in a.convs if c not in KINDS]
    if bad:
        raise TernEcgError(f"--convs {bad[0]!r} is not a conv type; choose from {', '.join(KINDS)}")
    train_table(a.kind, [(c, widths[c]) for c in a.channels], a.depths, a.convs, a.seed,
                a.epochs, a.jobs, db=a.db)


def main(argv=None):
    from ternecg.cli import command_main
    return command_main("train-table")(argv)


if __name__ == "__main__":
    sys.exit(main())
