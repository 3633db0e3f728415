"""The RR path of a model: config, QAT integer table, export, model file checks, integer reference."""

import json

import numpy as np
import pytest
import torch

from ternecg.errors import TernEcgError
from ternecg.golden import export, fixture, integer_ref
from ternecg.golden.spec import modelfile
from ternecg.golden.spec.config import load_config, parse_config
from ternecg.golden.model import Net
from ternecg.golden.normalize import normalize
from ternecg.golden.rr import thermometer

INTER = modelfile.MODELS_DIR / "inter_patient.json"
QAT = modelfile.MODELS_DIR / "qat" / "inter_patient.pt"


@pytest.fixture(scope="module")
def inter_doc():
    return json.loads(INTER.read_text())


def _inputs(cfg, fx):
    raw = torch.as_tensor(fx["raw"].astype(np.int64))
    rr = torch.as_tensor(fx["rr"])
    return raw, rr, torch.cat([normalize(raw).float(), thermometer(rr, cfg.rr_bits)], 1)


def test_shipped_qat_checkpoint_agrees_with_the_model_file():
    """The shipped inter-patient QAT network with the fixture beats' RR codes vs the integer
    reference of the shipped file: the same class on >= 99.5 % of the beats, logits within a
    rounding step of the bias; re-exporting it gives the file's layers (RR table included)."""
    m = modelfile.load(INTER)
    fx = fixture.load()
    assert int(fx["rr_bits"]) == m.cfg.rr_bits and int(fx["rr_local"]) == m.cfg.rr_local
    net = Net(m.cfg)
    net.load_state_dict(torch.load(QAT, weights_only=True))
    net.eval()
    raw, rr, x = _inputs(m.cfg, fx)
    tr = integer_ref.forward(m, raw, rr)
    with torch.no_grad():
        logits = net(x)
    rate = float((logits.argmax(1) == tr.cls).float().mean())
    assert rate >= 0.995
    assert float((logits / net.logit_unit() - tr.logits).abs().max()) < 1.0
    assert bool((tr.rr != 0).any()) and int(abs(m.rr_table[:, :, 0]).max()) == 0
    doc = json.loads(INTER.read_text())
    assert export.export(net, doc["meta"])["layers"] == doc["layers"]


def test_rr_table_is_whole_logit_units_in_qat():
    """During training the RR weights' cumulative sums are whole multiples of the logit unit, so
    the exported integer table reproduces the QAT logits exactly (no rounding at export)."""
    cfg = load_config("msgc_mux_rr")
    torch.manual_seed(3)
    net = Net(cfg)
    with torch.no_grad():
        net.rr_w.normal_(0, 0.3)
    unit = net.logit_unit()
    steps = torch.cumsum(net._rr_weights(), -1) / unit
    assert torch.allclose(steps, steps.round(), atol=1e-3)
    codes = torch.arange(16).repeat(3, 1).t()                          # every code of every feature
    with torch.no_grad():
        float_rr = thermometer(codes, cfg.rr_bits) @ net._rr_weights().flatten(1).t() / unit
    assert torch.allclose(float_rr, integer_ref.rr_sum(net.rr_table(), codes).float(), atol=1e-3)


def test_integer_reference_needs_the_right_codes():
    m = modelfile.load(INTER)
    raw = torch.as_tensor(fixture.load()["raw"][:3].astype(np.int64))
    with pytest.raises(TernEcgError, match="pass the 3 codes of every beat"):
        integer_ref.forward(m, raw)
    with pytest.raises(TernEcgError, match=r"shape \(2, 3\), expected \(3, 3\)"):
        integer_ref.forward(m, raw, torch.zeros(2, 3, dtype=torch.int64))
    with pytest.raises(TernEcgError, match="must lie in 0..15"):
        integer_ref.forward(m, raw, torch.full((3, 3), 16))
    with pytest.raises(TernEcgError, match="has no RR path"):
        integer_ref.forward(modelfile.load(), raw, torch.zeros(3, 3, dtype=torch.int64))


def test_rr_sum_definition():
    table = torch.arange(2 * 3 * 4).view(2, 3, 4)
    codes = torch.tensor([[0, 1, 2], [3, 3, 3]])
    want = [[table[k, 0, c[0]] + table[k, 1, c[1]] + table[k, 2, c[2]] for k in range(2)] for c in codes]
    assert integer_ref.rr_sum(table, codes).tolist() == [[int(v) for v in row] for row in want]


@pytest.mark.parametrize("edit,needle", [
    (lambda d: d["layers"][-1].pop("rr_table"), "rr_table must be 2 classes x 3 features x 16 integers"),
    (lambda d: d["layers"][-1]["rr_table"][0][1].pop(), "rr_table must be"),
    (lambda d: d["layers"][-1]["rr_table"][1][2].__setitem__(3, 1 << 15), r"in \[-32768, 32767\]"),
    (lambda d: d["layers"][-1]["rr_table"][0][0].__setitem__(5, 2.5), "rr_table must be"),
    (lambda d: d["config"].pop("rr_bits"), "rr_table is present but the config has no 'rr_bits'"),
    (lambda d: d["config"].update(rr_bits=9), "field 'rr_bits' = 9 must be an integer in 0..8"),
    (lambda d: d["config"].update(rr_local=0), "field 'rr_local' = 0 must be an integer in 1..1024"),
])
def test_corrupt_rr_table_is_rejected(tmp_path, inter_doc, edit, needle):
    d = json.loads(json.dumps(inter_doc))
    edit(d)
    d["sha256"] = modelfile.checksum(d)
    p = tmp_path / "m.json"
    p.write_text(json.dumps(d))
    with pytest.raises(TernEcgError, match=needle):
        modelfile.load(p)


def test_config_without_rr_has_no_table():
    cfg = parse_config(json.loads((modelfile.MODELS_DIR.parent / "golden" / "configs" / "msgc_mux.json").read_text()))
    assert cfg.rr_bits == 0 and cfg.rr_features == 0 and not hasattr(Net(cfg), "rr_w")
    assert modelfile.load().rr_table is None
