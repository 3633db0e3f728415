"""End-to-end without a board: the board logic (BoardCore = UART + link + accelerator) on
Verilator, bridged to a pseudo-terminal, driven by the unchanged host client (boards/host.py).

* a real record's beats are classified bit-exactly like the integer reference (class, logits and
  the analytical compute cycles);
* garbage, truncated frames (inter-byte timeout), corrupted frames (CRC) and frames swallowed by a
  truncated one are injected between beats: every beat still gets exactly one correct result;
* the models with an RR path (the binary inter-patient model with three RR codes, the four-class
  inter-patient model with four and its RR rule): the host sends BEAT_RR frames with each beat's
  RR codes and the results are bit-exact; a plain BEAT is refused with one clear message.

The simulator runs in a background thread (cocotb runner), the host in the test's thread; the bench
gets its options as one :class:`ternecg.sim.tests.test_board_cocotb.BoardBenchConfig`.
On the iCEBreaker the link's beat buffer, the normaliser's sample RAM and feature banks 1 and 2
are SPRAMs (``SB_SPRAM256KA``); ``test_board_e2e_spram`` runs that core (``BoardCore(spram=True)``
with Yosys' iCE40 cell models) through the same host, bit-exact.
Volumes (issue 16): 12 beats per model (60 before; the UART and link do not care which beat they
carry, and the accelerator's bit-exactness on every fixture beat is in tests/sim/test_harness_sim.py
and test_network_sim.py), the fault script (7 faults) on 20 frames instead of 24. One Verilator build per board core
(default model, inter-patient model), each built once under a file lock.
"""

import os
import random
import time

import numpy as np
import pytest
import torch

from ternecg.boards import protocol as P
from ternecg.boards.core import BoardCore
from ternecg.boards.host import Client
from ternecg.errors import TernEcgError
from ternecg.golden import fixture, integer_ref
from ternecg.golden.spec import modelfile
from ternecg.sim import runner
from ternecg.sim.tests.test_board_cocotb import BoardBenchConfig

from pty_board import PtyBoard, generate_cached

pytestmark = [pytest.mark.sim, pytest.mark.long]

TOPLEVEL = "board_core"
TEST_MODULE = "ternecg.sim.tests.test_board_cocotb"
DIVISOR = 8
N_BEATS = 12
N_FAULT_FRAMES = 20
RECORD = "208"          # many normal and ventricular beats


@pytest.fixture(scope="module")
def model():
    return modelfile.load()


def board_build(model, name):
    """The Verilator model of ``BoardCore(model)`` (built once) and a core for its cycle model."""
    src = generate_cached(lambda: BoardCore(model, divisor=DIVISOR), name)
    return runner.build([src], name, "verilator"), BoardCore(model, divisor=DIVISOR)


@pytest.fixture(scope="module")
def board_model(model):
    return board_build(model, TOPLEVEL)


@pytest.fixture(scope="module")
def beats():
    """The first N_FAULT_FRAMES beats of a real record (the fixture's beats without the database)."""
    try:
        from ternecg.golden.beats import extract_record
        from ternecg.golden.records import find_database
        b, _ = extract_record(find_database(), RECORD)
        return b.raw[:N_FAULT_FRAMES].astype(np.int64)
    except Exception:
        return fixture.load()["raw"][:N_FAULT_FRAMES].astype(np.int64)


@pytest.fixture(scope="module", params=["inter_patient", "aami4_inter"])
def rr_setup(request):
    """The board build of a model with an RR path (the binary inter-patient model: three codes;
    the four-class one: its interval codes, the irregularity code, the template code if the file
    reads it, and its RR rules) and N_BEATS beats of RECORD with the RR codes the host sends
    (boards/host.py ``record_codes``)."""
    m = modelfile.load(modelfile.MODELS_DIR / f"{request.param}.json")
    try:
        from ternecg.golden.beats import extract_record
        from ternecg.golden.records import find_database
        from ternecg.boards.host import record_codes
        b, _ = extract_record(find_database(), RECORD)
        raws, rr = b.raw[:N_BEATS].astype(np.int64), record_codes(b, m.cfg)[:N_BEATS]
    except Exception:
        from ternecg.boards.fuzz import fixture_codes
        fx = fixture.load()
        raws, rr = fx["raw"][:N_BEATS].astype(np.int64), fixture_codes(fx, m.cfg, 1)[:N_BEATS]
    assert rr.shape == (N_BEATS, m.cfg.rr_features)
    build, core = board_build(m, TOPLEVEL + ("_rr" if request.param == "inter_patient" else "_aami4"))
    return m, build, core, raws, rr


def golden(model, core, raws, rr=None):
    tr = integer_ref.forward(model, torch.as_tensor(raws), rr)
    cycles = [core.accel.engine_cycles({li: v["select"][b].tolist() for li, v in tr.mux.items()})
              for b in range(len(raws))]
    return tr.cls.numpy(), tr.logits.numpy(), np.array(cycles)


class SimBoard(PtyBoard):
    """Runs the cocotb pty bridge in a thread; ``port`` is a pyserial port on its pty."""

    def __init__(self, build, tmp_path, name):
        cfg = BoardBenchConfig(pty_file=str(tmp_path / f"{name}.pty"), stop_file=str(tmp_path / f"{name}.stop"),
                               divisor=DIVISOR, wall_limit=240)
        super().__init__(build, TEST_MODULE, cfg, name)


def test_board_e2e_bit_exact(board_model, beats, model, tmp_path):
    _bit_exact(board_model, beats[:N_BEATS], model, tmp_path, "exact")


@pytest.fixture(scope="module")
def spram_model(model):
    """The Verilator model of ``BoardCore(model, spram=True)``: the iCEBreaker's four SPRAMs (the
    cell models of Yosys' share/ice40/cells_sim.v)."""
    from ternecg.sim.gate import cells_sim
    name = TOPLEVEL + "_spram"
    src = generate_cached(lambda: BoardCore(model, divisor=DIVISOR, spram=True), name)
    assert src.read_text().count("SB_SPRAM256KA ") == 4
    return runner.build([src, cells_sim()], name, "verilator"), BoardCore(model, divisor=DIVISOR)


@pytest.mark.fpga
def test_board_e2e_spram(spram_model, beats, model, tmp_path):
    _bit_exact(spram_model, beats[:N_BEATS], model, tmp_path, "spram")


@pytest.mark.fpga
def test_board_e2e_spram_faults(spram_model, beats, model, tmp_path):
    """Dropped frames write into the free beat buffer (one SPRAM port): the next beat is exact."""
    _faults(spram_model, beats, model, tmp_path, "spram-faults")


def _bit_exact(board_model, beats, model, tmp_path, name):
    build, core = board_model
    want_cls, want_logits, want_cycles = golden(model, core, beats)
    t0 = time.time()
    with SimBoard(build, tmp_path, name) as sim:
        client = Client(sim.port, timeout=20.0, retries=2, name="the simulated board")
        status = client.ping()
        assert (status.version, status.n_classes, status.parallel, status.window) == (P.VERSION, 2, 1, 240)
        assert status.model_id == P.model_id(model.sha256)
        res = client.classify(beats)
        status2 = client.ping(token=7)
    seconds = time.time() - t0
    assert res["cls"].tolist() == want_cls.tolist()
    assert res["logits"].tolist() == want_logits.tolist()
    assert res["cycles"].tolist() == want_cycles.tolist()
    assert client.stats.retries == 0 and client.stats.duplicates == 0 and not client.stats.errors
    assert status2.beats == len(beats) and status2.errors == 0 and status2.token == 7
    print(f"{len(beats)} beats bit-exact through the simulated board in {seconds:.1f} s")


class FaultyPort:
    """Wraps a port; before some BEAT frames injects a fault (by frame number)."""

    def __init__(self, port, faults, seed=1):
        self.port = port
        self.faults = dict(faults)
        self.rng = random.Random(seed)
        self.frames = 0
        self.injected = []

    def __getattr__(self, name):
        return getattr(self.port, name)

    def write(self, data):
        data = bytes(data)
        if len(data) > 2 and data[2] == P.BEAT:
            fault = self.faults.pop(self.frames, None)
            self.frames += 1
            if fault == "garbage":
                junk = bytes(self.rng.randrange(256) for _ in range(37)) + bytes([P.SOF, 0x33, P.SOF])
                self.port.write(junk)
            elif fault == "truncated":          # then silence: the device's inter-byte timeout
                self.port.write(data[:100])
                self.port.flush()
                time.sleep(2.0)          # wall clock: long enough for the device timeout even on a loaded machine
            elif fault == "swallowed":          # truncated frame straight followed by a full one
                self.port.write(data[:50])
            elif fault == "corrupt":            # one payload bit flipped: CRC error, resend
                bad = bytearray(data)
                bad[200] ^= 0x10
                self.port.write(bytes(bad))
                self.port.flush()
                self.injected.append(fault)
                return len(data)
            elif fault == "header":             # a bad length field: header error
                self.port.write(bytes([P.SOF, P.VERSION, P.BEAT, 0x10, 0x00]) + b"\x00" * 5)
            if fault:
                self.injected.append(fault)
        return self.port.write(data)


def test_board_e2e_faults(board_model, beats, model, tmp_path):
    _faults(board_model, beats, model, tmp_path, "faults")


def _faults(board_model, beats, model, tmp_path, name):
    build, core = board_model
    n = N_FAULT_FRAMES                  # 20 frames, 7 of them damaged
    raws = beats[:n]
    want_cls, want_logits, _ = golden(model, core, raws)
    faults = {2: "garbage", 5: "truncated", 8: "corrupt", 11: "swallowed", 14: "header",
              17: "garbage", 19: "truncated"}
    with SimBoard(build, tmp_path, name) as sim:
        port = FaultyPort(sim.port, faults)
        client = Client(port, timeout=20.0, retries=3, name="the simulated board")
        client.ping()
        res = client.classify(raws)
        status = client.ping(token=9)
    assert len(port.injected) == 7
    assert len(res["cls"]) == n
    assert res["cls"].tolist() == want_cls.tolist()
    assert res["logits"].tolist() == want_logits.tolist()
    errs = client.stats.errors
    for name in ("SYNC", "TIMEOUT", "CRC", "LENGTH"):
        assert errs[f"device {name}"] >= 1, errs
    assert client.stats.retries >= 3
    # every device result was either the one result of its beat or a late answer to a resent beat
    assert n <= status.beats <= n + client.stats.retries
    print(f"faults: {dict(errs)}, retries {client.stats.retries}, duplicates {client.stats.duplicates}")


def test_board_e2e_rr_model(rr_setup, tmp_path):
    m, build, core, raws, rr = rr_setup
    want_cls, want_logits, want_cycles = golden(m, core, raws, rr)
    with SimBoard(build, tmp_path, "rr") as sim:
        client = Client(sim.port, timeout=20.0, retries=2, name="the simulated board")
        status = client.ping()
        assert status.model_id == P.model_id(m.sha256) and status.n_classes == len(m.cfg.classes)
        res = client.classify(raws, rr=rr)
        with pytest.raises(TernEcgError, match="rejects BEAT frames: its bitstream holds a model with an RR path"):
            client.classify_one(99, raws[0])
    assert len(set(map(tuple, rr.tolist()))) > 3             # several rhythms in the record
    assert res["cls"].tolist() == want_cls.tolist()
    assert res["logits"].tolist() == want_logits.tolist()
    assert res["cycles"].tolist() == want_cycles.tolist()
    assert client.stats.retries == 0 and client.stats.errors.get("device TYPE") == 1
