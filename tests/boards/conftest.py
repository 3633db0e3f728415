import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "hw"))     # tests/hw/streams.py


@pytest.fixture(autouse=True)
def _stream_rule(monkeypatch):
    """Every Amaranth simulation of a component checks the stream rule on its output streams
    (tests/hw/streams.py)."""
    from streams import check_every_simulation
    check_every_simulation(monkeypatch)



def _template_table(k, c):
    """A made-up template-code table (entry ``c`` of class ``k``): large enough to change classes."""
    return (c - 4) * (40 if k == 2 else -10)


def _template_doc(irregular):
    """models/aami4_inter.json as a test model that reads the template code (config
    ``rr_template = 1``) with the made-up table :func:`_template_table` at index 3 of each class
    (golden/spec/rr.py ``feature_names``), whether or not the file reads that code already (its
    own table, a zero one for its template rule, is replaced). With ``irregular`` the file's
    irregularity code and its RR rules stay (a rule the file lacks a template bound in gets
    2^b - 1: no bound); without, the irregularity code and the rules go. The checksum is made
    anew."""
    import json

    from ternecg.golden.spec import modelfile
    from ternecg.paths import models_dir
    doc = json.loads((models_dir() / "aami4_inter.json").read_text())
    cfg, last = dict(doc["config"]), doc["layers"][-1]
    if not cfg.get("rr_irregular"):
        raise ValueError("models/aami4_inter.json does not read the irregularity code: make the test model by hand")
    top = (1 << cfg["rr_bits"]) - 1
    rules = last.pop("rr_rule", None)
    rules = [rules] if isinstance(rules, dict) else rules or []
    for k, cls in enumerate(last["rr_table"]):
        row = [_template_table(k, c) for c in range(top + 1)]
        if cfg.get("rr_template"):
            cls[3] = row
        else:
            cls.insert(3, row)
    if not cfg.get("rr_template"):
        for rule in rules:
            rule["max_codes"].insert(3, top)
    cfg["rr_template"] = 1
    if irregular:
        if rules:
            last["rr_rule"] = rules if len(rules) > 1 else rules[0]
    else:
        cfg.pop("rr_irregular")
        for cls in last["rr_table"]:
            cls.pop()
    doc["config"] = cfg
    doc["sha256"] = modelfile.checksum(doc)
    return doc


@pytest.fixture(scope="session")
def template_model_5(tmp_path_factory):
    """A model file with five codes per beat (F = 5: pre/local, post/local, post/pre, template,
    irregular): :func:`_template_doc` with the irregularity code and the RR rules."""
    from ternecg.golden.spec import modelfile
    path = tmp_path_factory.mktemp("template") / "aami4_template5.json"
    modelfile.save(_template_doc(True), path)
    return path


@pytest.fixture(scope="session")
def template_model_4(tmp_path_factory):
    """A model file with four codes per beat (F = 4: the three interval codes and the template
    code): :func:`_template_doc` without the irregularity code and the rules."""
    from ternecg.golden.spec import modelfile
    path = tmp_path_factory.mktemp("template") / "aami4_template4.json"
    modelfile.save(_template_doc(False), path)
    return path
