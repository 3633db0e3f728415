"""`make train`: reproduce every shipped model file from the database and a seed.

Writes models/default.json (global binary model, DS1), models/patient/<record>.json (fine-tuned on
the first 5 minutes of each DS2 record), models/six_class.json (random 75/25 split), and the float
twins of each (same topology, no quantisation) under models/float/ for the eval comparison.
Times go to build/reports/train.json (not into the model files, which stay byte-identical).
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import torch

from .beats import load_beats
from .config import load_config
from .export import export
from .modelfile import MODELS_DIR, save
from . import splits, train

GLOBAL = {"config": "msgc_mux", "epochs": 60, "lr": 1e-3, "batch": 256}
FINETUNE = {"epochs": 50, "lr": 3e-4, "batch": 64}
SIX = {"config": "msgc_mux_6class", "epochs": 30, "lr": 1e-3, "batch": 256}


def _save_float(net, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)


def train_all(seed=0, out=MODELS_DIR, db=None, report=Path("build/reports/train.json"),
              epochs=None, only=None):
    out = Path(out)
    beats = load_beats(db)
    times = {}
    g = dict(GLOBAL, epochs=epochs or GLOBAL["epochs"])
    cfg = load_config(g["config"])
    x, y = train.prepare(beats, "binary")
    tr, _ = splits.inter_patient(beats)
    for quant in (True, False):
        kind = "integer" if quant else "float"
        if only and kind not in only:
            continue
        net = train.new_net(cfg, quant, seed)
        t = train.fit(net, x[tr], y[tr], g["epochs"], g["lr"], seed, g["batch"], desc=f"global {kind}")
        times[f"global_{kind}_s"] = round(t, 1)
        meta = {"seed": seed, "protocol": "inter_patient DS1", **g}
        if quant:
            save(export(net, meta), out / "default.json")
        else:
            _save_float(net, out / "float" / "default.pt")
        t0 = time.time()
        for rec in splits.DS2:
            ft, _ = splits.patient_specific(beats, rec)
            n2 = copy.deepcopy(net)
            train.fit(n2, x[ft], y[ft], FINETUNE["epochs"], FINETUNE["lr"], seed, FINETUNE["batch"],
                      desc=f"fine-tune {rec} {kind}")
            if quant:
                save(export(n2, {"seed": seed, "protocol": f"patient_specific {rec}", **FINETUNE}),
                     out / "patient" / f"{rec}.json")
            else:
                _save_float(n2, out / "float" / "patient" / f"{rec}.pt")
        times[f"finetune_{kind}_s"] = round(time.time() - t0, 1)
    cfg6 = load_config(SIX["config"])
    x6, y6 = train.prepare(beats, "six")
    tr6, _ = splits.six_class_random(beats, seed=0)
    for quant in (True, False):
        kind = "integer" if quant else "float"
        if only and kind not in only:
            continue
        net = train.new_net(cfg6, quant, seed)
        t = train.fit(net, x6[tr6], y6[tr6], SIX["epochs"], SIX["lr"], seed, SIX["batch"],
                      desc=f"six-class {kind}")
        times[f"six_class_{kind}_s"] = round(t, 1)
        if quant:
            save(export(net, {"seed": seed, "protocol": "six_class_random seed 0", **SIX}),
                 out / "six_class.json")
        else:
            _save_float(net, out / "float" / "six_class.pt")
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps({"seed": seed, "seconds": times}, indent=1) + "\n")
    return times
