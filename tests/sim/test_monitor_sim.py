"""The front end (QrsDetector) and the whole Monitor as generated Verilog on Icarus and Verilator
(cocotb, sim/tests/test_monitor_cocotb.py) against golden/qrs.py and golden/monitor.py on the
fixture's raw excerpts, under idle / back-pressure patterns, a hold of thousands of cycles on the
output, and a reset in the middle of a record.

cocotb (Python per sample: ~100k cycles/s on Verilator, ~15k on Icarus) runs the whole monitor on
the first 2,400 samples on Verilator with stalls, the hold and the reset, and the monitor and the
detector on the first 900 (the learning period's beats) on Icarus without stalls. The four whole
excerpts go through the speed harness (sim/monitor_harness.py: Verilog drives the design, no
Python per cycle) on Verilator, each under another idle / back-pressure pattern: the detector on
all four (its peaks and the samples that report them), the monitor on two. The detector's stalls,
holds and reset are checked in Amaranth's simulator (tests/hw/test_qrs_detector.py) and, in
Verilog, inside the monitor (the same sequencer); a cocotb run of the detector alone on Verilator
would add a build and half a minute for nothing new. The shipped four-class model reads the
irregularity code (the front end's fourth code) only through its RR rule (its table is zero); a
model whose table reads it runs the whole monitor through the speed harness on 20 s of an
excerpt against MonitorStream (long: its own build). The whole database runs in ``make
sim-monitor`` (sim/monitor_regress.py)."""

import numpy as np
import pytest

from ternecg.golden import excerpts, monitor, qrs
from ternecg.golden.spec import modelfile
from ternecg.hw import verilog
from ternecg.hw.monitor import Monitor
from ternecg.hw.qrs_detector import QrsDetector
from ternecg.sim import runner
from ternecg.sim.monitor_regress import monitor_model, regress_parallel
from ternecg.sim.tests.test_monitor_cocotb import MonitorBench

TEST_MODULE = "ternecg.sim.tests.test_monitor_cocotb"
VEC_DIR = runner.BUILD_ROOT / "vectors"
SHORT = {"icarus": 900, "verilator": 2400}
RESET_AT = 400          # before the learning period ends: nothing is in flight at the reset


@pytest.fixture(scope="module")
def records():
    ex = excerpts.load()
    return ex[0].signal.astype(np.int64), ex[1].signal.astype(np.int64)


def detector_expected(x):
    """Rows ``[index, end, samples accepted before it]`` of QrsStream on one record."""
    s = qrs.QrsStream()
    rows = []
    for i, v in enumerate(x):
        rows += [[int(p), 0, i + 1] for p in s.push(int(v))]
    rows += [[int(p), 0, len(x)] for p in s.finish()]
    return np.asarray(rows + [[len(x), 1, len(x)]], dtype=np.int64)


def monitor_fields(dut):
    layout = dut.beat_layout
    cls = layout["cls"]
    logits = layout["logits"]
    w = logits.shape.elem_shape.width
    fields = [("index", 0, 32, 0), ("cls", cls.offset, cls.width, 0)]
    fields += [(f"logit{i}", logits.offset + i * w, w, 1) for i in range(logits.shape.length)]
    return fields


def monitor_expected(model, x):
    b = monitor.run(model, x)
    rows = [[int(r), int(c), *[int(v) for v in lg], 0] for r, c, lg in zip(b.peaks, b.classes, b.logits)]
    return np.asarray(rows, dtype=np.int64).reshape(len(rows), -1)


@pytest.fixture(scope="module")
def detector_design(records):
    dut = QrsDetector(spram=False)
    with runner.locked(runner.BUILD_ROOT / "verilog" / "qrs_detector"):
        src = verilog.generate(dut, "qrs_detector", runner.BUILD_ROOT / "verilog")
    a, b = records
    vec = {}
    for sim_, n in ((r[0], SHORT[r[0]]) for r in DETECTOR_RUNS):
        vec[sim_] = runner.write_vectors(
            VEC_DIR / f"qrs_detector_{sim_}.npz", samples=a[:n], expected=detector_expected(a[:n]),
            samples2=b[:n], expected2=detector_expected(b[:n]),
            fields=np.array([["index", 0, 32, 0], ["end", 32, 1, 0]], dtype=object).astype(str))
    return src, vec


@pytest.fixture(scope="module")
def monitor_design(records):
    model = modelfile.load(monitor_model())
    dut = Monitor(model, regress_parallel(model), spram=False)
    with runner.locked(runner.BUILD_ROOT / "verilog" / "monitor"):
        src = verilog.generate(dut, "monitor", runner.BUILD_ROOT / "verilog")
    a, b = records
    fields = np.array(monitor_fields(dut), dtype=object).astype(str)
    vec = {}
    for sim_, n in SHORT.items():
        vec[sim_] = runner.write_vectors(
            VEC_DIR / f"monitor_{sim_}.npz", samples=a[:n], expected=monitor_expected(model, a[:n]),
            samples2=b[:n], expected2=monitor_expected(model, b[:n]), fields=fields)
    return src, vec


_builds = {}


def _build(src, top, simulator):
    key = (top, simulator)
    if key not in _builds:
        _builds[key] = runner.build([src], top, simulator)
    return _builds[key]


RUNS = [("icarus", "none", 0), ("verilator", "random", 3000)]
DETECTOR_RUNS = RUNS[:1]            # Verilator: the speed harness below (module docstring)


@pytest.mark.sim
@pytest.mark.parametrize("simulator,pattern,hold", DETECTOR_RUNS, ids=[f"{s}-{p}" for s, p, _ in DETECTOR_RUNS])
def test_detector(detector_design, simulator, pattern, hold):
    src, vec = detector_design
    cfg = MonitorBench(vectors=str(vec[simulator]), idle=pattern, backpressure=pattern, seed=11,
                       out="peaks", timing=True, hold=hold, reset_at=RESET_AT)
    _build(src, "qrs_detector", simulator).run(TEST_MODULE, config=cfg, run_name=pattern,
                                               testcase=_cases(simulator))


@pytest.mark.sim
@pytest.mark.parametrize("simulator,pattern,hold", [
    pytest.param(*r, id=f"{r[0]}-{r[1]}", marks=[pytest.mark.long] if r[0] == "icarus" else []) for r in RUNS])
def test_monitor(monitor_design, simulator, pattern, hold):
    src, vec = monitor_design
    cfg = MonitorBench(vectors=str(vec[simulator]), idle=pattern, backpressure=pattern, seed=5,
                       out="beats", timing=False, hold=hold, reset_at=RESET_AT)
    _build(src, "monitor", simulator).run(TEST_MODULE, config=cfg, run_name=pattern,
                                          testcase=_cases(simulator))


def _cases(simulator):
    """Icarus: the record only; Verilator: the record and the reset mid-stream."""
    return "record_matches_golden" if simulator == "icarus" else None


@pytest.mark.sim
def test_whole_excerpts_speed_harness(tmp_path):
    """The four 60 s excerpts through the speed harness on Verilator: the detector's peaks and the
    samples that report them (all four), the monitor's beats (two), each excerpt under another
    idle / back-pressure pattern (sim/monitor_regress.py's order)."""
    from ternecg.sim import monitor_regress as mr

    signals = [(e.name, e.signal.astype(np.int64)) for e in excerpts.load()]
    work = runner.BUILD_ROOT / "sim-monitor"
    det = mr.detector_part(None, signals=signals, jobs=2, work=work, progress=False)
    mon = mr.monitor_part(None, signals=signals[:2], jobs=2, work=work, progress=False)
    assert det["records"] == 4 and det["mismatches"] == 0 and det["beats"] > 380
    assert mon["records"] == 2 and mon["mismatches"] == 0 and mon["beats"] > 200


@pytest.mark.sim
@pytest.mark.long
def test_monitor_with_the_irregularity_code(tmp_path):
    """A model that reads the irregularity code (config ``rr_irregular``: the front end's fourth
    code; models/aami4_inter.json with rr_local 8 and a made-up table for the code,
    monitor_helpers.aami4_with_irregular_code), the whole monitor through the speed harness on
    Verilator, random idle and back-pressure, on the first 20 s of excerpt 208 (bigeminy): every
    beat's index, class and logits equal golden/monitor.py's MonitorStream; the table differs
    between the codes the beats get, so a wrong code shows in the logits (~20 s, most of it the
    build)."""
    from ternecg.sim import monitor_regress as mr
    from ternecg.sim.tb import unpack
    from monitor_helpers import aami4_with_irregular_code, stream

    path = aami4_with_irregular_code(tmp_path / "irr.json", lambda k, c: c * (30 if k == 0 else -10),
                                     rr_local=8)
    model = modelfile.load(path)
    x = excerpts.load()[0].signal[:360 * 20].astype(np.int64)
    want = [(o.sample, o.cls, o.logits) for o in stream(model, x)]
    codes = monitor.codes(np.array([w[0] for w in want]), model.cfg)
    assert len(want) > 20 and len(set(codes[:, 3].tolist())) > 3
    assert len({tuple(model.rr_table[:, 3, c].tolist()) for c in set(codes[:, 3].tolist())}) > 3
    dut = Monitor(model, 1, spram=False)
    work = runner.BUILD_ROOT / "sim-monitor" / "irregular"
    binary, _ = mr._build(dut, "monitor", "beats", dut.beat_layout.size, work)
    res, _, _, pats = mr._run_one(binary, "208", x, len(want), tmp_path / "run", 1)
    assert pats == ("random", "random")
    got = [(d["index"], d["cls"], tuple(d["logits"])) for d in (unpack(dut.beat_layout, p) for p, _ in res)]
    assert got == want


@pytest.mark.sim
def test_paced_input_counts_late_samples():
    """The speed harness paced as a free-running ADC (``+period=``, the real-time check of the
    monitor build's report, boards/monitor_figures.py): the detector on the first 1,000 samples
    of an excerpt, one sample due every 100 cycles (below its cost per sample: samples wait, each
    counted late) and every 10,000 (above its costliest sample: none late); the peaks are exact
    either way."""
    import re

    from ternecg.hw.qrs_detector import QrsDetector
    from ternecg.sim import harness
    from ternecg.sim import monitor_regress as mr
    from ternecg.sim.monitor_harness import plusargs, read_results, write_samples

    work = runner.BUILD_ROOT / "sim-monitor"
    binary, _ = mr._build(QrsDetector(spram=False), "qrs_detector", "peaks", 33, work / "detector")
    x = excerpts.load()[0].signal[:1000].astype(np.int64)
    want = [(p, 0) for p in qrs.detect(x).tolist()] + [(len(x), 1)]
    late = {}
    for period in (100, 10_000):
        run = work / "detector" / "runs" / f"paced_{period}"
        run.mkdir(parents=True, exist_ok=True)
        write_samples(run / "samples.hex", x)
        harness.run_verilator(binary, plusargs(samples="samples.hex", count=len(x), results="results.txt",
                                               expect=len(want), grace=100, period=period), run)
        got = [(p & 0xFFFFFFFF, p >> 32) for p, _ in read_results(run / "results.txt")]
        assert got == want
        late[period] = int(re.search(r"harness: late (\d+)", (run / "sim.log").read_text()).group(1))
    assert late[100] > 100 and late[10_000] == 0, late
