"""Model file round trip, corruption rejection, and the integer reference's contract."""

import copy
import json

import numpy as np
import pytest
import torch

from ternecg.errors import TernEcgError
from ternecg.golden import export, fixture, integer_ref
from ternecg.golden.spec import modelfile
from ternecg.golden.spec.config import MuxSpec, load_config
from ternecg.golden.model import Net
from ternecg.golden.normalize import normalize, normalize_details


@pytest.fixture(scope="module")
def doc():
    return json.loads(modelfile.DEFAULT_MODEL.read_text())


def write(tmp_path, doc, fix_checksum=True):
    if fix_checksum:
        doc["sha256"] = modelfile.checksum(doc)
    p = tmp_path / "m.json"
    p.write_text(json.dumps(doc))
    return p


def test_round_trip_is_byte_identical(tmp_path, doc):
    m = modelfile.load()
    assert m.sha256 == doc["sha256"]
    modelfile.save(doc, tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == modelfile.DEFAULT_MODEL.read_bytes()


def test_export_of_a_net_round_trips(tmp_path):
    torch.manual_seed(0)
    net = Net(load_config("msgc_mux")).eval()
    d = export.export(net, {"seed": 0})
    modelfile.save(d, tmp_path / "n.json")
    m = modelfile.load(tmp_path / "n.json")
    assert len(m.layers) == len(m.cfg.layers)


@pytest.mark.parametrize("edit,needle", [
    (lambda d: d.update(version=2), "unknown file version 2"),
    (lambda d: d.update(format="onnx"), "not a ternecg model file"),
    (lambda d: d["layers"][0]["weights"].__setitem__(0, "+" * 6 + "2"), "non-ternary code"),
    (lambda d: d["layers"][0]["weights"].pop(), "must list 18 output channels"),
    (lambda d: d["layers"][0]["thresholds"][0].reverse(), "ascending"),
    (lambda d: d["layers"][0].update(acc_bits=3), "acc_bits = 3 is too narrow"),
    (lambda d: d["layers"][6].update(bias=[1]), "bias must be a list of 2 integers"),
    (lambda d: d["config"]["layers"][1].update(kernels=[3, 4, 7]), "kernel size 4 must be odd"),
    (lambda d: d["normalize"].update(mean_mul=4096), "normalize"),
    (lambda d: d["layers"].pop(), "layer entries"),
])
def test_corrupt_or_mismatched_file_is_rejected(tmp_path, doc, edit, needle):
    d = json.loads(json.dumps(doc))
    edit(d)
    with pytest.raises(TernEcgError) as e:
        modelfile.load(write(tmp_path, d))
    assert needle in str(e.value)


@pytest.mark.parametrize("edit,needle", [
    # integers are bounded so that no accepted file overflows the RESULT frame's 32-bit logits
    (lambda d: d["layers"][6].update(bias=[2 ** 40, 0]), "bias value 1099511627776 is outside the signed 24-bit range"),
    (lambda d: d["layers"][6].update(bias=[-2 ** 23 - 1, 0]), "outside the signed 24-bit range [-8388608, 8388607]"),
    (lambda d: d["layers"][6].update(bias=[True, 0]), "bias must be a list of 2 integers"),
    (lambda d: d["layers"][6].update(bias=["5", 0]), "bias must be a list of 2 integers"),
    (lambda d: d["layers"][6].update(bias=[1.0, 0]), "bias must be a list of 2 integers"),
    (lambda d: d["layers"][0].update(acc_bits=25), "acc_bits = 25 exceeds the 24-bit accumulator limit"),
    (lambda d: d["layers"][0].update(acc_bits=True), "acc_bits = True must be an integer in"),
    (lambda d: d["layers"][0].update(acc_bits="16"), "acc_bits = '16' must be an integer in"),
    (lambda d: d["layers"][0]["thresholds"][0].__setitem__(-1, 2 ** 40), "exceeds the"),
    (lambda d: d["layers"][0]["thresholds"][0].__setitem__(0, False), "thresholds must be 18 lists of 15 integers"),
    (lambda d: d["layers"][0]["thresholds"][0].__setitem__(0, "1"), "thresholds must be 18 lists of 15 integers"),
    (lambda d: d.update(version=True), "unknown file version True"),
    (lambda d: d.update(version="1"), "unknown file version '1'"),
    (lambda d: d["normalize"].update(mean_mul=4369.0), "normalize"),
])
def test_every_integer_is_bounded_and_typed(tmp_path, doc, edit, needle):
    d = json.loads(json.dumps(doc))
    edit(d)
    with pytest.raises(TernEcgError) as e:
        modelfile.load(write(tmp_path, d))
    assert needle in str(e.value) and "m.json" in str(e.value)


@pytest.mark.parametrize("value, needle", [(2 ** 15, "[-32768, 32767]"), (True, "integers"), ("3", "integers")])
def test_rr_table_entries_are_bounded_and_typed(tmp_path, value, needle):
    d = json.loads((modelfile.MODELS_DIR / "inter_patient.json").read_text())
    d["layers"][-1]["rr_table"][0][0][1] = value
    with pytest.raises(TernEcgError, match="rr_table") as e:
        modelfile.load(write(tmp_path, d))
    assert needle in str(e.value)


@pytest.mark.parametrize("rule, needle", [
    ({"from": 0, "to": 0, "max_codes": [6, 15, 15]}, "two different classes"),
    ({"from": 0, "to": 2, "max_codes": [6, 15, 15]}, "classes in 0..1"),
    ({"from": 0, "to": 1, "max_codes": [6, 15]}, "3 codes"),
    ({"from": 0, "to": 1, "max_codes": [6, 16, 15]}, "codes in 0..15"),
    ({"from": 0, "to": True, "max_codes": [6, 15, 15]}, "rr_rule"),
    ({"from": 0, "to": 1}, "rr_rule must be"),
    ([0, 1], "rr_rule[0] must be"),
    ([], "lists 0 rules"),
    ([{"from": 0, "to": 1, "max_codes": [6, 15, 15]}] * 5, "lists 5 rules"),
    ([{"from": 0, "to": 1, "max_codes": [6, 15, 15]}, {"from": 1, "to": 1, "max_codes": [6, 15, 15]}],
     "rr_rule[1] = "),
])
def test_rr_rule_is_checked(tmp_path, rule, needle):
    """docs/arithmetic.md 6 / 8: the RR rule's classes and bounds, one message naming the field."""
    d = json.loads((modelfile.MODELS_DIR / "inter_patient.json").read_text())
    d["layers"][-1]["rr_rule"] = rule
    with pytest.raises(TernEcgError, match="rr_rule") as e:
        modelfile.load(write(tmp_path, d))
    assert needle in str(e.value)


def test_rr_rule_round_trips_and_needs_an_rr_path(tmp_path, doc):
    d = json.loads((modelfile.MODELS_DIR / "inter_patient.json").read_text())
    d["layers"][-1]["rr_rule"] = {"from": 0, "to": 1, "max_codes": [6, 15, 15]}
    assert modelfile.load(write(tmp_path, d)).rr_rules == [d["layers"][-1]["rr_rule"]]
    assert modelfile.load(modelfile.MODELS_DIR / "inter_patient.json").rr_rules == []
    two = [{"from": 1, "to": 0, "max_codes": [15, 3, 15]}, {"from": 0, "to": 1, "max_codes": [6, 15, 15]}]
    d["layers"][-1]["rr_rule"] = two                # a list of rules, in order
    assert modelfile.load(write(tmp_path, d)).rr_rules == two
    assert modelfile.encode_rules(two) == two and modelfile.encode_rules(two[1:]) == two[1]
    plain = copy.deepcopy(doc)                  # the default model: no RR path
    plain["layers"][-1]["rr_rule"] = {"from": 0, "to": 1, "max_codes": [6, 15, 15]}
    with pytest.raises(TernEcgError, match="rr_rule is present but the config has no 'rr_bits'"):
        modelfile.load(write(tmp_path, plain))


def test_the_largest_accepted_values_fit_the_result_frame(tmp_path, doc):
    """Biases at both limits of the accepted range: the integer reference's logits on the fixture
    beats and on extreme inputs pack into the RESULT frame's signed 32-bit fields."""
    from ternecg.boards import protocol as P
    lim = 1 << (modelfile.BIAS_BITS - 1)
    raw = np.concatenate([fixture.load()["raw"].astype(np.int64),
                          np.stack([np.full(240, 2047), np.tile([0, 2047], 120)])])
    for bias in ([lim - 1, -lim], [-lim, lim - 1]):
        d = json.loads(json.dumps(doc))
        d["layers"][6]["bias"] = bias
        m = modelfile.load(write(tmp_path, d))
        logits = integer_ref.forward(m, torch.as_tensor(raw)).logits
        assert int(logits.abs().max()) < 2 ** 31
        for row in logits.tolist()[:5]:
            P.parse(P.RESULT, P.result_payload(0, 0, row, 0))


def test_tampered_file_fails_the_checksum(tmp_path, doc):
    d = json.loads(json.dumps(doc))
    d["layers"][0]["weights"][0] = d["layers"][0]["weights"][0].replace("+", "-", 1)
    with pytest.raises(TernEcgError, match="checksum mismatch"):
        modelfile.load(write(tmp_path, d, fix_checksum=False))


@pytest.mark.parametrize("content", [b"", b"{not json", b"\xff\xfe\x00"])
def test_garbage_file_is_rejected(tmp_path, content):
    p = tmp_path / "bad.json"
    p.write_bytes(content)
    with pytest.raises(TernEcgError, match="bad.json"):
        modelfile.load(p)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(TernEcgError, match="nope.json not found"):
        modelfile.load(tmp_path / "nope.json")


def test_accumulators_stay_within_the_worst_case_bounds():
    m = modelfile.load()
    fx = fixture.load()
    extremes = np.stack([np.full(240, 2047), np.tile([0, 2047], 120), np.full(240, 1024),
                         np.r_[np.zeros(120), [2047], np.zeros(119)]]).astype(np.int64)
    raw = torch.as_tensor(np.concatenate([fx["raw"].astype(np.int64), extremes]))
    tr = integer_ref.forward(m, raw)
    for i, layer in enumerate(m.layers):
        convs = [layer.dw, layer.grp] if isinstance(layer.spec, MuxSpec) else [layer]
        for conv in convs:
            bound = modelfile.acc_bound(conv.codes, modelfile.input_bound(m.cfg.act_bits, i))
            assert bound < 2 ** (conv.acc_bits - 2)          # headroom bit for T = B + 1
        if tr.accs[i] is not None:
            assert int(tr.accs[i].abs().max()) <= modelfile.acc_bound(layer.codes, modelfile.input_bound(m.cfg.act_bits, i))


def test_fixture_matches_the_shipped_model():
    m = modelfile.load()
    fx = fixture.load()
    assert str(fx["model_sha256"]) == m.sha256, "fixture is stale: run 'make fixture'"
    tr = integer_ref.forward(m, torch.as_tensor(fx["raw"].astype(np.int64)))
    assert tr.logits.tolist() == fx["logits"].tolist()
    assert tr.cls.tolist() == fx["cls"].tolist()


@pytest.mark.slow           # ~25-80 s: out of `make test-fast`, in `make test`
def test_qat_forward_agrees_with_the_integer_reference():
    """A briefly trained QAT net in eval mode vs the integer reference of its exported file."""
    m = modelfile.load()
    fx = fixture.load()
    raw = torch.as_tensor(fx["raw"].astype(np.int64))
    torch.manual_seed(1)
    net = Net(m.cfg)
    x = normalize(raw)
    opt = torch.optim.AdamW(net.parameters(), 1e-3)
    for _ in range(20):
        loss = net(x.float()).logsumexp(1).mean() - net(x.float())[:, 0].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    doc = export.export(net)
    path = modelfile.MODELS_DIR.parent / "build" / "test_qat_model.json"
    modelfile.save(doc, path)
    im = modelfile.load(path)
    with torch.no_grad():
        fl = net(x.float()).argmax(1)
    rate = float((fl == integer_ref.forward(im, raw).cls).float().mean())
    print(f"QAT float vs integer reference: same class on {rate:.4f} of {len(raw)} fixture beats")
    assert rate >= 0.995


def test_normaliser_range_and_definition():
    fx = fixture.load()
    raw = torch.as_tensor(fx["raw"].astype(np.int64))
    y = normalize(raw)
    d = normalize_details(raw)
    assert int(y.min()) >= -128 and int(y.max()) <= 127
    dev = (raw - d["mean"].unsqueeze(1)).abs().max(1).values
    assert torch.equal(dev, d["maxdev"])
    assert bool(((d["maxdev"] >> d["shift"]) <= 127).all())
    assert bool((((d["maxdev"] >> (d["shift"] - 1).clamp(min=0)) > 127) | (d["shift"] == 0)).all())


def test_argmax_ties_go_to_the_lowest_index():
    logits = torch.tensor([[3, 3], [1, 2], [5, 5, 5][:2], [-1, -1]])
    assert integer_ref.argmax_lowest(logits).tolist() == [0, 1, 0, 0]


QAT_CHECKPOINT = modelfile.MODELS_DIR / "qat" / "default.pt"


def test_shipped_qat_checkpoint_agrees_with_the_model_file(capsys):
    """The shipped model's own QAT network (float, eval mode) vs the integer reference of the
    shipped file: same class on >= 99.5 % of the fixture beats; re-exporting it gives the file."""
    m = modelfile.load()
    net = Net(m.cfg)
    net.load_state_dict(torch.load(QAT_CHECKPOINT, weights_only=True))
    net.eval()
    fx = fixture.load()
    raw = torch.as_tensor(fx["raw"].astype(np.int64))
    with torch.no_grad():
        fl = net(normalize(raw).float()).argmax(1)
    rate = float((fl == integer_ref.forward(m, raw).cls).float().mean())
    with capsys.disabled():
        print(f"\nshipped QAT model vs integer reference: same class on {rate:.4f} of {len(raw)} fixture beats")
    assert rate >= 0.995
    doc = json.loads(modelfile.DEFAULT_MODEL.read_text())
    assert export.export(net, doc["meta"])["layers"] == doc["layers"]
