"""User errors of the board commands: one clear line (exit 2), no traceback."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ternecg.boards import protocol as P
from ternecg.boards.host import Client, open_port
from ternecg.errors import TernEcgError

REPO = Path(__file__).resolve().parents[2]


def cli(*args):
    proc = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=REPO, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def assert_one_line(rc, err, *words):
    assert rc == 2, err
    assert "Traceback" not in err
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert len(lines) == 1, err
    for w in words:
        assert w in lines[0], lines[0]


@pytest.mark.parametrize("command, extra", [("synth", ()), ("program", ()), ("demo", ()),
                                            ("patch", ("--model", "models/default.json"))])
def test_unknown_board(command, extra):
    rc, _, err = cli("ternecg.cli", command, "--board", "de10nano", *extra)
    assert_one_line(rc, err, f"ternecg {command}: error:", "unknown board 'de10nano'", "icebreaker", "ulx3s")


def test_python_m_module_still_works():
    """``python -m ternecg.boards.build`` is ``ternecg synth`` (same parser, same one-line errors)."""
    rc, _, err = cli("ternecg.boards.build", "--board", "de10nano")
    assert_one_line(rc, err, "ternecg synth: error:", "unknown board 'de10nano'")


def test_program_without_bitstream(tmp_path):
    rc, _, err = cli("ternecg.cli", "program", "--board", "ulx3s", "--bitstream", str(tmp_path / "none.bit"))
    assert_one_line(rc, err, "not found", "make synth BOARD=ulx3s")


@pytest.mark.parametrize("board", ["icebreaker", "ulx3s"])
def test_program_no_board_attached(board, tmp_path):
    """openFPGALoader runs for real; with nothing plugged in it must say so in one line."""
    bit = tmp_path / "top.bin"
    bit.write_bytes(b"\x00" * 64)
    rc, _, err = cli("ternecg.cli", "program", "--board", board, "--bitstream", str(bit))
    assert_one_line(rc, err, f"no {board} found")


def test_program_command_line(tmp_path):
    from ternecg.boards.program import command
    bit = tmp_path / "top.bin"
    bit.write_bytes(b"\x00")
    assert command("icebreaker", bit)[1:] == ["-c", "ft2232", str(bit)]
    assert command("ulx3s", bit, flash=True)[1:] == ["-b", "ulx3s", "-f", str(bit)]


def test_host_missing_port():
    rc, _, err = cli("ternecg.cli", "host", "--port", "/dev/ttyUSB_nonexistent", "--record", "100")
    assert_one_line(rc, err, "serial port '/dev/ttyUSB_nonexistent' does not exist")


def test_open_port_missing():
    with pytest.raises(TernEcgError, match="does not exist"):
        open_port("/dev/does/not/exist")


class SilentPort:
    """A serial port with nothing on the other end."""
    in_waiting = 0
    timeout = 0.01

    def __init__(self):
        self.written = bytearray()

    def write(self, data):
        self.written += data
        return len(data)

    def read(self, n):
        return b""


def test_silent_device_ping():
    port = SilentPort()
    with pytest.raises(TernEcgError, match="no answer from the board on X to 3 PINGs"):
        Client(port, timeout=0.05, retries=2, name="the board on X").ping()
    assert port.written == P.encode_ping(0x5A) * 3


def test_silent_device_beat():
    port = SilentPort()
    with pytest.raises(TernEcgError, match="did not classify beat seq 4 after 2 tries"):
        Client(port, timeout=0.05, retries=1).classify_one(4, [0] * 240)


class EchoDevice:
    """A fake device in Python: answers each beat with a result; the first answer is preceded by
    junk, a damaged frame and a SYNC error; beat 2 is first answered with a CRC error."""
    in_waiting = 0

    def __init__(self):
        self.out = bytearray()
        self.dec = P.Decoder(accept=P.HOST_TYPES)
        self.count = 0
        self.failed2 = False

    def write(self, data):
        for ev in self.dec.feed(data):
            if isinstance(ev, P.Frame) and ev.type == P.BEAT:
                seq, samples = ev.parse()
                self.count += 1
                if self.count == 1:
                    self.out += b"\x01\x02" + P.encode(P.ERROR, bytes([P.E_SYNC, 2]))[:-1] + b"\x00"
                if seq == 2 and not self.failed2:
                    self.failed2 = True
                    self.out += P.encode(P.ERROR, bytes([P.E_CRC, P.BEAT]))
                    continue
                s = sum(samples)
                self.out += P.encode(P.RESULT, P.result_payload(seq, s & 1, [s, -s], 77))
        return len(data)

    def read(self, n):
        data, self.out = bytes(self.out[:n]), self.out[n:]
        return data


def test_client_retries_and_results_in_order():
    dev = EchoDevice()
    c = Client(dev, timeout=0.5, retries=2)
    raws = np.arange(4 * 240).reshape(4, 240) % 2048
    res = c.classify(raws)
    sums = raws.sum(1)
    assert res["logits"][:, 0].tolist() == sums.tolist()
    assert res["cls"].tolist() == (sums & 1).tolist()
    # the damaged first answer (host CRC) and the device's CRC error each cost one resend; the
    # first beat's second answer is ignored as a duplicate
    assert c.stats.retries == 2 and c.stats.duplicates == 1
    assert c.stats.errors == {"host SYNC": 1, "host CRC": 1, "device CRC": 1}


def test_rr_codes_must_match_the_beats():
    """classify with RR codes for a different number of beats: one message, nothing sent."""
    sent = []

    class Port:
        def write(self, data):
            sent.append(data)

    with pytest.raises(TernEcgError, match="2 RR code rows for 3 beats"):
        Client(Port(), timeout=0.05, retries=0).classify(np.zeros((3, 240), np.int64), rr=np.zeros((2, 3), np.int64))
    assert not sent
