"""`make annotate` (golden/annotate.py) without the database: the monitor's beats of an excerpt
written as a WFDB annotation file, read back with wfdb.rdann, scored against the reference with
wfdb.processing.compare_annotations and golden/ec57.py; the PNG; bad input; the command on an
excerpt written as a small WFDB record (its .mon read back with wfdb.rdann; at 250 Hz one line)."""

import numpy as np
import pytest
import wfdb
from wfdb import processing

from ternecg import cli
from ternecg.errors import TernEcgError
from ternecg.golden import annotate, ec57, excerpts, monitor
from ternecg.golden.spec import modelfile
from ternecg.golden.spec.symbols import scheme
from ternecg.paths import models_dir

MODEL = models_dir() / "aami4_inter.json"
if not MODEL.is_file():                      # before the four-class models are trained
    MODEL = models_dir() / "inter_patient.json"


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("annotate")
    m = modelfile.load(MODEL)
    e = excerpts.load()[0]                   # 208: V and F beats
    info = annotate.annotate(m, e.signal, "208x", out, str(MODEL), e.ref, e.symbols)
    return m, e, out, info


def test_file_reads_back_with_wfdb(written):
    m, e, out, info = written
    ann = wfdb.rdann(str(out / "208x"), "mon")
    assert ann.symbol[0] == '"' and ann.aux_note[0].startswith("ternecg classes")
    assert ann.fs == 360
    res = monitor.run(m, e.signal)
    sch = scheme(m.cfg.classes)
    samples, symbols = annotate.read(out / "208x.mon")
    assert samples.tolist() == res.peaks.tolist()
    assert symbols.tolist() == [sch.symbol(c) for c in res.classes.tolist()]
    assert set(symbols.tolist()) <= set("NSVFQ")


def test_scored_against_the_reference_like_wfdb(written):
    _, e, out, info = written
    samples, _ = annotate.read(out / "208x.mon")
    mine = ec57.match(e.ref, samples)
    theirs = processing.compare_annotations(e.ref, samples, ec57.match_window(360) + 1)
    assert (mine.tp, mine.fn, mine.fp) == (theirs.tp, theirs.fn, theirs.fp)
    assert info["qrs"]["tp"] == mine.tp and mine.se > 0.98


def test_png(written):
    *_, info = written
    png = info["png"]
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_input(tmp_path, written):
    m, e, *_ = written
    with pytest.raises(TernEcgError, match="R peaks but"):
        annotate.write("x", [500, 900], [0], m.cfg.classes, tmp_path)
    with pytest.raises(TernEcgError, match="monitor beats start"):
        annotate.write("x", [1], [0], m.cfg.classes, tmp_path)
    with pytest.raises(TernEcgError, match="outside the model"):
        annotate.write("x", [500], [7], m.cfg.classes, tmp_path)
    assert not list(tmp_path.iterdir())                     # no partial file
    with pytest.raises(TernEcgError, match="shorter than one beat window"):
        annotate.annotate(m, e.signal[:100], "y", tmp_path)


def test_cli_rejects_an_unknown_record(capsys):
    assert cli.main(["annotate", "--record", "999"]) == 2
    assert "unknown MIT-BIH record '999'" in capsys.readouterr().err


def _wfdb_record(folder, e, fs=360):
    """The excerpt as a small WFDB record named ``e.record`` (.hea/.dat/.atr) in ``folder``: what
    `make annotate DB=folder` reads, without the database."""
    folder.mkdir(parents=True, exist_ok=True)
    sig = np.asarray(e.signal, dtype=np.int64).reshape(-1, 1)
    wfdb.wrsamp(e.record, fs=fs, units=["mV"], sig_name=["MLII"], d_signal=sig, fmt=["212"], adc_gain=[200.0],
                baseline=[1024], write_dir=str(folder))
    wfdb.wrann(e.record, "atr", np.asarray(e.ref, dtype=np.int64), symbol=list(e.symbols), write_dir=str(folder))
    return folder


def test_cli_writes_annotations_wfdb_reads_back(tmp_path, written, capsys):
    m, e, *_ = written
    db, out = _wfdb_record(tmp_path / "db", e), tmp_path / "out"
    assert cli.main(["annotate", "--record", e.record, "--model", str(MODEL), "--db", str(db),
                     "--out", str(out)]) == 0, capsys.readouterr().err
    ann = wfdb.rdann(str(out / e.record), "mon")
    res = monitor.run(m, e.signal)
    sch = scheme(m.cfg.classes)
    beats = [i for i, s in enumerate(ann.symbol) if s != '"']
    assert [ann.sample[i] for i in beats] == res.peaks.tolist()
    assert [ann.symbol[i] for i in beats] == [sch.symbol(c) for c in res.classes.tolist()]
    assert (out / f"{e.record}.png").read_bytes()[:4] == b"\x89PNG"
    assert "wrote " in capsys.readouterr().out


def test_cli_sampling_rate_mismatch_one_line_no_output(tmp_path, written, capsys):
    _, e, *_ = written
    db, out = _wfdb_record(tmp_path / "db", e, fs=250), tmp_path / "out"
    assert cli.main(["annotate", "--record", e.record, "--db", str(db), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "at 250 Hz, not a MIT-BIH record (360 Hz)" in err and "\n" not in err and "Traceback" not in err
    assert not out.exists() or not list(out.iterdir())


def test_cli_record_shorter_than_a_window_one_line(tmp_path, written, capsys):
    _, e, *_ = written
    short = excerpts.Excerpt(e.record, e.start, e.signal[:200], e.ref[e.ref < 200], e.symbols[e.ref < 200])
    db, out = _wfdb_record(tmp_path / "db", short), tmp_path / "out"
    assert cli.main(["annotate", "--record", e.record, "--db", str(db), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "shorter than one beat window" in err and "\n" not in err
    assert not out.exists() or not list(out.iterdir())
