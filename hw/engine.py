"""The streaming ternary grouped-conv engine: schedule sequencer, address generator, P add/sub lanes.

One beat at a time: the normalised input arrives on ``x`` into one half of bank 0 (the next beat
is loaded into the other half while the engine computes); then the engine runs the schedule
(hw/schedule.py) phase by phase, tile by tile. In a tile, every cycle issues one tap ``(c, j)``
for each of the R streams: the stream reads one input value (zero outside the map) and its L
lanes add, subtract or skip it according to their 2-bit weight codes (no multipliers). After the
tile's last tap the sums are serialised, one lane per cycle per stream, into the streams'
activation units; their b-bit results go through the MUX-skip unit into the output bank. The
logits layer sends ``acc + bias`` to ``logits``.

Model values live only in the parameter ROMs (hw/params.py, :meth:`Engine.param_roms`): the weight
ROM, the activation unit's threshold ROM(s) and the parameter ROM ``params`` (model id, biases;
the bias of the next logit is read one cycle ahead, so it adds no cycle).

Pipeline: issue (bank + weight ROM addresses) -> lanes (read data valid) -> serializer ->
activation units (``ActivationUnit.latency`` cycles) -> MUX-skip unit (1 cycle) -> bank write.
Tiles follow each other without a gap (each result carries its bank address, activation and
select indices); phases are separated by a drain so the next layer reads only completed maps.
"""

from amaranth import Module, Mux, signed, unsigned
from amaranth.hdl import MemoryData
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out, connect

from .activation import ActivationUnit
from .activation_serial import SerialActivationUnit
from .boot_reader import BootReader
from .checks import Checked
from .engine_layout import Widths, check_schedule, descriptor_layout, descriptor_rows, logit_width, Descriptor
from .feature_banks import FeatureBanks
from .input_loader import InputLoader
from .issue_stage import IssueStage
from .lanes import Lanes
from .params import ID_WORDS, MIN_DEPTH, ROM_ATTRS
from .phase_table import PhaseTable
from .qrs_ram import check_spram
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
        Sequencer (phase table) -> tiles -> IssueStage -> [FeatureBanks, weight ROM] -> Lanes
        Lanes -> Serializer -> logits               (logits phase; biases from the parameter ROM)
        Serializer -> WriteBack (activation units, MUX-skip) -> FeatureBanks
        BootReader: model id from the parameter ROM after reset

    The schedule's geometry (hw/schedule.py) sets the shape: R streams of L lanes, each stream with
    its own bank read, serializer lane and activation unit, and banks of M memories.

    A transfer on ``x`` is one normalised sample; after ``input_length`` of them the beat is
    computed (``busy``), and its ``n_classes`` logits leave on ``logits``, one per transfer, in
    class order. ``x`` takes the next beat while one is computed (bank 0 holds two), so
    back-to-back beats start one after the other without a gap for loading. While a logit waits
    (``logits.valid`` and not ``ready``) nothing of the engine moves. Cycles per beat:
    :func:`ternecg.hw.schedule.cycles` (exact, measured in simulation).

    Parameters
    ----------
    schedule : :class:`~ternecg.hw.schedule.Schedule`
        The compiled schedule of a model (``compile_schedule(model, parallel)``).
    spram : bool or None
        Banks 1 and 2 in iCE40 SPRAM (one stream, one memory per bank only); None (default): on
        an iCE40 UltraPlus platform (keyword-only; hw/feature_banks.py).

    Members
    -------
    x : ``In(stream.Signature(signed(8)))``
        Normalised input samples, ``input_length`` per beat.
    logits : ``Out(stream.Signature(signed(logit_width)))``
        The class logits of the beat, in class order.
    dbg : ``Out(TapSignature(dbg_layout))``
        Every feature-bank write ``{layer, addr, data}`` (a monitor tap, never back-pressured;
        with several streams ``{layer, en[R], addr[R], data[R]}``, up to R writes per cycle;
        ``addr`` is the logical address ``channel slot * length + position``).
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
        # The area-optimised serial activation unit (one ROM, one comparator) keeps up when each
        # stream's L results of a tile fit its interval (b + 1 cycles each) within the tile's taps.
        serial = s.lanes * (s.act_bits + 1) <= s.min_tile_taps
        return SerialActivationUnit if serial else ActivationUnit

    @staticmethod
    def _unit_args(s):
        from .serializer import result_tag_layout
        return dict(acc_width=s.acc_width, act_bits=s.act_bits, tag_width=result_tag_layout(s).size)

    @classmethod
    def check_arguments(cls, schedule, *, spram=None):
        check_schedule("Engine", schedule)
        check_spram("Engine", spram)
        for table in schedule.stream_thresholds:
            cls._unit(schedule).check_arguments(table, **cls._unit_args(schedule))

    def __init__(self, schedule: Schedule, *, spram=None):
        self._s = s = schedule
        self._spram = spram
        self._banks = None
        self._loader = InputLoader(s.input_length)
        self._w = w = Widths(s)
        self.phase_layout = descriptor_layout(s)
        self.logit_width = logit_width(s)
        self.addr_width = w.laddr
        if w.R == 1:
            self.dbg_layout = data.StructLayout({"layer": unsigned(w.layer), "addr": unsigned(w.laddr),
                                                 "data": unsigned(s.act_bits)})
        else:
            self.dbg_layout = data.StructLayout({"layer": unsigned(w.layer), "en": unsigned(w.R),
                                                 "addr": data.ArrayLayout(unsigned(w.laddr), w.R),
                                                 "data": data.ArrayLayout(unsigned(s.act_bits), w.R)})
        unit = self._unit(s)
        self.act_units = [unit(table, **self._unit_args(s)) for table in s.stream_thresholds]
        # the parameter ROMs (hw/params.py): every model value the engine uses is in one of them
        self.wrom_data = MemoryData(shape=unsigned(2 * s.parallel), depth=max(2, len(s.weights)),
                                    init=s.weights)
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

    @property
    def banks(self):
        """The feature banks (hw/feature_banks.py; their ports can be watched in simulation)."""
        if self._banks is None:
            w = self._w
            self._banks = FeatureBanks(w.R, w.M, words=self._s.bank_words, act_bits=self._s.act_bits,
                                       half_bits=self._loader.half_bits,
                                       word_width=max(w.word), spram=self._spram)
        return self._banks

    @property
    def act_unit(self):
        """Stream 0's activation unit (every stream's is of the same kind and widths)."""
        return self.act_units[0]

    def param_roms(self):
        """``{name: MemoryData}`` of the engine's parameter ROMs (hw/params.py)."""
        roms = {"engine.weights": self.wrom_data, "engine.params": self.params_data}
        for r, unit in enumerate(self.act_units):
            prefix = "engine.act" if len(self.act_units) == 1 else f"engine.act{r}"
            for i, md in enumerate(unit.rom_data):
                roms[f"{prefix}.rom{i if len(unit.rom_data) > 1 else ''}"] = md
        return roms

    @property
    def act_latency(self):
        return self.act_unit.latency

    def elaborate(self, platform):
        m = Module()
        s, w = self._s, self._w
        R = w.R

        # ---- memories: phase table, weight ROM, parameter ROM, feature banks -------------------
        m.submodules.phases = table = PhaseTable(self.phase_layout, descriptor_rows(s))
        cur = table.data
        d = Descriptor(s, cur)
        m.submodules.wrom = wrom = memory.Memory(data=self.wrom_data, attrs=ROM_ATTRS)
        w_rp = wrom.read_port()
        # model id (words 0, 1) and biases (word ID_WORDS + class), read synchronously
        m.submodules.params = prom = memory.Memory(data=self.params_data, attrs=ROM_ATTRS)
        p_rp = prom.read_port()
        # bank 0 holds two beats (hw/input_loader.py): the one computed and the next one, loaded
        # meanwhile; banks 1 and 2 the hidden layers' maps
        m.submodules.loader = loader = self._loader
        m.submodules.banks = banks = self.banks

        # ---- the parts ---------------------------------------------------------------------------
        m.submodules.sequencer = seq = Sequencer(s)
        m.submodules.issue = issue = IssueStage(s)
        m.submodules.lanes = lanes = Lanes(R, w.L, s.acc_width)
        m.submodules.serializer = ser = Serializer(s)
        m.submodules.boot = boot = BootReader(ID_WORDS)
        m.submodules.writeback = wb = WriteBack(s, act_units=self.act_units)
        for part in (seq, issue, ser, wb):
            m.d.comb += part.phase.eq(cur)
        # the parts of the latest elaboration, by name (tests watch their streams in simulation)
        self.parts = {"sequencer": seq, "issue": issue, "lanes": lanes, "serializer": ser,
                      "writeback": wb, "banks": banks, "loader": loader}

        # input loader -> bank 0 (the next beat's half while the engine reads the current one's)
        connect(m, wiring.flipped(self.x), loader.x)
        m.d.comb += [banks.load.addr.eq(loader.wr.payload.addr), banks.load.data.eq(loader.wr.payload.data),
                     banks.load.en.eq(loader.wr.valid), banks.half.eq(loader.rd_half),
                     loader.clear.eq(seq.done)]

        # sequencer -> issue stage -> bank and weight-ROM reads; the phase has drained when no tap
        # is in the issue stage (on ``o``, and with two read stages in the first), serializer or
        # write-back
        drained = ~seq.issuing & ~issue.o.valid & ~ser.busy & ~wb.busy
        if "pending" in issue.signature.members:
            drained = drained & ~issue.pending
        m.d.comb += [table.addr.eq(seq.phase_index), seq.loaded.eq(loader.loaded),
                     seq.booted.eq(boot.booted), seq.selects.eq(wb.selects), seq.advance.eq(issue.advance),
                     seq.drained.eq(drained),
                     self.busy.eq(seq.busy),
                     issue.issuing.eq(seq.issuing), issue.tap.eq(seq.tap), issue.tile.eq(seq.tile),
                     issue.selects.eq(wb.selects),
                     banks.in_bank.eq(d.in_bank), banks.out_bank.eq(d.out_bank),
                     w_rp.addr.eq(issue.w_addr), w_rp.en.eq(issue.w_en)]
        for r in range(R):
            m.d.comb += [banks.rd[r].mem.eq(issue.rd[r].mem), banks.rd[r].word.eq(issue.rd[r].word),
                         banks.rd[r].en.eq(issue.rd[r].en)]

        # the tap with its read data -> lanes -> serializer; nothing moves while a logit waits (the
        # serializer holds logits in registers, so this is not a combinational loop)
        m.d.comb += [lanes.hold.eq(self.logits.valid & ~self.logits.ready),
                     lanes.i.valid.eq(issue.o.valid), issue.o.ready.eq(lanes.i.ready),
                     lanes.i.payload.w.eq(w_rp.data),
                     lanes.i.payload.first.eq(issue.o.payload.first),
                     lanes.i.payload.last.eq(issue.o.payload.last)]
        for r in range(R):
            m.d.comb += lanes.i.payload.x[r].eq(Mux(issue.o.payload.in_range[r], banks.rd_data[r], 0))
        m.d.comb += ser.ctx.eq(issue.ctx)
        connect(m, lanes.o, ser.i)
        connect(m, ser.logits, wiring.flipped(self.logits))

        # parameter ROM: the model id after reset (boot reader), then the biases (serializer)
        m.d.comb += [boot.data.eq(p_rp.data[:16]), ser.bias.eq(p_rp.data[:self.logit_width].as_signed())]
        with m.If(~boot.booted):
            m.d.comb += p_rp.addr.eq(boot.addr)
        with m.Else():
            m.d.comb += [p_rp.addr.eq(ser.bias_addr), p_rp.en.eq(ser.bias_en)]
        m.d.comb += self.model_id.eq(boot.model_id)

        # serializer -> write-back (activation, MUX-skip) -> banks
        connect(m, ser.act, wb.i)
        m.d.comb += [banks.qa.eq(wb.rd), wb.rd_data.eq(banks.qa_data), banks.wr.eq(wb.wr),
                     wb.consume.eq(seq.consume)]
        # the debug tap: every bank write, with its logical address
        if R == 1:
            m.d.comb += [self.dbg.valid.eq(wb.tap[0].en), self.dbg.payload.layer.eq(d.layer),
                         self.dbg.payload.addr.eq(wb.tap[0].laddr), self.dbg.payload.data.eq(wb.tap[0].data)]
        else:
            en = [wb.tap[r].en for r in range(R)]
            m.d.comb += [self.dbg.valid.eq(sum(en) != 0), self.dbg.payload.layer.eq(d.layer)]
            for r in range(R):
                m.d.comb += [self.dbg.payload.en[r].eq(en[r]), self.dbg.payload.addr[r].eq(wb.tap[r].laddr),
                             self.dbg.payload.data[r].eq(wb.tap[r].data)]
        return m
