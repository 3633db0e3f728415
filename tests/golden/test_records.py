"""Every path that reads the database checks what it reads: damaged copies of record 100
(truncated .dat, garbage .hea, truncated or shortened .atr, ...) give one clear error naming the
file and what to do, through records.read_record, beats.extract_record and the R-peak detector's
reader, and one line from the command line; never a traceback or a silently short record.
The record is a synthetic stand-in of the real one's shape, so these tests need no database."""

import shutil
import subprocess
import sys

import numpy as np
import pytest

from ternecg.errors import TernEcgError
from ternecg.golden import beats as B
from ternecg.golden import records as R
from ternecg.golden import qrs_eval as Q


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    """A synthetic stand-in of record 100 shaped like the real one (no database needed): two 212-format
    signals MLII and V5 of 650,000 samples at 360 Hz, 2274 annotations (MIT-BIH's count for 100)."""
    import wfdb
    folder = tmp_path_factory.mktemp("mitdb100")
    rng = np.random.default_rng(0)
    sig = rng.integers(900, 1200, size=(R.SIG_LEN, 2), dtype=np.int64)
    wfdb.wrsamp("100", fs=R.FS, units=["mV", "mV"], sig_name=["MLII", "V5"], d_signal=sig, fmt=["212", "212"],
                adc_gain=[200, 200], baseline=[1024, 1024], write_dir=str(folder))
    n = R.ANNOTATIONS48["100"]
    samples = np.linspace(300, R.SIG_LEN - 300, n).astype(np.int64)
    wfdb.wrann("100", "atr", samples, symbol=["N"] * n, write_dir=str(folder))
    return folder


@pytest.fixture
def copy(record, tmp_path):
    """A folder holding writable copies of record 100's three files."""
    for ext in ("hea", "dat", "atr"):
        shutil.copyfile(record / f"100.{ext}", tmp_path / f"100.{ext}")
    return tmp_path


def _cut(path, keep):
    data = path.read_bytes()
    path.write_bytes(data[:keep] if keep >= 0 else data[:len(data) + keep])


def _shorter_annotations(folder, n=19):
    """A well-formed .atr holding only the first n annotations (wfdb writes it, end marker and all)."""
    import wfdb
    ann = wfdb.rdann(str(folder / "100"), "atr")
    (folder / "100.atr").unlink()
    wfdb.wrann("100", "atr", ann.sample[:n], symbol=ann.symbol[:n], write_dir=str(folder))


DAMAGES = {
    "dat truncated": (lambda f: _cut(f / "100.dat", 975_000),
                      "100.dat is truncated: 975,000 of the 1,950,000 bytes its header announces"),
    "dat one byte short": (lambda f: _cut(f / "100.dat", -1), "100.dat is truncated: 1,949,999 of the 1,950,000"),
    "dat too long": (lambda f: (f / "100.dat").write_bytes((f / "100.dat").read_bytes() + b"\0" * 3),
                     "100.dat holds 1,950,003 bytes but its header 100.hea announces 1,950,000"),
    "dat missing": (lambda f: (f / "100.dat").unlink(), "100.dat is missing"),
    "hea garbage": (lambda f: (f / "100.hea").write_bytes(b"\x00\xff\x13\x37 not a header\n"),
                    "100.hea is not a valid WFDB header"),
    "hea empty": (lambda f: (f / "100.hea").write_bytes(b""), "100.hea is not a valid WFDB header"),
    "hea cut": (lambda f: (f / "100.hea").write_text("100 2 360 650000\n100.dat 212 200 11 1024 995 -22131 0 MLII\n"),
                "100.hea announces 2 signals but describes 1"),
    "hea wrong rate": (lambda f: (f / "100.hea").write_text(
        (f / "100.hea").read_text().replace("100 2 360 650000", "100 2 250 650000")), "at 250 Hz, not a MIT-BIH record"),
    "atr truncated": (lambda f: _cut(f / "100.atr", 100), "100.atr is truncated (100 bytes, no end-of-file marker)"),
    "atr cut mid-word": (lambda f: _cut(f / "100.atr", 101), "100.atr is truncated (101 bytes"),
    "atr last word lost": (lambda f: _cut(f / "100.atr", -2), "no end-of-file marker"),
    "atr junk after end": (lambda f: (f / "100.atr").write_bytes((f / "100.atr").read_bytes() + b"\x01\x05"),
                           "100.atr has 2 bytes after its end-of-file marker"),
    "atr 19 annotations": (_shorter_annotations,
                           "100.atr holds 19 annotations; record 100 of MIT-BIH (PhysioNet mitdb 1.0.0) has 2274"),
    "atr missing": (lambda f: (f / "100.atr").unlink(), "100.atr is missing"),
}

READERS = {
    "records.read_record": lambda db: R.read_record(db, "100"),
    "beats.extract_record": lambda db: B.extract_record(db, "100"),
    "qrs_eval.read_annotated": lambda db: Q.read_annotated(db, "100"),
}


def test_an_intact_copy_reads_the_same(record, copy):
    a, b = R.load_record(record, "100"), R.load_record(copy, "100")
    assert np.array_equal(a.signal, b.signal) and np.array_equal(a.samples, b.samples)
    assert len(b.samples) == R.ANNOTATIONS48["100"] and (b.fs, b.lead, len(b.signal)) == (360, "MLII", R.SIG_LEN)
    beats, stats = B.extract_record(copy, "100")
    assert len(beats) == stats["kept"] == R.ANNOTATIONS48["100"]


@pytest.mark.slow
def test_the_real_database_passes_every_check():
    """All 48 records of the shared database pass load_record's checks (needs the database)."""
    from local_db import database_or_skip
    db = database_or_skip()
    for name in R.RECORDS48:
        r = R.load_record(db, name)
        assert len(r.samples) == R.ANNOTATIONS48[name] and len(r.signal) == R.SIG_LEN


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("damage", DAMAGES)
def test_damaged_record_is_one_clear_error(copy, damage, reader):
    edit, needle = DAMAGES[damage]
    edit(copy)
    with pytest.raises(TernEcgError) as e:
        READERS[reader](copy)
    msg = str(e.value)
    assert needle in msg, msg
    assert msg.startswith("MIT-BIH record '100' cannot be read from") and "\n" not in msg
    assert "re-download" in msg                    # says what to do


@pytest.mark.parametrize("damage", ["atr 19 annotations", "dat truncated"])
def test_command_line_prints_one_line(copy, damage):
    DAMAGES[damage][0](copy)
    r = subprocess.run([sys.executable, "-m", "ternecg.cli", "qrs-eval", "--records", "100", "--no-peers",
                        "--jobs", "1", "--db", str(copy), "--out", str(copy / "out")],
                       capture_output=True, text=True, timeout=120)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert len(lines) == 1 and lines[0].startswith("ternecg qrs-eval: error: MIT-BIH record '100'")
    assert DAMAGES[damage][1] in lines[0]


def test_a_truncated_beat_cache_is_rebuilt(copy, tmp_path):
    """The beat cache (build/cache/beats_v1.npz) cut short is rebuilt, not a traceback."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / B.CACHE_NAME).write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(TernEcgError, match="101.hea is missing"):   # the copy holds record 100 only
        B.load_beats(copy, cache_dir=cache)
