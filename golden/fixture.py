"""The shipped fixture: a few hundred real MIT-BIH beats, so hw and sim tests run without the database.

``fixtures/beats.npz`` holds raw samples, record, R-peak sample, symbol, and the integer reference's
logits and class for the default model (with that model's sha256, so a stale fixture is detected),
and each beat's RR codes ``rr`` (``rr_bits`` bits each, local mean of ``rr_local`` intervals, computed from all beats of its record, as the
inter-patient model models/inter_patient.json reads them).
Beats are drawn with a fixed seed from the test portions of the DS2 records (patient-specific
protocol), half normal and half abnormal, so every record and every AAMI class is represented.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ternecg.errors import TernEcgError
from ternecg.paths import fixtures_dir

from . import integer_ref, splits
from .spec import modelfile
from .beats import Beats, binary_labels, load_beats
from .rr import model_codes

FIXTURE = fixtures_dir() / "beats.npz"
COUNT = 320


def select(beats: Beats, count=COUNT, seed=0):
    """Indices of ``count`` fixture beats: per DS2 record, normal and abnormal test beats."""
    rng = np.random.default_rng(seed)
    labels = binary_labels(beats.symbol)
    per = count // (2 * len(splits.DS2)) + 1
    picked = []
    for rec in splits.DS2:
        _, test = splits.patient_specific(beats, rec)
        for cls in (0, 1):
            pool = test[labels[test] == cls]
            picked.extend(rng.choice(pool, size=min(per, len(pool)), replace=False).tolist())
    picked = np.array(sorted(picked), dtype=np.int64)
    if len(picked) > count:
        picked = np.sort(rng.choice(picked, size=count, replace=False))
    return picked


def build(model_path=None, out=FIXTURE, db=None):
    beats = load_beats(db)
    idx = select(beats)
    fx = beats.subset(idx)
    model = modelfile.load(model_path)
    tr = integer_ref.forward(model, fx.raw.astype(np.int64))
    inter = modelfile.load(modelfile.MODELS_DIR / "inter_patient.json").cfg
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, raw=fx.raw, record=fx.record, sample=fx.sample, symbol=fx.symbol,
                        logits=tr.logits.numpy(), cls=tr.cls.numpy(),
                        model_sha256=np.array(model.sha256),
                        rr=model_codes(beats, inter).numpy()[idx], rr_bits=np.array(inter.rr_bits),
                        rr_local=np.array(inter.rr_local))
    return len(fx)


def load(path=FIXTURE):
    """The fixture as a dict of numpy arrays (raw, record, sample, symbol, logits, cls, model_sha256,
    rr, rr_bits)."""
    path = Path(path)
    if not path.is_file():
        raise TernEcgError(f"fixture {path} not found; regenerate it with 'make fixture' "
                           f"(needs the MIT-BIH database)")
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def add_parser(sub):
    """``ternecg fixture`` (``make fixture``)."""
    from ternecg import options
    p = sub.add_parser("fixture", description=__doc__.split("\n")[0])
    options.add_model(p, what="whose logits the fixture records (default: models/default.json)")
    options.add_db(p)
    options.add_out(p, FIXTURE.parent, f"writes {FIXTURE.name}")
    p.set_defaults(func=_command)
    return p


def _command(args):
    out = Path(args.out) / FIXTURE.name
    n = build(model_path=args.model, out=out, db=args.db)
    print(f"wrote {out} ({n} beats)")
