"""What the two end-to-end board tests share (tests/sim/test_board_e2e.py,
tests/sim/test_monitor_board_e2e.py): the board's Verilog, generated again only when its RTLIL
changed, and a cocotb pty bench (sim/pty_bridge.py) run in a background thread with a pyserial
port on its pty."""

import hashlib
import threading
import time
from pathlib import Path

from ternecg.boards.host import open_port
from ternecg.hw import verilog
from ternecg.sim import runner


def generate_cached(make, name):
    """verilog.generate, skipped when the design's RTLIL is unchanged (Yosys' Verilog backend
    takes minutes on this design under load; RTLIL takes a second)."""
    from amaranth.back import rtlil
    out = runner.BUILD_ROOT / "verilog"
    key = hashlib.sha256(rtlil.convert(make(), name=name).encode()).hexdigest()
    src, stamp = out / f"{name}.v", out / f"{name}.rtlil.sha256"
    with runner.locked(src):
        if not (src.is_file() and stamp.is_file() and stamp.read_text() == key):
            stamp.unlink(missing_ok=True)
            verilog.generate(make(), name, out)
            stamp.write_text(key)
    return src


class PtyBoard:
    """The bench ``test_module`` of ``build`` (a :class:`ternecg.sim.runner.Build`) with the
    options ``cfg`` (its ``pty_file`` and ``stop_file``), run as ``run_name`` in a thread.
    :meth:`start` waits for its pty and opens ``port`` on it; :meth:`stop` closes the port, ends
    the bench and raises the bench's error, if any; as a context manager, an error of the body
    comes first."""

    def __init__(self, build, test_module, cfg, run_name):
        self.pty_file = Path(cfg.pty_file)
        self.stop_file = Path(cfg.stop_file)
        self.error = None

        def target():
            try:
                build.run(test_module, config=cfg, run_name=run_name)
            except BaseException as exc:       # reported by stop()
                self.error = exc
        self.thread = threading.Thread(target=target, daemon=True)

    def start(self):
        self.thread.start()
        deadline = time.monotonic() + 120
        while not self.pty_file.exists():
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise AssertionError(f"simulator did not publish its pty: {self.error!r}")
            time.sleep(0.05)
        self.port = open_port(self.pty_file.read_text(), timeout=0.02)
        return self

    def stop(self, raise_error=True):
        self.port.close()
        self.stop_file.write_text("stop")
        self.thread.join(timeout=120)
        if self.error is not None and raise_error:
            raise self.error

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop(raise_error=exc[0] is None)
