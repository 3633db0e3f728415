"""boards/monitor_host.py without a board: every option and output checked before streaming (one
line, exit 2), a version-1 board refused by name, the beat log's rule for beats that come
again, the EC57 report equal to make monitor-eval's figures for the same beats, and against a
scripted board (ScriptedBoard, Python) the recovery rules no simulation reaches cheaply: an
unfinished record's END frame lost and sent again, an END never taken, a record never finished
and a board that answers but makes no progress, each one error. (The host against the simulated
monitor board: tests/sim/test_monitor_board_e2e.py.)"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ternecg.boards import protocol as P
from ternecg.boards.monitor_host import BeatLog, MonitorClient, ec57_report
from ternecg.errors import TernEcgError

REPO = Path(__file__).resolve().parents[2]


def cli(*args):
    proc = subprocess.run([sys.executable, "-m", "ternecg.cli", "monitor", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def one_line_error(rc, err, *words):
    assert rc == 2 and "Traceback" not in err, err
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert len(lines) == 1, err
    for w in words:
        assert w in lines[0], lines[0]


def test_cli_errors_before_streaming(tmp_path):
    afile = tmp_path / "file"
    afile.write_text("x")
    rc, _, err = cli("--port", "/dev/nonexistent_tty", "--record", "999")
    one_line_error(rc, err, "unknown MIT-BIH record '999'")
    rc, _, err = cli("--port", "/dev/nonexistent_tty", "--record", "208", "--seconds", "0")
    one_line_error(rc, err, "--seconds")
    rc, _, err = cli("--port", "/dev/nonexistent_tty", "--record", "208", "--out", str(afile))
    one_line_error(rc, err, "is an existing file, not a folder")
    rc, _, err = cli("--port", "/dev/nonexistent_tty", "--record", "208", "--model", str(tmp_path / "none.json"))
    one_line_error(rc, err, "none.json")
    rc, _, err = cli("--port", "/dev/nonexistent_tty", "--record", "208", "--out", str(tmp_path / "out"))
    one_line_error(rc, err, "serial port '/dev/nonexistent_tty' does not exist")
    rc, _, err = cli("--port", "/dev/nonexistent_tty", "--record", "208", "--timeout", "-1")
    one_line_error(rc, err, "--timeout")


class FakePort:
    """Answers every write with the bytes of ``reply`` (once)."""

    def __init__(self, reply):
        self.reply = bytearray(reply)
        self.written = bytearray()

    def write(self, data):
        self.written += data
        return len(data)

    @property
    def in_waiting(self):
        return len(self.reply)

    def read(self, n=1):
        out, self.reply = bytes(self.reply[:n]), self.reply[n:]
        return out


def test_a_beat_classifier_board_is_named():
    """A version-1 board answers the version-2 PING with ERROR VERSION in version-1 framing."""
    port = FakePort(P.encode(P.ERROR, bytes([P.E_VERSION, 2])))
    with pytest.raises(TernEcgError, match="speaks protocol version 1: it holds the beat-classifier bitstream"):
        MonitorClient(port, timeout=0.2, retries=0).ping()
    assert port.written.startswith(bytes([P.SOF, P.VERSION_MONITOR, P.PING]))


def test_the_classifier_host_names_a_monitor_board():
    from ternecg.boards.host import Client
    port = FakePort(P.encode(P.ERROR, bytes([P.E_VERSION, 1]), P.VERSION_MONITOR))
    with pytest.raises(TernEcgError, match="speaks protocol version 2: it holds the monitor bitstream"):
        Client(port, timeout=0.2, retries=0).ping()


def test_a_silent_board_is_one_error():
    with pytest.raises(TernEcgError, match="no answer from the board to 2 PINGs"):
        MonitorClient(FakePort(b""), timeout=0.05, retries=1).ping()


def test_beat_log_takes_each_beat_once_and_checks_repeats():
    new = []
    log = BeatLog(new.append)
    a, b = P.BeatEvent(300, 1, [1, 2]), P.BeatEvent(600, 0, [5, 6])
    log.add(a)
    log.add(b)
    log.add(P.BeatEvent(300, 1, [1, 2]))                    # the record again: the same beat
    log.add(P.BeatEvent(450, 2, [0, 0]))                    # a beat lost the first time
    assert new == [a, b, P.BeatEvent(450, 2, [0, 0])]
    assert [x.index for x in log.beats] == [300, 450, 600]
    with pytest.raises(TernEcgError, match="came again as class 0"):
        log.add(P.BeatEvent(600, 0, [5, 7]))


def test_ec57_report_equals_monitor_eval():
    """The host's EC57 figures of the golden monitor's beats on an excerpt are make monitor-eval's
    (golden/monitor_eval.py record_run) for that record."""
    from ternecg.golden import detected, excerpts, monitor, monitor_eval
    from ternecg.golden.spec import modelfile
    from ternecg.sim.monitor_regress import monitor_model
    model = modelfile.load(monitor_model())
    e = excerpts.load()[0]
    x = e.signal.astype(np.int64)
    out = monitor.run(model, x)
    rep = ec57_report(model.cfg.classes, e.ref, e.symbols, out.peaks, out.classes, len(x))
    rec = detected.Record(e.name, e.signal, e.ref, e.symbols, out.peaks, np.zeros(0, "<U1"), np.zeros(0, np.int64))
    cm, det = monitor_eval.record_run(model, rec, "detected")
    assert rep["confusion"] == cm.tolist()
    assert {k: rep["detection"][k] for k in ("tp", "fn", "fp")} == det
    assert rep["beats"] == len(out.peaks) and rep["detection"]["se"] > 0.9


def test_link_carries_thirteen_times_an_ecg():
    from ternecg.boards.monitor_figures import link_samples_per_s
    assert link_samples_per_s(115200) == round(11520 / ((77 + 8 / 2) / 32), 1) == 4551.1


class ScriptedBoard:
    """A monitor board in Python, just enough for the host's recovery rules: it answers each PING
    with a STATUS of its counters; ``take(chunk)`` says whether it accepts a SAMPLES frame
    (default: in order, as the board does), ``finish`` whether a record it took the END of is done
    at once (else ``done`` stays behind ``ended``), ``room`` its free sample slots."""

    def __init__(self, *, next=0, ended=0, done=0, room=256, take=None, finish=True):
        self.decoder = P.board_decoder(version=P.VERSION_MONITOR)
        self.next, self.ended, self.done, self.room = next, ended, done, room
        self.take = take or (lambda c: c.index == self.next)
        self.finish = finish
        self.frames = []
        self.reply = bytearray()

    def write(self, data):
        for ev in self.decoder.feed(data):
            if not isinstance(ev, P.Frame):
                continue
            msg = ev.parse() if ev.type == P.SAMPLES else None
            if ev.type == P.PING:
                self.reply += P.encode(P.STATUS, P.monitor_status_payload(
                    ev.payload[0], 4, 1, next=self.next,
                    ended=self.ended, done=self.done, room=self.room), P.VERSION_MONITOR)
            elif ev.type == P.SAMPLES:
                self.frames.append(msg)
                if self.take(msg):
                    if msg.end:
                        self.next, self.ended = 0, self.ended + 1
                        self.done += self.finish
                    else:
                        self.next += msg.n
        return len(data)

    @property
    def in_waiting(self):
        return len(self.reply)

    def read(self, n=1):
        out, self.reply = bytes(self.reply[:n]), self.reply[n:]
        return out


SIGNAL = np.full(300, 1024, np.int64)


def test_an_unfinished_record_is_ended_with_the_end_frame_sent_again(capsys):
    """The first END frame is lost on the way: the host sends it again, then streams the record."""
    lost = []

    def take(c):
        if c.end and c.index == 96 and not lost:
            lost.append(c)
            return False
        return c.index == board.next

    board = ScriptedBoard(next=96, take=take)
    res = MonitorClient(board, timeout=0.05, retries=2).stream(SIGNAL, on_beat=None)
    assert res["samples"] == len(SIGNAL) and board.ended == 2 and board.done == 2
    assert [(c.index, c.end) for c in board.frames[:2]] == [(96, True), (96, True)]
    assert "inside an unfinished record (expecting sample 96)" in capsys.readouterr().err


def test_an_end_frame_never_taken_is_one_error():
    board = ScriptedBoard(next=96, take=lambda c: False)
    with pytest.raises(TernEcgError, match=r"did not take the END frame that ends its unfinished record "
                                           r"\(it expects sample 96\); reset the board"):
        MonitorClient(board, timeout=0.05, retries=2).stream(SIGNAL, on_beat=None)
    assert len(board.frames) == 3


def test_a_board_that_never_finishes_a_record_is_one_error():
    board = ScriptedBoard(ended=3, done=2)
    with pytest.raises(TernEcgError, match=r"did not finish its last record within 0.15 s; reset the board"):
        MonitorClient(board, timeout=0.05, retries=2).stream(SIGNAL, on_beat=None)
    assert board.frames == []


def test_a_board_that_answers_but_makes_no_progress_is_one_error():
    """No room ever (a sample buffer that never drains): the host does not wait for ever."""
    board = ScriptedBoard(room=0)
    with pytest.raises(TernEcgError, match=r"made no progress for 0.15 s \(sample 0 of 300 confirmed, 0 beats\); "
                                           r"reset the board"):
        MonitorClient(board, timeout=0.05, retries=2).stream(SIGNAL, on_beat=None)
    assert board.frames == []
    # samples taken, then nothing more (the board stops taking frames): the same error
    board = ScriptedBoard(take=lambda c: c.index == board.next and c.index < 64)
    with pytest.raises(TernEcgError, match=r"made no progress .* \(sample 64 of 300 confirmed"):
        MonitorClient(board, timeout=0.05, retries=2).stream(SIGNAL, on_beat=None)
