"""docs/core.md, checked: its tables against the manifests, the reset and clock statements in
Amaranth's simulator (a domain with an explicit reset), no combinational path from inputs to
outputs, and (slow) an rr word before or after its samples. The timing, buffering, the
100,000-cycle hold of a result, reset-mid-beat and example statements run on Icarus and
Verilator: tests/sim/test_core_doc_sim.py and tests/sim/test_period_sim.py."""

import random
import re

import pytest
from amaranth import ClockDomain, Elaboratable, Module
from amaranth.hdl import Fragment, Value
from amaranth.sim import Simulator

from ternecg.golden.spec import modelfile
from ternecg.hw.generate import generate
from ternecg.hw.params import model_id
from ternecg.hw.top import Accelerator
from ternecg.paths import CHECKOUT

from streams import stream_get, stream_put

if CHECKOUT is None:
    pytest.skip("docs/ is part of a checkout, not of an installed package", allow_module_level=True)
DOC = (CHECKOUT / "docs" / "core.md").read_text()


def section(title):
    start = DOC.index(title)
    nxt = DOC.find("\n#", start + len(title))
    return DOC[start:nxt if nxt >= 0 else None]


def table(text, first_header):
    """Rows (lists of cell strings, backticks stripped) of the markdown table whose header starts
    with ``first_header``."""
    lines = text[text.index(f"| {first_header} |"):].splitlines()
    rows = []
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip().strip("`") for c in line.strip("|").split("|")])
    return rows


@pytest.fixture(scope="module")
def manifests(tmp_path_factory):
    root = tmp_path_factory.mktemp("doc")
    out = {}
    for key, model in (("default", None), ("rr", modelfile.MODELS_DIR / "inter_patient.json")):
        r = generate(model, 1, root / key)
        out[key] = (r["manifest_data"], r["verilog"].read_text())
    return out


def bits(field):
    lo, w = field["offset"], field["width"]
    return f"[{lo}]" if w == 1 else f"[{lo + w - 1}:{lo}]"


def test_ports_table_is_the_manifest(manifests):
    man, text = manifests["default"]
    rows = table(section("## Ports"), "port")
    assert [(r[0], r[1], int(r[2])) for r in rows] == [(p["name"], p["direction"], p["width"]) for p in man["ports"]]
    rr_ports = {p["name"]: p["width"] for p in manifests["rr"][0]["ports"]}
    assert {k: v for k, v in rr_ports.items() if k.startswith("rr__")} == {"rr__payload": 12, "rr__valid": 1, "rr__ready": 1}
    assert "`rr__payload` in, 12\nbits" in section("## Ports")
    top = text[text.index(f"module {man['top']}("):]
    top = top[:top.index("endmodule")]
    assert "inout" not in top and "parameter" not in top       # "no parameters and no inouts"


def test_stream_tables_are_the_manifest(manifests):
    man, _ = manifests["default"]
    for title, port in (("### `i`", "i"), ("### `o`", "o")):
        rows = table(section(title), "bits")
        assert [(r[0], r[1]) for r in rows] == [(bits(f), f["name"]) for f in man["streams"][port]["fields"]]
    assert man["streams"]["o"]["width"] == 47 and "47 at P = 1" in DOC
    signed = {f["name"]: f["signed"] for f in man["streams"]["o"]["fields"]}
    assert signed == {"cls": False, "logits[0]": True, "logits[1]": True, "cycles": False, "err": False}
    rr = manifests["rr"][0]["streams"]["rr"]["fields"]
    text = " ".join(section("### `rr`").split())
    for f in rr:
        assert f"{f['name']} in `{bits(f)}`" in text, f["name"]
    assert all(bits(f) == f"[{4 * k + 3}:{4 * k}]" for k, f in enumerate(rr))


def test_compute_column_is_the_manifest():
    model = modelfile.load()
    rows = table(section("## Latency"), "P")
    for p, compute, latency, period in rows:
        acc = Accelerator(model, int(p))
        Fragment.get(acc, None)
        c = acc.engine_cycles()
        assert int(compute.replace(",", "")) == c
        assert int(latency.replace(",", "")) == c + 247 and int(period.replace(",", "")) == c + 3
    period6 = int(rows[-1][3].replace(",", ""))
    assert round(12e6 / period6) == 821 and "821 at P = 6 on a 12 MHz" in DOC


class Reset(Elaboratable):
    """The accelerator in a ``sync`` domain whose reset a testbench can drive."""

    def __init__(self, acc):
        self.acc = acc
        self.cd = ClockDomain("sync")

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = self.cd
        m.submodules.acc = self.acc
        return m


def test_reset_and_model_id_timing(inter_model):
    """While in reset i.ready, o.valid, rr.ready are low and model_id is 0; after it i.ready and
    rr.ready rise in cycle 1, model_id is 0 in cycles 0 and 1, its low half in cycle 2, the id from
    cycle 3 (MODEL_ID_CYCLES)."""
    acc = Accelerator(inter_model, 6)
    top = Reset(acc)
    want = model_id(inter_model.sha256)
    log = []

    def outputs(ctx):
        return (ctx.get(acc.i.ready), ctx.get(acc.rr.ready), ctx.get(acc.o.valid), ctx.get(acc.model_id))

    async def bench(ctx):
        await ctx.tick().repeat(10)                          # running, then a reset of 3 cycles
        ctx.set(top.cd.rst, 1)
        for _ in range(3):
            await ctx.tick()
            log.append(("reset", outputs(ctx)))
        ctx.set(top.cd.rst, 0)
        for c in range(5):
            log.append((c, outputs(ctx)))
            await ctx.tick()

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert [o for k, o in log if k == "reset"] == [(0, 0, 0, 0)] * 3
    after = dict((k, o) for k, o in log if k != "reset")
    assert [after[c][:3] for c in range(5)] == [(0, 0, 0)] + [(1, 1, 0)] * 4
    assert [after[c][3] for c in range(5)] == [0, 0, want & 0xFFFF, want, want]
    assert Accelerator.MODEL_ID_CYCLES == 3 and "`Accelerator.MODEL_ID_CYCLES` = 3" in DOC


@pytest.mark.slow
def test_no_combinational_path_from_inputs_to_outputs(inter_model, beats):
    """Flip every input (valid, ready, payload bits) at many points of a run: no output changes
    before the next clock edge."""
    acc = Accelerator(inter_model, 6)
    rng = random.Random(3)
    ins = [acc.i.valid, Value.cast(acc.i.payload), acc.o.ready, acc.rr.valid, Value.cast(acc.rr.payload)]
    outs = [acc.i.ready, acc.o.valid, Value.cast(acc.o.payload), acc.rr.ready, acc.model_id]
    raw = [int(v) for v in beats["raw"][0]]
    probes = {"n": 0}

    async def probe(ctx):
        before = [ctx.get(o) for o in outs]
        saved = [ctx.get(i) for i in ins]
        for i, v in zip(ins, saved):
            ctx.set(i, v ^ ((1 << len(i)) - 1) if rng.random() < 0.7 else rng.randrange(1 << len(i)))
        assert [ctx.get(o) for o in outs] == before
        for i, v in zip(ins, saved):
            ctx.set(i, v)
        probes["n"] += 1

    async def bench(ctx):
        ctx.set(acc.rr.payload, 0x888)
        ctx.set(acc.rr.valid, 1)
        await ctx.tick().until(acc.rr.ready == 1)
        ctx.set(acc.rr.valid, 0)
        for t, v in enumerate(raw):
            ctx.set(acc.i.payload, {"sample": v, "last": int(t == 239)})
            ctx.set(acc.i.valid, 1)
            await probe(ctx)
            await ctx.tick().until(acc.i.ready == 1)
        ctx.set(acc.i.valid, 0)
        for c in range(17_000):                              # computing, then the result waiting
            if c % 97 == 0 or ctx.get(acc.o.valid):
                await probe(ctx)
                if ctx.get(acc.o.valid) and probes["n"] > 200:
                    break
            await ctx.tick()
        assert ctx.get(acc.o.valid)

    sim = Simulator(acc)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert probes["n"] > 300


@pytest.mark.slow
@pytest.mark.long
def test_rr_word_before_or_after_its_samples(inter_model, beats):
    """One source, in order: beat 0 sends its rr word first and waits for its transfer before
    its samples; beat 1 sends its samples first and its word 20,000 cycles later (its logits wait
    for it). Every result bit-exact, cycles exact (the wait is not counted)."""
    import torch
    from ternecg.golden import integer_ref
    acc = Accelerator(inter_model, 6)
    raw, rr = beats["raw"][:2], beats["rr"][:2]
    words = [sum(int(c) << (4 * f) for f, c in enumerate(codes)) for codes in rr]
    got = []

    async def source(ctx):
        for b in range(2):
            samples = [{"sample": int(v), "last": int(t == 239)} for t, v in enumerate(raw[b])]
            if b == 0:
                await stream_put(ctx, acc.rr, words[b])
            for s in samples:
                await stream_put(ctx, acc.i, s)
            if b == 1:
                await ctx.tick().repeat(20_000)
                await stream_put(ctx, acc.rr, words[b])

    async def sink(ctx):
        got.extend([await stream_get(ctx, acc.o) for _ in range(2)])

    sim = Simulator(acc)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    tr = integer_ref.forward(inter_model, torch.as_tensor(raw, dtype=torch.int64), torch.as_tensor(rr))
    res = [(int(g.cls), [int(v) for v in g.logits], int(g.cycles), int(g.err)) for g in got]
    assert res == [(int(tr.cls[b]), tr.logits[b].tolist(),
                    acc.engine_cycles({li: v["select"][b].tolist() for li, v in tr.mux.items()}), 0)
                   for b in range(2)]
