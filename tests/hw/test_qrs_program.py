"""The front end's programs (hw/qrs_program.py) on the instruction-level model (hw/qrs_model.py)
against the golden references: golden/qrs.py (peaks and the samples that report them),
golden/monitor.py (beats, RR codes, window addresses) and golden/spec/rr.py (codes, the
irregularity and template codes included)."""

import numpy as np
import pytest

from ternecg.golden import excerpts, monitor, qrs
from ternecg.golden.spec.qrs import qrs_params
from ternecg.golden.spec.rr import irregular_codes, record_codes
from ternecg.hw import qrs_isa
from ternecg.hw.qrs_isa import Asm, decode_word
from ternecg.hw.qrs_model import Machine, MachineError
from ternecg.hw.qrs_program import (HALF, STREAM_BEAT, STREAM_WINDOW, WINDOW_LAST, detector_program,
                                    front_end_program, rr_program)

P360 = qrs_params(360)


@pytest.fixture(scope="module")
def ex():
    return excerpts.load()


@pytest.fixture(scope="module")
def det():
    return detector_program()


def pack(codes, bits=4):
    return sum(int(c) << (f * bits) for f, c in enumerate(codes))


def run_detector(prog, x, machine=None):
    """Feed one record; ``[(peak, sample index at which it came)]`` and the end marker."""
    m = machine or Machine(prog)
    m.run()
    peaks, ends = [], []
    for i, v in enumerate(x):
        m.put(0, int(v), last=(i == len(x) - 1))
        for o in m.run():
            (ends if o["end"] else peaks).append((o["value"], i))
    return peaks, ends, m


def golden_peaks(x):
    """``[(peak, sample at which QrsStream reports it)]`` (the flush's peaks at the last sample)."""
    r, info = qrs.detect(x, info=True)
    return [(int(p), min(int(d), len(x) - 1)) for p, d in zip(r, info["decided"])]


# --- the detector -------------------------------------------------------------------------------------
@pytest.mark.parametrize("index", range(4))
def test_detector_equals_golden_on_excerpts(ex, det, index):
    """Same peaks, each reported at the same sample as QrsStream, then the end marker."""
    x = ex[index].signal.astype(np.int64)
    peaks, ends, m = run_detector(det, x)
    assert peaks == golden_peaks(x)
    assert len(peaks) > 80
    assert ends == [(len(x), len(x) - 1)]


def _noise(x, a, b, seed=0):
    rng = np.random.default_rng(seed)
    y = np.asarray(x, dtype=np.int64).copy()
    t = np.arange(b - a) / 360
    y[a:b] = np.clip(np.round(y[a:b] + 300 * np.sin(2 * np.pi * 0.3 * t) + 60 * np.sin(2 * np.pi * 60 * t)
                              + np.convolve(rng.normal(0, 80, b - a), np.ones(4) / 4, "same")), 0, 2047)
    return y


def test_detector_bad_input_and_records_back_to_back(ex, det):
    """Flat (lead off), saturated and noisy stretches, a chirp and white noise (many sub-threshold
    candidates), a 300-sample record, each a record of one stream: every record equals golden."""
    x = ex[2].signal.astype(np.int64)
    flat = x.copy()
    flat[3000:9000] = 1024
    sat = x.copy()
    sat[5000:6000] = 2047
    n = 20 * 360
    t = np.arange(n) / 360
    rng = np.random.default_rng(3)
    records = [flat[:12000], sat[:12000], _noise(x, 2000, 8000)[:12000],
               np.clip(np.round(1024 + 300 * np.sin(2 * np.pi * (0.5 + 0.1 * t) * t)), 0, 2047).astype(np.int64),
               np.clip(np.round(1024 + rng.normal(0, 150, n)), 0, 2047).astype(np.int64),
               x[:300], np.full(400, 2047)]
    m = Machine(det)
    for rec in records:
        peaks, ends, _ = run_detector(det, rec, m)
        assert peaks == golden_peaks(rec)
        assert ends == [(len(rec), len(rec) - 1)]


def test_detector_cycles_per_sample(ex, det):
    """Every sample's cycles (the gateware takes the model's count): typical and worst."""
    m = Machine(det)
    m.run()
    per = []
    x = ex[1].signal
    for i, v in enumerate(x):
        c = m.cycles
        m.put(0, int(v), last=(i == len(x) - 1))
        m.run()
        per.append(m.cycles - c)
    per, end = np.asarray(per[:-1]), per[-1]
    assert 100 < np.median(per) < 200
    assert per.max() < 8000                 # the learning period's end: every stored candidate
    assert np.percentile(per, 99) < 1500
    assert end < 119 * 400                  # the last sample: the flush of 9.5 and the marker


# --- the RR codes ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("local,bits", [(8, 4), (32, 4), (1, 1), (5, 8), (31, 3)])
def test_rr_program_equals_record_codes(local, bits):
    """Random R-peak sequences (regular, premature, lead-off gaps, long intervals up to 2^30 with a
    local sum W near 2^31), a lone peak, two peaks and an empty record, one stream; codes one peak
    late, end markers. Positions are 32-bit sample indices."""
    rng = np.random.default_rng(local * 100 + bits)
    m = Machine(rr_program(local=local, bits=bits))
    m.run()
    seqs = [rng.integers(60, 900, 40), rng.integers(1, 3, 10), np.array([1 << 30, (1 << 30) - 1, 5, 7]),
            rng.integers(1, 1 << 25, 70), np.array([100]), np.array([100, 150]), np.array([], np.int64)]
    for k, iv in enumerate(seqs):
        r = np.cumsum(iv.astype(np.int64))
        assert len(r) == 0 or r[-1] < 1 << 32
        for v in r:
            m.put(0, int(v))
        m.put(0, 4321 + k, last=True)
        out = m.run()
        assert out[-1]["end"] == 1 and out[-1]["value"] == 4321 + k
        got = [(o["value"], o["codes"]) for o in out[:-1]]
        if len(r) == 0:
            want = []
        elif len(r) == 1:
            want = [(int(r[0]), pack([1 << (bits - 1)] * 3, bits))]
        else:
            want = [(int(a), pack(c, bits)) for a, c in zip(r, record_codes(r, local, bits))]
        assert got == want, (local, bits, k)


M32 = (1 << 32) - 1


def _irregular_sequences(local, rng):
    """R-peak positions (exact; the program gets them mod 2^32) of hand-made records for the
    irregularity code, each with every local sum ``W`` below 2^32 (the programs' exact range):
    alternating intervals (bigeminy), random ones, a lone peak, two peaks, an empty record; intervals
    near 2^32 / local with ``D`` past 2^30 and an unsaturated code (``D``'s bit 30 into ``nh``);
    alternating huge and tiny intervals whose ``D`` passes 2^32 (the high cell ``dsh``), then short
    regular ones (``D`` falls back below 2^32: the borrow)."""
    big = M32 // local                                  # K intervals of at most big: W < 2^32
    huge = (M32 - 1000 * local) // -(-local // 2)       # at most ceil(K / 2) of them in a window
    intervals = [[300, 150, 450] * 8, rng.integers(60, 900, 40), rng.integers(1, 3, 10),
                 rng.integers(int(0.6 * big), big, 30), [int(0.55 * big), int(0.85 * big)] * 20,
                 [1, huge] * 12 + [1000] * 40]
    return ([np.cumsum(np.asarray([5, *iv], dtype=np.int64)) for iv in intervals]
            + [np.array(r, dtype=np.int64) for r in ([100], [100, 150], [])])


def _local_sums(r, local):
    """(D, W) of every peak: the sums of the last K |delta pre| and pre (golden/spec/rr.py)."""
    pre = np.diff(r)
    pre = np.concatenate([pre[:1], pre])
    d = np.abs(np.diff(np.concatenate([pre[:1], pre])))
    k = np.arange(len(r))
    lo = np.maximum(0, k + 1 - local)
    cd, cw = np.concatenate([[0], np.cumsum(d)]), np.concatenate([[0], np.cumsum(pre)])
    return cd[k + 1] - cd[lo], cw[k + 1] - cw[lo]


def rr_codes_irregular(r, local, bits):
    """Golden codes of peaks ``r`` with the irregularity code: ``(n, 4)`` (a lone peak: 2^(b-1) x 3, 0)."""
    if len(r) == 1:
        return np.array([[1 << (bits - 1)] * 3 + [0]])
    return np.concatenate([record_codes(r, local, bits), irregular_codes(r, local, bits)[:, None]], 1)


@pytest.mark.parametrize("local,bits", [(8, 4), (32, 4), (1, 1), (5, 8), (31, 3), (2, 6)])
def test_rr_program_irregular_equals_golden(ex, local, bits):
    """``irregular``: the four codes (the irregularity code in bits 3b .. 4b - 1) of the hand-made
    records (:func:`_irregular_sequences`) and of every excerpt's reference R peaks, one stream with
    an end marker after each record, against golden/spec/rr.py; the top bits of ``D`` are used."""
    rng = np.random.default_rng(local * 100 + bits)
    m = Machine(rr_program(local=local, bits=bits, irregular=True))
    m.run()
    assert dict(m.program.out_fields)["codes"] == 4 * bits
    cmax, seen = (1 << bits) - 1, set()
    records = _irregular_sequences(local, rng) + [e.ref.astype(np.int64) for e in ex]
    for k, r in enumerate(records):
        for v in r:
            m.put(0, int(v) & M32)
        m.put(0, 4321 + k, last=True)
        out = m.run()
        assert out[-1]["end"] == 1 and out[-1]["value"] == 4321 + k
        want = [] if len(r) == 0 else [(int(a) & M32, pack(c, bits)) for a, c in
                                        zip(r, rr_codes_irregular(r, local, bits))]
        assert [(o["value"], o["codes"]) for o in out[:-1]] == want, (local, bits, k)
        if len(r) > 1:
            D, W = _local_sums(r, local)
            assert W.max() <= M32
            c = irregular_codes(r, local, bits)
            seen |= {"D >= 2^32"} if D.max() > M32 else set()
            seen |= {"bit 30, unsaturated"} if np.any((D >= 1 << 30) & (c < cmax)) else set()
            seen |= {"code > 0"} if c.max() > 0 else set()
    assert "code > 0" in seen
    if local >= 2:                                      # K = 1: D = one |delta pre| < 2^32
        assert "D >= 2^32" in seen
    if local in (8, 32, 5):
        assert "bit 30, unsaturated" in seen


def _per_peak_cycles(prog, r):
    m = Machine(prog)
    m.run()
    cyc = []
    for v in list(r) + [None]:
        c = m.cycles
        m.put(0, 7 if v is None else int(v) & M32, last=v is None)
        m.run()
        cyc.append(m.cycles - c)
    return np.asarray(cyc)


def test_rr_program_irregular_cycles(ex):
    """The irregularity code's cycles per beat (rr_local 32, rr_bits 4, the excerpts' reference
    peaks): about 230 more (the fourth code's division and packing, D and d), at most 300. Without
    ``irregular`` the program declares none of its cells (more cells could move the hot cells, and
    so every word)."""
    added = []
    for e in ex:
        r = e.ref.astype(np.int64)
        added.append(_per_peak_cycles(rr_program(local=32, bits=4, irregular=True), r)
                     - _per_peak_cycles(rr_program(local=32, bits=4), r))
    added = np.concatenate(added)
    assert 200 < np.median(added) < 260 and added.max() <= 300
    plain = rr_program(local=32, bits=4)
    assert plain.words == rr_program(local=32, bits=4, irregular=False).words
    assert not {"pp", "dp", "ds", "dsh"} & set(plain.cells)


# --- the monitor's front end ---------------------------------------------------------------------------
class _Cfg:
    rr_bits, rr_local, rr_features, rr_template, rr_irregular = 4, 32, 3, 0, 0


def _cfg(local, bits, *, irregular=False, template=False, gate=None):
    """A model config's RR fields, for golden/monitor.py ``codes``."""
    class C:
        name = "test"
        rr_bits, rr_local = bits, local
        rr_irregular, rr_template = int(irregular), int(template)
        rr_template_gate = ((1 << bits) if gate is None else gate) if template else 0
        rr_features = 3 + int(irregular) + int(template)
    return C


def test_front_end_equals_golden_monitor(ex):
    """The four excerpts as one stream: beats (index, RR codes), in golden/monitor.py's order, and
    each beat's window (its 240 raw samples, the last one flagged) after the previous beat's
    decision."""
    m = Machine(front_end_program(local=32, bits=4))
    m.run()
    for e in ex:
        x = e.signal.astype(np.int64)
        peaks = monitor.beat_peaks(x)
        codes = monitor.codes(peaks, _Cfg)
        beats, windows, before = _run_front_end(m, x)
        assert beats == [(int(r), pack(c)) for r, c in zip(peaks, codes)], e.name
        assert windows == [list(x[r - HALF:r + HALF]) for r in peaks], e.name
        assert before == list(range(len(peaks)))


def _run_front_end(m, x):
    """One record through the front end: its beats ``[(index, codes)]``, its windows and, for each
    window, the number of beats decided before it."""
    beats, windows, cur, before = [], [], [], []
    for i, v in enumerate(x):
        m.put(0, int(v), last=(i == len(x) - 1))
        for o in m.run():
            if o["stream"] == STREAM_BEAT:
                beats.append((o["value"], o["codes"]))
            else:
                assert o["stream"] == STREAM_WINDOW
                if not cur:
                    before.append(len(beats))
                cur.append(o["value"] & (WINDOW_LAST - 1))
                if o["value"] & WINDOW_LAST:
                    windows.append(cur)
                    cur = []
    assert not cur
    return beats, windows, before


@pytest.mark.parametrize("irregular,template", [(False, False), (True, False), (False, True),
                                                (True, True)])
def test_front_end_beats_at_record_edges(ex, irregular, template):
    """Detections with r < 120 and windows past the end are not beats; a record with one beat gets
    the lone-beat codes (the template and irregularity codes 0); a record with none sends nothing.
    With ``template`` each record starts a new template (records back to back in one stream)."""
    x = ex[0].signal.astype(np.int64)
    m = Machine(front_end_program(local=8, bits=4, irregular=irregular, template=template))
    m.run()
    C = _cfg(8, 4, irregular=irregular, template=template)
    for rec in (x[:1000], x[:3000], x[30:2990], np.full(800, 1000), x[2000:6000]):
        peaks = monitor.beat_peaks(rec) if len(rec) >= 240 else np.zeros(0, np.int64)
        beats = []
        for i, v in enumerate(rec):
            m.put(0, int(v), last=(i == len(rec) - 1))
            beats += [(o["value"], o["codes"]) for o in m.run() if o["stream"] == STREAM_BEAT]
        want = monitor.codes(peaks, C, monitor.windows(rec, peaks))
        assert beats == [(int(r), pack(c)) for r, c in zip(peaks, want)]


def test_front_end_irregular_equals_golden_monitor(ex):
    """``irregular`` on the two excerpts with irregular rhythms (208: bigeminy, 203: atrial
    fibrillation) as one stream, rr_local 8: beats with four codes as golden/monitor.py's codes of
    a config with ``rr_irregular``, the windows unchanged."""
    class C:
        rr_bits, rr_local, rr_features, rr_template, rr_irregular = 4, 8, 4, 0, 1
    m = Machine(front_end_program(local=8, bits=4, irregular=True))
    m.run()
    for e in (ex[0], ex[2]):
        x = e.signal.astype(np.int64)
        peaks = monitor.beat_peaks(x)
        codes = monitor.codes(peaks, C)
        beats, windows, _ = _run_front_end(m, x)
        assert beats == [(int(r), pack(c)) for r, c in zip(peaks, codes)], e.name
        assert sum(map(len, windows)) == 2 * HALF * len(peaks) and len(set(codes[:, 3].tolist())) > 4


# --- the template code ----------------------------------------------------------------------------------
@pytest.mark.parametrize("local,bits,gate,irregular", [
    (32, 4, None, False),           # the default gate 2^b: every beat updates the template
    (32, 4, 5, True),               # a gate below 2^b (the update pass runs for some beats only),
                                    # template and irregularity codes (code 3, code 4)
    (5, 8, 100, False),             # 8-bit codes: D << 8 still in one cell
    (1, 1, 1, True),                # 1-bit codes, gate 1: updates only by code-0 beats
])
def test_front_end_template_equals_golden_monitor(ex, local, bits, gate, irregular):
    """``template`` on the four excerpts as one stream: every beat's codes equal golden/monitor.py's
    codes of a config with ``rr_template`` (the template code of golden/spec/rr.py ``Template`` over
    the beats' windows, code 3; the irregularity code, if any, code 4), the windows and their order
    unchanged; the codes vary, and with a gate below 2^b both sides of the gate occur."""
    C = _cfg(local, bits, irregular=irregular, template=True, gate=gate)
    prog = front_end_program(local=local, bits=bits, irregular=irregular, template=True,
                             template_gate=gate)
    assert dict(prog.out_fields)["codes"] == (4 + irregular) * bits
    m = Machine(prog)
    m.run()
    tcodes = []
    for e in ex:
        x = e.signal.astype(np.int64)
        peaks = monitor.beat_peaks(x)
        want = monitor.codes(peaks, C, monitor.windows(x, peaks))
        beats, windows, before = _run_front_end(m, x)
        assert beats == [(int(r), pack(c, bits)) for r, c in zip(peaks, want)], e.name
        assert windows == [list(x[r - HALF:r + HALF]) for r in peaks], e.name
        assert before == list(range(len(peaks)))
        tcodes += want[:, 3].tolist()
    assert len(set(tcodes)) >= min(4, 1 << bits)
    if gate is not None and gate < 1 << bits:
        assert min(tcodes) < gate <= max(tcodes)


def test_front_end_template_off_is_unchanged():
    """Without ``template`` the program is word for word the one of a call without the template
    arguments (the generated Verilog of the existing configs does not change), and it declares
    none of the template's cells or ring fields."""
    for local, bits, irregular in ((8, 4, False), (32, 4, False), (32, 4, True), (5, 8, True)):
        plain = front_end_program(local=local, bits=bits, irregular=irregular)
        for gate in (None, 3):
            off = front_end_program(local=local, bits=bits, irregular=irregular, template=False,
                                    template_gate=gate)
            assert off.words == plain.words and off.cells == plain.cells
        assert not {"tcode", "tsum", "tmean", "tdp", "tsp"} & set(plain.cells)
        assert "template" not in plain.labels
        assert dict(plain.out_fields)["codes"] == (3 + irregular) * bits
    tm = front_end_program(local=32, bits=8, irregular=True, template=True, template_gate=3)
    assert len(tm) <= qrs_isa.ROM_WORDS


def test_front_end_template_gate_checked():
    """The gate is 1 .. 2^bits (config ``rr_template_gate``), in the program and in FrontEnd."""
    from ternecg.hw.qrs_front_end import FrontEnd
    for gate in (0, 17, -1):
        with pytest.raises(ValueError, match="rr_template_gate"):
            front_end_program(bits=4, template=True, template_gate=gate)
        with pytest.raises(ValueError, match="template_gate"):
            FrontEnd(bits=4, template=True, template_gate=gate)
    with pytest.raises(TypeError, match="template"):
        FrontEnd(template=1)
    front_end_program(bits=4, template=True, template_gate=16)
    fe = FrontEnd(local=32, bits=4, irregular=True, template=True, template_gate=16)
    assert fe.beat_layout["codes"].width == 5 * 4
    assert fe.program.words == front_end_program(local=32, bits=4, irregular=True, template=True).words


def test_front_end_template_cycles(ex):
    """The template code's cycles per beat (two loops over the window: the sum; D, S and the
    update) on excerpt 209 (rr_local 32, rr_bits 4): about 13,900 with the default gate (the
    update inside the D / S loop), fewer with a gate below 2^b (a second loop only for the beats
    under it)."""
    x = ex[1].signal.astype(np.int64)
    beats = len(monitor.beat_peaks(x))

    def total(**kw):
        m = Machine(front_end_program(local=32, bits=4, **kw))
        m.run()
        _run_front_end(m, x)
        return m.cycles
    plain = total()
    every = (total(template=True) - plain) / beats
    gated = (total(template=True, template_gate=3) - plain) / beats
    assert 13000 < every < 15000
    assert 9000 < gated < every


# --- the assembler and the model -----------------------------------------------------------------------
def test_program_sizes_and_listing(det):
    assert len(det) <= 512                       # two iCE40 block RAMs
    fe = front_end_program(local=32, bits=4)
    assert len(fe) <= qrs_isa.ROM_WORDS and fe.instructions > len(fe)   # pairs packed
    text = fe.listing()
    assert "decide:" in text and "sample:" in text
    for w in fe.words:                           # every word decodes
        assert 1 <= len(decode_word(w)) <= 2


def test_listing_keeps_every_comment():
    """Consecutive comments before one instruction, and the comments of two instructions packed
    in one word, all appear in the listing, in order."""
    a = Asm("notes")
    a.comment("first").comment("second")
    a.LDI(1)
    a.comment("third")
    a.LDI(2)
    a.label("end")
    a.JMP("end")
    p = a.assemble()
    text = p.listing()
    assert "first; second" in text and text.index("second") < text.index("third")
    assert sum(len(c.split("; ")) for c in p.comments.values()) == 3


def test_assembler_rejects_bad_programs():
    a = Asm("bad")
    a.JMP("nowhere")
    with pytest.raises(ValueError, match="undefined label"):
        a.assemble()
    a = Asm("bad")
    with pytest.raises(ValueError, match="shift"):
        a.SHR(32)
    a = Asm("bad")
    a.LDI(5000)
    with pytest.raises(ValueError, match="0 .. 2047"):
        a.assemble()
    a = Asm("bad")
    a.LDI(-1)
    with pytest.raises(ValueError, match="0 .. 2047"):
        a.assemble()
    a = Asm("bad")
    a.var("x")
    with pytest.raises(ValueError, match="twice"):
        a.var("x")
    a = Asm("bad")
    a.var(*[f"v{i}" for i in range(200)])
    a.LD("v0")
    with pytest.raises(ValueError, match="clear"):
        a.assemble()


def test_model_reports_a_bad_program():
    a = Asm("psq")
    a.LDK(8192).PSQ()
    a.in_ports = [("i", 8)]
    m = Machine(a.assemble())
    with pytest.raises(MachineError, match="PSQ"):
        m.run()
