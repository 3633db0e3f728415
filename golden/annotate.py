"""`make annotate RECORD=... [MODEL=...]`: the software monitor's beats of one record as a WFDB
annotation file, ``build/annotate/<record>.mon``, and a PNG of a stretch of the record.

The file holds a comment at sample 1 saying what the symbols mean, then one beat annotation per
classified beat at its detected R peak, with the class's WFDB symbol from
golden/spec/symbols.py (four-class models: ``N``, ``S``, ``V``, ``F``; EC57 tools count
``S`` as a supraventricular ectopic beat). PhysioNet's ``bxb`` compares it with the reference::

    WFDB=build/annotate:/path/to/mitdb bxb -r 100 -a atr mon -S

``wfdb.rdann("build/annotate/100", "mon")`` reads it in Python (golden/ec57.py scores it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from ternecg.errors import TernEcgError
from ternecg.paths import build_dir, models_dir, relative

from . import ec57, monitor

EXTENSION = "mon"
#: the header comment's sample: wfdb-python's rdann drops comments at sample 0 (boards/host.py)
HEADER_SAMPLE = 1
DEFAULT_MODEL = models_dir() / "aami4_inter.json"
OUT = build_dir("annotate")
FS = 360
#: colour of each WFDB symbol in the PNG
COLOURS = {"N": "tab:green", "S": "tab:orange", "V": "tab:red", "F": "tab:purple", "Q": "tab:gray"}


def write(record: str, peaks, classes, class_names, out_dir, source: str = "", fs: int = FS) -> Path:
    """``out_dir/<record>.mon``: the header comment and one beat annotation per (peak, class)
    (written under a temporary name, then renamed: never a partial file)."""
    import wfdb
    from .spec.symbols import scheme

    sch = scheme(class_names, source)
    peaks = np.asarray(peaks, dtype=np.int64)
    classes = np.asarray(classes, dtype=np.int64)
    if len(peaks) != len(classes):
        raise TernEcgError(f"{len(peaks)} R peaks but {len(classes)} classes")
    if len(peaks) and peaks[0] <= HEADER_SAMPLE:
        raise TernEcgError(f"a beat at sample {peaks[0]}: monitor beats start at sample {monitor.HALF}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    symbols = [sch.symbol(c) for c in classes.tolist()]
    notes = [sch.notes[c] for c in classes.tolist()]
    tmp = f"{record}_tmp{os.getpid()}"
    wfdb.wrann(tmp, EXTENSION, np.asarray([HEADER_SAMPLE, *peaks.tolist()], dtype=np.int64),
               symbol=['"', *symbols], aux_note=[sch.header, *notes], fs=fs, write_dir=str(out_dir))
    path = out_dir / f"{record}.{EXTENSION}"
    os.replace(out_dir / f"{tmp}.{EXTENSION}", path)
    return path


def read(path) -> tuple[np.ndarray, np.ndarray]:
    """``(samples, symbols)`` of the beat annotations of a written file (``wfdb.rdann``)."""
    import wfdb
    path = Path(path)
    ann = wfdb.rdann(str(path.with_suffix("")), path.suffix.lstrip("."))
    sym = np.asarray(ann.symbol, dtype=str)
    beat = ec57.beat_mask(sym)
    return np.asarray(ann.sample, dtype=np.int64)[beat], sym[beat]


def default_start(peaks, symbols, seconds: float, fs: int = FS) -> int:
    """First sample of the plotted stretch: a little before the first beat not labelled N (the
    start of the record when every beat is N)."""
    odd = np.flatnonzero(np.asarray(symbols) != "N")
    if not len(odd):
        return 0
    return max(0, int(peaks[odd[0]]) - int(seconds * fs) // 3)


def plot(path, signal, peaks, symbols, start: int, seconds: float, title: str, ref=None, ref_symbols=None,
         fs: int = FS) -> Path:
    """PNG of ``signal[start : start + seconds]`` with the detections (coloured by symbol, the
    symbol above) and, when given, the reference beats (their symbols below)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = max(0, int(start))
    b = min(len(signal), a + int(seconds * fs))
    if b - a < 2:
        raise TernEcgError(f"the plotted stretch from sample {a} is empty (record of {len(signal)} samples)")
    t = np.arange(a, b) / fs
    x = np.asarray(signal[a:b], dtype=np.float64)
    fig, ax = plt.subplots(figsize=(14, 3.6))
    ax.plot(t, x, color="black", lw=0.7)
    lo, hi = float(x.min()), float(x.max())
    span = max(hi - lo, 1.0)
    for p, s in zip(peaks, symbols):
        if a <= p < b:
            c = COLOURS.get(s, "tab:blue")
            ax.plot(p / fs, signal[p], "o", color=c, ms=5)
            ax.text(p / fs, hi + 0.08 * span, s, color=c, ha="center", fontsize=10, weight="bold")
    if ref is not None:
        for p, s in zip(ref, ref_symbols):
            if a <= p < b:
                ax.text(p / fs, lo - 0.14 * span, s, color="dimgray", ha="center", fontsize=8)
        ax.text(t[0], lo - 0.27 * span, "reference:", color="dimgray", fontsize=8)
    ax.set_ylim(lo - 0.32 * span, hi + 0.2 * span)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("MLII (ADC codes)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def annotate(model, signal, record: str, out=OUT, source: str = "", ref=None, ref_symbols=None,
             start=None, seconds: float = 10.0) -> dict:
    """The monitor on ``signal``; writes ``<record>.mon`` and ``<record>.png`` into ``out``.
    Returns ``{"annotations", "png", "beats", "per_class", "qrs" (with ``ref``)}``."""
    from .spec.symbols import scheme

    res = monitor.run(model, signal)
    sch = scheme(model.cfg.classes, source)
    path = write(record, res.peaks, res.classes, model.cfg.classes, out, source)
    symbols = [sch.symbol(c) for c in res.classes.tolist()]
    if start is None:
        start = default_start(res.peaks, symbols, seconds)
    else:
        start = int(start * FS)
    png = plot(Path(out) / f"{record}.png", np.asarray(signal), res.peaks, symbols, start, seconds,
               f"record {record}: {relative(source) if source else 'monitor'} (detections coloured, "
               f"reference below)", ref, ref_symbols)
    info = {"annotations": path, "png": png, "beats": len(res.peaks),
            "per_class": {c: int((res.classes == i).sum()) for i, c in enumerate(model.cfg.classes)}}
    if ref is not None:
        info["qrs"] = ec57.match(np.asarray(ref), res.peaks).counts()
    return info


def add_parser(sub):
    """``ternecg annotate`` (``make annotate``)."""
    from ternecg import options
    p = sub.add_parser("annotate", description=__doc__.split("\n")[0])
    p.add_argument("--record", required=True, help="MIT-BIH record name, e.g. 208")
    options.add_model(p, what=f"(default: {relative(DEFAULT_MODEL)})")
    p.add_argument("--start", type=options.positive_float, default=None,
                   help="first second of the plotted stretch (default: before the first beat not called N)")
    p.add_argument("--seconds", type=options.positive_float, default=10.0, help="seconds plotted (default: 10)")
    options.add_db(p)
    options.add_out(p, OUT, f"writes <record>.{EXTENSION} and <record>.png")
    p.set_defaults(func=_command)
    return p


def _command(args):
    from .records import RECORDS48, find_database, load_record
    from .spec import modelfile

    if str(args.record) not in RECORDS48:
        raise TernEcgError(f"unknown MIT-BIH record {args.record!r}; valid records are 100 ... 234")
    model_path = Path(args.model) if args.model else DEFAULT_MODEL
    model = modelfile.load(model_path)
    rec = load_record(find_database(args.db), args.record)
    beat = ec57.beat_mask(rec.symbols)
    info = annotate(model, rec.signal, rec.name, args.out, relative(model_path), rec.samples[beat],
                    rec.symbols[beat], args.start, args.seconds)
    q = info["qrs"]
    counts = ", ".join(f"{c} {n}" for c, n in info["per_class"].items())
    print(f"record {rec.name}: {info['beats']} beats ({counts}); against the reference: Se {q['se']:.4f}, "
          f"+P {q['ppv']:.4f} ({q['fn']} missed, {q['fp']} false)")
    print(f"wrote {relative(info['annotations'])} and {relative(info['png'])}")


if __name__ == "__main__":
    from ternecg.cli import command_main
    sys.exit(command_main("annotate")())
