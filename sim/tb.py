"""Reusable cocotb testbench helpers for Amaranth-generated designs with ``lib.stream`` ports.

Conventions (see :mod:`ternecg.hw.verilog` for the port naming): a stream member ``i`` is the
ports ``i__valid``, ``i__ready``, ``i__payload``; the clock is ``clk`` and the synchronous,
active-high reset is ``rst``.

Cycle model: cycle ``c`` is the interval after the ``c``-th rising edge of ``clk`` (counted from
:meth:`TB.start`). Drivers change inputs right after a rising edge and sample in the
``ReadOnly`` phase of the same time step, so a handshake *in cycle c* (``valid & ready`` seen
there) transfers at edge ``c + 1``. :attr:`StreamSource.accepted` and
:attr:`StreamSink.received` record those cycle numbers, so latencies can be measured exactly as
"first output cycle - last input cycle" (the same convention as the Amaranth-simulator tests).

Run-time options reach the bench as one object, so one compiled model serves a whole test
matrix: the pytest side passes a dataclass (:class:`BenchConfig` or a bench's subclass of it) as
``config=`` to :meth:`ternecg.sim.runner.Build.run`, which writes it as JSON and names the file in
the only environment variable, ``TERNECG_SIM_CONFIG``; the bench reads it back with
:func:`config`. The fields every stream bench shares:

* ``idle``: default idle pattern of every :class:`StreamSource` (a :data:`PATTERNS` name),
* ``backpressure``: default ready pattern of every :class:`StreamSink`,
* ``seed``: base seed (each stream gets its own seed derived from it and its prefix),
* ``vectors``: path of a vectors .npz (:func:`vectors`); avoid importing torch (the golden
  model) inside the simulator, it costs seconds per run.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import random
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import First, ReadOnly, RisingEdge

__all__ = ["PATTERNS", "pattern", "BenchConfig", "config", "load_vectors", "vectors", "to_signed",
           "to_unsigned", "pack", "unpack", "read_bit", "read_word", "StreamRule", "StreamMonitor",
           "StreamSource", "StreamSink", "TB"]

#: the environment variable that names a bench's JSON config (same as ``runner.CONFIG_ENV``;
#: this module must not import the runner, the simulator process does not need it)
CONFIG_ENV = "TERNECG_SIM_CONFIG"


@dataclass(frozen=True)
class BenchConfig:
    """Options every stream bench understands; a bench with more options subclasses it.

    Parameters
    ----------
    vectors : str or None
        The .npz of expected values (:func:`ternecg.sim.runner.write_vectors`).
    idle : str
        Default idle pattern of the sources (a :data:`PATTERNS` name).
    backpressure : str
        Default ready pattern of the sinks.
    seed : int
        Base seed of the random patterns.
    """
    vectors: str | None = None
    idle: str = "none"
    backpressure: str = "none"
    seed: int = 0


_CONFIG = None


def _raw_config() -> dict:
    global _CONFIG
    if _CONFIG is None:
        path = os.environ.get(CONFIG_ENV)
        if path:
            with open(path) as f:
                _CONFIG = json.load(f)
        else:
            _CONFIG = {}
    return _CONFIG


def config(cls=BenchConfig, *, strict=True):
    """This bench's options as a ``cls`` instance (a :class:`BenchConfig` dataclass), read once
    per simulator process from the JSON file named by ``$TERNECG_SIM_CONFIG``; defaults when it is
    not set. ``strict``: a key that ``cls`` does not have is an error (a misspelt option would
    otherwise be ignored); ``strict=False`` takes only ``cls``'s fields (e.g. :class:`TB` reads
    the shared ones from a bench's larger config)."""
    raw = _raw_config()
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if strict and unknown:
        raise TypeError(f"{cls.__name__} has no option(s) {', '.join(unknown)} "
                        f"(known: {', '.join(sorted(names))})")
    return cls(**{k: v for k, v in raw.items() if k in names})


def _random_pattern(seed, p_one=0.7):
    rng = random.Random(seed)
    while True:
        yield int(rng.random() < p_one)


#: Named per-cycle 0/1 patterns; each entry is a factory ``f(seed) -> iterator``. For a source a
#: 0 is an idle cycle (``valid`` low before the next item), for a sink a cycle with ``ready`` low.
PATTERNS = {
    "none": lambda seed=0: itertools.repeat(1),
    "fixed": lambda seed=0: itertools.cycle([1, 1, 1, 0]),
    "random": lambda seed=0: _random_pattern(seed, 0.7),
}


def pattern(spec=None, seed=0) -> Iterator[int]:
    """An iterator of 0/1 from a :data:`PATTERNS` name, a ``random.Random``, or any iterable."""
    if spec is None:
        spec = "none"
    if isinstance(spec, str):
        try:
            return PATTERNS[spec](seed)
        except KeyError:
            raise ValueError(f"unknown pattern {spec!r}; known: {', '.join(PATTERNS)}") from None
    if isinstance(spec, random.Random):
        rng = spec
        return (int(rng.random() < 0.7) for _ in itertools.count())
    if isinstance(spec, Iterable):
        return iter(spec)
    raise TypeError(f"pattern must be a name, random.Random or iterable of 0/1, not {spec!r}")


def load_vectors(path=None):
    """The arrays saved by :func:`ternecg.sim.runner.write_vectors` at ``path`` (default: the
    config's ``vectors``) as a dict of numpy arrays, or None when there is none."""
    path = path or _raw_config().get("vectors")
    if not path:
        return None
    import numpy as np
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


_VECTORS = {}


def vectors():
    """The config's vectors, read once per simulator process; fails when there are none."""
    if "v" not in _VECTORS:
        v = load_vectors()
        assert v is not None, ("the bench config names no vectors: run this cocotb module "
                               "through its pytest wrapper or ternecg.sim.verify")
        _VECTORS["v"] = v
    return _VECTORS["v"]


def to_signed(value: int, width: int) -> int:
    """Two's complement interpretation of the low ``width`` bits of ``value``."""
    value &= (1 << width) - 1
    return value - (1 << width) if width and value >> (width - 1) else value


def to_unsigned(value: int, width: int) -> int:
    """``value`` (possibly negative) as ``width`` bits."""
    if not -(1 << width) <= value < (1 << width):
        raise ValueError(f"{value} does not fit in {width} bits")
    return value & ((1 << width) - 1)


def unpack(shape, bits: int):
    """Decode a flat payload: ints for plain shapes, dicts for struct layouts, lists for arrays.

    ``shape`` is the Amaranth shape of the payload (``signed(8)``, ``data.StructLayout(...)``,
    ...); fields are packed LSB-first in layout order, as Amaranth emits them.
    """
    from amaranth.hdl import Shape
    from amaranth.lib import data
    if isinstance(shape, data.Layout):
        fields = {key: unpack(f.shape, (bits >> f.offset) & ((1 << f.width) - 1))
                  for key, f in shape}
        if isinstance(shape, data.ArrayLayout):
            return [fields[k] for k in range(shape.length)]
        return fields
    s = Shape.cast(shape)
    return to_signed(bits, s.width) if s.signed else bits & ((1 << s.width) - 1)


def pack(shape, value) -> int:
    """Inverse of :func:`unpack`: a dict / list / int to the flat payload bits."""
    from amaranth.hdl import Shape
    from amaranth.lib import data
    if isinstance(shape, data.Layout):
        items = enumerate(value) if isinstance(shape, data.ArrayLayout) else value.items()
        bits = 0
        for key, v in items:
            f = shape[key]
            bits |= pack(f.shape, v) << f.offset
        return bits
    s = Shape.cast(shape)
    return to_unsigned(int(value), s.width)


def read_bit(handle) -> int:
    """The value of a 1-bit port as 0/1; an ``AssertionError`` naming the port when it is X/Z."""
    v = handle.value
    try:
        return int(v)
    except ValueError:
        raise AssertionError(f"{handle._name} is {v} (not 0/1)") from None


def read_word(handle) -> int:
    """The unsigned value of a port; an ``AssertionError`` naming the port when a bit is X/Z."""
    v = handle.value
    if not hasattr(v, "to_unsigned"):               # a 1-bit port is a scalar Logic
        return read_bit(handle)
    if not v.is_resolvable:
        raise AssertionError(f"{handle._name} is {v} (has X/Z bits)")
    return v.to_unsigned()


class StreamRule:
    """The stream rule of one stream over consecutive cycles, the project's one definition of it
    for cocotb (tests/hw/streams.py is the same for Amaranth's simulator): once ``valid`` is high
    it stays high, with every payload bit unchanged, until the transfer (``valid & ready`` in a
    cycle). :class:`StreamSink`, the network bench's result sink and :class:`StreamMonitor` all
    check through it.

    Call :meth:`cycle` once per clock cycle (or once for a run of identical cycles) with what the
    stream showed in it; it raises ``AssertionError`` naming the stream, the cycle and the bits.
    """

    def __init__(self, prefix):
        self.prefix = prefix
        self.held = None            # payload bits of a transfer pending since the last cycle
        self.pending = 0            # cycles with a pending transfer
        self.transfers = 0

    def cycle(self, valid, ready, bits=None, now=None):
        """``valid``, ``ready`` and (when valid) the payload ``bits`` of one cycle."""
        if self.held is not None:
            assert valid, f"{self.prefix}: valid dropped in cycle {now} while a transfer was pending"
            assert bits == self.held, (f"{self.prefix}: payload changed in cycle {now} while a transfer "
                                       f"was pending ({self.held:#x} -> {bits:#x})")
        if valid and not ready:
            self.pending += 1
            self.held = bits
        else:
            self.held = None
            self.transfers += bool(valid)


class StreamMonitor:
    """Checks :class:`StreamRule` on a stream of the DUT (``<prefix>__valid``, ``__ready``,
    ``__payload``) without driving anything: for streams whose sink is not a :class:`StreamSink`
    (a DUT-internal consumer, a bench's own loop). It samples in the ``ReadOnly`` phase of every
    cycle while ``valid`` is high, sleeps while it is low, and sleeps through a hold (a pending
    transfer) until ``valid``, ``ready`` or the payload change, so a hold of any length costs one
    wake-up. ``start()`` runs it in the background; a violation fails the test (and stays in
    :attr:`error`; with ``fail=False`` it is only recorded there and the monitor stops: for the
    monitor's own tests)."""

    def __init__(self, dut, prefix, *, clk=None, now=None, fail=True):
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.payload = getattr(dut, f"{prefix}__payload")
        self.clk = clk if clk is not None else dut.clk
        self.rule = StreamRule(prefix)
        self._now = now or (lambda: None)
        self.error = None
        self._fail = fail
        self._task = None

    async def _run(self):
        rule = self.rule
        while True:
            await ReadOnly()
            v = read_bit(self.valid)
            if not v and rule.held is None:
                await RisingEdge(self.valid)                 # idle: sleep until valid rises
                continue
            r = read_bit(self.ready)
            try:
                rule.cycle(v, r, read_word(self.payload) if v else None, self._now())
            except AssertionError as exc:
                self.error = exc
                if self._fail:
                    raise
                return
            if rule.held is not None:                        # a hold: nothing moves, no wake-up
                await First(self.valid.value_change, self.ready.value_change,
                            self.payload.value_change)
                continue
            await RisingEdge(self.clk)

    def start(self):
        self._task = cocotb.start_soon(self._run())
        return self._task

    def stop(self):
        if self._task is not None:
            self._task.cancel()
            self._task = None


class _Stream:
    def __init__(self, dut, prefix, *, clk=None, shape=None, signed=False, now=None):
        try:
            self.valid = getattr(dut, f"{prefix}__valid")
            self.ready = getattr(dut, f"{prefix}__ready")
            self.payload = getattr(dut, f"{prefix}__payload")
        except AttributeError as exc:
            raise AttributeError(f"{dut._name} has no stream {prefix!r} (ports {prefix}__valid, "
                                 f"{prefix}__ready, {prefix}__payload): {exc}") from None
        self.prefix = prefix
        self.clk = clk if clk is not None else dut.clk
        try:
            self.width = len(self.payload)
        except TypeError:                               # scalar (1-bit) port
            self.width = 1
        self.shape = shape
        self.signed = signed
        self._now = now or (lambda: None)

    def decode(self, bits: int):
        if self.shape is not None:
            return unpack(self.shape, bits)
        return to_signed(bits, self.width) if self.signed else bits

    def encode(self, value) -> int:
        if self.shape is not None:
            return pack(self.shape, value)
        return to_unsigned(int(value), self.width)


class StreamSource(_Stream):
    """Drives ``<prefix>__valid``/``__payload`` of an input stream, honouring ``__ready``.

    ``idle`` (pattern spec, see :func:`pattern`): before each item the pattern is advanced until it
    yields 1, each 0 being one cycle with ``valid`` low. Once ``valid`` is high the payload is
    held until accepted. Values are ints (``shape=`` for struct payloads: dicts/lists).

    :attr:`accepted` lists the cycle of every handshake. ``wake_on_ready=True`` sleeps until
    ``ready`` rises while the DUT stalls instead of waking every clock (much faster for long
    stalls, same handshakes).
    """

    def __init__(self, dut, prefix, *, idle=None, seed=0, clk=None, shape=None, signed=False,
                 now=None, wake_on_ready=False):
        super().__init__(dut, prefix, clk=clk, shape=shape, signed=signed, now=now)
        self.idle = pattern(idle, seed)
        self.wake_on_ready = wake_on_ready
        self.accepted: list = []
        self.valid.value = 0

    async def send(self, values):
        """Send every value; returns after the last one is accepted (right after that edge)."""
        for value in values:
            while not next(self.idle):
                self.valid.value = 0
                await RisingEdge(self.clk)
            self.valid.value = 1
            self.payload.value = self.encode(value)
            while True:
                await ReadOnly()
                if read_bit(self.ready):
                    self.accepted.append(self._now())
                    await RisingEdge(self.clk)
                    break
                await (RisingEdge(self.ready) if self.wake_on_ready else RisingEdge(self.clk))
        self.valid.value = 0


class StreamSink(_Stream):
    """Drives ``<prefix>__ready`` of an output stream with a back-pressure pattern and collects
    payloads, checking the stream rule (:class:`StreamRule`): while ``valid & ~ready`` the next
    cycle must still have ``valid`` high and the same payload.

    ``signed=True`` returns payloads as signed ints; ``shape=`` decodes with :func:`unpack`.
    :attr:`received` lists the cycle of every handshake; :attr:`items` every decoded payload.
    """

    def __init__(self, dut, prefix, *, backpressure=None, seed=0, clk=None, shape=None,
                 signed=False, now=None):
        super().__init__(dut, prefix, clk=clk, shape=shape, signed=signed, now=now)
        self.backpressure = pattern(backpressure, seed)
        self.received: list = []
        self.items: list = []
        self.first_valid = None          # cycle in which valid was first seen high
        self.rule = StreamRule(prefix)
        self._task = None
        self.ready.value = 0

    async def _cycle(self):
        """One clock cycle of the sink; returns the decoded payload if a transfer happened."""
        ready = int(next(self.backpressure))
        self.ready.value = ready
        await ReadOnly()
        valid = read_bit(self.valid)
        now = self._now()
        bits = read_word(self.payload) if valid else None
        self.rule.cycle(valid, ready, bits, now)
        item = None
        if valid:
            if self.first_valid is None:
                self.first_valid = now
            if ready:
                item = self.decode(bits)
                self.received.append(now)
                self.items.append(item)
        await RisingEdge(self.clk)
        return valid and ready, item

    async def recv(self, n: int, *, timeout_cycles: int = 10_000) -> list:
        """Receive ``n`` payloads; fails if ``timeout_cycles`` pass without a transfer."""
        if self._task is not None:
            raise RuntimeError(f"{self.prefix}: recv() while collecting in the background")
        out = []
        quiet = 0
        while len(out) < n:
            took, item = await self._cycle()
            if took:
                out.append(item)
                quiet = 0
            else:
                quiet += 1
                if quiet > timeout_cycles:
                    raise AssertionError(f"{self.prefix}: no transfer for {timeout_cycles} "
                                         f"cycles after {len(out)} of {n} items")
        self.ready.value = 0
        return out

    def start(self):
        """Collect in the background forever (e.g. debug streams) into :attr:`items`."""
        async def loop():
            while True:
                await self._cycle()
        self._task = cocotb.start_soon(loop())
        return self._task

    def stop(self):
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.ready.value = 0


class TB:
    """Base testbench: clock, reset, cycle counter, and the stream sources/sinks of one DUT.

    ::

        tb = TB(dut)
        src, snk = tb.source("i"), tb.sink("o", signed=True)
        await tb.start()
        cocotb.start_soon(src.send(samples))
        out = await snk.recv(len(samples))

    Sources/sinks default to the config's ``idle`` / ``backpressure`` patterns and a seed derived
    from its ``seed`` and their prefix (:func:`config`).
    """

    def __init__(self, dut, *, clk="clk", rst="rst", period_ns=10, seed=None):
        self.dut = dut
        self.clk = getattr(dut, clk)
        self.rst = getattr(dut, rst)
        self.period_ns = period_ns
        self.config = config(BenchConfig, strict=False)
        self.seed = int(self.config.seed) if seed is None else int(seed)
        self.cycle = 0
        self.sources: dict[str, StreamSource] = {}
        self.sinks: dict[str, StreamSink] = {}
        self.monitors: dict[str, StreamMonitor] = {}
        self._clock = None

    def _seed(self, prefix, seed):
        return seed if seed is not None else self.seed * 1_000_003 + zlib.crc32(prefix.encode())

    def source(self, prefix, *, idle=None, seed=None, **kwargs) -> StreamSource:
        idle = self.config.idle if idle is None else idle
        src = StreamSource(self.dut, prefix, idle=idle, seed=self._seed(prefix, seed), clk=self.clk,
                           now=lambda: self.cycle, **kwargs)
        self.sources[prefix] = src
        return src

    def monitor(self, prefix, *, fail=True) -> StreamMonitor:
        """Check the stream rule on ``prefix`` (a :class:`StreamMonitor`, started now); for
        streams that no :meth:`sink` of this bench consumes."""
        mon = StreamMonitor(self.dut, prefix, clk=self.clk, now=lambda: self.cycle, fail=fail)
        self.monitors[prefix] = mon
        mon.start()
        return mon

    def sink(self, prefix, *, backpressure=None, seed=None, **kwargs) -> StreamSink:
        bp = self.config.backpressure if backpressure is None else backpressure
        snk = StreamSink(self.dut, prefix, backpressure=bp, seed=self._seed(prefix, seed),
                         clk=self.clk, now=lambda: self.cycle, **kwargs)
        self.sinks[prefix] = snk
        return snk

    async def _count(self):
        while True:
            await RisingEdge(self.clk)
            self.cycle += 1

    async def start(self, reset_cycles=2):
        """Start the clock and the cycle counter, then reset; returns right after a rising edge."""
        self.rst.value = 1
        self._clock = Clock(self.clk, self.period_ns, unit="ns")
        self._clock.start()
        cocotb.start_soon(self._count())
        await self.reset(reset_cycles)

    async def reset(self, cycles=2):
        """Hold ``rst`` for ``cycles`` rising edges with all streams idle; then release it."""
        self.rst.value = 1
        for src in self.sources.values():
            src.valid.value = 0
        for snk in self.sinks.values():
            snk.ready.value = 0
        for _ in range(cycles):
            await RisingEdge(self.clk)
        self.rst.value = 0

    async def cycles(self, n):
        for _ in range(n):
            await RisingEdge(self.clk)
