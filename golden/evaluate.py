"""`make eval`: evaluate the shipped model files on the three protocols, no training.

``integer``: the model files through the integer reference (what the hardware computes).
``float``:   the float twins (same topology, no quantisation) from models/float/.
Protocols: ``patient_specific`` (models/patient/), ``inter_patient`` (models/inter_patient.json,
with each beat's RR codes), ``inter_patient_no_rr`` (models/default.json, samples only) and
``six_class_random`` (models/six_class.json).
Per protocol: acc, f1_abnormal (binary protocols), per-class Se and +P, confusion matrix, counts.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ternecg.errors import TernEcgError
from ternecg.paths import build_dir
from ternecg.reports import markdown_table

from . import integer_ref, splits, train
from .spec import modelfile
from .beats import SIX_CLASSES, aami_class, binary_labels, load_beats, six_labels
from .spec.config import parse_config
from .model import Net
from .normalize import normalize
from .rr import model_codes, thermometer

AAMI_CLASSES = ("N", "S", "V", "F")


def confusion(y_true, y_pred, n):
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def _ratio(a, b):
    return float(a) / float(b) if b else None


def binary_metrics(symbols, y_pred):
    """Metrics of a normal/abnormal prediction; Se per AAMI class (N, S, V, F), +P per binary class."""
    y_true = binary_labels(symbols)
    y_pred = np.asarray(y_pred)
    cm = confusion(y_true, y_pred, 2)
    tp, fp, fn = cm[1, 1], cm[0, 1], cm[1, 0]
    aami = aami_class(symbols)
    per_class = {}
    for cls in AAMI_CLASSES:
        mask = aami == cls
        want = 0 if cls == "N" else 1
        per_class[cls] = {"count": int(mask.sum()), "se": _ratio((y_pred[mask] == want).sum(), mask.sum())}
    per_class["N"]["ppv"] = _ratio(cm[0, 0], cm[:, 0].sum())
    per_class["abnormal"] = {"count": int(cm[1].sum()), "se": _ratio(tp, cm[1].sum()),
                             "ppv": _ratio(tp, cm[:, 1].sum())}
    return {"acc": _ratio(np.trace(cm), cm.sum()), "f1_abnormal": _ratio(2 * tp, 2 * tp + fp + fn),
            "per_class": per_class, "confusion": cm.tolist(), "classes": ["N", "abnormal"],
            "beats": int(cm.sum())}


def six_metrics(symbols, y_pred):
    y_true = six_labels(symbols)
    cm = confusion(y_true, y_pred, len(SIX_CLASSES))
    per_class = {c: {"count": int(cm[i].sum()), "se": _ratio(cm[i, i], cm[i].sum()),
                     "ppv": _ratio(cm[i, i], cm[:, i].sum())} for i, c in enumerate(SIX_CLASSES)}
    return {"acc": _ratio(np.trace(cm), cm.sum()), "per_class": per_class, "confusion": cm.tolist(),
            "classes": list(SIX_CLASSES), "beats": int(cm.sum())}


def _int_predict(path, raw, rr=None):
    return integer_ref.classify(modelfile.load(path), torch.from_numpy(raw.astype(np.int64)), rr).numpy()


def _float_predict(path, config, raw, rr=None):
    if not Path(path).is_file():
        raise TernEcgError(f"float model {path} not found; run 'make train' to produce it")
    cfg = parse_config(config)
    net = Net(cfg, quant=False)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    x = normalize(torch.from_numpy(raw.astype(np.int64)))
    if cfg.rr_bits:
        x = torch.cat([x.float(), thermometer(rr, cfg.rr_bits)], 1)
    return train.predict(net, x).numpy()


def evaluate(models=modelfile.MODELS_DIR, db=None, out=None):
    models = Path(models)
    beats = load_beats(db)
    out = Path(out) if out is not None else build_dir("reports")
    report = {}
    for kind in ("integer", "float"):
        def predict(name, config, idx, rr=None):
            if kind == "integer":
                return _int_predict(models / f"{name}.json", beats.raw[idx], rr)
            return _float_predict(models / "float" / f"{name}.pt", config, beats.raw[idx], rr)

        glob_cfg = modelfile.load(models / "default.json").cfg.raw
        # (a) inter-patient: the RR model on every DS2 beat with its RR codes; the global model
        # (no RR path, the fine-tuning base) beside it
        _, test = splits.inter_patient(beats)
        inter_rr = modelfile.load(models / "inter_patient.json").cfg
        codes = model_codes(beats, inter_rr)[test]
        inter = binary_metrics(beats.symbol[test], predict("inter_patient", inter_rr.raw, test, codes))
        inter_no_rr = binary_metrics(beats.symbol[test], predict("default", glob_cfg, test))
        # (b) patient-specific: each DS2 record's fine-tuned model on its test portion
        syms, preds = [], []
        for rec in splits.DS2:
            _, t = splits.patient_specific(beats, rec)
            syms.append(beats.symbol[t])
            preds.append(predict(f"patient/{rec}", glob_cfg, t))
        ps = binary_metrics(np.concatenate(syms), np.concatenate(preds))
        # (c) six classes, random 75/25 split
        six_cfg = modelfile.load(models / "six_class.json").cfg.raw
        _, t6 = splits.six_class_random(beats, seed=0)
        six = six_metrics(beats.symbol[t6], predict("six_class", six_cfg, t6))
        report[kind] = {"patient_specific": ps, "inter_patient": inter, "inter_patient_no_rr": inter_no_rr,
                        "six_class_random": six}
    report["model"] = model_size(modelfile.load(models / "default.json"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(report, indent=1) + "\n")
    plot_confusions(report, out / "eval_confusion.png")
    return report


def model_size(model):
    """Weights and MACs per beat, counted from the topology, cross-checked with ptflops."""
    cfg = model.cfg
    info = {"name": cfg.name, "weights": cfg.weights, "macs": cfg.macs,
            "weight_bytes": (2 * cfg.weights + 7) // 8,
            "layers": [{"name": l.name, "weights": l.weights, "macs": l.macs} for l in cfg.layers]}
    try:
        from .flops import ptflops_macs
        info["macs_ptflops"] = ptflops_macs(cfg)
    except ImportError:
        info["macs_ptflops"] = None
    return info


def plot_confusions(report, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    protos = ("patient_specific", "inter_patient", "six_class_random")
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    for ax, proto in zip(axes, protos):
        r = report["integer"][proto]
        cm = np.array(r["confusion"])
        frac = cm / np.maximum(cm.sum(1, keepdims=True), 1)
        ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
        for (i, j), v in np.ndenumerate(cm):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=8,
                    color="white" if frac[i, j] > 0.6 else "black")
        ax.set_xticks(range(len(r["classes"])), r["classes"])
        ax.set_yticks(range(len(r["classes"])), r["classes"])
        ax.set_xlabel("predicted")
        ax.set_ylabel("annotated")
        ax.set_title(f"{proto.replace('_', ' ')}\nacc {r['acc']:.4f}", fontsize=10)
    fig.suptitle("Integer (hardware) model, MIT-BIH")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(report):
    rows = []
    for proto in ("patient_specific", "inter_patient", "inter_patient_no_rr", "six_class_random"):
        for kind in ("integer", "float"):
            r = report[kind][proto]
            f1 = r.get("f1_abnormal")
            rows.append((proto, kind, f"{r['acc']:.4f}", "" if f1 is None else f"{f1:.4f}", r["beats"]))
    m = report["model"]
    return (markdown_table(("protocol", "model", "acc", "F1 abnormal", "beats"), rows)
            + f"\n\nmodel {m['name']}: {m['weights']} ternary weights ({m['weight_bytes']} bytes), "
              f"{m['macs']} MACs per beat (ptflops: {m['macs_ptflops']})")


def add_parser(sub):
    """``ternecg eval`` (``make eval``)."""
    from ternecg import options
    p = sub.add_parser("eval", description=__doc__.split("\n")[0])
    options.add_models(p)
    options.add_db(p)
    options.add_out(p, build_dir("reports"), "writes eval.json and eval_confusion.png")
    p.set_defaults(func=_command)
    return p


def _command(args):
    out = Path(args.out)
    report = evaluate(models=args.models or modelfile.MODELS_DIR, db=args.db, out=out)
    print(table(report))
    print(f"\nwrote {out / 'eval.json'} and {out / 'eval_confusion.png'}")
