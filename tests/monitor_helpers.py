"""Helpers shared by the tests of the software monitor and of models with more RR codes (tests/ is
on sys.path: tests/conftest.py).

* :func:`aami4_with_rr_code` writes a test model with a fourth RR code (config ``rr_template`` or
  ``rr_irregular``): models/aami4_inter.json with its config changed and one more table per class;
* :func:`aami4_with_irregular_code` writes a model that reads the irregularity code (and no
  template code) from models/aami4_inter.json, whether or not that file reads it already;
* :func:`stream` feeds a :class:`~ternecg.golden.monitor.MonitorStream` sample by sample.
"""

import json

from ternecg.golden import monitor
from ternecg.golden.spec import modelfile
from ternecg.paths import models_dir


def aami4_with_rr_code(path, table, **config):
    """Writes to ``path`` (and returns it) models/aami4_inter.json with ``config`` set in its
    config (e.g. ``rr_template=1``) and one more RR table per class appended, entry ``c`` (0..15)
    of class ``k`` being ``table(k, c)``; the checksum is made anew. A test model: the tables'
    values are made up. The base is the trained model: its RR rules (and the irregularity and
    template codes added for them, golden/aami4.py ``with_rr_rule``, ``with_template_rule``) taken
    off."""
    from ternecg.golden import aami4
    doc = aami4.with_template_rule(json.loads((models_dir() / "aami4_inter.json").read_text()), None)
    doc = aami4.with_rr_rule(doc, None)
    doc["config"] = dict(doc["config"], **config)
    for k, cls in enumerate(doc["layers"][-1]["rr_table"]):
        cls.append([table(k, c) for c in range(16)])
    doc["sha256"] = modelfile.checksum(doc)
    modelfile.save(doc, path)
    return path


def aami4_with_irregular_code(path, table, **config):
    """Writes to ``path`` (and returns it) models/aami4_inter.json reading the irregularity code
    (config ``rr_irregular = 1``; not the template code) with ``config`` set in its config and
    the code's table, entry ``c`` of class ``k``, being ``table(k, c)``: appended to each class if
    the file does not read the code (with a bound 2^b - 1 in an RR rule's ``max_codes``, if it
    has a rule), in place of the file's own table if it does. The checksum is made anew. A test
    model: the table's values are made up. A template rule of the file (and the template code added
    for it, golden/aami4.py ``with_template_rule``) is taken off first."""
    from ternecg.golden import aami4
    doc = aami4.with_template_rule(json.loads((models_dir() / "aami4_inter.json").read_text()), None)
    cfg, last = dict(doc["config"]), doc["layers"][-1]
    if cfg.get("rr_template"):
        raise ValueError("models/aami4_inter.json reads the template code: make the test model by hand")
    new = [[table(k, c) for c in range(1 << cfg["rr_bits"])] for k in range(len(last["rr_table"]))]
    for cls, row in zip(last["rr_table"], new):
        if cfg.get("rr_irregular"):
            cls[-1] = row
        else:
            cls.append(row)
    if not cfg.get("rr_irregular") and "rr_rule" in last:
        for rule in (last["rr_rule"] if isinstance(last["rr_rule"], list) else [last["rr_rule"]]):
            rule["max_codes"].append((1 << cfg["rr_bits"]) - 1)
    doc["config"] = {**cfg, "rr_irregular": 1, **config}
    doc["sha256"] = modelfile.checksum(doc)
    modelfile.save(doc, path)
    return path


def stream(model, signal, end=True):
    """The monitor's outputs for ``signal`` pushed one sample at a time into a MonitorStream,
    then (``end``) the end-of-record marker's."""
    s = monitor.MonitorStream(model)
    out = []
    for x in signal:
        out += s.push(x)
    if end:
        out += s.end()
    return out
