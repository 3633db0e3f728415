"""``ternecg link-report``: the serial side of both board cores on the iCE40 UP5K (issue 17's link).

The serial side is what a board adds around the accelerator (or the monitor): the UART receiver
and transmitter and the link (deframer, beat or sample buffer, framer with its CRC, the FIFO of
sequence numbers). Each app's serial side is built exactly as its board core builds it for the
iCEBreaker (12 MHz, the build's baud rate, the buffers in SPRAM; boards/core.py,
boards/monitor_core.py), wrapped in :class:`LinkPins` and run through the flow of
``make hw-report`` (Yosys ``synth_ice40`` with its options and ABC9, nextpnr-ice40, UP5K, sg48,
seed 1; boards/hw_report.py):

* ``model``: the model file the board core was built for (it fixes the result's width and, for a
  model with RR codes, the BEAT_RR deframer);
* ``lc``, ``ebr``, ``spram``, ``fmax_mhz``: nextpnr's figures for the wrapped serial side;
  ``lut4``, ``ff``, ``carry``: the flattened synthesis' cells that nextpnr placed;
* ``lut4_by_module``: a second, unflattened synthesis (ABC9), LUT4 per module, and
  ``lut4_by_part`` (UARTs, deframer, framer, buffer, the rest of the link, the wrapper);
* ``wrapper``: the wrapper's own LUT4 and flip-flops (counted in ``lc``, reported apart).

The pin wrapper has no logic on the link's inputs: every input bit the accelerator would drive
(a result, its ``valid``, the model id, the samples' ``ready``, ...) is wired to one of
:data:`IN_PINS` pins, bit ``i`` of them all to pin ``i mod IN_PINS`` (a prime, so that no two
bytes of a field share their pins bit for bit and no byte multiplexer folds); every output bit is
XOR-folded into an 8-bit register. So nothing of the link can be optimised away, and the
wrapper costs about a dozen cells.

Writes ``build/reports/link.json`` (``{"device", "clock_mhz", "target_lc", "apps": {app: {...}}}``)
and prints a table. The board builds' own per-part split (``make synth``'s ``lut4_by_part``)
comes from Yosys' own LUT mapping, a ranking rather than a size (ABC9 cannot map the unflattened
engine); this command is where the serial side's size is measured.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from amaranth import Module
from amaranth.hdl import Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ternecg.hw.checks import Checked, check_int
from ternecg.paths import build_dir, relative
from ternecg.reports import update_json

REPORT = build_dir("reports", "link.json")
WORK = build_dir("link-report")
#: the iCEBreaker's clock (boards/top.py builds the link for it)
CLOCK_HZ = 12_000_000
#: pins that carry the link's inputs (a prime: see the module's docstring)
IN_PINS = 23
#: issue 17: the link (UART, deframer, beat buffer, framer, CRC) in at most this many logic cells
TARGET_LC = 400
#: the apps and their default models (boards/top.py: the iCEBreaker's classifier and monitor)
APPS = ("classifier", "monitor")
#: the parts of the serial side: (part, module names that belong to it); the first match wins,
#: ``link`` (the rest of the link: its FIFO of sequence numbers and glue) after its parts
PARTS = (("uart", ("uart_rx", "uart_tx")), ("deframer", ("deframer",)), ("framer", ("framer",)),
         ("buffer", ("buffer", "fifo")), ("link", ("link",)))


class LinkPins(Checked, wiring.Component):
    """A board core's serial side (its UARTs and link) behind 33 pins, for place and route only.

    The UARTs' pins are ``rx`` and ``tx``; the link's inputs from the accelerator side are wired
    to ``pins`` (bit ``i`` of all of them, in the order of the link's signature, to pin
    ``i mod IN_PINS``), its outputs to that side are XOR-folded into ``fold`` (registered).

    Parameters
    ----------
    core : :class:`~ternecg.boards.core.BoardCore` or :class:`~ternecg.boards.monitor_core.MonitorBoardCore`
        The board core whose ``link``, ``rx_uart`` and ``tx_uart`` are wrapped (built with its
        UART; its accelerator or monitor is not).
    in_pins : int
        Pins for the link's inputs (default :data:`IN_PINS`; keyword-only).

    Members
    -------
    rx : ``In(1, init=1)``
        The UART receive pin.
    tx : ``Out(1, init=1)``
        The UART transmit pin.
    pins : ``In(in_pins)``
        The link's inputs from the accelerator side.
    fold : ``Out(8)``
        The XOR fold of the link's outputs to the accelerator side, one cycle late.
    """

    @classmethod
    def check_arguments(cls, core, *, in_pins=IN_PINS):
        if not all(hasattr(core, a) for a in ("link", "rx_uart", "tx_uart")):
            raise TypeError(f"LinkPins needs a board core built with its UART, not {core!r}")
        check_int("LinkPins", "in_pins", in_pins, minimum=1)

    def __init__(self, core, *, in_pins=IN_PINS):
        self.uart = True                     # connect_uart's view of a core
        self.link = core.link
        self.rx_uart, self.tx_uart = core.rx_uart, core.tx_uart
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "pins": In(in_pins), "fold": Out(8)})

    def elaborate(self, platform):
        from .serial_side import connect_uart
        m = Module()
        m.submodules.link = link = self.link
        connect_uart(m, self, link)
        uart_side = {"rx", "tx", "uart_overrun", "uart_framing"}
        fold, i, n = 0, 0, len(self.pins)
        for path, member, value in link.signature.flatten(link):
            if path[0] in uart_side:
                continue
            value = Value.cast(value)
            if member.flow == In:
                for k in range(len(value)):
                    m.d.comb += value[k].eq(self.pins[(i + k) % n])
                i += len(value)
            else:
                for k in range(0, len(value), 8):
                    fold = fold ^ value[k:k + 8]
        m.d.sync += self.fold.eq(fold)
        return m


def model_file(app: str, model=None) -> Path:
    """The model file of ``app``'s board core: ``model``, or the app's shipped one (boards/top.py)."""
    from .top import check_app, default_model
    check_app(app)
    return Path(model if model is not None else default_model(app))


def serial_core(app: str, model=None):
    """The iCEBreaker's board core of ``app`` (with its UART) for :func:`model_file`."""
    from ternecg.golden.spec import modelfile

    from .core import BoardCore
    from .monitor_core import MonitorBoardCore
    from .top import DEFAULT_BAUD
    from .uart import divisor_for
    path = model_file(app, model)
    divisor = divisor_for(CLOCK_HZ, DEFAULT_BAUD)
    cls = MonitorBoardCore if app == "monitor" else BoardCore
    return cls(modelfile.load(path), divisor=divisor, spram=True)


def by_part(luts: dict) -> dict:
    """LUT4 per part (:data:`PARTS`) of an unflattened synthesis' ``{module: LUT4}``; ``wrapper``:
    the top module's own."""
    out = {part: 0 for part, _ in PARTS}
    out["wrapper"] = 0
    for module, n in luts.items():
        names = module.split(".")
        if len(names) == 1:
            out["wrapper"] += n
            continue
        part = next((p for p, keys in PARTS if any(k in names for k in keys)), "link")
        out[part] += n
    return out


def app_report(app: str, model=None, work=WORK) -> dict:
    """Synthesize, place and route ``app``'s serial side (see the module's docstring)."""
    from ternecg.boards.hw_report import _hier_counts, flat_counts, luts_and_mapper, synth_ice40
    workdir = Path(work) / app
    res = {"model": str(relative(model_file(app, model)))}
    res.update(synth_ice40(LinkPins(serial_core(app, model)), "linkpins", workdir, freq=CLOCK_HZ / 1e6))
    util = json.loads((workdir / "nextpnr.json").read_text())["utilization"]
    flat = flat_counts(workdir, "ice40")
    res["lut4"], res["ff"], res["carry"] = flat["lut"], flat["ff"], flat["carry"]
    luts, mapper = luts_and_mapper(workdir, "linkpins")
    _, ffs, _ = _hier_counts(workdir / "hier.txt", "ice40")
    res["lut4_by_module"] = {"mapper": mapper, "modules": luts}
    res["lut4_by_part"] = by_part(luts)
    res["wrapper"] = {"lut4": res["lut4_by_part"]["wrapper"], "ff": ffs.get("linkpins", 0)}
    res["io"] = util.get("SB_IO", {}).get("used")
    return res


def report(*, out=None, apps=APPS):
    """Build every app's serial side (:func:`app_report`), write ``link.json`` into ``out``
    (default ``build/reports``) and print the table; returns the report."""
    t0 = time.time()
    res = {"device": "iCE40 UP5K (sg48), nextpnr seed 1", "clock_mhz": CLOCK_HZ / 1e6, "target_lc": TARGET_LC,
           "apps": {app: app_report(app) for app in apps}}
    res["seconds"] = round(time.time() - t0, 1)
    path = Path(out) / REPORT.name if out else REPORT
    update_json(path, lambda _: res)
    print(table(res))
    print(f"\nwrote {relative(path)}")
    return res


def table(res) -> str:
    parts = [p for p, _ in PARTS] + ["wrapper"]
    lines = ["| app | LC (target %d) | FF | EBR | SPRAM | Fmax MHz | LUT4 by part (ABC9) |" % res["target_lc"],
             "|---|---|---|---|---|---|---|"]
    for app, r in res["apps"].items():
        split = ", ".join(f"{p} {r['lut4_by_part'][p]}" for p in parts if r["lut4_by_part"].get(p))
        lines.append(f"| {app} | {r['lc']} | {r['ff']} | {r['ebr']} | {r['spram']} | {r['fmax_mhz']} | {split} |")
    lines.append("")
    lines.append("(LC and FF include the pin wrapper: " + "; ".join(
        f"{app} {r['wrapper']['lut4']} LUT4, {r['wrapper']['ff']} FF" for app, r in res["apps"].items()) + ")")
    return "\n".join(lines)


def add_parser(sub):
    """``ternecg link-report``."""
    from ternecg import options
    p = sub.add_parser("link-report", description=__doc__.split("\n")[0])
    p.add_argument("--app", choices=APPS, action="append", default=None,
                   help="the app whose serial side to build (repeatable; default: both)")
    options.add_out(p, REPORT.parent, f"writes {REPORT.name}")
    p.set_defaults(func=_command)
    return p


def _command(args):
    import warnings

    from amaranth.hdl import UnusedElaboratable

    from ternecg.tools import setup_env
    setup_env()
    # the board core builds its accelerator (or monitor), which this report never elaborates
    warnings.filterwarnings("ignore", category=UnusedElaboratable)
    apps = tuple(dict.fromkeys(args.app)) if args.app else APPS
    report(out=args.out, apps=apps)


if __name__ == "__main__":
    from ternecg.cli import command_main
    sys.exit(command_main("link-report")())
