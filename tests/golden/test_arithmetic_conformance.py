"""Conformance: an independent implementation of docs/arithmetic.md sections 1-8, written from that
page alone (plain numpy, nothing from golden/integer_ref.py or golden/spec/rr.py), against the
integer reference on real beats.

It reads the model file JSON itself (section 8: config, layer entries, checksum), normalises
(section 1), convolves with groups, per-group kernels, stride and padding, and dense layers as
flat dot products (section 2), counts thresholds (section 3), shuffles (section 4), combines the
MUX-skip branches (section 5), adds the bias and the RR terms, takes the argmax and applies the RR rule (section 6).
With the database it also finds the R peaks of a record from its annotations and computes the RR
codes (section 6) on its own.

Beats: the fixture beats (DS2 records) and a few synthetic edge cases without the database; with
it (marked slow), fresh beats of six records no other test uses (DS1: 106, 119, 124, 201, 223;
the paced 217 for the six-class model's / and f classes).
"""

import hashlib
import json

import numpy as np
import pytest
import torch

from ternecg.golden import fixture, integer_ref
from ternecg.golden.spec import modelfile
from ternecg.paths import models_dir

MODELS = ("default", "six_class", "inter_patient")
FRESH_RECORDS = ("106", "119", "124", "201", "217", "223")
BEAT_SYMBOLS = set("NLRejAaJSVEF/fQ")      # section 6: the 15 MIT-BIH beat symbols


# ---- section 8: the model file -------------------------------------------------------------

def canonical_sha256(doc):
    body = {k: v for k, v in doc.items() if k != "sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def conv_layer(kind, cin, lin, cout, groups, kernels, stride):
    return {"kind": kind, "cin": cin, "lin": lin, "cout": cout, "groups": groups,
            "kernels": kernels, "stride": stride, "lout": (lin - 1) // stride + 1,
            "shuffle": kind in ("msgc", "gpw")}


def parse_kernels(ld, kind, groups):
    if kind == "gpw":
        return [1] * groups
    if "kernels" in ld:
        return list(ld["kernels"])
    return [ld["kernel"]] * groups


def read_conv_entry(entry, layer, b):
    """Weights as an (cout, cin/g, k_i) list per output channel; thresholds (cout, 2^b - 1)."""
    cin_g, cout_g = layer["cin"] // layer["groups"], layer["cout"] // layer["groups"]
    value = {"+": 1, "-": -1, "0": 0}
    w = []
    for o, text in enumerate(entry["weights"]):
        k = layer["kernels"][o // cout_g]
        assert len(text) == cin_g * k
        w.append(np.array([value[ch] for ch in text], dtype=np.int64).reshape(cin_g, k))
    out = dict(layer, w=w)
    if "thresholds" in entry:
        t = np.array(entry["thresholds"], dtype=np.int64)
        assert t.shape == (layer["cout"], (1 << b) - 1)
        assert (np.diff(t, axis=1) >= 0).all()          # non-decreasing (section 3)
        out["T"] = t
    return out


def read_model(path):
    doc = json.loads(path.read_text())
    assert doc["format"] == "ternecg-model" and doc["version"] == 1
    assert doc["normalize"] == {"mean_mul": 4369, "mean_shift": 20, "out_max": 127, "raw_bits": 11}
    cfg = doc["config"]
    b = cfg["act_bits"]
    c, length = 1, cfg["input_length"]
    layers = []
    for i, (ld, entry) in enumerate(zip(cfg["layers"], doc["layers"], strict=True)):
        if ld["type"] == "conv":
            kind = ld["conv"]
            g = 1 if kind == "regular" else ld["groups"]
            lay = read_conv_entry(entry, conv_layer(kind, c, length, ld["out"], g,
                                                    parse_kernels(ld, kind, g), ld.get("stride", 1)), b)
            lay["type"] = "conv"
        elif ld["type"] == "muxskip":
            s = ld.get("stride", 1)
            kind = ld["conv"]
            g = 1 if kind == "regular" else ld["groups"]
            dw = read_conv_entry(entry["dw"], conv_layer("group", c, length, c, c, [ld["dw_kernel"]] * c, s), b)
            grp = read_conv_entry(entry["grp"], conv_layer(kind, c, length, c, g, parse_kernels(ld, kind, g), s), b)
            lay = {"type": "mux", "dw": dw, "grp": grp, "cout": c, "lout": dw["lout"],
                   "shuffle": grp["shuffle"], "groups": g}
        else:
            final = i == len(cfg["layers"]) - 1
            lay = read_conv_entry(entry, {"kind": "dense", "cin": c, "lin": length, "cout": ld["out"],
                                          "groups": 1, "kernels": [length], "stride": 1, "lout": 1,
                                          "shuffle": False}, b)
            lay["type"] = "dense"
            lay["final"] = final
            if final:
                lay["bias"] = np.array(entry["bias"], dtype=np.int64)
                if cfg.get("rr_bits"):
                    lay["rr_table"] = np.array(entry["rr_table"], dtype=np.int64)
                    lay["rr_rule"] = entry.get("rr_rule")
        layers.append(lay)
        c, length = lay["cout"], lay["lout"]
    return {"doc": doc, "b": b, "layers": layers, "rr_bits": cfg.get("rr_bits", 0),
            "rr_local": cfg.get("rr_local", 8)}


# ---- sections 1-6: the arithmetic ----------------------------------------------------------

def normalise(raw):
    x = np.asarray(raw, dtype=np.int64)
    s = x.sum(1)
    mean = (s * 4369) >> 20
    m = np.maximum(x.max(1) - mean, mean - x.min(1))
    k = np.zeros_like(m)
    for n in range(len(m)):
        while (m[n] >> k[n]) > 127:
            k[n] += 1
    return (x - mean[:, None]) >> k[:, None]


def hardware_mean(s):
    """Section 1's recurrence: c = s >> 4, twice c = (c + s) >> 4, then (c + s) >> 8."""
    c = s >> 4
    c = (c + s) >> 4
    c = (c + s) >> 4
    return (c + s) >> 8


def conv(x, lay):
    """x: (N, Cin, L_in) -> acc (N, Cout, L_out), section 2 ("same" padding per group)."""
    n = x.shape[0]
    g, s, lout = lay["groups"], lay["stride"], lay["lout"]
    cin_g, cout_g = lay["cin"] // g, lay["cout"] // g
    acc = np.zeros((n, lay["cout"], lout), dtype=np.int64)
    for o in range(lay["cout"]):
        i = o // cout_g
        k = lay["kernels"][i]
        p = k // 2
        xg = x[:, i * cin_g:(i + 1) * cin_g]
        padded = np.concatenate([np.zeros((n, cin_g, p), np.int64), xg,
                                 np.zeros((n, cin_g, p), np.int64)], axis=2)
        pos = s * np.arange(lout)[:, None] + np.arange(k)[None, :]      # s*t + j (- p, + p)
        acc[:, o] = np.einsum("nctj,cj->nt", padded[:, :, pos], lay["w"][o])
    return acc


def dense(x, lay):
    """x: (N, Cin, L_in) flattened channel major -> acc (N, Cout, 1)."""
    flat = x.reshape(x.shape[0], -1)
    w = np.stack([w.reshape(-1) for w in lay["w"]])                      # (Cout, Cin*L_in)
    return (flat @ w.T)[:, :, None]


def activate(acc, t):
    return (acc[:, :, :, None] >= t[None, :, None, :]).sum(-1)


def shuffle(q, g):
    out = np.empty_like(q)
    cg = q.shape[1] // g
    for i in range(g):
        for j in range(cg):
            out[:, j * g + i] = q[:, i * cg + j]
    return out


def mux_select(qa, b):
    return 2 * qa.sum(-1) > ((1 << b) - 1) * qa.shape[-1]


def argmax_lowest(logits):
    out = []
    for row in logits.tolist():
        best = max(row)
        out.append(min(i for i, v in enumerate(row) if v == best))
    return np.array(out, dtype=np.int64)


def forward(model, raw, rr=None):
    b = model["b"]
    x0 = normalise(raw)
    x = x0[:, None, :]
    res = {"input": x0, "layers": [], "accs": [], "mux": {}}
    for li, lay in enumerate(model["layers"]):
        if lay["type"] == "mux":
            qa = activate(conv(x, lay["dw"]), lay["dw"]["T"])
            qg = activate(conv(x, lay["grp"]), lay["grp"]["T"])
            sel = mux_select(qa, b)
            y = np.where(sel[:, :, None], qa, (qa + qg) >> 1)
            res["mux"][li] = {"qa": qa, "qg": qg, "select": sel}
            acc = None
        elif lay["type"] == "dense":
            acc = dense(x, lay)
            y = acc + lay["bias"][None, :, None] if lay["final"] else activate(acc, lay["T"])
        else:
            acc = conv(x, lay)
            y = activate(acc, lay["T"])
        if lay["shuffle"]:
            y = shuffle(y, lay["groups"])
        res["layers"].append(y)
        res["accs"].append(acc)
        x = y
    logits = x.reshape(x.shape[0], -1).copy()
    table = model["layers"][-1].get("rr_table")
    if table is not None:
        for n in range(len(logits)):
            for o in range(logits.shape[1]):
                logits[n, o] += sum(int(table[o][f][int(rr[n][f])]) for f in range(table.shape[1]))
    res["logits"] = logits
    res["cls"] = argmax_lowest(logits)
    rules = model["layers"][-1].get("rr_rule")
    if isinstance(rules, dict):     # one rule, or a list of rules applied in order
        rules = [rules]
    for rule in rules or []:        # after the argmax: class from -> to when every code is in bounds
        for n in range(len(logits)):
            if res["cls"][n] == rule["from"] and all(int(c) <= m for c, m in zip(rr[n], rule["max_codes"], strict=True)):
                res["cls"][n] = rule["to"]
    return res


# ---- section 6: R peaks and RR codes -------------------------------------------------------

def rr_code(num, den, b):
    return min((num * (1 << b) + den) // (2 * den), (1 << b) - 1)


def rr_codes(peaks, local, b):
    r = [int(v) for v in peaks]
    m = len(r)
    pre = [r[1] - r[0]] + [r[n] - r[n - 1] for n in range(1, m)]
    post = [r[n + 1] - r[n] for n in range(m - 1)] + [pre[m - 1]]
    codes = []
    for n in range(m):
        k = min(n + 1, local)
        w = sum(pre[n - k + 1:n + 1])
        codes.append([rr_code(pre[n] * k, w, b), rr_code(post[n] * k, w, b), rr_code(post[n], pre[n], b)])
    return np.array(codes, dtype=np.int64)


def r_peaks(db, record):
    import wfdb
    ann = wfdb.rdann(str(db / record), "atr")
    length = wfdb.rdheader(str(db / record)).sig_len
    return np.array([s for s, sym in zip(ann.sample, ann.symbol)
                     if sym in BEAT_SYMBOLS and s - 120 >= 0 and s + 120 <= length], dtype=np.int64)


# ---- comparison ----------------------------------------------------------------------------

def assert_same(ref_trace, mine, name):
    np.testing.assert_array_equal(ref_trace.input.numpy(), mine["input"], err_msg=f"{name}: normalised input")
    for li, (ref_y, y) in enumerate(zip(ref_trace.layers, mine["layers"], strict=True)):
        np.testing.assert_array_equal(ref_y.numpy(), y, err_msg=f"{name}: output of layer {li}")
        if mine["accs"][li] is not None:
            np.testing.assert_array_equal(ref_trace.accs[li].numpy(), mine["accs"][li],
                                          err_msg=f"{name}: accumulators of layer {li}")
    assert set(ref_trace.mux) == set(mine["mux"])
    for li, parts in mine["mux"].items():
        for key, value in parts.items():
            np.testing.assert_array_equal(ref_trace.mux[li][key].numpy(), value, err_msg=f"{name}: {key} of layer {li}")
    np.testing.assert_array_equal(ref_trace.logits.numpy(), mine["logits"], err_msg=f"{name}: logits")
    np.testing.assert_array_equal(ref_trace.cls.numpy(), mine["cls"], err_msg=f"{name}: class")


def compare(name, raw, rr=None):
    path = models_dir() / f"{name}.json"
    mine = forward(read_model(path), raw, rr)
    ref = integer_ref.forward(modelfile.load(path), torch.as_tensor(np.asarray(raw, dtype=np.int64)),
                              None if rr is None else torch.as_tensor(rr))
    assert_same(ref, mine, name)
    return mine


def edge_beats():
    """Synthetic beats at the edges of section 1: flat (mean = c - 1), full scale, one spike,
    a step, a ramp, the 64-code boundary of the shift."""
    t = np.arange(240)
    beats = [np.full(240, c) for c in (0, 1, 1024, 2047)]
    beats += [np.where(t % 2 == 0, 0, 2047), np.where(t == 120, 2047, 0), np.where(t < 120, 1000, 1128),
              (t * 2047) // 239, 1000 + (t % 128), 1000 + (t % 129)]
    rng = np.random.default_rng(18)
    beats += [rng.integers(0, 2048, 240) for _ in range(4)]
    return np.stack(beats).astype(np.int64)


# ---- tests ---------------------------------------------------------------------------------

def test_checksums_are_the_canonical_json_of_section_8():
    paths = sorted(models_dir().glob("*.json")) + sorted((models_dir() / "patient").glob("*.json"))
    assert len(paths) >= 4
    for path in paths:
        doc = json.loads(path.read_text())
        assert canonical_sha256(doc) == doc["sha256"], path


def test_hardware_mean_recurrence_is_the_mean_for_every_sum():
    s = np.arange(240 * 2047 + 1, dtype=np.int64)
    np.testing.assert_array_equal(hardware_mean(s), (s * 4369) >> 20)
    c = np.arange(1, 2048)
    assert ((240 * c * 4369) >> 20 == c - 1).all()          # a flat beat's mean is one lower


@pytest.mark.parametrize("name", MODELS)
def test_fixture_and_edge_beats_match_the_reference(name):
    fx = fixture.load()
    raw = np.concatenate([fx["raw"].astype(np.int64), edge_beats()])
    rr = None
    if name == "inter_patient":
        rng = np.random.default_rng(1)
        rr = np.concatenate([fx["rr"], rng.integers(0, 16, (len(edge_beats()), 3))]).astype(np.int64)
    mine = compare(name, raw, rr)
    assert len(set(mine["cls"].tolist())) > 1


def test_rr_rules_of_the_four_class_model():
    """models/aami4_inter.json: five RR codes (the template code fourth, the irregularity code last)
    and two RR rules in order (section 6: V -> N on the template code, then N -> S), on the fixture
    and edge beats with random codes, each code inside a rule's bound for half of the beats."""
    path = models_dir() / "aami4_inter.json"
    if not path.is_file():
        pytest.skip("four-class model not trained")
    rules = json.loads(path.read_text())["layers"][-1]["rr_rule"]
    assert isinstance(rules, list) and [(r["from"], r["to"]) for r in rules] == [(2, 0), (0, 1)]
    raw = np.concatenate([fixture.load()["raw"].astype(np.int64), edge_beats()])
    rng = np.random.default_rng(7)
    rr = rng.integers(0, 16, (len(raw), 5))
    for f in range(5):
        bound = min(r["max_codes"][f] for r in rules)
        inside = rng.random(len(raw)) < 0.5
        rr[inside, f] = rng.integers(0, bound + 1, int(inside.sum()))
    mine = compare("aami4_inter", raw, rr)
    changed = mine["cls"] != argmax_lowest(mine["logits"])
    assert changed.sum() > 0                                              # the rules changed some classes
    # a beat called V and moved to N by the first rule is moved on to S by the second where it holds
    chained = (argmax_lowest(mine["logits"]) == 2) & (mine["cls"] == 1)
    assert chained.sum() > 0


def test_ties_and_boundaries():
    rng = np.random.default_rng(5)
    logits = rng.integers(-2, 3, (500, 6))
    np.testing.assert_array_equal(argmax_lowest(logits), integer_ref.argmax_lowest(torch.as_tensor(logits)).numpy())
    # the MUX select at 2 * sum == (2^b - 1) * L (average) and one above (depthwise)
    qa = np.zeros((1, 2, 4), np.int64)
    qa[0, 0] = [15, 15, 0, 0]
    qa[0, 1] = [15, 15, 1, 0]
    assert mux_select(qa, 4).tolist() == [[False, True]]
    assert integer_ref.mux_select(torch.as_tensor(qa), 4).tolist() == [[False, True]]
    # short records: two and three peaks, a window longer than the record
    for peaks, local in (([100, 400], 8), ([100, 400, 550], 2), ([0, 300, 600, 1200, 1300], 32)):
        from ternecg.golden.spec.rr import record_codes
        np.testing.assert_array_equal(rr_codes(peaks, local, 4), record_codes(np.array(peaks), local, 4))


@pytest.fixture(scope="module")
def fresh_beats():
    """Beats of records no other test uses, cut from the database, with their RR codes computed
    here from the annotations (section 6), for the inter-patient model's rr_local and rr_bits."""
    from ternecg.golden.beats import extract_record
    from ternecg.golden.records import find_database
    from ternecg.golden.rr import model_codes
    from ternecg.errors import TernEcgError
    try:
        db = find_database()
    except TernEcgError as e:
        pytest.skip(f"MIT-BIH database not available: {e}")
    inter = read_model(models_dir() / "inter_patient.json")
    cfg = modelfile.load(models_dir() / "inter_patient.json").cfg
    raws, codes, syms = [], [], []
    rng = np.random.default_rng(0)
    for rec in FRESH_RECORDS:
        beats, _ = extract_record(db, rec)
        peaks = r_peaks(db, rec)
        np.testing.assert_array_equal(peaks, beats.sample, err_msg=f"record {rec}: R peaks")
        mine = rr_codes(peaks, inter["rr_local"], inter["rr_bits"])
        np.testing.assert_array_equal(mine, model_codes(beats, cfg).numpy(), err_msg=f"record {rec}: RR codes")
        normal = np.flatnonzero(beats.symbol == "N")
        other = np.flatnonzero(beats.symbol != "N")
        pick = np.concatenate([rng.choice(normal, min(30, len(normal)), replace=False),
                               rng.choice(other, min(50, len(other)), replace=False), [0, len(beats) - 1]])
        pick = np.unique(pick)
        raws.append(beats.raw[pick].astype(np.int64))
        codes.append(mine[pick])
        syms.append(beats.symbol[pick])
    return np.concatenate(raws), np.concatenate(codes), np.concatenate(syms)


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_fresh_beats_of_other_records_match_the_reference(name, fresh_beats):
    raw, rr, symbols = fresh_beats
    assert len(set(symbols.tolist())) >= 10
    mine = compare(name, raw, rr if name == "inter_patient" else None)
    assert len(set(mine["cls"].tolist())) > 1
