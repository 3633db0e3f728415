"""`make train`: reproduce every shipped model file from the database and a seed.

Stages (each for the integer/QAT model and its float twin of the same topology):

- ``global``:  DS1 -> models/default.json (+ models/qat/default.pt) / models/float/default.pt
- ``patient``: per DS2 record, fine-tune the global model on the first 5 minutes ->
               models/patient/<record>.json / models/float/patient/<record>.pt
- ``six``:     random 75/25 split, six classes -> models/six_class.json (+ qat) / models/float/six_class.pt
- ``inter``:   DS1 with the beats' RR codes (config msgc_mux_rr) -> models/inter_patient.json
               (+ qat) / models/float/inter_patient.pt: the pure inter-patient model
- ``aami4_inter``:   four classes (N, S, V, F) on the R-peak detector's beats of DS1 with their RR
               codes (config msgc_mux_aami4_rr, golden/aami4.py) -> models/aami4_inter.json
               (+ models/qat/aami4_inter.pt); integer (QAT) only
- ``aami4_patient``: that model fine-tuned per DS2 record on the detected beats of its first 5
               minutes -> models/aami4_patient/<record>.json

The QAT checkpoints (models/qat/) let the ``patient`` stage run on its own and let the tests compare
the float QAT forward pass with the integer reference. Times go to build/reports/train.json (not
into the model files, which stay byte-identical for a seed).
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import torch

from ternecg.errors import TernEcgError
from ternecg.paths import build_dir
from ternecg.reports import update_json

from . import splits, train
from .beats import load_beats
from .spec.config import load_config
from .export import export
from .spec.modelfile import MODELS_DIR, save
from .rr import rr_inputs

GLOBAL = {"config": "msgc_mux", "epochs": 60, "lr": 1e-3, "batch": 256}
# Small batches do not parallelise: the fine-tune and six-class stages run on one thread (faster
# than two here, and the two kinds can train side by side); the thread count is part of the recipe.
FINETUNE = {"epochs": 100, "lr": 1e-3, "batch": 64, "mixup": 0.0, "threads": 1}
SIX = {"config": "msgc_mux_6class", "epochs": 60, "lr": 3e-4, "batch": 64, "mixup": 0.2, "threads": 1}
INTER = {"config": "msgc_mux_rr", "epochs": 30, "lr": 1e-3, "batch": 256, "mixup": 0.2, "threads": 1}
STAGES = ("global", "patient", "six", "inter", "aami4_inter", "aami4_patient")
KINDS = ("integer", "float")


def _save_state(net, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)


def _checkpoint(out, name, kind):
    return out / ("qat" if kind == "integer" else "float") / f"{name}.pt"


def _finish(net, out, name, kind, meta):
    """Write the integer model file (QAT) and the checkpoint of either kind."""
    if kind == "integer":
        save(export(net, meta), out / f"{name}.json")
    _save_state(net, _checkpoint(out, name, kind))


def train_all(seed=0, out=MODELS_DIR, db=None, report=None,
              epochs=None, stages=STAGES, kinds=KINDS):
    out = Path(out)
    for s in stages:
        if s not in STAGES:
            raise TernEcgError(f"unknown training stage {s!r}; stages are {', '.join(STAGES)}")
    if epochs is not None and "global" not in stages:
        raise TernEcgError(f"--epochs {epochs} sets the global stage's epochs, and the stages "
                           f"{', '.join(stages)} do not read it (their recipes fix theirs): drop --epochs "
                           f"or add the stage 'global'")
    beats = load_beats(db)
    times = {}
    g = dict(GLOBAL, epochs=epochs or GLOBAL["epochs"])
    cfg = load_config(g["config"])
    x, y = train.prepare(beats, "binary")
    tr, _ = splits.inter_patient(beats)
    for kind in kinds:
        quant = kind == "integer"
        if "global" in stages:
            net = train.new_net(cfg, quant, seed)
            t = train.fit(net, x[tr], y[tr], g["epochs"], g["lr"], seed, g["batch"], desc=f"global {kind}")
            times[f"global_{kind}_s"] = round(t, 1)
            _finish(net, out, "default", kind, {"seed": seed, "protocol": "inter_patient DS1", **g})
        if "patient" in stages:
            net = train.new_net(cfg, quant, seed)
            ck = _checkpoint(out, "default", kind)
            if not ck.is_file():
                raise TernEcgError(f"{ck} not found: run the 'global' stage first")
            net.load_state_dict(torch.load(ck, weights_only=True))
            t0 = time.time()
            for rec in splits.DS2:
                ft, _ = splits.patient_specific(beats, rec)
                n2 = copy.deepcopy(net)
                f = FINETUNE
                train.fit(n2, x[ft], y[ft], f["epochs"], f["lr"], seed, f["batch"], f["mixup"],
                          desc=f"fine-tune {rec} {kind}", threads=f["threads"])
                if quant:
                    save(export(n2, {"seed": seed, "protocol": f"patient_specific {rec}", **FINETUNE}),
                         out / "patient" / f"{rec}.json")
                else:
                    _save_state(n2, out / "float" / "patient" / f"{rec}.pt")
            times[f"finetune_{kind}_s"] = round(time.time() - t0, 1)
    if "six" in stages:
        cfg6 = load_config(SIX["config"])
        x6, y6 = train.prepare(beats, "six")
        tr6, _ = splits.six_class_random(beats, seed=0)
        for kind in kinds:
            net = train.new_net(cfg6, kind == "integer", seed)
            t = train.fit(net, x6[tr6], y6[tr6], SIX["epochs"], SIX["lr"], seed, SIX["batch"], SIX["mixup"],
                          desc=f"six-class {kind}", threads=SIX["threads"])
            times[f"six_class_{kind}_s"] = round(t, 1)
            _finish(net, out, "six_class", kind, {"seed": seed, "protocol": "six_class_random seed 0", **SIX})
    if "inter" in stages:
        cfg_rr = load_config(INTER["config"])
        x_rr = rr_inputs(beats, x, cfg_rr.rr_bits, cfg_rr.rr_local)
        for kind in kinds:
            net = train.new_net(cfg_rr, kind == "integer", seed)
            t = train.fit(net, x_rr[tr], y[tr], INTER["epochs"], INTER["lr"], seed, INTER["batch"],
                          INTER["mixup"], desc=f"inter-patient {kind}", threads=INTER["threads"])
            times[f"inter_patient_{kind}_s"] = round(t, 1)
            _finish(net, out, "inter_patient", kind, {"seed": seed, "protocol": "inter_patient DS1, RR codes", **INTER})
    four = tuple(s for s in stages if s.startswith("aami4"))
    if four:
        from . import aami4
        times.update(aami4.ship(seed=seed, out=out, db=db, stages=four))
    update_json(report if report is not None else build_dir("reports", "train.json"), lambda d: {"seed": seed, "seconds": {**d.get("seconds", {}), **times}})
    return times


def add_parser(sub):
    """``ternecg train`` (``make train``)."""
    from ternecg import options
    p = sub.add_parser("train", description=__doc__.split("\n")[0])
    options.add_seed(p)
    options.add_epochs(p, default=None, what="of the global stage (default: the shipped recipe)")
    p.add_argument("--stages", type=options.str_list, default=list(STAGES),
                   help=f"comma-separated subset of {','.join(STAGES)} (default: all)")
    p.add_argument("--kinds", type=options.str_list, default=list(KINDS),
                   help=f"comma-separated subset of {','.join(KINDS)} (default: both)")
    options.add_models(p)
    options.add_db(p)
    p.set_defaults(func=_command)
    return p


def _command(args):
    import json
    bad = [k for k in args.kinds if k not in KINDS]
    if bad:
        raise TernEcgError(f"unknown --kinds entry {bad[0]!r}; kinds are {', '.join(KINDS)}")
    t0 = time.time()
    times = train_all(seed=args.seed, out=args.models or MODELS_DIR, db=args.db, epochs=args.epochs,
                      stages=tuple(args.stages), kinds=tuple(args.kinds))
    print(json.dumps(times, indent=1))
    g = times.get("global_integer_s")
    print(f"make train: {time.time() - t0:.0f} s in total" +
          (f" (global training of the default model: {g:.0f} s)" if g is not None else ""))
