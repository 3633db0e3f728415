"""cocotb testbench of the whole network (``hw.top.Accelerator`` with ``debug=True``).

:class:`NetworkTB` owns the clock, the reset, the raw-sample source on ``i``, the result sink on
``o`` and a monitor on the ``dbg`` tap that rebuilds every hidden layer's feature map per beat
(the last write per address counts: MUX-skip layers write an address twice). Each result is
compared with the expected values as soon as it arrives: every hidden layer, then the logits,
the class and the compute cycles. A mismatch names the FIRST differing layer, channel and
position, and the beat's record and R-peak sample.

Expected values come from :func:`make_vectors` (golden + hardware schedule, computed in the pytest
process; it imports torch lazily) and reach the simulator as an .npz
(:func:`ternecg.sim.runner.write_vectors`, :func:`ternecg.sim.tb.load_vectors`); this module itself
imports neither torch nor amaranth, so a simulator run starts in well under a second.

Speed: the network computes for ~18k cycles (P = 6) per beat, during which nothing happens on
``i`` and ``o``. The source, the sink and the tap monitor therefore sleep on value changes of
``i__ready``, ``o__valid`` and ``dbg__valid`` instead of polling every cycle; only the cycles
with a tap write cost a Python callback (sampled at the falling clock edge, one trigger per cycle).
The handshake semantics are those of :mod:`ternecg.sim.tb` (drive after the rising edge, sample
in ``ReadOnly``), and the sink applies its back-pressure pattern in every cycle in which
``o__valid`` is high, so stalls still hit every result.

Vector keys (``prefix`` is "" for the main set, e.g. "edge_" for another set in the same file):

``<p>raw`` (N, L) raw samples, ``<p>record``/``<p>sample`` (N,) provenance, ``<p>layer<i>`` (N, C*L)
expected map of hidden layer i (address ``channel*L + position``), ``<p>logits`` (N, n),
``<p>cls`` (N,), ``<p>cycles`` (N,) analytical compute cycles, ``<p>rr`` (N,) the packed RR codes
of a model with an RR path (sent on the ``rr`` stream, one word per beat); shared: ``layer_channels``,
``layer_lengths`` (per hidden layer), ``fields`` = [cls bits, logit bits, n classes, cycles bits,
tap layer bits, tap addr bits, tap data bits] (the result's ``err`` bit follows ``cycles``).
A sample goes out as ``{sample, last}`` (:meth:`Expected.samples_flat`: ``last`` is bit 11).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cocotb
from cocotb.triggers import (Event, FallingEdge, ReadOnly, RisingEdge, Timer, current_gpi_trigger,
                             with_timeout)

from ternecg.sim.tb import (TB, BenchConfig, StreamSink, StreamSource, config, read_bit, read_word,
                            to_signed)

__all__ = ["Expected", "NetworkTB", "NetworkBenchConfig", "Mismatch", "make_vectors", "edge_beats",
           "FIELDS"]


@dataclass(frozen=True)
class NetworkBenchConfig(BenchConfig):
    """The options of the whole-network bench (sim/tests/test_network_cocotb.py), written by
    :func:`ternecg.sim.verify.verify`.

    Parameters
    ----------
    vectors, idle, backpressure, seed :
        See :class:`ternecg.sim.tb.BenchConfig`; ``vectors`` holds :func:`make_vectors`' arrays.
    first, count : int, int or None
        The window of main-set beats that ``stream_beats`` sends (``None``: to the end).
    cycles : str or None
        "exact", "min" or "off"; ``None``: exact (the accelerator counts no stall cycle).
    tap : bool
        Monitor the debug tap and compare every hidden layer (needs layer maps in the vectors).
    report : str or None
        Where ``stream_beats`` writes its JSON summary (beats, mismatches, seconds).
    progress : str or None
        A file that ``stream_beats`` keeps updated with the number of finished beats.
    """
    first: int = 0
    count: int | None = None
    cycles: str | None = None
    tap: bool = True
    report: str | None = None
    progress: str | None = None

FIELDS = ("cls_bits", "logit_bits", "n_classes", "cycles_bits", "tap_layer_bits", "tap_addr_bits",
          "tap_data_bits", "tap_streams")


# --------------------------------------------------------------------------------------------
# expected values (pytest side; lazy heavy imports)
# --------------------------------------------------------------------------------------------

def edge_beats(length=240, full=2047):
    """Worst-case raw beats: full-scale (all 2047), alternating 0/2047, flat line (all 1024), a
    single positive spike, a single negative spike, all zero, a full-scale ramp, a square wave."""
    import numpy as np
    spike = np.full(length, 1000)
    spike[length // 2] = full
    dip = np.full(length, full)
    dip[length // 2] = 0
    square = np.where((np.arange(length) // 8) % 2 == 1, full, 0)
    return np.stack([np.full(length, full), np.tile([0, full], length // 2), np.full(length, 1024),
                     spike, dip, np.zeros(length), np.linspace(0, full, length).round(),
                     square]).astype(np.int64)


def pack_rr(codes, bits):
    """(N, F) RR codes -> (N,) words of the ``rr`` stream (code f in bits [f*b, (f+1)*b))."""
    import numpy as np
    codes = np.asarray(codes, dtype=np.int64)
    return (codes << (bits * np.arange(codes.shape[1]))).sum(1) if len(codes) else np.zeros(0, np.int64)


def edge_rr(n, features=3, bits=4):
    """RR codes for :func:`edge_beats`: all zero, all maximum, then every code in turn."""
    import numpy as np
    top = (1 << bits) - 1
    rows = [[0] * features, [top] * features] + [[(k + f) % (top + 1) for f in range(features)]
                                                 for k in range(max(0, n - 2))]
    return np.asarray(rows[:n], dtype=np.int64)


def make_vectors(model, raws, *, parallel=1, records=None, samples=None, prefix="", accel=None,
                 batch=2048, layers=True, rr=None):
    """Expected values of ``raws`` (N, L) for ``model`` as a dict of numpy arrays (see module doc).
    ``rr``: the (N, 3) RR codes of the beats, for a model with an RR path.

    ``layers=False`` leaves out the per-layer maps (the testbench then checks only logits, class
    and cycles).

    ``accel`` (an ``Accelerator``) gives the result/tap field widths and the analytical cycles;
    one is built for ``parallel`` if not given. Imports torch (golden) and amaranth (hw)."""
    import numpy as np
    import torch

    from ternecg.golden import integer_ref
    from ternecg.hw.top import Accelerator

    if accel is None:
        accel = Accelerator(model, parallel, debug=True)
    raws = np.asarray(raws, dtype=np.int64)
    n = len(raws)
    nl = len(model.layers) - 1
    out = {f"{prefix}raw": raws,
           f"{prefix}record": np.asarray(records if records is not None else [-1] * n, dtype=np.int64),
           f"{prefix}sample": np.asarray(samples if samples is not None else [-1] * n, dtype=np.int64)}
    layers = [[] for _ in range(nl)]
    logits, cls, cyc = [], [], []
    channels = lengths = None
    if model.cfg.rr_bits:
        if rr is None:
            from ternecg.errors import TernEcgError
            raise TernEcgError(f"model {model.cfg.name!r} has an RR path: pass the beats' RR codes (rr=)")
        rr = np.asarray(rr, dtype=np.int64)
        out[f"{prefix}rr"] = pack_rr(rr, model.cfg.rr_bits)
    for lo in range(0, n, batch):
        tr = integer_ref.forward(model, torch.as_tensor(raws[lo:lo + batch]),
                                 None if rr is None else torch.as_tensor(rr[lo:lo + batch]))
        channels = [int(tr.layers[li].shape[1]) for li in range(nl)]
        lengths = [int(tr.layers[li].shape[2]) for li in range(nl)]
        for li in range(nl):
            layers[li].append(tr.layers[li].flatten(1).numpy().astype(np.int8))
        logits.append(tr.logits.numpy().astype(np.int64))
        cls.append(tr.cls.numpy().astype(np.int64))
        sel = {li: v["select"].numpy() for li, v in tr.mux.items()}
        for b in range(len(tr.cls)):
            cyc.append(accel.engine_cycles({li: s[b].tolist() for li, s in sel.items()}))
    for li in range(nl if layers else 0):
        out[f"{prefix}layer{li}"] = np.concatenate(layers[li]) if n else np.zeros((0, 0), np.int8)
    out[f"{prefix}logits"] = np.concatenate(logits) if n else np.zeros((0, 0), np.int64)
    out[f"{prefix}cls"] = np.concatenate(cls) if n else np.zeros(0, np.int64)
    out[f"{prefix}cycles"] = np.asarray(cyc, dtype=np.int64)
    rl = accel.result_layout
    dbg = accel.signature.members["dbg"] if "dbg" in accel.signature.members else None
    tl = dbg.signature.payload_shape if dbg is not None else None
    out["layer_channels"] = np.asarray(channels or [], dtype=np.int64)
    out["layer_lengths"] = np.asarray(lengths or [], dtype=np.int64)
    out["fields"] = np.asarray([rl["cls"].width, rl["logits"].shape.elem_shape.width,
                                rl["logits"].shape.length, rl["cycles"].width,
                                *_tap_fields(tl)], dtype=np.int64)
    return out


def _tap_fields(tl):
    """(layer, addr, data bits, streams) of the debug tap: one write per cycle (streams 0), or
    ``{layer, en[R], addr[R], data[R]}``, up to R writes per cycle (hw/engine.py)."""
    if tl is None:
        return (0, 0, 0, 0)
    names = [name for name, _ in tl]
    if "en" not in names:
        return (tl["layer"].width, tl["addr"].width, tl["data"].width, 0)
    r = tl["en"].width
    return (tl["layer"].width, tl["addr"].width // r, tl["data"].width // r, r)


# --------------------------------------------------------------------------------------------
# simulator side
# --------------------------------------------------------------------------------------------

@dataclass
class Expected:
    """One vector set (a view of :func:`make_vectors`' arrays), optionally a window of beats."""
    raw: object
    record: object
    sample: object
    layers: list            # per hidden layer (N, C*L)
    logits: object
    cls: object
    cycles: object
    channels: list
    lengths: list
    fields: dict
    rr: object = None       # (N,) packed RR codes (a model with an RR path), else None

    @classmethod
    def from_vectors(cls, v, prefix="", first=0, count=None):
        nl = len(v["layer_lengths"])
        end = None if count is None else first + int(count)
        sl = slice(int(first), end)
        return cls(raw=v[f"{prefix}raw"][sl], record=v[f"{prefix}record"][sl],
                   sample=v[f"{prefix}sample"][sl],
                   layers=[v[f"{prefix}layer{li}"][sl] for li in range(nl)
                           if f"{prefix}layer{li}" in v],
                   logits=v[f"{prefix}logits"][sl], cls=v[f"{prefix}cls"][sl],
                   cycles=v[f"{prefix}cycles"][sl], channels=[int(c) for c in v["layer_channels"]],
                   lengths=[int(x) for x in v["layer_lengths"]],
                   fields=dict(zip(FIELDS, (int(x) for x in v["fields"]))),
                   rr=v[f"{prefix}rr"][sl] if f"{prefix}rr" in v else None)

    def __len__(self):
        return len(self.raw)

    def window(self, first, count=None):
        end = len(self) if count is None else first + count
        sl = slice(first, end)
        return Expected(self.raw[sl], self.record[sl], self.sample[sl],
                        [x[sl] for x in self.layers], self.logits[sl], self.cls[sl],
                        self.cycles[sl], self.channels, self.lengths, self.fields,
                        None if self.rr is None else self.rr[sl])

    def samples_flat(self):
        """The ``i`` payloads of the beats: each raw sample, bit 11 (``last``) set on a beat's final one."""
        length = self.raw.shape[1] if len(self.raw) else 0
        return [int(x) | (int(t == length - 1) << 11) for row in self.raw for t, x in enumerate(row)]


@dataclass
class Mismatch:
    beat: int                 # index in the vector window
    record: int
    sample: int
    what: str                 # "layer", "logits", "class", "cycles"
    detail: str

    def __str__(self):
        return (f"beat {self.beat} (record {self.record}, R peak at sample {self.sample}): "
                f"{self.detail}")


@dataclass
class BeatResult:
    cls: int
    logits: list
    cycles: int
    writes: dict = field(default_factory=dict)     # key (layer | addr << lb) -> data
    err: int = 0                                    # the beat was dropped (not input_length samples)


def compare_beat(exp: Expected, k: int, res: BeatResult, cycles_mode="exact", layers=True) -> list:
    """Mismatches of beat ``k`` (first differing hidden layer/channel/position first, then logits,
    class, cycles). ``cycles_mode``: "exact", "min" (measured >= analytical) or "off"."""
    f = exp.fields
    lb = f["tap_layer_bits"]
    lmask = (1 << lb) - 1
    out = []
    rec, smp = int(exp.record[k]), int(exp.sample[k])
    maps = [dict() for _ in exp.lengths]
    stray = []
    for key, data in res.writes.items():
        li, addr = key & lmask, key >> lb
        if li < len(maps):
            maps[li][addr] = data
        else:
            stray.append((li, addr, data))
    for li, want_row in enumerate(exp.layers if layers else []):
        got = maps[li]
        length = exp.lengths[li]
        want = want_row[k]
        size = len(want)
        bad = [a for a in got if a >= size]
        first = None
        for a in range(size):
            g = got.get(a)
            if g is None or g != int(want[a]):
                first = a
                break
        if first is not None:
            g = got.get(first)
            nbad = sum(1 for a in range(size) if got.get(a) != int(want[a]))
            out.append(Mismatch(k, rec, smp, "layer", (
                f"layer {li} channel {first // length} position {first % length}: hardware "
                f"{'never written' if g is None else g} != golden {int(want[first])} "
                f"({nbad} of {size} values of layer {li} differ)")))
            break
        if bad:
            out.append(Mismatch(k, rec, smp, "layer", f"layer {li}: writes to addresses {bad[:5]} "
                                f"beyond its {size} values"))
            break
    if layers and stray and not out:
        out.append(Mismatch(k, rec, smp, "layer", f"tap writes to unknown layers: {stray[:5]}"))
    if res.err:
        return out + [Mismatch(k, rec, smp, "err", "an error result (err = 1: the core dropped the beat "
                                                   "as not input_length samples long)")]
    want_logits = [int(x) for x in exp.logits[k]]
    if res.logits != want_logits:
        out.append(Mismatch(k, rec, smp, "logits", f"logits {res.logits} != golden {want_logits}"))
    if res.cls != int(exp.cls[k]):
        out.append(Mismatch(k, rec, smp, "class", f"class {res.cls} != golden {int(exp.cls[k])}"))
    want_c = int(exp.cycles[k])
    if cycles_mode == "exact" and res.cycles != want_c:
        out.append(Mismatch(k, rec, smp, "cycles", f"cycles {res.cycles} != analytical {want_c}"))
    elif cycles_mode == "min" and res.cycles < want_c:
        out.append(Mismatch(k, rec, smp, "cycles", f"cycles {res.cycles} < analytical {want_c} "
                            f"(back-pressure can only add cycles)"))
    return out


def decode_result(bits: int, fields: dict) -> BeatResult:
    """The accelerator's flat result payload ``{cls, logits[n], cycles, err}`` (LSB first) as a
    :class:`BeatResult`; ``fields`` are :attr:`Expected.fields` (``err`` is the one bit after
    ``cycles``)."""
    pos = 0

    def take(w):
        nonlocal pos
        v = (bits >> pos) & ((1 << w) - 1)
        pos += w
        return v
    cls = take(fields["cls_bits"])
    logits = [to_signed(take(fields["logit_bits"]), fields["logit_bits"])
              for _ in range(fields["n_classes"])]
    cycles = take(fields["cycles_bits"])
    return BeatResult(cls, logits, cycles, err=take(1))


class ResultSink(StreamSink):
    """:class:`StreamSink` for sparse results: while ``valid`` is low it sleeps on its rising edge;
    while it is high, ``ready`` follows the back-pressure pattern cycle by cycle and the stream
    protocol is checked (valid and payload held while stalled)."""

    def __init__(self, *args, on_item=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.on_item = on_item

    async def _run(self):
        rule = self.rule
        self.ready.value = int(next(self.backpressure))
        while True:
            await ReadOnly()
            valid = read_bit(self.valid)
            now = self._now()
            ready = read_bit(self.ready)
            bits = read_word(self.payload) if valid else None
            rule.cycle(valid, ready, bits, now)
            if not valid:
                await RisingEdge(self.valid)
                self.ready.value = int(next(self.backpressure))
                continue
            if self.first_valid is None:
                self.first_valid = now
            if ready:
                self.received.append(now)
                item = self.decode(bits)
                self.items.append(item)
                if self.on_item is not None:
                    self.on_item(item)
            await RisingEdge(self.clk)
            self.ready.value = int(next(self.backpressure))

    def start(self):
        self._task = cocotb.start_soon(self._run())
        return self._task


class NetworkTB(TB):
    """Clock, reset, raw-sample source, result sink and tap monitor of the accelerator top.

    ::

        tb = NetworkTB(dut, Expected.from_vectors(load_vectors()))
        await tb.start()
        mismatches = await tb.run_beats(tb.exp)        # stream, collect, compare
        tb.check(mismatches)

    ``idle``/``backpressure``/``cycles_mode``/``tap`` default to the bench config
    (:class:`NetworkBenchConfig`); cycles are compared exactly unless the config says otherwise.
    """

    def __init__(self, dut, exp: Expected, *, idle=None, backpressure=None, seed=None,
                 cycles_mode=None, period_ns=10, tap=None):
        super().__init__(dut, seed=seed, period_ns=period_ns)
        cfg = config(NetworkBenchConfig, strict=False)
        self.exp = exp
        self.idle = cfg.idle if idle is None else idle
        self.backpressure = cfg.backpressure if backpressure is None else backpressure
        if cycles_mode is None:
            cycles_mode = cfg.cycles
        if cycles_mode is None:
            cycles_mode = "exact"
        self.cycles_mode = cycles_mode
        # the tap monitor costs one Python callback per feature-bank write (~5000 per beat); without
        # expected layer maps (or with tap=False) it is not started and only results are checked
        if tap is None:
            tap = bool(cfg.tap) and bool(exp.layers)
        self.tap = tap
        f = exp.fields
        self._lb, self._ab = f["tap_layer_bits"], f["tap_addr_bits"]
        self._key_mask = (1 << (self._lb + self._ab)) - 1
        self._streams = f.get("tap_streams", 0)
        self._db = f["tap_data_bits"]
        self._src = StreamSource(dut, "i", idle=self.idle, seed=self._seed("i", None), clk=self.clk,
                                 now=self._now, wake_on_ready=True)
        self._snk = None
        self.sources["i"] = self._src
        # a model with an RR path: one word of RR codes per beat on ``rr``, same idle pattern
        self._rr_src = None
        if hasattr(dut, "rr__valid"):
            self._rr_src = StreamSource(dut, "rr", idle=self.idle, seed=self._seed("rr", None),
                                        clk=self.clk, now=self._now, wake_on_ready=True)
            self.sources["rr"] = self._rr_src
        self._rr_sender = None
        self.dbg_valid = dut.dbg__valid
        self.dbg_payload = dut.dbg__payload
        # per beat since the last clear: tap writes; results as they arrive
        self.beats: list[dict] = []
        self._prev_layer = None
        self.results: list[BeatResult] = []
        self._result_event = Event()
        self._tasks = []
        self._sender = None
        self._cur_exp = None
        self.mismatches: list[Mismatch] = []
        self.keep_writes = False
        self.progress = None            # callable(n results) every 10 results
        self.tap_writes = 0

    # --- time ------------------------------------------------------------------------------
    def _now(self):
        from cocotb.utils import get_sim_time
        return int(get_sim_time("ns") // self.period_ns)

    async def _count(self):                 # no per-cycle Python: cycles come from sim time
        return

    @property
    def now(self):
        return self._now()

    # --- result decoding -------------------------------------------------------------------
    def decode_result(self, bits) -> BeatResult:
        return decode_result(bits, self.exp.fields)

    def _on_result(self, res: BeatResult):
        k = len(self.results)
        res.writes = self.beats[k] if k < len(self.beats) else {}
        if k < len(self.beats):
            self.beats[k] = None            # free the writes list, keep the indices
        exp = self._cur_exp
        if exp is not None and k < len(exp):
            self.mismatches.extend(compare_beat(exp, k, res, self.cycles_mode, self.tap))
        if not self.keep_writes:
            res.writes = None
        self.results.append(res)
        if self.progress is not None and (len(self.results) % 10 == 0):
            self.progress(len(self.results))
        self._result_event.set()

    # --- monitor ---------------------------------------------------------------------------
    async def _monitor(self):
        valid, payload, clk = self.dbg_valid, self.dbg_payload, self.clk
        lb_mask = (1 << self._lb) - 1
        key_mask, kb = self._key_mask, self._lb + self._ab
        streams = self._streams
        a_mask, d_mask = (1 << self._ab) - 1, (1 << self._db) - 1
        while True:
            await FallingEdge(clk)
            if not valid.value:
                await RisingEdge(valid)
                continue
            bits = payload.value.to_unsigned()
            layer = bits & lb_mask
            if self._prev_layer is None or layer < self._prev_layer:
                self.beats.append({})
            self._prev_layer = layer
            if not streams:
                self.beats[-1][bits & key_mask] = bits >> kb
                self.tap_writes += 1
                continue
            en = (bits >> self._lb) & ((1 << streams) - 1)
            addrs = bits >> (self._lb + streams)
            datas = addrs >> (streams * self._ab)
            for r in range(streams):
                if en >> r & 1:
                    addr = (addrs >> (r * self._ab)) & a_mask
                    self.beats[-1][layer | addr << self._lb] = (datas >> (r * self._db)) & d_mask
                    self.tap_writes += 1

    # --- control ---------------------------------------------------------------------------
    async def start(self, reset_cycles=2):
        await super().start(reset_cycles)
        self._start_tasks()

    def _start_tasks(self):
        self._snk = ResultSink(self.dut, "o", backpressure=self.backpressure,
                               seed=self._seed("o", None) + len(self._tasks), clk=self.clk,
                               now=self._now, on_item=None)
        self._snk.decode = self.decode_result
        self._snk.on_item = self._on_result
        self.sinks["o"] = self._snk
        self._tasks = [self._snk.start()]
        if self.tap:
            self._tasks.append(cocotb.start_soon(self._monitor()))

    def clear(self, exp: Expected = None):
        """Forget collected writes, results and mismatches; compare results with ``exp`` from now."""
        self.beats = []
        self._prev_layer = None
        self.results = []
        self.mismatches = []
        self._cur_exp = exp
        self._result_event.clear()

    async def reset(self, cycles=2):
        """Reset mid-anything: stop the sender, the sink and the monitor, hold ``rst``, clear the
        collected state, restart the sink and the monitor."""
        for name in ("_sender", "_rr_sender"):
            task = getattr(self, name, None)
            if task is not None and not task.done():
                task.cancel()
            setattr(self, name, None)
        for t in getattr(self, "_tasks", []):
            t.cancel()
        self._tasks = []
        await super().reset(cycles)
        if self._snk is not None:          # not the initial reset in start()
            self.clear()
            self._start_tasks()

    def send(self, exp: Expected = None, samples=None, rr=None):
        """Start streaming the raw samples of ``exp`` (or ``samples``) and, for a model with an RR
        path, its RR words (or ``rr``); returns the samples' task."""
        exp = exp or self.exp
        flat = samples if samples is not None else exp.samples_flat()
        self._sender = cocotb.start_soon(self._src.send(flat))
        if self._rr_src is not None:
            words = rr if rr is not None else exp.rr
            assert words is not None, "the design has an rr stream but the vectors hold no RR codes"
            self._rr_sender = cocotb.start_soon(self._rr_src.send([int(w) for w in words]))
        return self._sender

    async def wait_results(self, n, *, timeout_cycles=None):
        """Wait until ``n`` results have arrived (since the last clear)."""
        if timeout_cycles is None:
            timeout_cycles = 4 * max([int(c) for c in self.exp.cycles] or [100_000]) + 10_000
        while len(self.results) < n:
            have = len(self.results)
            self._result_event.clear()
            try:
                await with_timeout(self._result_event.wait(), timeout_cycles * self.period_ns, "ns")
            except Exception as exc:        # cocotb SimTimeoutError
                if type(exc).__name__ != "SimTimeoutError":
                    raise
                raise AssertionError(f"no result for {timeout_cycles} cycles after {have} of {n} "
                                     f"beats (cycle {self.now})") from None
        await self.writable()

    async def writable(self):
        """Leave the ReadOnly phase (results arrive there) so the caller may drive signals."""
        if isinstance(current_gpi_trigger(), ReadOnly):
            await RisingEdge(self.clk)

    async def run_beats(self, exp: Expected = None, *, timeout_cycles=None):
        """Stream every beat of ``exp``, wait for all results, return the list of mismatches."""
        exp = exp or self.exp
        self.clear(exp)
        sender = self.send(exp)
        await self.wait_results(len(exp), timeout_cycles=timeout_cycles)
        await sender
        return list(self.mismatches)

    def check(self, mismatches, what="beats", limit=10):
        if mismatches:
            beats = sorted({m.beat for m in mismatches})
            lines = "\n  ".join(str(m) for m in mismatches[:limit])
            raise AssertionError(f"{len(beats)} {what} mismatch (first: beat {beats[0]}):\n  {lines}")

    async def idle_cycles(self, n):
        await Timer(n * self.period_ns, "ns")


__all__ += ["BeatResult", "compare_beat", "ResultSink"]
