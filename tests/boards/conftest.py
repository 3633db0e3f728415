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


@pytest.fixture(scope="session")
def template_model_5(tmp_path_factory):
    """A model file with five codes per beat (F = 5: pre/local, post/local, post/pre, template,
    irregular): models/aami4_inter.json (which reads them all, with its RR rules) with the made-up
    template table :func:`_template_table` in place of its zero one; the checksum made anew."""
    import json

    from ternecg.golden.spec import modelfile
    from ternecg.paths import models_dir
    doc = json.loads((models_dir() / "aami4_inter.json").read_text())
    if not (doc["config"].get("rr_template") and doc["config"].get("rr_irregular")):
        raise ValueError("models/aami4_inter.json does not read the template and irregularity codes: "
                         "make the test model by hand")
    for k, cls in enumerate(doc["layers"][-1]["rr_table"]):
        cls[3] = [_template_table(k, c) for c in range(len(cls[3]))]
    doc["sha256"] = modelfile.checksum(doc)
    path = tmp_path_factory.mktemp("template") / "aami4_template5.json"
    modelfile.save(doc, path)
    return path


@pytest.fixture(scope="session")
def template_model_4(tmp_path_factory):
    """A model file with four codes per beat (F = 4: the three interval codes and the template
    code, no RR rule): tests/monitor_helpers.py ``aami4_with_rr_code`` with the made-up table
    :func:`_template_table`."""
    from monitor_helpers import aami4_with_rr_code
    return aami4_with_rr_code(tmp_path_factory.mktemp("template") / "aami4_template4.json", _template_table,
                              rr_template=1)
