"""Config validation: every invalid field is rejected with a message naming it."""

import copy
import json

import pytest

from ternecg.errors import TernEcgError
from ternecg.golden.spec.config import CONFIG_DIR, load_config, parse_config

BASE = json.loads((CONFIG_DIR / "msgc_mux.json").read_text())


def mutate(path, value):
    d = copy.deepcopy(BASE)
    node = d
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return d


@pytest.mark.parametrize("path,value,needle", [
    (("layers", 1, "out"), 21, "multiple of groups^2 = 9"),
    (("layers", 1, "kernels"), [3, 4, 7], "kernel size 4 must be odd"),
    (("layers", 0, "kernel"), 6, "kernel size 6 must be odd"),
    (("layers", 2, "dw_kernel"), 4, "dw_kernel"),
    (("layers", 1, "conv"), "fancy", "unknown conv type 'fancy'"),
    (("layers", 3, "type"), "lstm", "unknown layer type 'lstm'"),
    (("layers", 1, "kernels"), [3, 5], "has 2 entries but groups = 3"),
    (("layers", 6, "out"), 3, "task 'binary' has 2 classes"),
    (("act_bits",), 9, "'act_bits' = 9"),
    (("act_bits",), 0, "'act_bits' = 0"),
    (("task",), "ten", "'task' = 'ten'"),
    (("input_length",), KeyError, "missing field 'input_length'"),
    (("layers",), [], "'layers' must be a non-empty list"),
    (("layers", 0, "stride"), 0, "'stride' = 0"),
])
def test_invalid_config_is_rejected(path, value, needle):
    with pytest.raises(TernEcgError) as e:
        parse_config(mutate(path, value), "test.json")
    assert needle in str(e.value)
    assert "test.json" in str(e.value)


def test_widths_that_overflow_are_rejected():
    d = mutate(("act_bits",), 8)
    d["layers"][5]["out"] = 24
    d["layers"][0]["out"] = 18
    big = copy.deepcopy(d)
    big["layers"].insert(5, {"type": "conv", "conv": "regular", "out": 20000, "kernel": 15, "stride": 1})
    with pytest.raises(TernEcgError, match="accumulator"):
        parse_config(big, "wide.json")


def test_last_layer_must_be_dense():
    d = copy.deepcopy(BASE)
    d["layers"] = d["layers"][:-2]
    with pytest.raises(TernEcgError, match="last layer must be a dense"):
        parse_config(d)


def test_unknown_config_name_lists_known_ones():
    with pytest.raises(TernEcgError, match="msgc_mux"):
        load_config("no_such_model")


def test_default_model_budget():
    cfg = load_config("msgc_mux")
    assert cfg.weights <= 16000 and cfg.macs <= 150000
    assert [type(l).__name__ for l in cfg.layers].count("MuxSpec") == 2
    assert any(getattr(l, "kind", "") == "msgc" for l in cfg.layers)


def test_config_check_uses_the_loaders_accumulator_width():
    """A worst-case bound of 23 bits needs 25 with the sign and the threshold headroom (as
    modelfile.acc_bits_needed counts them): the config is refused before training, not the
    trained model by the loader."""
    from types import SimpleNamespace
    from ternecg.golden.spec import config
    spec = SimpleNamespace(cin_g=1, kernels=(1,))
    with pytest.raises(TernEcgError, match="needs 25 bits"):
        config._check_acc("layers[0]", spec, 1 << 22)
    assert config._check_acc("layers[0]", spec, (1 << 22) - 1) == (1 << 22) - 1
