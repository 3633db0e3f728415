"""The host client's outputs and hardened edges (issue 16 items 7, 8), on a Python fake board.

* WFDB annotations carry the decided class's standard symbol; a binary model's abnormal beats are
  'Q' with a header comment saying what that means; read back with wfdb.rdann, matched with
  wfdb's compare_annotations and golden/ec57.py, scored as bxb does;
* everything is checked before the first beat is sent (options, beat selection, output folder, an
  unfinished earlier run), each as one line;
* results are written as they arrive: a link that dies after k beats keeps them, --resume sends
  only the rest.

The record is a synthetic 100-second MIT-BIH-shaped record (no database needed); the fake board
answers with the integer reference of the model, so its classes are the real model's.
"""

import json

import numpy as np
import pytest
import torch

from ternecg import cli
from ternecg.boards import host
from ternecg.boards import protocol as P
from ternecg.errors import TernEcgError
from ternecg.golden import ec57, integer_ref
from ternecg.golden.spec import modelfile
from ternecg.golden.spec.symbols import bxb_statistics

SYMBOLS = "NNNNANNVNNFNNNNVNNAN"       # the synthetic record's beat sequence, repeated


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """A synthetic record '100' of 100 s: two 212-format signals, 120 annotated beats."""
    import wfdb
    folder = tmp_path_factory.mktemp("db")
    rng = np.random.default_rng(1)
    n = 36000
    sig = rng.integers(900, 1150, size=(n, 2), dtype=np.int64)
    samples = np.arange(300, n - 300, 295)[:120]
    sig[samples, 0] += 400                                     # an R peak at each beat
    wfdb.wrsamp("100", fs=360, units=["mV", "mV"], sig_name=["MLII", "V5"], d_signal=sig, fmt=["212", "212"],
                adc_gain=[200, 200], baseline=[1024, 1024], write_dir=str(folder))
    syms = [SYMBOLS[i % len(SYMBOLS)] for i in range(len(samples))]
    wfdb.wrann("100", "atr", samples, symbol=syms, write_dir=str(folder))
    return folder


class FakeBoard:
    """A board in Python: STATUS for PING, the integer reference's RESULT for each BEAT; silent
    after ``answer`` beats (a dead link)."""
    in_waiting = 0
    timeout = 0.01

    def __init__(self, model=None, answer=None):
        self.m = modelfile.load(model)
        self.out = bytearray()
        self.dec = P.Decoder(accept=P.HOST_TYPES)
        self.beats = 0
        self.written = 0
        self.answer = answer

    def write(self, data):
        self.written += len(data)
        for ev in self.dec.feed(data):
            if not isinstance(ev, P.Frame):
                continue
            if ev.type == P.PING:
                self.out += P.encode(P.STATUS, P.status_payload(ev.payload[0], len(self.m.classes), 1, self.beats, 0,
                                                                P.model_id(self.m.sha256)))
            elif ev.type == P.BEAT and (self.answer is None or self.beats < self.answer):
                seq, samples = ev.parse()
                tr = integer_ref.forward(self.m, torch.as_tensor(np.asarray(samples, np.int64)[None]))
                self.beats += 1
                self.out += P.encode(P.RESULT, P.result_payload(seq, int(tr.cls[0]), tr.logits[0].tolist(), 1234))
        return len(data)

    def read(self, n):
        data, self.out = bytes(self.out[:n]), self.out[n:]
        return data


class CodeCountBoard:
    """A board whose model reads ``n_codes`` RR codes: what the Deframer does with a BEAT_RR of
    another length (ERROR LENGTH, detail BEAT_RR), else the integer reference's RESULT."""
    in_waiting = 0
    timeout = 0.01

    def __init__(self, n_codes):
        self.dec = P.board_decoder(rr_bits=4, n_codes=n_codes)
        self.out = bytearray()
        self.frames = 0

    def write(self, data):
        for ev in self.dec.feed(data):
            if isinstance(ev, P.DecodeError):
                self.out += P.encode(P.ERROR, bytes([ev.code, ev.detail]))
            else:
                self.frames += 1
                self.out += P.encode(P.RESULT, P.result_payload(ev.payload[0], 0, [1, 2], 99))
        return len(data)

    def read(self, n):
        data, self.out = bytes(self.out[:n]), self.out[n:]
        return data


@pytest.mark.parametrize("board_codes, sent", [(3, 4), (5, 4), (4, 5)])
@pytest.mark.parametrize("retries", [0, 3])
def test_beat_rr_with_another_code_count_is_one_clear_message(retries, board_codes, sent):
    """``sent`` codes to a board whose model reads ``board_codes`` (three; or five, a model with
    the template and the irregularity codes; or four): one message naming the cause after the
    second refusal (a damaged LEN field is refused once), or after the only try."""
    codes = list(range(1, sent + 1))
    board = CodeCountBoard(board_codes)
    client = host.Client(board, timeout=0.05, retries=retries, name="the board")
    with pytest.raises(TernEcgError, match=rf"rejects BEAT_RR frames with {sent} RR codes \(LENGTH, (1|2) times\).*"
                                           r"--model it was built from"):
        client.classify_one(1, [5] * 240, rr=codes)
    assert client.stats.retries == min(retries, 1)
    ok = host.Client(CodeCountBoard(sent), timeout=0.05, retries=retries, name="the board")
    assert ok.classify_one(2, [5] * 240, rr=codes).seq == 2


class RRFakeBoard(FakeBoard):
    """A board in Python for a model with an RR path: it accepts BEAT_RR frames with the model's
    F codes only (boards/protocol.py ``board_decoder``, as the Deframer) and answers each with the
    integer reference's RESULT on the codes it received; ``frames`` keeps (seq, codes, samples)."""

    def __init__(self, model):
        super().__init__(model)
        self.dec = P.board_decoder(self.m.cfg.rr_bits, n_codes=self.m.cfg.rr_features)
        self.frames = []

    def write(self, data):
        self.written += len(data)
        for ev in self.dec.feed(data):
            if isinstance(ev, P.DecodeError):
                self.out += P.encode(P.ERROR, bytes([ev.code, ev.detail]))
            elif ev.type == P.PING:
                self.out += P.encode(P.STATUS, P.status_payload(ev.payload[0], len(self.m.classes), 1, self.beats, 0,
                                                                P.model_id(self.m.sha256)))
            else:
                seq, codes, samples = ev.parse()
                self.frames.append((seq, codes, samples))
                tr = integer_ref.forward(self.m, torch.as_tensor(np.asarray(samples, np.int64)[None]),
                                         torch.as_tensor(np.asarray(codes, np.int64)[None]))
                self.beats += 1
                self.out += P.encode(P.RESULT, P.result_payload(seq, int(tr.cls[0]), tr.logits[0].tolist(), 1234))
        return len(data)


@pytest.mark.parametrize("which", ["template_model_5", "template_model_4"])
def test_template_model_gets_the_monitors_codes(db, tmp_path, request, which):
    """A model that reads the template code (config rr_template; five codes with the irregularity
    code, else four): the host sends each selected beat's codes as golden/monitor.py ``codes``
    computes them over the whole record's beats in order (the template code at index 3:
    golden/spec/rr.py ``template_codes`` of the record's windows), bit for bit, in BEAT_RR frames
    of 481 + F bytes; the board's results are the integer reference's on those codes."""
    from ternecg.golden import monitor
    from ternecg.golden.beats import BEAT_SYMBOLS
    from ternecg.golden.records import read_record
    from ternecg.golden.spec.rr import irregular_codes, record_codes, template_codes
    path = request.getfixturevalue(which)
    m = modelfile.load(path)
    cfg, F = m.cfg, m.cfg.rr_features
    assert cfg.rr_template and F == (5 if which.endswith("5") else 4)
    signal, samples, symbols, _ = read_record(db, "100")
    peaks = monitor.beat_peaks(signal, peaks=samples[np.isin(symbols, BEAT_SYMBOLS)])
    windows = monitor.windows(signal, peaks)
    want = monitor.codes(peaks, cfg, windows)
    # the reference's columns: intervals, template (index 3), irregularity (last, with F = 5)
    assert np.array_equal(want[:, :3], record_codes(peaks, cfg.rr_local, cfg.rr_bits))
    tmpl = template_codes(windows, cfg.rr_bits, cfg.rr_template_gate)
    assert np.array_equal(want[:, 3], tmpl) and len(set(tmpl.tolist())) > 2
    if F == 5:
        assert np.array_equal(want[:, 4], irregular_codes(peaks, cfg.rr_local, cfg.rr_bits))
    idx = [0, 1, 7, 30, 31, 80, len(peaks) - 1]                # an excerpt: the codes are the whole record's
    board = RRFakeBoard(path)
    s = stream(db, tmp_path, board, model=path, indices=idx)
    assert [f[0] for f in board.frames] == list(range(len(idx)))
    assert np.array_equal(np.array([f[1] for f in board.frames]), want[idx])
    assert np.array_equal(np.array([f[2] for f in board.frames]), windows[idx])
    assert np.array_equal(host.record_codes(host_beats(db), cfg), want)
    tr = integer_ref.forward(m, torch.as_tensor(windows[idx]), torch.as_tensor(want[idx]))
    assert np.array_equal(s["results"]["logits"], tr.logits.numpy())
    assert np.array_equal(s["results"]["cls"], tr.cls.numpy())
    assert P.beat_rr_len(F) == 481 + F and board.written >= len(idx) * (P.HEADER + 481 + F + P.TRAILER)


def host_beats(db):
    """The beats the host reads from the synthetic record (golden/beats.py ``extract_record``)."""
    from ternecg.golden.beats import extract_record
    return extract_record(db, "100")[0]


def test_template_codes_need_one_record_in_order():
    """record_codes refuses, in one line, beats of two records or out of order (the template code
    is a running average over one record's beats), or a lone beat (no interval, as model_codes)."""
    from ternecg.golden.beats import Beats
    from ternecg.golden.spec.config import parse_config
    from ternecg.paths import models_dir
    raw = json.loads((models_dir() / "aami4_inter.json").read_text())["config"]
    cfg = parse_config(dict(raw, rr_template=1))
    w = np.full((3, 240), 1000, np.int16)
    with pytest.raises(TernEcgError, match="pass one record's beats, not those of 2 records"):
        host.record_codes(Beats(w, ["100", "100", "101"], [300, 600, 900], ["N"] * 3), cfg)
    with pytest.raises(TernEcgError, match="in R-peak order"):
        host.record_codes(Beats(w, ["100"] * 3, [300, 900, 600], ["N"] * 3), cfg)
    with pytest.raises(TernEcgError, match="record 100: RR codes need at least 2 beats, got 1"):
        host.record_codes(Beats(w[:1], ["100"], [300], ["N"]), cfg)


def stream(db, out, board, **kw):
    return host.stream_record("fake", "100", db=db, out=out, serial_port=board, progress=False,
                              timeout=kw.pop("timeout", 0.05), retries=kw.pop("retries", 0), **kw)


# ---- item 7: the annotation file ----------------------------------------------------------------

def _read_back(out):
    import wfdb
    return wfdb.rdann(str(out / "100"), "fpga")


def test_binary_annotations_read_back_and_score_as_ec57_tools_do(db, tmp_path):
    import wfdb
    from wfdb.processing import compare_annotations
    s = stream(db, tmp_path, FakeBoard())
    ann = _read_back(tmp_path)
    ref = wfdb.rdann(str(db / "100"), "atr")
    assert ann.fs == 360 and ann.symbol[0] == '"' and ann.sample[0] == host.HEADER_SAMPLE
    assert "Q = abnormal = AAMI S, V or F" in ann.aux_note[0] and "no V or S decision" in ann.aux_note[0]
    beats = ec57.beat_mask(ann.symbol)
    assert not beats[0] and beats[1:].all()
    sym = np.asarray(ann.symbol)[beats]
    assert set(sym) <= {"N", "Q"} and (sym == "Q").sum() == int((s["results"]["cls"] == 1).sum()) >= 1
    assert [a for a, y in zip(ann.aux_note[1:], sym) if y == "Q"] == ["abnormal"] * int((sym == "Q").sum())
    # detection: every reference beat is matched, by wfdb's matcher and by the project's
    tsamp = np.asarray(ann.sample)[beats]
    cmp = compare_annotations(ref.sample, tsamp, ec57.match_window(360) + 1)
    assert (cmp.tp, cmp.fn, cmp.fp) == (len(ref.sample), 0, 0)
    m = ec57.match(ref.sample, tsamp, 360)
    assert (m.tp, m.fn, m.fp) == (len(ref.sample), 0, 0)
    # classes as bxb reads them: Q is "unclassified", never a V or S true or false positive
    st = bxb_statistics(np.asarray(ref.symbol)[m.ref_index], sym[m.test_index])
    assert st["veb_ppv"] is None and st["sveb_ppv"] is None and st["veb_se"] == 0
    assert sum(v for k, v in st["counts"].items() if k[1] in "sv") == 0
    assert s["ec57_from_annotations"] == st


def test_annotation_symbols_of_six_and_four_class_models(tmp_path):
    import wfdb
    samples = np.array([400, 700, 1000, 1300, 1600, 1900])
    six = ("N", "V", "F", "/", "f", "other")
    host.write_annotations("100", samples, [0, 1, 2, 3, 4, 5], six, tmp_path, source="models/six_class.json")
    ann = wfdb.rdann(str(tmp_path / "100"), "fpga")
    assert ann.symbol[1:] == ["N", "V", "F", "/", "f", "Q"] and ann.aux_note[-1] == "other"
    four = ("N", "S", "V", "F")
    host.write_annotations("101", samples[:4], [0, 1, 2, 3], four, tmp_path)
    ann = wfdb.rdann(str(tmp_path / "101"), "fpga")
    assert ann.symbol[1:] == ["N", "S", "V", "F"]
    st = bxb_statistics(list("NAVF"), ann.symbol[1:])          # an A reference beat is an S for bxb
    assert st["veb_se"] == st["sveb_se"] == st["veb_ppv"] == st["sveb_ppv"] == 1
    with pytest.raises(TernEcgError, match="outside the model's 4 classes"):
        host.write_annotations("102", samples[:1], [4], four, tmp_path)


# ---- item 8: checked before streaming, written as they arrive ------------------------------------

@pytest.mark.parametrize("kw, needle", [
    (dict(timeout=0), "--timeout 0"), (dict(timeout=float("nan")), "--timeout nan"),
    (dict(timeout=-1.0), "--timeout -1.0"), (dict(retries=-1), "--retries -1"),
    (dict(baud=0), "--baud 0"), (dict(baud=True), "--baud True"),
    (dict(indices=[3, 1]), "--beats must be ascending: 1 comes after 3"),
    (dict(indices=[2, 2]), "lists beat 2 twice"), (dict(indices=[]), "--beats is empty"),
    (dict(indices=[1, 500]), "beat index 500 is out of range"), (dict(limit=0), "--limit must be at least 1"),
    (dict(model="nope.json"), "nope.json not found"),
])
def test_bad_input_is_rejected_before_anything_is_sent(db, tmp_path, kw, needle):
    board = FakeBoard()
    with pytest.raises(TernEcgError, match=None) as e:
        stream(db, tmp_path, board, **kw)
    assert needle in str(e.value) and board.written == 0


def test_an_existing_file_as_out_is_rejected_before_streaming(db, tmp_path):
    f = tmp_path / "results.txt"
    f.write_text("keep me")
    board = FakeBoard()
    for out, needle in ((f, "is an existing file, not a folder"), (f / "sub", "is a file, not a folder")):
        with pytest.raises(TernEcgError, match=needle):
            stream(db, out, board)
    assert board.written == 0 and f.read_text() == "keep me"


def test_results_are_kept_when_the_link_dies_and_resume_sends_only_the_rest(db, tmp_path):
    idx = list(range(0, 40, 2))                                # 20 beats
    with pytest.raises(TernEcgError) as e:
        stream(db, tmp_path, FakeBoard(answer=12), indices=idx)
    assert "12 of 20 beats classified so far" in str(e.value) and "--resume" in str(e.value)
    lines = (tmp_path / "100_fpga.csv").read_text().splitlines()
    assert lines[0].startswith("# ternecg host results; record=100;") and len(lines) == 2 + 12
    assert [int(l.split(",")[0]) for l in lines[2:]] == idx[:12]
    assert not (tmp_path / "100.fpga").exists()
    # a rerun must not overwrite the unfinished run by accident
    board = FakeBoard()
    with pytest.raises(TernEcgError, match="holds an unfinished run \\(12 beats classified\\); pass --resume"):
        stream(db, tmp_path, board, indices=idx)
    assert board.written == 0
    # --resume sends only the 8 missing beats; the result equals a run in one go
    board = FakeBoard()
    s = stream(db, tmp_path, board, indices=idx, resume=True)
    assert board.beats == 8 and s["resumed_beats"] == 12 and s["beats"] == 20
    assert (tmp_path / "100_fpga.csv").read_text().splitlines()[-1] == "# complete"
    whole = stream(db, tmp_path / "whole", FakeBoard(), indices=idx)
    for k in ("cls", "logits", "cycles"):
        assert np.array_equal(s["results"][k], whole["results"][k])
    assert json.loads((tmp_path / "100_fpga.json").read_text())["resumed_beats"] == 12
    # a finished run is simply replaced; --restart discards an unfinished one
    stream(db, tmp_path, FakeBoard(), indices=idx[:3])
    with pytest.raises(TernEcgError):
        stream(db, tmp_path, FakeBoard(answer=1), indices=idx[:3])
    assert stream(db, tmp_path, FakeBoard(), indices=idx[:3], restart=True)["resumed_beats"] == 0


def test_resume_refuses_another_model(db, tmp_path):
    with pytest.raises(TernEcgError):
        stream(db, tmp_path, FakeBoard(answer=2), limit=4)
    with pytest.raises(TernEcgError, match="cannot --resume .* another record, model"):
        stream(db, tmp_path, FakeBoard(modelfile.MODELS_DIR / "patient" / "100.json"), limit=4,
               model=modelfile.MODELS_DIR / "patient" / "100.json", resume=True)


@pytest.mark.parametrize("args, needle", [
    (["--timeout", "nan"], "argument --timeout: 'nan' must be a finite number greater than 0"),
    (["--timeout", "0"], "argument --timeout: '0' must be a finite number greater than 0"),
    (["--retries", "-1"], "argument --retries: -1 must not be negative"),
    (["--baud", "0"], "argument --baud: 0 must be at least 1"),
    (["--baud", "fast"], "argument --baud: 'fast' is not an integer"),
    (["--beats", "5,3"], "--beats must be ascending: 3 comes after 5"),
    (["--beats", "1,1"], "--beats lists beat 1 twice"),
    (["--beats", "1,,2"], "argument --beats"),
    (["--resume", "--restart"], "not allowed with argument"),
])
def test_command_line_rejects_nonsense_in_one_line(args, needle, capsys):
    assert cli.main(["host", "--port", "/dev/ttyUSB_none", "--record", "100", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ternecg host: error:") and needle in err[0], err
