"""Helpers shared by the tests of the software monitor and of models with more RR codes (tests/ is
on sys.path: tests/conftest.py).

* :func:`aami4_with_rr_code` writes a test model with a fourth RR code (config ``rr_template`` or
  ``rr_irregular``): models/aami4_inter.json with its config changed and one more table per class;
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
    values are made up."""
    doc = json.loads((models_dir() / "aami4_inter.json").read_text())
    doc["config"] = dict(doc["config"], **config)
    for k, cls in enumerate(doc["layers"][-1]["rr_table"]):
        cls.append([table(k, c) for c in range(16)])
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
