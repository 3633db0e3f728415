"""The streaming ternary grouped-conv engine: schedule sequencer, address generator, P add/sub lanes.

One beat at a time: the normalised input arrives on ``x`` into one half of bank 0 (the next beat
is loaded into the other half while the engine computes); then the engine runs the schedule
(hw/schedule.py) pass by pass. In a pass, every cycle issues one tap ``(t, c, j)``: input
position ``pos = stride*t - pad + j`` of input channel ``c`` of the pass's group (zero outside
``0 <= pos < lin``) is read once and broadcast to the P lanes; lane l adds it, subtracts it or
skips it according to its 2-bit weight code (no multipliers). After the last tap of position t the P
sums are latched and serialised, one per cycle, into the activation unit; its b-bit results go
through the MUX-skip unit into the output bank. The logits layer sends ``acc + bias`` to ``logits``.

Model values live only in the parameter ROMs (hw/params.py, :meth:`Engine.param_roms`): the weight
ROM, the activation unit's threshold ROM(s) and the parameter ROM ``params`` (model id, biases;
the bias of the next logit is read one cycle ahead, so it adds no cycle).

Pipeline: issue (bank + weight ROM addresses) -> lanes (read data valid) -> serializer ->
activation unit (``ActivationUnit.latency`` cycles) -> MUX-skip unit (1 cycle) -> bank write.
Passes are separated by a drain so the next layer reads only completed maps.
"""

from amaranth import Array, Cat, Module, Mux, signed, unsigned
from amaranth.hdl import MemoryData
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out, connect

from .activation import ActivationUnit
from .activation_serial import SerialActivationUnit
from .boot_reader import BootReader
from .checks import Checked
from .engine_layout import (addr_width, check_schedule, lane_width, logit_width, phase_descriptors,
                            phase_layout)
from .input_loader import InputLoader
from .issue_stage import IssueStage
from .lanes import Lanes
from .params import ID_WORDS, MIN_DEPTH, ROM_ATTRS
from .phase_table import PhaseTable
from .schedule import Schedule
from .sequencer import Sequencer
from .serializer import Serializer
from .tap import TapSignature
from .write_back import WriteBack

__all__ = ["Engine"]


class Engine(Checked, wiring.Component):
    """The conv engine: runs a compiled schedule on one beat at a time.

    The parts, each a component of its own (one file each), and the memories they share::

        x -> InputLoader -> bank 0 (two halves: the beat computed and the next one)
        Sequencer (phase table) -> IssueStage -> [banks, weight ROM] -> Lanes -> Serializer
        Serializer -> logits                        (logits pass; biases from the parameter ROM)
        Serializer -> WriteBack (activation, MUX-skip) -> banks 1, 2
        BootReader: model id from the parameter ROM after reset

    A transfer on ``x`` is one normalised sample; after ``input_length`` of them the beat is
    computed (``busy``), and its ``n_classes`` logits leave on ``logits``, one per transfer, in
    class order. ``x`` takes the next beat while one is computed (bank 0 holds two), so
    back-to-back beats start one after the other without a gap for loading. Cycles per beat:
    :func:`ternecg.hw.schedule.cycles` (exact, measured in simulation).

    Parameters
    ----------
    schedule : :class:`~ternecg.hw.schedule.Schedule`
        The compiled schedule of a model (``compile_schedule(model, parallel)``).

    Members
    -------
    x : ``In(stream.Signature(signed(8)))``
        Normalised input samples, ``input_length`` per beat.
    logits : ``Out(stream.Signature(signed(logit_width)))``
        The class logits of the beat, in class order.
    dbg : ``Out(TapSignature(dbg_layout))``
        Every feature-bank write ``{layer, addr, data}`` (a monitor tap, never back-pressured).
    busy : ``Out(1)``
        A beat is being computed.
    model_id : ``Out(32)``
        The model id from the parameter ROM (read in the first cycles after reset).

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    @staticmethod
    def _unit(s):
        # One lane: the area-optimised serial activation unit keeps up when every pass spends at
        # least (b + 1) cycles per result (it then needs fewer block RAMs and logic cells).
        serial = s.parallel == 1 and min(p.taps for p in s.passes) >= s.act_bits + 1
        return SerialActivationUnit if serial else ActivationUnit

    @staticmethod
    def _unit_args(s):
        return dict(acc_width=s.acc_width, act_bits=s.act_bits,
                    tag_width=lane_width(s) + addr_width(s))

    @classmethod
    def check_arguments(cls, schedule):
        check_schedule("Engine", schedule)
        cls._unit(schedule).check_arguments(schedule.thresholds, **cls._unit_args(schedule))

    def __init__(self, schedule: Schedule):
        self._s = s = schedule
        self._p = s.parallel
        self.phase_layout = phase_layout(s)
        self.addr_width = addr_width(s)
        self.logit_width = logit_width(s)
        self.dbg_layout = data.StructLayout({"layer": unsigned(s.field_widths()["layer"]),
                                             "addr": unsigned(self.addr_width),
                                             "data": unsigned(s.act_bits)})
        self.act_unit = self._unit(s)(s.thresholds, **self._unit_args(s))
        # the parameter ROMs (hw/params.py): every model value the engine uses is in one of them
        self.wrom_data = MemoryData(shape=unsigned(2 * self._p), depth=len(s.weights), init=s.weights)
        pw = max(self.logit_width, 16)
        pinit = [(s.model_id >> (16 * k)) & 0xFFFF for k in range(ID_WORDS)]
        pinit += [v & ((1 << self.logit_width) - 1) for v in (s.bias or [0])]
        self.params_data = MemoryData(shape=unsigned(pw), depth=max(MIN_DEPTH, len(pinit)), init=pinit)
        super().__init__({
            "x": In(stream.Signature(signed(8))),
            "logits": Out(stream.Signature(signed(self.logit_width))),
            "dbg": Out(TapSignature(self.dbg_layout)),
            "busy": Out(1),
            "model_id": Out(16 * ID_WORDS),
        })

    def param_roms(self):
        """``{name: MemoryData}`` of the engine's parameter ROMs (hw/params.py)."""
        roms = {"engine.weights": self.wrom_data, "engine.params": self.params_data}
        for i, md in enumerate(self.act_unit.rom_data):
            roms[f"engine.act.rom{i if len(self.act_unit.rom_data) > 1 else ''}"] = md
        return roms

    @property
    def act_latency(self):
        return self.act_unit.latency

    def elaborate(self, platform):
        m = Module()
        s = self._s
        lane_w = lane_width(s)

        # ---- memories: phase table, weight ROM, parameter ROM, feature banks -------------------
        m.submodules.phases = table = PhaseTable(self.phase_layout, phase_descriptors(s))
        cur = table.data
        m.submodules.wrom = wrom = memory.Memory(data=self.wrom_data, attrs=ROM_ATTRS)
        w_rp = wrom.read_port()
        # model id (words 0, 1) and biases (word ID_WORDS + class), read synchronously
        m.submodules.params = prom = memory.Memory(data=self.params_data, attrs=ROM_ATTRS)
        p_rp = prom.read_port()
        # bank 0 holds two beats (hw/input_loader.py): the one computed and the next one, loaded
        # meanwhile; banks 1 and 2 the hidden layers' maps
        m.submodules.loader = loader = InputLoader(s.input_length)
        banks = []
        for i, depth in enumerate(s.bank_depth):
            shape = signed(8) if i == 0 else unsigned(s.act_bits)
            mem = memory.Memory(shape=shape, depth=loader.depth if i == 0 else max(depth, 1), init=[])
            m.submodules[f"bank{i}"] = mem
            banks.append((mem.read_port(), mem.write_port()))

        # ---- the parts ---------------------------------------------------------------------------
        m.submodules.sequencer = seq = Sequencer(s)
        m.submodules.issue = issue = IssueStage(s)
        m.submodules.lanes = lanes = Lanes(s.parallel, s.acc_width,
                                           t_width=len(issue.o.payload.t))
        m.submodules.serializer = ser = Serializer(s)
        m.submodules.boot = boot = BootReader(ID_WORDS)
        m.submodules.writeback = wb = WriteBack(s, act_unit=self.act_unit)
        for part in (seq, issue, ser, wb):
            m.d.comb += part.phase.eq(cur)

        # input loader -> bank 0 (the next beat's half while the engine reads the current one's)
        connect(m, wiring.flipped(self.x), loader.x)
        m.d.comb += [banks[0][1].addr.eq(loader.wr.payload.addr), banks[0][1].data.eq(loader.wr.payload.data),
                     banks[0][1].en.eq(loader.wr.valid), loader.clear.eq(seq.done)]

        # sequencer
        m.d.comb += [table.addr.eq(seq.phase_index), seq.loaded.eq(loader.loaded),
                     seq.booted.eq(boot.booted), seq.all_selected.eq(wb.all_selected),
                     seq.drained.eq(~issue.issuing & ~issue.o.valid & ~ser.busy & ~wb.busy),
                     self.busy.eq(seq.busy)]

        # issue stage -> bank and weight-ROM reads (a bank that is not read is the write-back's)
        m.d.comb += [issue.start.eq(seq.start), issue.in_base.eq(seq.in_base), issue.w_start.eq(seq.w_start),
                     issue.k.eq(seq.k), issue.pad.eq(seq.pad)]
        m.d.comb += [banks[0][0].addr.eq(Cat(issue.rd_addr[:loader.half_bits], loader.rd_half)),
                     banks[0][0].en.eq(issue.rd_en)]
        for i, (rp, _) in enumerate(banks[1:], start=1):
            with m.If(cur.in_bank == i):
                m.d.comb += [rp.addr.eq(issue.rd_addr), rp.en.eq(issue.rd_en)]
            with m.Else():
                m.d.comb += [rp.addr.eq(wb.rd_addr), rp.en.eq(1)]
        m.d.comb += [w_rp.addr.eq(issue.w_addr), w_rp.en.eq(issue.rd_en)]

        # the tap with its read data -> lanes -> serializer
        bank_data = Array([banks[0][0].data.as_signed()] + [rp.data.as_unsigned() for rp, _ in banks[1:]])
        m.d.comb += [lanes.i.valid.eq(issue.o.valid), issue.o.ready.eq(lanes.i.ready),
                     lanes.i.payload.x.eq(Mux(issue.o.payload.in_range, bank_data[cur.in_bank], 0)),
                     lanes.i.payload.w.eq(w_rp.data),
                     lanes.i.payload.first.eq(issue.o.payload.first),
                     lanes.i.payload.last.eq(issue.o.payload.last),
                     lanes.i.payload.t.eq(issue.o.payload.t)]
        connect(m, lanes.o, ser.i)
        m.d.comb += [ser.out_base.eq(seq.out_base), ser.act_base.eq(seq.act_base), ser.sel.eq(seq.sel)]
        connect(m, ser.logits, wiring.flipped(self.logits))

        # parameter ROM: the model id after reset (boot reader), then the biases (serializer)
        m.d.comb += [boot.data.eq(p_rp.data[:16]), ser.bias.eq(p_rp.data[:self.logit_width].as_signed())]
        with m.If(~boot.booted):
            m.d.comb += p_rp.addr.eq(boot.addr)
        with m.Else():
            m.d.comb += [p_rp.addr.eq(ser.bias_addr), p_rp.en.eq(ser.bias_en)]
        m.d.comb += self.model_id.eq(boot.model_id)

        # serializer -> write-back (activation, MUX-skip) -> banks 1, 2
        connect(m, ser.act, wb.i)
        m.d.comb += [wb.sel.eq(seq.sel), wb.finish.eq(seq.finish),
                     wb.rd_data.eq(Array(rp.data for rp, _ in banks[1:])[cur.out_bank - 1])]
        for i, (_, wp) in enumerate(banks[1:], start=1):
            m.d.comb += [wp.addr.eq(wb.wr.payload.addr), wp.data.eq(wb.wr.payload.data),
                         wp.en.eq(wb.wr.valid & (cur.out_bank == i))]
        m.d.comb += [self.dbg.valid.eq(wb.wr.valid), self.dbg.payload.layer.eq(cur.layer),
                     self.dbg.payload.addr.eq(wb.wr.payload.addr),
                     self.dbg.payload.data.eq(wb.wr.payload.data)]
        return m
