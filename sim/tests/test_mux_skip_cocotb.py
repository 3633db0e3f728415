"""cocotb tests of the generated MuxSkip Verilog (top ``mux_skip``) against integer_ref.forward.

Run by tests/sim/test_components_sim.py, which names the vectors in the bench config (this module
never imports torch, golden or hw). The testbench plays the engine and the output bank: a Python
RAM answers ``rd_addr`` one cycle later on ``rd_data`` (synchronous, read-before-write) and takes
every ``wr`` transfer. Per block: a depthwise pass per channel (``mode = 1``, results at the
channel's slot, then a ``finish`` strobe with ``length = L``), then the grouped passes of ``P``
lanes (``mode = 2``), skipped when ``all_selected``. Vectors:

* ``widths``: ``[act_bits, lane_width, addr_width, parallel, n_blocks]``;
* per block ``k``: ``qa_k``, ``qg_k`` ``(C, L)``, ``slot_k`` ``(C,)`` (feature-map position of each
  channel), ``select_k`` ``(C,)`` (golden S) and ``image_k`` ``(C*L,)`` (golden block output, i.e.
  ``forward(...).layers[li]`` flattened, shuffled).

Options: one :class:`ternecg.sim.tb.BenchConfig` (``vectors``, ``idle``, ``backpressure``, ``seed``); ``idle`` puts idle cycles between results.
"""

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from ternecg.sim.tb import TB, pattern, vectors

MODE_DW, MODE_GRP = 1, 2


class Engine:
    """Drives MuxSkip one cycle at a time and models the output bank."""

    def __init__(self, dut, depth, widths, idle):
        self.dut = dut
        self.b, self.lane_w, self.addr_w, self.p, _ = widths
        self.ram = [0] * depth
        self.pending = 0                  # rd_data of the next cycle
        self.writes = []                  # (mode, addr, data)
        self.idle = idle
        for name in ("i__valid", "i__payload", "finish", "mode", "sel_base", "length", "query_base",
                     "rd_data"):
            getattr(dut, name).value = 0

    def pack(self, q, lane, addr):
        return q | (lane << self.b) | (addr << (self.b + self.lane_w))

    async def cycle(self, item=None, finish=0, query_base=None):
        """One clock cycle: drive the inputs, sample the outputs, then advance the RAM model.
        Returns ``(busy, all_selected)`` as seen in this cycle."""
        d = self.dut
        d.i__valid.value = int(item is not None)
        if item is not None:
            d.i__payload.value = self.pack(*item)
        d.finish.value = finish
        if query_base is not None:
            d.query_base.value = query_base
        d.rd_data.value = self.pending
        await ReadOnly()
        wr_valid = int(d.wr__valid.value)
        wr = int(d.wr__payload.value) if wr_valid else 0
        rd_addr = int(d.rd_addr.value)
        busy, all_sel = int(d.busy.value), int(d.all_selected.value)
        mode = int(d.mode.value)
        await RisingEdge(d.clk)
        assert rd_addr < len(self.ram), f"rd_addr {rd_addr} out of range"
        self.pending = self.ram[rd_addr]
        if wr_valid:
            addr, data = wr & ((1 << self.addr_w) - 1), wr >> self.addr_w
            assert addr < len(self.ram), f"write address {addr} out of range"
            self.ram[addr] = data
            self.writes.append((mode, addr, data))
        return busy, all_sel

    async def feed(self, items):
        """Send the results (with the idle pattern), then wait until the unit has drained."""
        for item in items:
            while not next(self.idle):
                await self.cycle()
            await self.cycle(item)
        while (await self.cycle())[0]:
            pass

    async def finish(self):
        await self.cycle(finish=1)

    async def query(self, base):
        _, all_sel = await self.cycle(query_base=base)
        return all_sel


async def run_block(eng, qa, qg, slot):
    d = eng.dut
    C, L = len(qa), len(qa[0])
    d.length.value = L
    d.mode.value = MODE_DW
    for c in range(C):
        d.sel_base.value = c
        await eng.feed([(int(qa[c][t]), 0, int(slot[c]) * L + t) for t in range(L)])
        await eng.finish()
    queries = [await eng.query(qb) for qb in range(C + 1)]
    d.mode.value = MODE_GRP
    n_writes = len(eng.writes)
    passes = []
    for oc0 in range(0, C, eng.p):
        d.sel_base.value = oc0
        skip = await eng.query(oc0)
        passes.append(skip)
        if skip:
            continue
        await eng.feed([(int(qg[oc0 + ln][t]), ln, int(slot[oc0 + ln]) * L + t)
                        for t in range(L) for ln in range(eng.p)])
        await eng.finish()
    return queries, passes, eng.writes[n_writes:]


@cocotb.test()
async def mux_blocks(dut):
    """Real qa/qg of the MUX-skip blocks (fixture beats) and crafted selecting blocks: select
    bits, skipped passes, grouped writes and the final bank image, bit-exact."""
    v = vectors()
    widths = [int(x) for x in v["widths"]]
    P, n_blocks = widths[3], widths[4]
    depth = max(v[f"image_{k}"].size for k in range(n_blocks))
    tb = TB(dut)
    eng = Engine(dut, depth, widths, pattern(tb.config.idle, tb.seed * 7919 + 1))
    await tb.start()
    n_skipped = n_sel = 0
    for k in range(n_blocks):
        qa, qg, slot = v[f"qa_{k}"].tolist(), v[f"qg_{k}"].tolist(), v[f"slot_{k}"].tolist()
        sel = [bool(s) for s in v[f"select_{k}"].tolist()]
        C, L = len(qa), len(qa[0])
        queries, passes, grp_writes = await run_block(eng, qa, qg, slot)
        assert queries == [int(qb + P <= C and all(sel[qb:qb + P])) for qb in range(C + 1)], \
            f"block {k}: all_selected answers {queries}, golden S {sel}"
        assert passes == [int(all(sel[oc0:oc0 + P])) for oc0 in range(0, C, P)]
        want = sorted((slot[c] * L + t, (qa[c][t] + qg[c][t]) >> 1)
                      for c in range(C) if not sel[c] for t in range(L))
        assert all(m == MODE_GRP for m, _, _ in grp_writes)
        assert sorted((a, x) for _, a, x in grp_writes) == want, f"block {k}: grouped writes differ"
        image = v[f"image_{k}"].tolist()
        got = eng.ram[:len(image)]
        bad = [(a, got[a], image[a]) for a in range(len(image)) if got[a] != image[a]]
        assert not bad, f"block {k}: {len(bad)} bank words differ (addr, got, expected), first {bad[:5]}"
        n_skipped += sum(passes)
        n_sel += sum(sel)
    assert n_sel > 0 and n_skipped > 0, "no select / skipped pass exercised"
