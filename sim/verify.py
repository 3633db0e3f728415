"""One entry point that checks the generated accelerator against golden in a Verilog simulator.

::

    from ternecg.sim.verify import Beats, Options, verify

    report = verify(Beats.fixture(count=20), Options(parallel=6, bench="cocotb", layers=True))
    assert report.ok, report.summary()

:func:`verify` generates the design (cached), builds the simulator model (cached across runs and
sessions, under a file lock so parallel workers never build the same model twice at once),
computes the expected values with the golden integer reference (cached on disk), runs the bench
and returns a :class:`Report`. What it runs is one frozen :class:`Options`; which beats, one
:class:`Beats`. Everything that checks the whole accelerator calls it: the tests
(tests/sim/test_network_sim.py, test_harness_sim.py, test_gate_sim.py), ``make demo``
(ternecg/demo.py), ``make sim-regress`` (sim/regress.py) and ``make sim-gate`` (sim/gate.py).

Two benches:

* ``bench="harness"`` (default): the speed harness (:mod:`ternecg.sim.harness`), a Verilog module
  that feeds the accelerator (``debug=False``, as on a board) from a ``$readmemh`` image under an
  idle pattern and takes its results under a back-pressure pattern; Verilator runs it from a C++
  loop that only toggles the clock, Icarus under cocotb. Class, logits and cycles of every beat.
* ``bench="cocotb"``: the cocotb network testbench (:mod:`ternecg.sim.network_tb`, cocotb module
  ``ternecg.sim.tests.test_network_cocotb``): Python drives every sample, checks the stream rule on
  the result port, and with ``layers=True`` monitors the debug tap and compares every hidden
  layer (a mismatch names the first layer, channel and position). Its ``tests`` also include reset
  recovery (``reset_mid_input``, ``reset_mid_compute``) and the worst-case beats (``worst_case``).

The bench gets its options as one :class:`ternecg.sim.network_tb.NetworkBenchConfig` (one JSON
file, see :mod:`ternecg.sim.runner`), never as environment variables.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ternecg.errors import TernEcgError

__all__ = ["Beats", "Options", "Report", "verify", "diagnose", "design", "BENCHES", "PATTERNS",
           "NETWORK_TESTS"]

BENCHES = ("harness", "cocotb")
PATTERNS = ("none", "fixed", "random")
CYCLES = ("exact", "min", "off")
NETWORK_TESTS = ("stream_beats", "reset_mid_input", "reset_mid_compute", "worst_case")
NETWORK_MODULE = "ternecg.sim.tests.test_network_cocotb"
HARNESS_MODULE = "ternecg.sim.tests.test_harness_cocotb"


@dataclass(frozen=True, eq=False)
class Beats:
    """The beats to check: raw samples and, for a model with an RR path, their RR codes.

    Parameters
    ----------
    raw : array (N, L)
        Raw 11-bit samples, one row per beat.
    rr : array (N, F) or None
        RR codes of each beat (used only by a model with an RR path).
    record, sample : array (N,) or None
        Provenance (record, R-peak sample) named in mismatch messages.
    """
    raw: np.ndarray
    rr: np.ndarray | None = None
    record: np.ndarray | None = None
    sample: np.ndarray | None = None

    def __post_init__(self):
        raw = np.asarray(self.raw, dtype=np.int64)
        if raw.ndim != 2 or len(raw) == 0:
            raise TernEcgError(f"beats must be an (N, length) array with N >= 1, got shape {raw.shape}")
        object.__setattr__(self, "raw", raw)
        for name in ("rr", "record", "sample"):
            v = getattr(self, name)
            if v is not None:
                v = np.asarray(v, dtype=np.int64)
                if len(v) != len(raw):
                    raise TernEcgError(f"beats: {len(v)} {name} values for {len(raw)} beats")
                object.__setattr__(self, name, v)

    def __len__(self):
        return len(self.raw)

    @classmethod
    def fixture(cls, first=0, count=None, *, index=None) -> "Beats":
        """Fixture beats (302 real MIT-BIH beats with their RR codes): ``first``/``count`` or an
        ``index`` list."""
        from ternecg.golden import fixture
        fx = fixture.load()
        idx = (np.asarray(index, dtype=np.int64) if index is not None
               else np.arange(len(fx["raw"]))[first:None if count is None else first + count])
        return cls(fx["raw"][idx], fx["rr"][idx], fx["record"][idx], fx["sample"][idx])

    def take(self, index) -> "Beats":
        idx = np.asarray(index, dtype=np.int64)
        pick = (lambda v: None if v is None else v[idx])
        return Beats(self.raw[idx], pick(self.rr), pick(self.record), pick(self.sample))

    def digest(self) -> str:
        h = hashlib.sha256()
        for v in (self.raw, self.rr, self.record, self.sample):
            h.update(b"-" if v is None else np.ascontiguousarray(v).tobytes() + str(v.shape).encode())
        return h.hexdigest()


@dataclass(frozen=True)
class Options:
    """How to check: which design, which simulator and bench, under which stream patterns.

    Parameters
    ----------
    model : str, Path, Model or None
        A model file (``None``: ``models/default.json``) or a loaded
        :class:`ternecg.golden.spec.modelfile.Model`.
    parallel : int
        The accelerator's lane count (``PARALLEL``).
    simulator : str
        "verilator" or "icarus".
    bench : str
        "harness" (Verilog drives; class, logits, cycles, and the cycle of every result:
        :attr:`Report.result_cycles`) or "cocotb" (Python drives; with ``layers`` every hidden
        layer, and the reset / worst-case ``tests``).
    layers : bool
        Monitor the debug tap and compare every hidden layer ("cocotb" only).
    idle, backpressure : str
        Input idle and output back-pressure patterns: "none", "fixed" or "random".
    seed : int
        Seed of the random patterns.
    hold : int
        "harness" only: the sink keeps ``o.ready`` low until the first result has been pending
        this many cycles (the stream rule is checked throughout), then follows ``backpressure``.
    cycles : str or None
        "exact", "min" (measured >= analytical) or "off"; ``None``: exact (the accelerator's
        ``cycles`` leave out every stall, so they are exact under any pattern).
    waves : bool or None
        Dump waveforms (``None``: the ``WAVES`` environment variable).
    netlist : bool
        Gate level: simulate the ``synth_ice40`` netlist with Yosys' iCE40 cell models
        (:mod:`ternecg.sim.gate`) instead of the generated RTL (default model only).
    tests : tuple of str
        The cocotb bench's tests (:data:`NETWORK_TESTS`); the harness runs "stream_beats" only.
    """
    model: object = None
    parallel: int = 6
    simulator: str = "verilator"
    bench: str = "harness"
    layers: bool = False
    idle: str = "none"
    backpressure: str = "none"
    seed: int = 1
    hold: int = 0
    cycles: str | None = None
    waves: bool | None = None
    netlist: bool = False
    tests: tuple = ("stream_beats",)

    def __post_init__(self):
        from ternecg.sim.runner import SIMULATORS
        if self.simulator not in SIMULATORS:
            raise TernEcgError(f"simulator must be one of {', '.join(SIMULATORS)}, not {self.simulator!r}")
        if self.bench not in BENCHES:
            raise TernEcgError(f"bench must be one of {', '.join(BENCHES)}, not {self.bench!r}")
        if self.idle not in PATTERNS:
            raise TernEcgError(f"idle pattern must be one of {', '.join(PATTERNS)}, not {self.idle!r}")
        if self.backpressure not in PATTERNS:
            raise TernEcgError(f"back-pressure pattern must be one of {', '.join(PATTERNS)}, "
                               f"not {self.backpressure!r}")
        if self.cycles is not None and self.cycles not in CYCLES:
            raise TernEcgError(f"cycles must be one of {', '.join(CYCLES)} or None, not {self.cycles!r}")
        if isinstance(self.parallel, bool) or not isinstance(self.parallel, int):
            raise TernEcgError(f"parallel must be an int, not {self.parallel!r}")
        tests = (self.tests,) if isinstance(self.tests, str) else tuple(self.tests)
        object.__setattr__(self, "tests", tests)
        bad = [t for t in tests if t not in NETWORK_TESTS]
        if bad or not tests:
            raise TernEcgError(f"tests must be among {', '.join(NETWORK_TESTS)}, not {list(tests)!r}")
        if isinstance(self.hold, bool) or not isinstance(self.hold, int) or self.hold < 0:
            raise TernEcgError(f"hold must be a number of cycles >= 0, not {self.hold!r}")
        if self.hold and self.bench != "harness":
            raise TernEcgError("hold= needs bench='harness' (the cocotb bench holds with its patterns)")
        if self.bench == "harness":
            if self.layers:
                raise TernEcgError("layers=True needs bench='cocotb' (the harness has no debug tap)")
            if tests != ("stream_beats",):
                raise TernEcgError(f"the harness runs stream_beats only, not {list(tests)!r}")

    @property
    def debug(self) -> bool:
        """The design has the debug tap (the cocotb bench needs its ports)."""
        return self.bench == "cocotb"

    def replace(self, **changes) -> "Options":
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        m = d["model"]
        d["model"] = str(m) if isinstance(m, (str, Path)) else (
            "models/default.json" if m is None else str(getattr(m, "path", None) or m.cfg.name))
        d["tests"] = list(self.tests)
        return d


@dataclass
class Report:
    """What :func:`verify` found. ``mismatched_beats`` are indices into the :class:`Beats`;
    ``mismatches`` the first messages (each names the beat's record and R-peak sample, and with
    the debug tap the first differing layer, channel and position); ``failures`` the failed
    cocotb tests other than the comparison itself (e.g. a reset test)."""
    options: Options
    beats: int
    mismatched_beats: list = field(default_factory=list)
    mismatches: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    cycles: int = 0                 # analytical compute cycles of the beats, summed
    result_cycles: list = field(default_factory=list)   # harness: the cycle of each result's transfer
    input_cycles: list = field(default_factory=list)    # harness: ... of its beat's last sample
    seconds: float = 0.0            # simulation wall time (without the build)
    build_seconds: float = 0.0
    tap_writes: int = 0

    @property
    def ok(self) -> bool:
        return not self.mismatched_beats and not self.failures

    @property
    def beats_per_s(self) -> float:
        return self.beats / self.seconds if self.seconds else 0.0

    @property
    def latencies(self) -> list:
        """Cycles from each beat's last sample taken to its result taken (harness runs)."""
        return [r - i for r, i in zip(self.result_cycles, self.input_cycles)]

    @property
    def periods(self) -> list:
        """Cycles between consecutive results (harness runs; ``beats - 1`` of them)."""
        t = self.result_cycles
        return [b - a for a, b in zip(t, t[1:])]

    def summary(self) -> str:
        o = self.options
        head = (f"{o.bench} on {o.simulator}{' (gate level)' if o.netlist else ''}, P={o.parallel}, "
                f"{o.idle}/{o.backpressure}: {self.beats} beats, {len(self.mismatched_beats)} mismatch")
        lines = [head] + [f"  {m}" for m in self.mismatches[:5]] + [f"  {f}" for f in self.failures[:5]]
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {"options": self.options.as_dict(), "beats": self.beats,
                "mismatches": len(self.mismatched_beats), "mismatched_beats": self.mismatched_beats,
                "first_mismatches": [str(m) for m in self.mismatches[:5]], "failures": self.failures,
                "cycles": self.cycles, "periods": self.periods, "latencies": self.latencies,
                "seconds": round(self.seconds, 3),
                "build_seconds": round(self.build_seconds, 3),
                "beats_per_s": round(self.beats_per_s, 3), "tap_writes": self.tap_writes}


# --------------------------------------------------------------------------------------------
# design, build, vectors (all cached)
# --------------------------------------------------------------------------------------------

_MODELS = {}


def load_model(model):
    """A :class:`Model` from a path / ``None`` (cached per process) or the object itself."""
    if model is None or isinstance(model, (str, Path)):
        from ternecg.golden.spec import modelfile
        key = None if model is None else str(Path(model).resolve())
        if key not in _MODELS:
            _MODELS[key] = modelfile.load(model)
        return _MODELS[key]
    return model


@dataclass(frozen=True)
class Design:
    """A generated accelerator: its top module, Verilog sources and Amaranth instance."""
    name: str
    sources: tuple
    accel: object
    model: object


_DESIGNS = {}


def design(options: Options) -> Design:
    """Generate (once per process, and only rewritten when it changes) the Verilog that
    ``options`` simulates: the accelerator of ``options.model`` at ``options.parallel``, with the
    debug tap for the cocotb bench, or its iCE40 netlist."""
    from ternecg.hw.top import Accelerator
    from ternecg.sim import runner

    model = load_model(options.model)
    cacheable = options.model is None or isinstance(options.model, (str, Path))
    key = (model.sha256, options.parallel, options.debug, options.netlist)
    if cacheable and key in _DESIGNS:
        return _DESIGNS[key]
    acc = Accelerator(model, options.parallel, debug=options.debug)
    name = f"acc_{model.sha256[:10]}_p{options.parallel}" + ("_dbg" if options.debug else "")
    if options.netlist:
        from ternecg.sim import gate
        name = "gate_" + name
        net = gate.netlist(model, options.parallel, name, debug=options.debug)
        _elaborated(acc)
        d = Design(name, (net, gate.cells_sim()), acc, model)
    else:
        from ternecg.hw import verilog
        out = runner.BUILD_ROOT / "verilog"
        with runner.locked(out / name):
            src = verilog.generate(acc, name, out)
        d = Design(name, (src,), acc, model)
    if cacheable:
        _DESIGNS[key] = d
    return d


def _build_args(o: Options) -> list:
    """Simulator arguments: Yosys' iCE40 cell models on Icarus need their default assignments off."""
    return ["-DNO_ICE40_DEFAULT_ASSIGNMENTS"] if o.netlist and o.simulator == "icarus" else []


def _elaborated(acc):
    """Mark an Accelerator used only for its widths and cycle model as elaborated (no
    UnusedElaboratable warning)."""
    from amaranth.hdl import Fragment
    Fragment.get(acc, None)


def _vectors(d: Design, beats: Beats, *, layers: bool, edge: bool) -> tuple[dict, Path]:
    """:func:`make_vectors` of ``beats`` (and the worst-case ``edge_`` set), cached on disk by the
    design's Verilog text and the beats (parallel workers and later runs reuse them)."""
    from ternecg.sim import runner
    from ternecg.sim.network_tb import edge_beats, edge_rr, make_vectors

    model = d.model
    h = hashlib.sha256()
    for s in d.sources[:1]:
        h.update(Path(s).read_bytes())
    h.update(json.dumps([beats.digest(), layers, edge, d.name]).encode())
    path = runner.BUILD_ROOT / "vectors" / f"{d.name}-{h.hexdigest()[:16]}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}, path
    rr = beats.rr if model.cfg.rr_bits else None
    if model.cfg.rr_bits and rr is None:
        raise TernEcgError(f"model {model.cfg.name!r} has an RR path: pass the beats' RR codes (rr=)")
    vec = make_vectors(model, beats.raw, records=beats.record, samples=beats.sample, accel=d.accel,
                       layers=layers, rr=rr)
    if edge:
        e = edge_beats(beats.raw.shape[1])
        codes = edge_rr(len(e), model.cfg.rr_features, model.cfg.rr_bits) if model.cfg.rr_bits else None
        vec.update(make_vectors(model, e, accel=d.accel, prefix="edge_", layers=layers, rr=codes))
    runner.write_vectors(path, **vec)
    return vec, path


def _run_name(o: Options) -> str:
    return "-".join([o.idle, o.backpressure, str(o.seed)] + ([f"hold{o.hold}"] if o.hold else [])
                    + ([] if o.tests == ("stream_beats",) else list(o.tests)))


# --------------------------------------------------------------------------------------------
# the entry point
# --------------------------------------------------------------------------------------------

def verify(beats: Beats, options: Options | None = None, /, *, expected: dict | None = None,
           progress=None, **changes) -> Report:
    """Check ``beats`` on the design of ``options`` (keyword ``changes`` override its fields, e.g.
    ``verify(beats, simulator="icarus")``); returns a :class:`Report` (it does not raise on
    mismatches: see :attr:`Report.ok`).

    ``expected`` replaces the golden vectors (a :func:`~ternecg.sim.network_tb.make_vectors`
    dict; tests use it to prove that a wrong value is caught). ``progress``: a file kept updated
    with the number of finished beats.
    """
    if not isinstance(beats, Beats):
        raise TernEcgError(f"verify() needs Beats, not {type(beats).__name__}")
    options = (options or Options()).replace(**changes) if changes else (options or Options())
    d = design(options)
    length = d.accel.schedule.input_length
    if beats.raw.shape[1] != length:
        _elaborated(d.accel)
        raise TernEcgError(f"beats have {beats.raw.shape[1]} samples, the model expects {length}")
    if d.model.cfg.rr_bits and beats.rr is None and expected is None:
        raise TernEcgError(f"model {d.model.cfg.name!r} has an RR path: pass the beats' RR codes (rr=)")
    if options.bench == "harness":
        return _verify_harness(d, beats, options, expected, progress)
    return _verify_cocotb(d, beats, options, expected, progress)


def _verify_cocotb(d: Design, beats: Beats, o: Options, expected, progress) -> Report:
    from ternecg.sim import runner
    from ternecg.sim.network_tb import NetworkBenchConfig

    t0 = time.perf_counter()
    model = runner.build(list(d.sources), d.name, o.simulator, waves=o.waves,
                         build_args=_build_args(o))
    t1 = time.perf_counter()
    if expected is None:
        vec, vpath = _vectors(d, beats, layers=o.layers, edge="worst_case" in o.tests)
    else:
        vec = expected
        vpath = runner.write_vectors(model.run_dir(_run_name(o)) / "expected.npz", **vec)
    run_name = _run_name(o)
    report_file = model.run_dir(run_name) / "report.json"
    report_file.parent.mkdir(parents=True, exist_ok=True)
    report_file.unlink(missing_ok=True)
    cfg = NetworkBenchConfig(vectors=str(vpath), idle=o.idle, backpressure=o.backpressure,
                             seed=o.seed, cycles=o.cycles, tap=o.layers, report=str(report_file),
                             # the bench runs in its own folder: an absolute path for the progress file
                             progress=None if progress is None else str(Path(progress).resolve()))
    t2 = time.perf_counter()
    results = model.run(NETWORK_MODULE, config=cfg, run_name=run_name, testcase=",".join(o.tests),
                        check=False)
    t3 = time.perf_counter()
    _, failed = runner.failures(results)
    rep = Report(o, len(beats), build_seconds=t1 - t0, seconds=t3 - t2,
                 cycles=int(np.sum(vec["cycles"])))
    if "stream_beats" in o.tests:
        if report_file.is_file():
            r = json.loads(report_file.read_text())
            rep.mismatched_beats = list(r["mismatched"])
            rep.mismatches = list(r["mismatches"])
            rep.tap_writes = int(r["tap_writes"])
            rep.seconds = float(r["seconds"])
            # the comparison's own failure is already in the mismatches
            failed = [f for f in failed if not (f.startswith("stream_beats:") and rep.mismatched_beats)]
        else:
            rep.mismatched_beats = list(range(len(beats)))
            rep.mismatches = [f"no report from the bench (log {results.parent / 'sim.log'}): "
                              + "; ".join(failed)[:2000]]
    rep.failures = failed
    return rep


def _verify_harness(d: Design, beats: Beats, o: Options, expected, progress) -> Report:
    from ternecg.golden.spec.normalize import RAW_BITS
    from ternecg.sim import harness, runner
    from ternecg.sim.network_tb import Expected, Mismatch, compare_beat, decode_result

    acc = d.accel
    n = len(beats)
    capacity = harness.capacity(n)
    hname = f"{d.name}_harness"
    work = runner.BUILD_ROOT / "harness"
    hv = work / "verilog" / f"{hname}_{capacity}.v"
    text = harness.harness_verilog(d.name, length=beats.raw.shape[1], raw_bits=acc.sample_layout.size,
                                   out_bits=acc.result_layout.size, max_beats=capacity,
                                   harness=hname, rr_bits=acc.rr_width)
    waves = runner.waves_enabled(o.waves)
    bdir = work / "sim" / (f"{d.name}-{capacity}-{o.simulator}" + ("-waves" if waves else ""))
    t0 = time.perf_counter()
    with runner.locked(hv):
        hv.parent.mkdir(parents=True, exist_ok=True)
        if not hv.is_file() or hv.read_text() != text:
            hv.write_text(text)
    if o.simulator == "verilator":
        binary = harness.build_verilator([*d.sources, hv], hname, bdir, waves=waves)
    else:
        model = runner.build([*d.sources, hv], hname, "icarus", build_dir=bdir, waves=waves,
                             build_args=_build_args(o))
    t1 = time.perf_counter()

    vec = expected if expected is not None else _vectors(d, beats, layers=False, edge=False)[0]
    exp = Expected.from_vectors(vec)
    run_name = _run_name(o)
    run_dir = bdir / f"run-{run_name}{runner.worker_suffix()}"
    run_dir.mkdir(parents=True, exist_ok=True)
    sfile, rfile = run_dir / "samples.hex", run_dir / "results.hex"
    sfile.write_text("\n".join(f"{w:x}" for w in harness.sample_words(beats.raw, raw_bits=RAW_BITS)) + "\n")
    rfile.unlink(missing_ok=True)
    plus = [f"+beats={n}", f"+idle={harness.PATTERNS[o.idle]}",
            f"+backpressure={harness.PATTERNS[o.backpressure]}", f"+seed={int(o.seed)}",
            f"+samples={sfile}", f"+results={rfile}"]
    if o.hold:
        plus.append(f"+hold={o.hold}")
    if acc.rr_width:
        if exp.rr is None:
            raise TernEcgError(f"model {d.model.cfg.name!r} has an RR path: pass the beats' RR codes (rr=)")
        (run_dir / "rr.hex").write_text("\n".join(f"{int(w):x}" for w in exp.rr) + "\n")
        plus.append(f"+rr={run_dir / 'rr.hex'}")

    def on_progress(k):
        if progress is not None:
            Path(progress).write_text(str(k))
    t2 = time.perf_counter()
    if o.simulator == "verilator":
        harness.run_verilator(binary, plus, run_dir, on_progress)
    else:
        from ternecg.sim.tests.test_harness_cocotb import HarnessBenchConfig
        model.run(HARNESS_MODULE, config=HarnessBenchConfig(beats=n), run_name=run_name, plusargs=plus)
    t3 = time.perf_counter()
    on_progress(n)

    rows = [line.split() for line in rfile.read_text().splitlines()] if rfile.is_file() else []
    rule = [int(r[1]) for r in rows if r[0] == "rule_errors"]
    rows = [r for r in rows if r[0] != "rule_errors"]
    lines = [r[0] for r in rows]
    rep = Report(o, n, seconds=t3 - t2, build_seconds=t1 - t0,
                 cycles=int(sum(int(x) for x in exp.cycles)),
                 result_cycles=[int(r[1]) for r in rows], input_cycles=[int(r[2]) for r in rows])
    if rule and rule[0]:
        rep.failures.append(f"the result stream broke the stream rule in {rule[0]} cycles "
                            f"(see {run_dir / 'sim.log'})")
    # the reported cycles exclude every stall (hw/top.py), so they are exact under any pattern
    cycles_mode = o.cycles or "exact"
    for k in range(n):
        if k >= len(lines):
            rep.mismatched_beats.append(k)
            if len(rep.mismatches) < 10:
                rep.mismatches.append(str(Mismatch(k, int(exp.record[k]), int(exp.sample[k]), "result",
                                                   f"no result (the harness wrote {len(lines)} of {n}; "
                                                   f"see {run_dir / 'sim.log'})")))
            continue
        mm = compare_beat(exp, k, decode_result(int(lines[k], 16), exp.fields), cycles_mode,
                          layers=False)
        if mm:
            rep.mismatched_beats.append(k)
            if len(rep.mismatches) < 50:
                rep.mismatches.extend(str(m) for m in mm[:3])
    return rep


def diagnose(beats: Beats, index, options: Options | None = None, /, **changes) -> Report:
    """Re-run the beats ``index`` (e.g. a harness run's mismatched beats) through the cocotb bench
    with the debug tap, no stalls: each mismatch message names the first differing layer, channel
    and position. Returns its :class:`Report` (indices into ``index``)."""
    o = (options or Options()).replace(**changes)
    o = o.replace(bench="cocotb", layers=True, idle="none", backpressure="none",
                  tests=("stream_beats",), waves=o.waves)
    return verify(beats.take(list(index)), o)
