"""End-to-end without a board: the monitor board's logic (MonitorBoardCore = UART + monitor link +
Monitor, protocol version 2) on Verilator, its UART pins wired to a UART of the bench's own
(``UartLoop``), bridged to a pseudo-terminal (sim/tests/test_monitor_board_cocotb.py), driven by
the unchanged host (boards/monitor_host.py
``run_signal``: the same code as ``make monitor``) on stretches of the fixture's raw excerpts
(fixtures/excerpts.npz; no database needed). Every run requires the board's beats, as the host
writes them (the WFDB annotation file read back, the CSV's logits), to equal the golden software
monitor's (golden/monitor.py ``run``) exactly:

* a clean stretch, and the EC57 report equal to the one of golden's beats;
* the link's faults: a SAMPLES frame lost, one repeated, one corrupted, one cut short (the
  board's inter-byte timeout), a pause between two frames in the middle of a beat: each loss is
  one warning and a resend, the repeat is dropped by the board (ERROR INDEX);
* bad signal: a lead-off (flat) stretch, saturation and a noise burst: no beat while the lead is
  off, a bounded number in the noise and at the saturation steps, and after them the same beats
  as on the clean signal;
* a reset of the board in the middle of the stream: the host streams the record again from
  sample 0 and the beats that come again equal the first ones;
* a BEAT_EVENT damaged on its way to the host: the host ends the record early, streams it again
  and gets the lost beat;
* a record the board was left inside of (an earlier run stopped): the host ends it first;
* the 360 Hz pacing of ``--realtime`` (3 s of signal take at least 3 s).

One Verilator build of the board core (cached under build/sim; the monitor model is
models/aami4_inter.json, else models/inter_patient.json; the accelerator with 6 lanes and the UART
at 4 cycles per bit, so that fewer cycles are simulated), one simulation serving every test of
this module, records back to back.
"""

import re
import time

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out, connect

from ternecg.boards import protocol as P
from ternecg.boards.monitor_core import MonitorBoardCore
from ternecg.boards.uart import UARTRx, UARTTx
from ternecg.errors import TernEcgError
from ternecg.boards.monitor_host import MonitorClient, read_csv, run_signal
from ternecg.golden import annotate, excerpts, monitor
from ternecg.golden.spec import modelfile
from ternecg.golden.spec.symbols import scheme
from ternecg.sim import runner
from ternecg.sim.monitor_regress import monitor_model, regress_parallel
from ternecg.sim.tests.test_monitor_board_cocotb import MonitorBoardBenchConfig

from pty_board import PtyBoard, generate_cached

pytestmark = [pytest.mark.sim, pytest.mark.long]

TOPLEVEL = "monitor_board"
TEST_MODULE = "ternecg.sim.tests.test_monitor_board_cocotb"
DIVISOR = 4            # the UART's fastest setting: fewer simulated cycles per frame
FS = 360
TIMEOUT = 20.0          # s: the simulated board is slow


class UartLoop(wiring.Component):
    """The board core with a UART transmitter on its ``rx`` pin and a receiver on its ``tx`` pin:
    bytes in on ``i``, out on ``o`` (the bench moves bytes, every bit crosses the core's UART)."""
    i: In(stream.Signature(8))
    o: Out(stream.Signature(8))

    def __init__(self, model, parallel):
        self._core = MonitorBoardCore(model, divisor=DIVISOR, parallel=parallel)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self._core
        m.submodules.tx = tx = UARTTx(DIVISOR)
        m.submodules.rx = rx = UARTRx(DIVISOR)
        connect(m, wiring.flipped(self.i), tx.i)
        m.d.comb += [core.rx.eq(tx.tx), rx.rx.eq(core.tx)]
        connect(m, rx.o, wiring.flipped(self.o))
        return m


@pytest.fixture(scope="module")
def model():
    return modelfile.load(monitor_model())


@pytest.fixture(scope="module")
def excerpt():
    return excerpts.load()


class SimBoard(PtyBoard):
    """The cocotb pty bridge in a thread; ``port`` is a pyserial port on its pty; ``reset()``
    resets the simulated board."""

    def __init__(self, build, tmp_path):
        self.reset_file = tmp_path / "board.reset"
        cfg = MonitorBoardBenchConfig(pty_file=str(tmp_path / "board.pty"), stop_file=str(tmp_path / "board.stop"),
                                      reset_file=str(self.reset_file), wall_limit=900, clock=False)
        super().__init__(build, TEST_MODULE, cfg, "e2e")

    def reset(self):
        self.reset_file.write_text("reset")
        deadline = time.monotonic() + 60
        while self.reset_file.exists():
            assert time.monotonic() < deadline, "the bench did not reset the board"
            time.sleep(0.01)


TB_WRAPPER = """\
// the board core with its own clock: Verilator --timing runs it without a callback per edge
`timescale 1ns/1ps
module monitor_board_tb(input rst, input i__valid, output i__ready, input [7:0] i__payload,
                        output o__valid, input o__ready, output [7:0] o__payload);
  reg clk = 1'b0;
  always #5 clk = ~clk;
  monitor_board dut(.clk(clk), .rst(rst), .i__valid(i__valid), .i__ready(i__ready),
                    .i__payload(i__payload), .o__valid(o__valid), .o__ready(o__ready),
                    .o__payload(o__payload));
endmodule
"""


@pytest.fixture(scope="module")
def board(model, tmp_path_factory):
    # the accelerator with the most lanes up to 6 (sim/monitor_regress.py): the beats do not depend
    # on it, only the simulated cycles per beat (the iCEBreaker build has PARALLEL 1)
    parallel = regress_parallel(model)
    src = generate_cached(lambda: UartLoop(model, parallel), TOPLEVEL)
    tb = src.with_name(f"{TOPLEVEL}_tb.v")
    if not tb.is_file() or tb.read_text() != TB_WRAPPER:
        tb.write_text(TB_WRAPPER)
    build = runner.build([src, tb], f"{TOPLEVEL}_tb", "verilator",
                         build_args=["--timing", "-CFLAGS", "-fcoroutines", "-O3", "--x-assign", "fast", "--x-initial", "fast"])
    sim = SimBoard(build, tmp_path_factory.mktemp("monitor_board")).start()
    yield sim
    sim.stop()


class FaultyPort:
    """Wraps the port; faults by the sample index of a SAMPLES frame, on its first transmission:
    ``drop``, ``repeat``, ``corrupt`` (a payload bit), ``truncate`` (half of it, then silence
    beyond the board's inter-byte timeout), ``pause`` (wall-clock seconds before it), ``reset``
    (the board is reset before it)."""

    def __init__(self, port, faults, board=None):
        self.port = port
        self.faults = dict(faults)
        self.board = board
        self.injected = []

    def __getattr__(self, name):
        return getattr(self.port, name)

    def write(self, data):
        data = bytes(data)
        if len(data) > 9 and data[1] == P.VERSION_MONITOR and data[2] == P.SAMPLES:
            index = int.from_bytes(data[5:9], "little")
            fault = self.faults.pop(index, None)
            if fault:
                self.injected.append((fault, index))
            if fault == "drop":
                return len(data)
            if fault == "repeat":
                self.port.write(data)
            if fault == "corrupt":
                data = bytearray(data)
                data[20] ^= 0x04
                data = bytes(data)
            if fault == "truncate":
                self.port.write(data[:40])
                self.port.flush()
                time.sleep(2.0)             # wall clock: the board's inter-byte timeout fires
                return len(data)
            if isinstance(fault, tuple) and fault[0] == "pause":
                self.port.flush()
                time.sleep(fault[1])
            if fault == "reset":
                self.port.flush()
                time.sleep(0.3)
                self.board.reset()
        return self.port.write(data)


def run(board, model, x, name, tmp_path, *, ref=None, ref_symbols=None, port=None, **kw):
    return run_signal(None, x, name, model=model.path, ref=ref, ref_symbols=ref_symbols, out=tmp_path / name,
                      serial_port=port or board.port, timeout=TIMEOUT, retries=3, progress=False, **kw)


def check_exact(model, x, summary, tmp_path, name):
    """The board's beats as the host wrote them equal golden/monitor.py's on ``x``."""
    want = monitor.run(model, x)
    sch = scheme(model.cfg.classes)
    samples, symbols = annotate.read(tmp_path / name / f"{name}.mon")
    assert samples.tolist() == want.peaks.tolist()
    assert symbols.tolist() == [sch.symbol(c) for c in want.classes.tolist()]
    peaks, classes, logits = read_csv(tmp_path / name / f"{name}_monitor.csv")
    order = np.argsort(peaks, kind="stable")            # rows in arrival order (a lost beat comes later)
    peaks, classes, logits = peaks[order], classes[order], logits[order]
    assert peaks.tolist() == want.peaks.tolist() and classes.tolist() == want.classes.tolist()
    assert logits.tolist() == want.logits.tolist()
    assert (tmp_path / name / f"{name}_monitor.csv").read_text().endswith("# complete\n")
    assert (tmp_path / name / f"{name}.png").stat().st_size > 10_000
    return want


def test_clean_stretch_is_exact(board, model, excerpt, tmp_path):
    e = excerpt[0]                                  # 208: normal, ventricular and fusion beats
    n = 15 * FS
    x = e.signal[:n].astype(np.int64)
    keep = e.ref < n
    t0 = time.time()
    s = run(board, model, x, "clean", tmp_path, ref=e.ref[keep], ref_symbols=e.symbols[keep])
    seconds = time.time() - t0
    want = check_exact(model, x, s, tmp_path, "clean")
    assert len(want.peaks) >= 15
    link = s["link"]
    assert (link["losses"], link["resets"], link["repeats"], link["resent_frames"]) == (0, 0, 0, 0)
    assert not link["errors"] and s["board"]["errors"] == 0
    from ternecg.boards.monitor_host import ec57_report
    assert s["ec57"] == ec57_report(model.cfg.classes, e.ref[keep], e.symbols[keep], want.peaks, want.classes, n)
    print(f"{len(want.peaks)} beats of {n} samples bit-exact through the simulated monitor board in {seconds:.1f} s")


def test_link_faults_lost_repeated_corrupt_truncated_paused(board, model, excerpt, tmp_path, capsys):
    e = excerpt[1]                                  # 209: supraventricular beats
    n = 12 * FS
    x = e.signal[:n].astype(np.int64)
    want = monitor.run(model, x)
    # a frame boundary inside a beat (within 10 samples of a detected R peak) for the pause
    mid = next(32 * k for k in range(105, n // 32) if np.min(np.abs(want.peaks - 32 * k)) <= 10)
    faults = {32 * 20: "drop", 32 * 45: "repeat", 32 * 70: "corrupt", 32 * 95: "truncate", mid: ("pause", 1.5)}
    port = FaultyPort(board.port, faults)
    s = run(board, model, x, "faults", tmp_path, port=port)
    check_exact(model, x, s, tmp_path, "faults")
    assert sorted(f if isinstance(f, str) else f[0] for f, _ in port.injected) == [
        "corrupt", "drop", "pause", "repeat", "truncate"]
    link = s["link"]
    assert link["losses"] == 3 and link["repeats"] == 1 and link["resets"] == 0
    err = capsys.readouterr().err
    assert len(re.findall(r"warning: the link lost SAMPLES frames from sample \d+", err)) == 3
    assert "device INDEX" in link["errors"] and "device CRC" in link["errors"] and "device TIMEOUT" in link["errors"]


LEAD_OFF, SATURATION, NOISE = 4, 7, 9       # seconds at which each starts


def bad_signal(x):
    """``x`` with a lead-off stretch (2 s flat at 0), saturation (1 s at 2047) and a noise burst
    (1.5 s, +-300 codes)."""
    rng = np.random.default_rng(5)
    y = x.copy()
    y[LEAD_OFF * FS:(LEAD_OFF + 2) * FS] = 0
    y[SATURATION * FS + 100:SATURATION * FS + 460] = 2047
    k = slice(NOISE * FS, (NOISE + 1) * FS + 180)
    y[k] = np.clip(y[k] + rng.integers(-300, 301, size=y[k].shape), 0, 2047)
    return y


def test_bad_signal_lead_off_saturation_noise(board, model, excerpt, tmp_path):
    e = excerpt[3]                                  # 105: noisy to begin with
    n = 16 * FS
    clean = e.signal[:n].astype(np.int64)
    x = bad_signal(clean)
    s = run(board, model, x, "bad", tmp_path)
    want = check_exact(model, x, s, tmp_path, "bad")
    r = want.peaks
    # nothing while the lead is off; at most one beat at each of its steps (docs/arithmetic.md 9.8)
    a, b = LEAD_OFF * FS, (LEAD_OFF + 2) * FS
    assert not np.any((r >= a + 72) & (r < b - 72)) and np.sum((r >= a - 72) & (r < b + 72)) <= 2
    assert np.sum((r >= SATURATION * FS + 100) & (r < SATURATION * FS + 460)) <= 2     # the two steps at most
    burst = r[(r >= NOISE * FS) & (r < (NOISE + 1) * FS + 180)]
    assert len(burst) <= (1.5 * FS) // 72 + 1                           # at most one per refractory period
    # recovered: from 12 s on, the same R peaks as on the clean signal
    ref = monitor.run(model, clean).peaks
    tail = 12 * FS
    assert r[(r >= tail) & (r < n - 120)].tolist() == ref[(ref >= tail) & (ref < n - 120)].tolist()
    assert s["link"]["losses"] == s["link"]["resets"] == 0


def test_reset_mid_stream(board, model, excerpt, tmp_path, capsys):
    e = excerpt[2]                                  # 203: multiform ventricular beats
    n = 8 * FS
    x = e.signal[:n].astype(np.int64)
    port = FaultyPort(board.port, {32 * 50: "reset"}, board)   # after 1,600 samples (beats already out)
    s = run(board, model, x, "reset", tmp_path, port=port)
    want = check_exact(model, x, s, tmp_path, "reset")
    assert port.injected == [("reset", 32 * 50)]
    assert s["link"]["resets"] == 1 and s["board"]["ended"] == 1
    err = capsys.readouterr().err
    assert len(re.findall(r"warning: the board was reset", err)) == 1
    assert len(want.peaks) > 5


class LossyReadPort:
    """Wraps the port; flips a bit in the ``nth`` BEAT_EVENT frame read from it (a frame damaged
    on its way from the board to the host)."""

    def __init__(self, port, nth):
        self.port = port
        self.nth = nth
        self.seen = 0
        self.damaged = False

    def __getattr__(self, name):
        return getattr(self.port, name)

    def read(self, n=1):
        data = bytearray(self.port.read(n))
        head = bytes([P.SOF, P.VERSION_MONITOR, P.BEAT_EVENT])
        for k in range(len(data)):
            if self.damaged:
                break
            self.last = (getattr(self, "last", b"") + bytes([data[k]]))[-3:]
            if self.last == head:
                self.seen += 1
                self.pos = 2
            elif getattr(self, "pos", None) is not None:
                self.pos += 1
                if self.seen == self.nth and self.pos == 9:     # the class byte: a CRC error at the host
                    data[k] ^= 0x01
                    self.damaged = True
        return bytes(data)


def test_lost_beat_event_streams_the_record_again(board, model, excerpt, tmp_path, capsys):
    e = excerpt[0]
    x = e.signal[6 * FS:12 * FS].astype(np.int64)
    port = LossyReadPort(board.port, 4)
    s = run(board, model, x, "lost_beat", tmp_path, port=port)
    check_exact(model, x, s, tmp_path, "lost_beat")
    assert port.damaged and s["link"]["lost_beats"] == 1 and s["link"]["errors"].get("host CRC") == 1
    assert len(re.findall(r"warning: 1 beat\(s\) from the board were lost on the link", capsys.readouterr().err)) == 1


def test_unfinished_record_is_ended_first(board, model, excerpt, tmp_path, capsys):
    e = excerpt[0]
    x = e.signal[:4 * FS].astype(np.int64)
    for k in range(0, 3 * 32, 32):                  # an earlier run that stopped inside a record
        board.port.write(P.encode_samples(k, e.signal[k:k + 32]))
    board.port.flush()
    time.sleep(0.5)
    s = run(board, model, x, "stale", tmp_path)
    check_exact(model, x, s, tmp_path, "stale")
    assert "inside an unfinished record (expecting sample 96)" in capsys.readouterr().err


def test_realtime_pacing(board, model, excerpt, tmp_path):
    e = excerpt[1]
    x = e.signal[-3 * FS:].astype(np.int64)
    t0 = time.monotonic()
    s = run(board, model, x, "realtime", tmp_path, realtime=True)
    assert time.monotonic() - t0 >= 3.0 - 32 / FS
    check_exact(model, x, s, tmp_path, "realtime")


def test_classifier_host_and_frames_are_refused_by_version(board):
    """The monitor board answers a version-1 PING with ERROR VERSION (in version 2 framing), and
    the beat classifier's host (boards/host.py) names it."""
    client = MonitorClient(board.port, timeout=TIMEOUT, retries=0)
    board.port.write(P.encode_ping(3))
    board.port.flush()
    got = []
    deadline = time.monotonic() + TIMEOUT
    while ("VERSION", 1) not in got and time.monotonic() < deadline:
        got += [(m.name, m.detail) for m in client.events(0.1) if isinstance(m, P.Error)]
    assert ("VERSION", 1) in got
    # the beat classifier's host says what the board is
    from ternecg.boards.host import Client
    with pytest.raises(TernEcgError, match="speaks protocol version 2: it holds the monitor bitstream"):
        Client(board.port, timeout=TIMEOUT, retries=0, name="the board").ping()
