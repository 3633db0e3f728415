"""Train/test splits of the MIT-BIH beats.

* inter-patient (de Chazal et al. 2004): train on DS1, test on DS2, AAMI Q beats excluded;
  the four paced records are in neither set.
* patient-specific: the first 5 minutes of a DS2 record fine-tune, the rest test.
* six-class random split (the Raspberry Pi paper): all beats of all 48 records, shuffled.
"""

from __future__ import annotations

import numpy as np

from ternecg.errors import TernEcgError

from .beats import Beats, binary_labels

DS1 = ("101", "106", "108", "109", "112", "114", "115", "116", "118", "119", "122",
       "124", "201", "203", "205", "207", "208", "209", "215", "220", "223", "230")
DS2 = ("100", "103", "105", "111", "113", "117", "121", "123", "200", "202", "210",
       "212", "213", "214", "219", "221", "222", "228", "231", "232", "233", "234")
PACED = ("102", "104", "107", "217")

FS = 360
FINE_TUNE_SECONDS = 300


def _labelled(beats: Beats, records) -> np.ndarray:
    mask = np.isin(beats.record, records) & (binary_labels(beats.symbol) >= 0)
    return np.flatnonzero(mask).astype(np.int64)


def inter_patient(beats: Beats):
    """``(train_idx, test_idx)``: DS1 / DS2 beats with a binary label (Q beats excluded)."""
    return _labelled(beats, DS1), _labelled(beats, DS2)


def patient_specific(beats: Beats, record: str):
    """``(finetune_idx, test_idx)`` of one DS2 record: R peak before / after 300 s (Q excluded)."""
    record = str(record)
    if record not in DS2:
        raise TernEcgError(f"patient-specific record {record!r} is not a DS2 record; choose one of {', '.join(DS2)}")
    idx = _labelled(beats, (record,))
    early = beats.sample[idx] < FINE_TUNE_SECONDS * FS
    return idx[early], idx[~early]


def six_class_random(beats: Beats, seed: int = 0, test_fraction: float = 0.25):
    """``(train_idx, test_idx)``: a seeded random split of all beats (six-class labels always defined)."""
    if not 0.0 < test_fraction < 1.0:
        raise TernEcgError(f"test_fraction {test_fraction!r} must be between 0 and 1 (exclusive), e.g. 0.25")
    perm = np.random.default_rng(seed).permutation(len(beats)).astype(np.int64)
    n_test = int(round(len(beats) * test_fraction))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])
