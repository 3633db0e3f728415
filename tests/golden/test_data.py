"""MIT-BIH data pipeline: records, beat windows, labels, splits, error paths."""

import collections
import shutil
from unittest import mock

import numpy as np
import pytest

from ternecg.errors import TernEcgError
from ternecg.golden import beats as B
from ternecg.golden import records as R
from ternecg.golden import splits as S




@pytest.fixture(scope="module")
def loaded(db, tmp_path_factory):
    """(beats, stats, the warm call read records?), built in a fresh cache folder. The warm call
    must come from the cache alone: record extraction is replaced by a function that records the
    call (a functional check, not a timing one: a timed assertion failed under load)."""
    cache = tmp_path_factory.mktemp("cache")
    beats, stats = B.load_beats(db, cache_dir=cache, return_stats=True)
    extracted, extract = [], B._extract_all
    with mock.patch.object(B, "_extract_all", lambda *a: extracted.append(a) or extract(*a)):
        again = B.load_beats(db, cache_dir=cache)
    assert (cache / "beats_v1.npz").is_file()
    np.testing.assert_array_equal(beats.raw, again.raw)
    np.testing.assert_array_equal(beats.sample, again.sample)
    assert (beats.record == again.record).all() and (beats.symbol == again.symbol).all()
    return beats, stats, bool(extracted)


def test_labels():
    assert len(B.BEAT_SYMBOLS) == 15 and set(B.AAMI) == set(B.BEAT_SYMBOLS)
    syms = list("NLRejAaJSVEF/fQ")
    assert "".join(B.aami_class(syms)) == "NNNNNSSSSVVFQQQ"
    assert B.binary_labels(syms).tolist() == [0] * 5 + [1] * 7 + [-1] * 3
    assert B.six_labels(syms).tolist() == [0, 5, 5, 5, 5, 5, 5, 5, 5, 1, 5, 2, 3, 4, 5]
    with pytest.raises(TernEcgError, match="'\\+'"):
        B.binary_labels(["N", "+"])


def test_record_100(db):
    _, _, symbols, lead = R.read_record(db, "100")
    assert lead == "MLII"
    counts = collections.Counter(s for s in symbols.tolist() if s in B.BEAT_SYMBOLS)
    assert sum(counts.values()) == 2273
    assert counts == {"N": 2239, "A": 33, "V": 1}
    beats, stats = B.extract_record(db, "100")
    assert stats["annotated"] == 2273
    assert stats["kept"] + stats["dropped_edge"] == stats["annotated"] == len(beats) + stats["dropped_edge"]


def test_record_114_mlii_is_second_signal(db):
    signal, _, _, lead = R.read_record(db, "114")  # imports wfdb (quietly) first
    import wfdb

    rec = wfdb.rdrecord(str(db / "114"), physical=False)
    assert rec.sig_name[1] == "MLII" and lead == "MLII"
    assert signal.dtype == np.int16
    np.testing.assert_array_equal(signal, rec.d_signal[:, 1])


def test_no_mlii_records_marked(db):
    for name in ("102", "104"):
        assert R.read_record(db, name)[3] != "MLII"


def test_whole_database(loaded):
    beats, stats, warm_extracted = loaded
    assert len(stats) == 48 and tuple(stats) == R.RECORDS48
    assert sum(s["annotated"] for s in stats.values()) == 109_494
    assert sum(s["kept"] for s in stats.values()) == len(beats)
    assert all(s["kept"] + s["dropped_edge"] == s["annotated"] for s in stats.values())
    assert beats.raw.dtype == np.int16 and beats.raw.shape == (len(beats), B.WINDOW)
    assert beats.sample.dtype == np.int64
    assert list(dict.fromkeys(beats.record.tolist())) == list(R.RECORDS48)
    assert not warm_extracted, "the second load_beats re-extracted the records instead of reading the cache"


def test_windows_centred_on_r_peak(db, loaded):
    beats = loaded[0]
    for name in R.RECORDS48:
        signal = R.read_record(db, name)[0]
        sel = beats.record == name
        np.testing.assert_array_equal(beats.raw[sel, B.HALF], signal[beats.sample[sel]])
        # spot-check a whole window
        i = np.flatnonzero(sel)[len(np.flatnonzero(sel)) // 2]
        r = beats.sample[i]
        np.testing.assert_array_equal(beats.raw[i], signal[r - B.HALF : r + B.HALF])


def test_subset_and_npz_roundtrip(db, loaded, tmp_path):
    beats = loaded[0]
    sub = beats.subset(beats.record == "100")
    assert len(sub) == 2271
    sub.save_npz(tmp_path / "b.npz")
    back = B.Beats.load_npz(tmp_path / "b.npz")
    np.testing.assert_array_equal(back.raw, sub.raw)
    assert (back.symbol == sub.symbol).all() and (back.record == sub.record).all()
    only = B.load_beats(db, records=("101", "100"), cache_dir=tmp_path / "c")
    assert only.record[0] == "101" and set(only.record.tolist()) == {"100", "101"}


def test_split_definitions():
    assert len(S.DS1) == len(S.DS2) == 22
    assert not set(S.DS1) & set(S.DS2)
    assert not (set(S.DS1) | set(S.DS2)) & set(S.PACED)
    assert sorted(S.DS1 + S.DS2 + S.PACED) == sorted(R.RECORDS48)
    assert S.FINE_TUNE_SECONDS * S.FS == 108_000


def test_inter_patient(loaded):
    beats = loaded[0]
    train, test = S.inter_patient(beats)
    assert train.dtype == test.dtype == np.int64
    assert set(beats.record[train].tolist()) == set(S.DS1)
    assert set(beats.record[test].tolist()) == set(S.DS2)
    for idx in (train, test):
        assert (B.binary_labels(beats.symbol[idx]) >= 0).all()
    excluded = np.isin(beats.record, S.DS1) & (B.aami_class(beats.symbol) == "Q")
    assert excluded.sum() > 0 and not np.isin(np.flatnonzero(excluded), train).any()


def test_patient_specific(loaded):
    beats = loaded[0]
    ft, te = S.patient_specific(beats, "100")
    assert len(ft) > 0 and len(te) > 0
    assert (beats.sample[ft] < 108_000).all() and (beats.sample[te] >= 108_000).all()
    assert (beats.record[np.concatenate([ft, te])] == "100").all()
    assert len(ft) + len(te) == 2271
    with pytest.raises(TernEcgError, match="'101'"):
        S.patient_specific(beats, "101")


def test_six_class_random(loaded):
    beats = loaded[0]
    a_tr, a_te = S.six_class_random(beats, seed=3)
    b_tr, b_te = S.six_class_random(beats, seed=3)
    np.testing.assert_array_equal(a_tr, b_tr)
    np.testing.assert_array_equal(a_te, b_te)
    assert not np.intersect1d(a_tr, a_te).size
    assert len(a_tr) + len(a_te) == len(beats)
    assert abs(len(a_te) - 0.25 * len(beats)) <= 1
    c_tr, _ = S.six_class_random(beats, seed=4)
    assert not np.array_equal(a_tr, c_tr)


def test_find_database_missing_path(tmp_path):
    missing = tmp_path / "no_such_mitdb"
    with pytest.raises(TernEcgError) as err:
        R.find_database(missing)
    assert str(missing) in str(err.value)
    with pytest.raises(TernEcgError) as err:
        R.find_database(tmp_path)  # exists but holds no .hea files
    assert str(tmp_path) in str(err.value)


def test_find_database_env_var(tmp_path, monkeypatch):
    monkeypatch.setenv(R.ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(TernEcgError, match="nowhere"):
        R.find_database()


def test_verify_database_detects_corruption(db, tmp_path):
    lines = (db / "SHA256SUMS.txt").read_text().splitlines()
    keep = [l for l in lines if l.split()[-1] in ("100.hea", "100.dat", "100.atr")]
    assert len(keep) == 3
    for ext in ("hea", "dat", "atr"):
        shutil.copy(db / f"100.{ext}", tmp_path / f"100.{ext}")
    (tmp_path / "SHA256SUMS.txt").write_text("\n".join(keep) + "\n")
    assert R.verify_database(tmp_path) == 3
    data = bytearray((tmp_path / "100.dat").read_bytes())
    data[1000] ^= 0xFF
    (tmp_path / "100.dat").write_bytes(bytes(data))
    R._VERIFIED.clear()  # keyed by mtime, which a coarse file system may not advance this fast
    with pytest.raises(TernEcgError, match="100.dat"):
        R.verify_database(tmp_path)


def test_verify_database_missing_record_file(db, tmp_path):
    lines = (db / "SHA256SUMS.txt").read_text().splitlines()
    keep = [l for l in lines if l.split()[-1] in ("100.hea", "100.dat")]
    shutil.copy(db / "100.hea", tmp_path / "100.hea")
    (tmp_path / "SHA256SUMS.txt").write_text("\n".join(keep) + "\n")
    with pytest.raises(TernEcgError, match="100.dat"):
        R.verify_database(tmp_path)
