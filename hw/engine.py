"""The streaming ternary grouped-conv engine: schedule sequencer, address generator, P add/sub lanes.

One beat at a time: the normalised input arrives on ``x`` into bank 0; then the engine runs the
schedule (hw/schedule.py) pass by pass. In a pass, every cycle issues one tap ``(t, c, j)``:
input position ``pos = stride*t - pad + j`` of input channel ``c`` of the pass's group (zero outside
``0 <= pos < lin``) is read once and broadcast to the P lanes; lane l adds it, subtracts it or skips
it according to its 2-bit weight code (no multipliers). After the last tap of position t the P
sums are latched and serialised, one per cycle, into the activation unit; its b-bit results go
through the MUX-skip unit into the output bank. The logits layer sends ``acc + bias`` to ``logits``.

Model values live only in the parameter ROMs (hw/params.py, :meth:`Engine.param_roms`): the weight
ROM, the activation unit's threshold ROM(s) and the parameter ROM ``params`` (model id, biases;
the bias of the next logit is read one cycle ahead, so it adds no cycle).

Pipeline: issue (bank + weight ROM addresses) -> accumulate (read data valid) -> serializer ->
activation unit (``ActivationUnit.latency`` cycles) -> MUX-skip unit (2 cycles) -> bank write.
Passes are separated by a drain so the next layer reads only completed maps.

Members
-------
x : In(stream)         normalised input samples (signed 8-bit), ``input_length`` per beat.
logits : Out(stream)   the class logits of the beat, in class order.
dbg : Out(TapSignature) every feature-bank write ``{layer, addr, data}`` (a monitor tap).
busy : Out(1)          a beat is being computed.
model_id : Out(32)     the model id from the parameter ROM (loaded in the first cycles after reset).
"""

from amaranth import Array, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.hdl import MemoryData
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ternecg.errors import TernEcgError

from .activation import ActivationUnit
from .activation_serial import SerialActivationUnit
from .mux_skip import MuxSkip
from .params import ID_WORDS, MIN_DEPTH, ROM_ATTRS
from .phase_table import PhaseTable
from .tap import TapSignature
from .schedule import MODE_DW, MODE_FINAL, MODE_GRP, PHASE_FIELDS, Schedule


def _bits(n):
    return max(1, int(n).bit_length())


class Engine(wiring.Component):
    def __init__(self, schedule: Schedule):
        if not isinstance(schedule, Schedule) or not schedule.passes:
            raise TernEcgError("Engine needs a compiled, non-empty Schedule (hw.schedule.compile_schedule)")
        self._s = s = schedule
        self._p = s.parallel
        widths = s.field_widths()
        self._widths = widths
        self._kg = kg = max(len(ph.kernels) for ph in s.phases)
        fields = {k: unsigned(_bits(max(getattr(ph, k) for ph in s.phases))) for k in PHASE_FIELDS}
        # address steps get the full address width, so the engine's logic is the same whatever
        # their values (with or without channel shuffle only the phase table's contents differ)
        for k in ("in_pass_step", "in_group_step", "out_pass_step", "out_group_step", "out_stride"):
            fields[k] = unsigned(_bits(max(s.bank_depth)))
        fields["kernels"] = data.ArrayLayout(unsigned(widths["k"]), kg)
        fields["pads"] = data.ArrayLayout(unsigned(widths["pad"]), kg)
        self._rows_w = _bits(max(ph.cin_g * k for ph in s.phases for k in ph.kernels))
        fields["rows"] = data.ArrayLayout(unsigned(self._rows_w), kg)
        self.phase_layout = data.StructLayout(fields)
        self.addr_width = _bits(max(s.bank_depth) - 1)
        self.logit_width = max(s.acc_width, _bits(max(abs(v) for v in s.bias or [0])) + 1) + 1
        self.dbg_layout = data.StructLayout({"layer": unsigned(widths["layer"]),
                                             "addr": unsigned(self.addr_width),
                                             "data": unsigned(s.act_bits)})
        # One lane: the area-optimised serial activation unit keeps up when every pass spends at
        # least (b + 1) cycles per result (it then needs fewer block RAMs and logic cells).
        serial = self._p == 1 and min(p.taps for p in s.passes) >= s.act_bits + 1
        unit = SerialActivationUnit if serial else ActivationUnit
        self.act_unit = unit(s.thresholds, s.acc_width, s.act_bits,
                             tag_width=(self._p - 1).bit_length() + self.addr_width)
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
        s, P = self._s, self._p
        b = s.act_bits
        aw = self.addr_width
        accw = s.acc_width
        kg = self._kg
        widths = self._widths
        lane_w = (P - 1).bit_length()       # 0 for one lane: no lane logic at all

        # ---- memories --------------------------------------------------------------------------
        def phase_init(ph):
            pad = lambda v: list(v) + [0] * (kg - len(v))
            d = {k: getattr(ph, k) for k in PHASE_FIELDS}
            d.update(kernels=pad(ph.kernels), pads=pad(ph.pads), rows=pad([ph.cin_g * k for k in ph.kernels]))
            return d
        # the sequencer ROM: one descriptor per phase, read asynchronously (a few LUTs)
        m.submodules.phases = table = PhaseTable(self.phase_layout, [phase_init(ph) for ph in s.phases])
        m.submodules.wrom = wrom = memory.Memory(data=self.wrom_data, attrs=ROM_ATTRS)
        w_rp = wrom.read_port()
        # model id (words 0, 1) and biases (word ID_WORDS + class), read synchronously
        m.submodules.params = prom = memory.Memory(data=self.params_data, attrs=ROM_ATTRS)
        p_rp = prom.read_port()
        banks = []
        for i, depth in enumerate(s.bank_depth):
            shape = signed(8) if i == 0 else unsigned(b)
            mem = memory.Memory(shape=shape, depth=max(depth, 1), init=[])
            m.submodules[f"bank{i}"] = mem
            banks.append((mem.read_port(), mem.write_port()))

        m.submodules.act = act = self.act_unit
        m.submodules.mux = mux = MuxSkip(b, aw, lane_w, s.mux_channels, widths["sel_base"],
                                         widths["length"], P,
                                         max_length=max([p.length for p in s.passes if p.mode == MODE_DW] or [1]))

        # ---- sequencer state: phase index and per-pass counters (schedule.iterate_passes) -------
        ph = Signal(range(len(s.phases) + 1))
        cur = table.data
        m.d.comb += table.addr.eq(ph)
        gi = Signal(range(max(p.n_groups for p in s.phases) + 1))
        pj = Signal(range(max(p.passes_per_group for p in s.phases) + 1))
        in_base = Signal(aw + 1)
        out_base = Signal(aw + 1)
        out_group_base = Signal(aw + 1)
        w_start = Signal(range(max(len(s.weights), 2)))
        sel = Signal(widths["sel_base"] + 1)
        act_ctr = Signal(range(len(s.thresholds) + P + 1))
        cur_k = Signal(widths["k"])
        cur_pad = Signal(widths["pad"])
        cur_rows = Signal(self._rows_w)

        # ---- input loader (bank 0) -------------------------------------------------------------
        n_in = s.input_length
        x_count = Signal(range(n_in + 1))
        loaded = Signal()
        m.d.comb += [banks[0][1].addr.eq(x_count), banks[0][1].data.eq(self.x.payload),
                     self.x.ready.eq(~loaded & ~self.busy),
                     banks[0][1].en.eq(self.x.valid & self.x.ready)]
        with m.If(self.x.valid & self.x.ready):
            m.d.sync += x_count.eq(x_count + 1)
            with m.If(x_count == n_in - 1):
                m.d.sync += loaded.eq(1)

        # ---- issue stage -----------------------------------------------------------------------
        t = Signal(widths["lout"])
        c = Signal(widths["cin_g"])
        j = Signal(widths["k"])
        pos_t = Signal(signed(max(widths["lin"], widths["pad"]) + 2))
        tpos = Signal(widths["length"] + 1)          # output position of lane 0 at step t
        ch_base = Signal(aw + 1)
        w_row = Signal.like(w_start)
        issuing = Signal()
        stall = Signal()

        pos = Signal(signed(pos_t.shape().width + 1))
        m.d.comb += pos.eq(pos_t + j)
        in_range = Signal()
        m.d.comb += in_range.eq((pos >= 0) & (pos < cur.lin))
        rd_addr = Signal(aw)
        m.d.comb += rd_addr.eq(ch_base + pos[:aw + 1])

        # pipeline register between issue and accumulate
        s1_valid = Signal()
        s1_inr = Signal()
        s1_first = Signal()
        s1_last = Signal()
        s1_t = Signal.like(tpos)

        first = (c == 0) & (j == 0)
        last_tap = (c == cur.cin_g - 1) & (j == cur_k - 1)
        ser_count = Signal(range(P + 1))
        m.d.comb += stall.eq(s1_valid & s1_last & (ser_count != 0))

        m.d.comb += [banks[0][0].addr.eq(rd_addr), banks[0][0].en.eq(~stall)]
        for i, (rp, _) in enumerate(banks[1:], start=1):
            with m.If(cur.in_bank == i):
                m.d.comb += [rp.addr.eq(rd_addr), rp.en.eq(~stall)]
            with m.Else():
                m.d.comb += [rp.addr.eq(mux.rd_addr), rp.en.eq(1)]
        m.d.comb += [w_rp.addr.eq(w_row), w_rp.en.eq(~stall)]

        with m.If(~stall):
            m.d.sync += [s1_valid.eq(issuing), s1_inr.eq(in_range), s1_first.eq(first),
                         s1_last.eq(last_tap), s1_t.eq(tpos)]
            with m.If(issuing):
                m.d.sync += w_row.eq(w_row + 1)
                with m.If(j == cur_k - 1):
                    m.d.sync += j.eq(0)
                    with m.If(c == cur.cin_g - 1):
                        m.d.sync += [c.eq(0), ch_base.eq(in_base), w_row.eq(w_start),
                                     t.eq(t + 1), tpos.eq(tpos + cur.t_step),
                                     pos_t.eq(pos_t + cur.stride)]
                        with m.If(t == cur.lout - 1):
                            m.d.sync += issuing.eq(0)
                    with m.Else():
                        m.d.sync += [c.eq(c + 1), ch_base.eq(ch_base + cur.lin)]
                with m.Else():
                    m.d.sync += j.eq(j + 1)

        # ---- accumulate stage: P add/sub/skip lanes --------------------------------------------
        xval = Signal(signed(9))
        bank_data = Array([banks[0][0].data.as_signed()] +
                          [rp.data.as_unsigned() for rp, _ in banks[1:]])
        m.d.comb += xval.eq(Mux(s1_inr, bank_data[cur.in_bank], 0))
        accs = [Signal(signed(accw), name=f"acc{l}") for l in range(P)]
        hold = Array(Signal(signed(accw), name=f"hold{l}") for l in range(P))
        sums = []
        for l in range(P):
            code = w_rp.data[2 * l:2 * l + 2]
            term = Mux(code == 1, xval, Mux(code == 3, -xval, 0))
            total = Signal(signed(accw), name=f"sum{l}")
            m.d.comb += total.eq(Mux(s1_first, 0, accs[l]) + term)
            sums.append(total)
        ser_lane = Signal(range(P + 1))
        ser_addr = Signal(aw + 1)
        with m.If(s1_valid & ~stall):
            for l in range(P):
                m.d.sync += accs[l].eq(sums[l])
            with m.If(s1_last):
                m.d.sync += [hold[l].eq(sums[l]) for l in range(P)]
                m.d.sync += [ser_count.eq(cur.lanes), ser_lane.eq(0), ser_addr.eq(out_base + s1_t)]

        # ---- serializer -> activation unit / logits --------------------------------------------
        is_final = cur.mode == MODE_FINAL
        lane = ser_lane[:lane_w]
        bias = p_rp.data[:self.logit_width].as_signed()
        m.d.comb += [
            act.i.payload.channel.eq(act_ctr + Mux(cur.poly, 0, lane)),
            act.i.payload.acc.eq(hold[lane]),
            act.i.payload.tag.eq(Cat(lane, ser_addr[:aw])),
            act.i.valid.eq((ser_count != 0) & ~is_final),
            self.logits.payload.eq(hold[lane] + bias),
            self.logits.valid.eq((ser_count != 0) & is_final),
        ]
        # The bias ROM is read one cycle ahead, so no cycle is added to the schedule: sel is
        # constant during a pass, and while the serializer is empty the ROM reads lane 0's bias.
        # With several lanes it then reads the next lane's bias only when a logit is taken (the
        # read enable, not the address, depends on the handshake: a short path into the RAM).
        booted = Signal()
        boot = Signal(range(ID_WORDS + 1))
        with m.If(~booted):
            # after reset: read the model id words into model_id (the engine waits for this)
            m.d.comb += p_rp.addr.eq(boot)
            m.d.sync += boot.eq(boot + 1)
            for k in range(ID_WORDS):
                with m.If(boot == k + 1):
                    m.d.sync += self.model_id[16 * k:16 * (k + 1)].eq(p_rp.data[:16])
            with m.If(boot == ID_WORDS):
                m.d.sync += booted.eq(1)
        with m.Else():
            if P > 1:
                m.d.comb += [p_rp.addr.eq(ID_WORDS + sel + Mux(ser_count == 0, 0, ser_lane + 1)),
                             p_rp.en.eq((ser_count == 0) | (self.logits.valid & self.logits.ready))]
            else:
                m.d.comb += p_rp.addr.eq(ID_WORDS + sel)
        with m.If((act.i.valid & act.i.ready) | (self.logits.valid & self.logits.ready)):
            m.d.sync += ser_count.eq(ser_count - 1)
            if P > 1:
                m.d.sync += [ser_lane.eq(ser_lane + 1), ser_addr.eq(ser_addr + cur.out_stride)]

        # in-flight results inside the activation unit
        inflight = Signal(range(64))
        m.d.sync += inflight.eq(inflight + (act.i.valid & act.i.ready) - (act.o.valid & act.o.ready))

        # ---- activation unit -> MUX-skip unit -> bank write ------------------------------------
        m.d.comb += [
            mux.i.valid.eq(act.o.valid), act.o.ready.eq(1),
            mux.i.payload.q.eq(act.o.payload.q),
            mux.i.payload.lane.eq(act.o.payload.tag[:lane_w]),
            mux.i.payload.addr.eq(act.o.payload.tag[lane_w:]),
            mux.rd_data.eq(Array(rp.data for rp, _ in banks[1:])[cur.out_bank - 1]),
            mux.mode.eq(cur.mode), mux.sel_base.eq(sel), mux.length.eq(cur.length),
            mux.query_base.eq(sel),
        ]
        for i, (_, wp) in enumerate(banks[1:], start=1):
            m.d.comb += [wp.addr.eq(mux.wr.payload.addr), wp.data.eq(mux.wr.payload.data),
                         wp.en.eq(mux.wr.valid & (cur.out_bank == i))]
        m.d.comb += [self.dbg.valid.eq(mux.wr.valid), self.dbg.payload.layer.eq(cur.layer),
                     self.dbg.payload.addr.eq(mux.wr.payload.addr),
                     self.dbg.payload.data.eq(mux.wr.payload.data)]

        # ---- sequencer -------------------------------------------------------------------------
        drained = ~issuing & ~s1_valid & (ser_count == 0) & (inflight == 0) & ~mux.busy
        last_in_group = pj == cur.passes_per_group - 1
        last_in_phase = last_in_group & (gi == cur.n_groups - 1)
        last_phase = ph == len(s.phases) - 1
        next_pass = Signal()       # advance the counters to the next pass (executed or skipped)
        channels = Mux(cur.poly, 1, cur.lanes)      # output channels of the pass
        with m.If(next_pass):
            m.d.sync += [w_start.eq(w_start + cur_rows), sel.eq(sel + channels)]
            with m.If(cur.mode != MODE_FINAL):
                m.d.sync += act_ctr.eq(act_ctr + channels)
            with m.If(last_in_phase):
                m.d.sync += [ph.eq(ph + 1), gi.eq(0), pj.eq(0), in_base.eq(0), out_base.eq(0),
                             out_group_base.eq(0), sel.eq(0)]
            with m.Elif(last_in_group):
                m.d.sync += [pj.eq(0), gi.eq(gi + 1),
                             in_base.eq(in_base + cur.in_pass_step + cur.in_group_step),
                             out_group_base.eq(out_group_base + cur.out_group_step),
                             out_base.eq(out_group_base + cur.out_group_step)]
            with m.Else():
                m.d.sync += [pj.eq(pj + 1), in_base.eq(in_base + cur.in_pass_step),
                             out_base.eq(out_base + cur.out_pass_step)]

        kx = Mux(cur.multi_kernel, gi, 0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(loaded & booted):
                    m.d.sync += [ph.eq(0), gi.eq(0), pj.eq(0), in_base.eq(0), out_base.eq(0),
                                 out_group_base.eq(0), w_start.eq(0), sel.eq(0), act_ctr.eq(0),
                                 self.busy.eq(1)]
                    m.next = "FETCH"
            with m.State("FETCH"):
                m.d.sync += [cur_k.eq(cur.kernels[kx]), cur_pad.eq(cur.pads[kx]),
                             cur_rows.eq(cur.rows[kx])]
                m.next = "LOAD"
            with m.State("LOAD"):
                with m.If((cur.mode == MODE_GRP) & mux.all_selected):
                    m.d.comb += next_pass.eq(1)
                    with m.If(last_in_phase & last_phase):
                        m.next = "DONE"
                    with m.Else():
                        m.next = "FETCH"
                with m.Else():
                    m.d.sync += [t.eq(0), tpos.eq(0), c.eq(0), j.eq(0), pos_t.eq(-cur_pad),
                                 ch_base.eq(in_base), w_row.eq(w_start), issuing.eq(1)]
                    m.next = "RUN"
            with m.State("RUN"):
                with m.If(drained):
                    m.d.comb += [mux.finish.eq(1), next_pass.eq(1)]
                    with m.If(last_in_phase & last_phase):
                        m.next = "DONE"
                    with m.Else():
                        m.next = "FETCH"
            with m.State("DONE"):
                m.d.sync += [self.busy.eq(0), loaded.eq(0), x_count.eq(0)]
                m.next = "IDLE"
        return m
