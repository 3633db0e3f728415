"""Raw MIT-BIH excerpts for the R-peak detector's tests without the database: ``fixtures/excerpts.npz``.

Four 60-second stretches of lead MLII (int16 ADC codes as stored, 360 Hz) with their reference
beat annotations (wfdb beat symbols only, samples relative to the excerpt start):

* 208 from 11:00 — 65 ventricular and fusion beats (V, F);
* 209 from 9:00 — 78 supraventricular beats (A);
* 203 from 12:00 — a hard minute: multiform V beats, noise (the detector misses a few);
* 105 from 22:00 — heavy noise (the detector has a few errors both ways).

``build()`` regenerates the file from the database (``ternecg fixture-excerpts``, or
``make fixture-excerpts``); ``load()`` reads it into :class:`Excerpt` objects.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ternecg.errors import TernEcgError

from ternecg.paths import fixtures_dir

from .records import find_database

FIXTURE = fixtures_dir() / "excerpts.npz"
FS = 360
SECONDS = 60
#: (record, start second) of each excerpt.
EXCERPTS: tuple[tuple[str, int], ...] = (("208", 660), ("209", 540), ("203", 720), ("105", 1320))


@dataclass(frozen=True)
class Excerpt:
    record: str
    start: int  # first sample in the record
    signal: np.ndarray  # int16 raw ADC codes (MLII)
    ref: np.ndarray  # int64 reference beat samples, relative to start
    symbols: np.ndarray  # str, their beat symbols

    @property
    def name(self) -> str:
        return f"{self.record}@{self.start // FS}s"


def build(db=None, out=FIXTURE) -> Path:
    from . import ec57
    from .qrs_eval import read_annotated

    db = find_database(db)
    arrays = {}
    for i, (rec, sec) in enumerate(EXCERPTS):
        raw, fs, _beats, samples, symbols, lead, _g, _b = read_annotated(db, rec)
        if fs != FS or lead != "MLII":
            raise TernEcgError(f"record {rec}: expected MLII at {FS} Hz, got {lead} at {fs} Hz")
        a, b = sec * FS, (sec + SECONDS) * FS
        keep = ec57.beat_mask(symbols) & (samples >= a) & (samples < b)
        arrays[f"signal_{i}"] = raw[a:b].astype(np.int16)
        arrays[f"ref_{i}"] = samples[keep] - a
        arrays[f"symbols_{i}"] = symbols[keep].astype("<U1")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, records=np.array([r for r, _ in EXCERPTS]),
                        starts=np.array([s * FS for _, s in EXCERPTS], dtype=np.int64), fs=np.array(FS), **arrays)
    os.replace(tmp, out)
    return out


def load(path=FIXTURE) -> list[Excerpt]:
    path = Path(path)
    if not path.is_file():
        raise TernEcgError(f"excerpt fixture {str(path)!r} is missing; regenerate it with "
                           f"'make fixture-excerpts' (needs the MIT-BIH database)")
    with np.load(path, allow_pickle=False) as z:
        return [Excerpt(str(rec), int(start), z[f"signal_{i}"].copy(), z[f"ref_{i}"].astype(np.int64),
                        z[f"symbols_{i}"].copy())
                for i, (rec, start) in enumerate(zip(z["records"].tolist(), z["starts"].tolist()))]


def add_parser(sub):
    """``ternecg fixture-excerpts`` (``make fixture-excerpts``)."""
    from ternecg import options
    p = sub.add_parser("fixture-excerpts", description=__doc__.split("\n")[0])
    options.add_db(p)
    options.add_out(p, FIXTURE.parent, f"writes {FIXTURE.name}")
    p.set_defaults(func=_command)
    return p


def _command(args):
    out = build(db=args.db, out=Path(args.out) / FIXTURE.name)
    print(f"wrote {out} ({out.stat().st_size // 1024} KB, {len(EXCERPTS)} excerpts of {SECONDS} s)")


if __name__ == "__main__":
    from ternecg.cli import command_main
    sys.exit(command_main("fixture-excerpts")())
