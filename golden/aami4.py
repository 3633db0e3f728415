"""AAMI four-class models (N, S, V, F) on *detected* beats: data, training, recipe selection.

Data (golden/detected.py): the R-peak detector's classified detections of each record, labelled
by their EC57-matched reference beat (AAMI Q and unmatched detections are not training data);
windows cut at the detected peak, RR codes from the detected peaks exactly as the monitor
computes them (golden/monitor.py). Training moves each window by a random shift every time a
beat is drawn (``jitter``), so a model does not depend on where the detector, or the reference
annotator, puts the peak:

* ``"none"``: no shift;
* ``"offsets"``: a shift drawn from the detector's observed offsets (detected minus reference
  sample of the matched beats of the *training* records, clipped to +-``JITTER_MAX``) with a
  random sign (the spread, symmetrised);
* ``"uniform:k"``: a shift uniform in ``-k .. k``.

Protocols (golden/splits.py): ``inter`` trains on DS1 and tests on DS2 (whole records);
``patient`` fine-tunes a global DS1 model on the first 5 minutes of each DS2 record and tests on
the rest. Recipes are chosen on :data:`HOLDOUT` (five DS1 records with S and V beats, held out of
training): ``make aami4-select`` (golden/aami4_select.py, results/aami4_select.json); each recipe's operating
point, offsets to the exported logits bias (``bias_offsets``), on the same hold-out: ``make aami4-operating``
(golden/aami4_operating.py, results/aami4_operating.json). DS2 is scored once per shipped recipe (``make
monitor-eval``, ``make aami4-seeds``).
"""

from __future__ import annotations

import copy
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ternecg.errors import TernEcgError

from . import detected, ec57_score, monitor, splits, train
from .export import export
from .normalize import normalize
from .rr import thermometer
from .spec import modelfile
from .spec.config import load_config, parse_config

#: DS1 records held out of training for recipe selection (S and V beats: 331 S, 898 V, 21 F)
HOLDOUT = ("118", "124", "201", "215", "223")
FINE_TUNE_SAMPLES = splits.FINE_TUNE_SECONDS * splits.FS
JITTER_MAX = 9

# The shipped recipes, chosen on HOLDOUT (results/aami4_select.json, seed 0 each): class weights
# N1 S4 V2 F1 (mean F1(S,V) 0.541 vs 0.441 unweighted), RR local mean 32 (8: 0.514), RR codes
# also for the patient models (without: 0.702 vs 0.751); fine-tuning with 75 common beats per
# class and the class weights (a record whose first 5 minutes hold no V beat forgets V without
# them; on the cw_s4v2 global model: 0.646 without, 0.739 with 75 common beats, 0.751 with both).
# The jitter is the requirement (robustness to where the peak is put); on the hold-out it
# did not help the inter-patient figure (0.410 with, 0.441 without, unweighted, one seed). One
# thread each (the result depends on the thread count; two trainings run side by side).
# ``bias_offsets`` (N, S, V, F), the operating point, is added to the exported logits bias (not to
# the QAT checkpoint the patient models start from): chosen on the same hold-out by ``make
# aami4-operating`` (results/aami4_operating.json; criterion the mean of F1(S), F1(V), applied only
# for a gain >= 0.01): inter-patient S and V +8 (0.541 -> 0.593); patient-specific +0.003 at best,
# so zero. ``premature_offset`` [t, o] (after the bias offsets) adds o to the RR table's N entries of
# the pre/local codes 0..t: chosen by ``make aami4-rhythm`` (results/aami4_rhythm.json) on both
# hold-out folds, seeds 0-2: inter-patient [6, -160] (mean criterion 0.479 -> 0.523),
# patient-specific [6, -56] (0.736 -> 0.767); replaced by ``rr_rule`` [t, b] (a beat called N with
# pre/local code <= t and irregularity code <= b is S, docs/arithmetic.md 6): chosen by ``make
# aami4-rule`` (results/aami4_rule.json) on the same models against both, one rule for both
# protocols (it is logic; the monitor's bitstream is patched between their models): [6, 5], mean
# criterion 0.607 -> 0.676 (inter 0.479 -> 0.559, patient 0.736 -> 0.793; the premature offsets'
# mean 0.645); so the premature offset is [0, 0].
INTER = {"config": "msgc_mux_aami4_rr", "epochs": 30, "lr": 1e-3, "batch": 256, "mixup": 0.2,
         "class_weight": [1.0, 4.0, 2.0, 1.0], "jitter": "offsets", "threads": 1, "bias_offsets": [0, 8, 8, 0],
         "premature_offset": [0, 0], "rr_rule": [6, 5], "template_rule": 4}
GLOBAL = {"from": "inter"}      # the patient protocol's global model: the inter-patient model
FINETUNE = {"epochs": 100, "lr": 1e-3, "batch": 64, "mixup": 0.0, "class_weight": [1.0, 4.0, 2.0, 1.0],
            "jitter": "offsets", "common": 75, "threads": 1, "bias_offsets": [0, 0, 0, 0],
            "premature_offset": [0, 0], "rr_rule": [6, 5], "template_rule": 4}

INTER_NAME = "aami4_inter"
PATIENT_DIR = "aami4_patient"


# ---- data ----------------------------------------------------------------------------------------
def jitter_pool(dset: detected.Set, mode: str) -> np.ndarray | None:
    """The shifts a ``jitter`` mode draws from (uniformly), or None for no shift."""
    if mode in (None, "none"):
        return None
    if mode == "offsets":
        o = np.clip(dset.offsets, -JITTER_MAX, JITTER_MAX)
        return np.concatenate([o, -o]).astype(np.int64)
    if isinstance(mode, str) and mode.startswith("uniform:"):
        k = int(mode.split(":", 1)[1])
        return np.arange(-k, k + 1, dtype=np.int64)
    raise TernEcgError(f"jitter {mode!r}: use none, offsets or uniform:K")


class Inputs:
    """The training rows of beats ``index`` of ``dset`` (``train.fit(inputs=...)``): the window
    at the detected peak moved by a shift drawn from ``pool``, normalised, then the thermometer
    bits of the RR codes when the config has an RR path."""

    def __init__(self, dset: detected.Set, index, cfg, pool=None):
        self.dset, self.index, self.cfg = dset, np.asarray(index), cfg
        self.pool = None if pool is None else torch.as_tensor(pool)
        self.rr = thermometer(torch.as_tensor(dset.codes(cfg)[self.index]), cfg.rr_bits) if cfg.rr_bits else None

    def rows(self, idx, shift=None):
        raw = self.dset.raw(self.index[np.asarray(idx)], shift)
        x = normalize(torch.from_numpy(raw)).float()
        return torch.cat([x, self.rr[idx]], 1) if self.rr is not None else x

    def __call__(self, idx, gen):
        shift = None
        if self.pool is not None:
            shift = self.pool[torch.randint(len(self.pool), (len(idx),), generator=gen)].numpy()
        return self.rows(idx, shift)


def labelled(dset: detected.Set, mask=None) -> np.ndarray:
    """Indices of the beats with a four-class label (matched, not Q) [and ``mask``]."""
    ok = dset.labels >= 0
    return np.flatnonzero(ok if mask is None else ok & mask)


def config(recipe: dict, overrides=None):
    """The model config of a recipe (``rr_local`` / no RR overridable for experiments)."""
    cfg = load_config(recipe["config"])
    raw = dict(cfg.raw, **(overrides or {}))
    raw = {k: v for k, v in raw.items() if v is not None}
    return parse_config(raw, source=recipe["config"])


def fit(net, dset, index, recipe, seed, desc, pool_from=None):
    """Train ``net`` in place on beats ``index`` of ``dset`` with ``recipe``; returns seconds."""
    pool = jitter_pool(pool_from if pool_from is not None else dset.subset(index), recipe["jitter"])
    inputs = Inputs(dset, index, net.cfg, pool)
    y = torch.from_numpy(dset.labels[index])
    x = torch.zeros(len(index), 1)              # only its length: rows come from ``inputs``
    return train.fit(net, x, y, recipe["epochs"], recipe["lr"], seed, recipe["batch"], recipe["mixup"],
                     desc=desc, threads=recipe["threads"], class_weight=recipe["class_weight"], inputs=inputs,
                     quiet=not sys.stderr.isatty())


def to_model(net, meta, path, bias_offsets=None, premature_offset=None, rr_rule=None, template_rule=None):
    """Export ``net`` to the model file ``path`` and load it back (the integer model); with
    ``bias_offsets`` (per class) the logits layer's bias gains them (the recipe's operating point,
    golden/aami4_operating.py) and ``meta["bias_offsets"]`` records them; with ``premature_offset``
    ``[max_code, offset]`` the RR table's N entries of premature beats gain ``offset``
    (:func:`with_premature_offset`, golden/aami4_rhythm.py); with ``rr_rule`` ``[t, b]`` the file
    gets the RR rule (:func:`with_rr_rule`, golden/aami4_rule.py); with ``template_rule`` ``u`` the
    template rule before it (:func:`with_template_rule`, golden/aami4_template.py)."""
    # the exported file is the trained one, whatever ``meta`` (a recipe) says about offsets
    doc = export(net, {k: v for k, v in meta.items() if k not in (BIAS_KEY, PREMATURE_KEY, RULE_KEY, TEMPLATE_KEY)})
    if bias_offsets is not None:
        doc = with_bias_offsets(doc, bias_offsets)
    if premature_offset is not None:
        doc = with_premature_offset(doc, premature_offset)
    if rr_rule is not None:
        doc = with_rr_rule(doc, rr_rule)
    if template_rule is not None:
        doc = with_template_rule(doc, template_rule)
    modelfile.save(doc, path)
    return modelfile.load(path)


#: the recipe keys of the operating-point changes a model file records in its metadata
BIAS_KEY, PREMATURE_KEY, RULE_KEY, TEMPLATE_KEY = "bias_offsets", "premature_offset", "rr_rule", "template_rule"
#: the metadata flag of a file whose irregularity code was added for its RR rule (a zero table)
RULE_IRREGULAR_KEY = "rr_rule_irregular_added"
#: the metadata flag of a file whose template code was added for its template rule (a zero table)
TEMPLATE_ADDED_KEY = "template_rule_code_added"
#: the rules' classes: the RR rule N -> S, the template rule V -> N (docs/arithmetic.md 6)
RHYTHM_PAIR, TEMPLATE_PAIR = (0, 1), (2, 0)
#: the template code's position among the RR codes (golden/spec/rr.py ``feature_names``)
TEMPLATE_FEATURE = 3
#: the class and the RR feature a premature offset acts on: N, pre/local (golden/spec/rr.py)
PREMATURE_CLASS, PREMATURE_FEATURE = 0, 0


def with_premature_offset(doc: dict, spec) -> dict:
    """A copy of model document ``doc`` whose RR table carries the premature offset ``spec`` =
    ``[max_code, offset]`` instead of the one ``doc["meta"]["premature_offset"]`` says it carries
    (none: ``[0, 0]``): ``offset`` is added to the N entries of the pre/local code for codes
    ``0 .. max_code`` (a beat whose previous interval is at most ``(max_code + 1/2) / 8`` of the
    local mean is less likely N; with a negative offset, a beat the network calls N by a margin
    below ``-offset`` goes to its second class). The trained table is the file's minus the
    recorded offset at all times; the checksum is renewed."""
    doc = copy.deepcopy(doc)
    final = doc["layers"][-1]
    table = final.get("rr_table")
    if table is None:
        raise TernEcgError("premature_offset needs a model with an RR table (config rr_bits)")
    codes = len(table[PREMATURE_CLASS][PREMATURE_FEATURE])

    def parse(v):
        if (not isinstance(v, (list, tuple)) or len(v) != 2
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in v) or not 0 <= v[0] < codes):
            raise TernEcgError(f"premature_offset {v!r} must be [max_code, offset]: integers, max_code in 0..{codes - 1}")
        return [int(v[0]), int(v[1])]

    new = parse(list(spec))
    old = parse(list(doc.get("meta", {}).get(PREMATURE_KEY, [0, 0])))
    row = table[PREMATURE_CLASS][PREMATURE_FEATURE]
    for c in range(codes):
        row[c] = int(row[c]) - (old[1] if c <= old[0] else 0) + (new[1] if c <= new[0] else 0)
    doc.setdefault("meta", {})[PREMATURE_KEY] = new
    doc["sha256"] = modelfile.checksum(doc)
    return doc


def _rules(final) -> list:
    """The logits entry's RR rules as a list (the file holds one rule as an object)."""
    r = final.pop("rr_rule", None)
    return [] if r is None else (r if isinstance(r, list) else [r])


def _set_rules(final, rules):
    if rules:
        final["rr_rule"] = modelfile.encode_rules(rules)


def _rule_parts(doc: dict, what: str):
    """A copy of ``doc`` and its parts a rule rewrite changes: config, logits entry, metadata, RR
    table, and the largest code 2^b - 1 (one message without an RR table)."""
    doc = copy.deepcopy(doc)
    cfg, final, meta = doc["config"], doc["layers"][-1], doc.setdefault("meta", {})
    table = final.get("rr_table")
    if table is None:
        raise TernEcgError(f"{what} needs a model with an RR table (config rr_bits)")
    return doc, cfg, final, meta, table, len(table[0][0]) - 1


def _add_code(cfg, table, rules, key, at):
    """Config ``key`` on: one more RR code at position ``at``, with a zero table in every class
    (the logits stay) and a free bound (2^b - 1) in every rule."""
    cmax = len(table[0][0]) - 1
    cfg[key] = 1
    for row in table:
        row.insert(at, [0] * (cmax + 1))
    for r in rules:
        r["max_codes"].insert(at, cmax)


def _drop_code(cfg, table, rules, key, at):
    """Undo :func:`_add_code`: config ``key`` off, code ``at`` out of the table and the rules."""
    cfg.pop(key, None)
    for row in table:
        row.pop(at)
    for r in rules:
        r["max_codes"].pop(at)


def with_rr_rule(doc: dict, spec) -> dict:
    """A copy of model document ``doc`` with the RR rule ``spec`` = ``[t, b]`` (None: no rule)
    instead of the one ``doc["meta"]["rr_rule"]`` records: a beat the network calls N whose
    pre/local code is at most ``t`` and whose irregularity code is at most ``b`` becomes S
    (docs/arithmetic.md 6, the model file's ``rr_rule``; chosen by golden/aami4_rule.py). It is
    the last of the file's rules (after a template rule). A model trained without the
    irregularity code gets it (config ``rr_irregular``) with a zero table, so its logits stay the
    trained ones; taking the rule off takes that code off again. The checksum is renewed."""
    doc, cfg, final, meta, table, cmax = _rule_parts(doc, "rr_rule")
    if spec is not None and (not isinstance(spec, (list, tuple)) or len(spec) != 2
                             or not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= cmax for x in spec)):
        raise TernEcgError(f"rr_rule {spec!r} must be [t, b]: pre/local and irregularity codes in 0..{cmax}, or null")
    rules = [r for r in _rules(final) if (r["from"], r["to"]) != RHYTHM_PAIR]
    meta.pop(RULE_KEY, None)
    if meta.pop(RULE_IRREGULAR_KEY, False):
        _drop_code(cfg, table, rules, "rr_irregular", -1)           # the irregularity code is the last
    if spec is not None:
        if not cfg.get("rr_irregular"):
            _add_code(cfg, table, rules, "rr_irregular", len(table[0]))
            meta[RULE_IRREGULAR_KEY] = True
        bounds = [cmax] * len(table[0])
        bounds[0], bounds[-1] = int(spec[0]), int(spec[1])     # pre/local first, the irregularity code last
        rules.append({"from": RHYTHM_PAIR[0], "to": RHYTHM_PAIR[1], "max_codes": bounds})
        meta[RULE_KEY] = [int(spec[0]), int(spec[1])]
    _set_rules(final, rules)
    doc["sha256"] = modelfile.checksum(doc)
    return doc


def with_template_rule(doc: dict, u) -> dict:
    """A copy of model document ``doc`` with the template rule ``u`` (None: none) instead of the
    one ``doc["meta"]["template_rule"]`` records: a beat the network calls V whose template code
    (docs/arithmetic.md 6, golden/spec/rr.py ``Template``) is at most ``u`` becomes N; it is the
    file's first rule, so that the RR rule after it decides N against S (chosen by
    golden/aami4_template.py). A model trained without the template code gets it (config
    ``rr_template``, every beat updating the template) with a zero table, so its logits stay the
    trained ones; taking the rule off takes that code off again. The checksum is renewed."""
    doc, cfg, final, meta, table, cmax = _rule_parts(doc, "template_rule")
    if u is not None and (not isinstance(u, int) or isinstance(u, bool) or not 0 <= u <= cmax):
        raise TernEcgError(f"template_rule {u!r} must be a template code in 0..{cmax}, or null")
    rules = [r for r in _rules(final) if (r["from"], r["to"]) != TEMPLATE_PAIR]
    meta.pop(TEMPLATE_KEY, None)
    if meta.pop(TEMPLATE_ADDED_KEY, False):
        _drop_code(cfg, table, rules, "rr_template", TEMPLATE_FEATURE)
    if u is not None:
        if not cfg.get("rr_template"):
            _add_code(cfg, table, rules, "rr_template", TEMPLATE_FEATURE)
            meta[TEMPLATE_ADDED_KEY] = True
        bounds = [cmax] * len(table[0])
        bounds[TEMPLATE_FEATURE] = int(u)
        rules.insert(0, {"from": TEMPLATE_PAIR[0], "to": TEMPLATE_PAIR[1], "max_codes": bounds})
        meta[TEMPLATE_KEY] = int(u)
    _set_rules(final, rules)
    doc["sha256"] = modelfile.checksum(doc)
    return doc


def with_bias_offsets(doc: dict, offsets) -> dict:
    """A copy of model document ``doc`` whose logits bias carries ``offsets`` (per class) instead of
    the ones ``doc["meta"]["bias_offsets"]`` says it carries (none: zeros): the trained bias is
    ``bias - meta["bias_offsets"]`` at all times. The checksum is renewed."""
    doc = copy.deepcopy(doc)
    final = doc["layers"][-1]
    n = len(final["bias"])
    offsets = [int(v) for v in offsets]
    if len(offsets) != n:
        raise TernEcgError(f"bias_offsets {offsets} must have one integer per class ({n})")
    old = [int(v) for v in doc.get("meta", {}).get("bias_offsets", [0] * n)]
    final["bias"] = [int(b) - o + v for b, o, v in zip(final["bias"], old, offsets)]
    doc.setdefault("meta", {})["bias_offsets"] = offsets
    doc["sha256"] = modelfile.checksum(doc)
    return doc


def set_bias_offsets(path, offsets, premature=None, rule=False, template=False) -> bool:
    """Give model file ``path`` the bias offsets ``offsets`` (:func:`with_bias_offsets`) and, unless
    None, the premature offset ``premature`` (:func:`with_premature_offset`) and, unless False, the
    RR rule ``rule`` (:func:`with_rr_rule`; None: none) and the template rule ``template``
    (:func:`with_template_rule`; None: none), checked on load (BIAS_BITS, RR_ENTRY_BITS, the
    rules); returns whether the file changed."""
    path = Path(path)
    modelfile.load(path)                        # a valid file before ...
    doc = json.loads(path.read_text())
    new = with_bias_offsets(doc, offsets)
    if premature is not None:
        new = with_premature_offset(new, premature)
    if rule is not False:
        new = with_rr_rule(new, rule)
    if template is not False:
        new = with_template_rule(new, template)
    if new == doc:
        return False
    tmp = path.with_name(path.name + ".tmp")
    try:
        modelfile.save(new, tmp)
        modelfile.load(tmp)                     # ... and after (bias range, checksum), before it replaces it
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return True


# ---- scoring -------------------------------------------------------------------------------------
def classes_of(model, dset: detected.Set, index=None) -> np.ndarray:
    """The integer model's class of beats ``index`` of ``dset``: what the monitor decides."""
    index = np.arange(len(dset)) if index is None else np.asarray(index)
    rr = dset.codes(model.cfg)[index] if model.cfg.rr_bits else None
    cls, _ = monitor.classify(model, dset.raw(index), rr)
    return cls


def record_confusion(rec: detected.Record, det_cls, after: int = 0) -> np.ndarray:
    """EC57 confusion (golden/ec57_score.py) of one record's classified detections ``rec.det``
    with classes ``det_cls``; only reference beats (and false detections) at samples >= ``after``
    and with a window inside the record are scored."""
    lab = detected.aami4_labels(rec.ref_symbol)
    lab[~monitor.inside(rec.ref, len(rec.signal)) | (rec.ref < after)] = -1
    return ec57_score.confusion(rec.ref, lab, rec.det, det_cls, det_scored=rec.det >= after)


def summary(cm) -> dict:
    """The selection figures of a confusion matrix: acc, per-class se/ppv, F1 of S and V, VEB/SVEB."""
    m = ec57_score.metrics(cm)
    f1 = {}
    for c in ("S", "V"):
        se, ppv = m["classes"][c]["se"] or 0.0, m["classes"][c]["ppv"] or 0.0
        f1[c] = 2 * se * ppv / (se + ppv) if se + ppv else 0.0
    return {"acc": m["acc"], "classes": m["classes"], "f1_S": f1["S"], "f1_V": f1["V"],
            "score": (f1["S"] + f1["V"]) / 2, "confusion": m["confusion"], **ec57_score.veb_sveb(cm)}


# ---- training of the two protocols -------------------------------------------------------------
def train_inter(records, train_names, recipe, seed, quant=True, overrides=None, desc="aami4 inter"):
    """A four-class model trained on the detected beats of ``train_names``: (net, seconds)."""
    cfg = config(recipe, overrides)
    dset = detected.make_set(records, train_names)
    net = train.new_net(cfg, quant, seed)
    secs = fit(net, dset, labelled(dset), recipe, seed, desc)
    return net, secs


def finetune(net, records, name, recipe, seed, pool_from, desc=None, common_from=()):
    """A copy of ``net`` fine-tuned on the first 5 minutes of record ``name``: (net, seconds).

    With ``recipe["common"] = k`` (> 0) the fine-tuning set also holds up to ``k`` beats of each
    class drawn (seeded) from the global model's training records ``common_from``: a common set
    of the kind Hu et al. 1997 and Kiranyaz et al. 2016 add, so that a record whose first 5 minutes
    hold no V or S beats does not make the model forget those classes."""
    k = int(recipe.get("common", 0))
    dset = detected.make_set(records, (name,) + (tuple(common_from) if k else ()))
    own = dset.record == name
    idx = labelled(dset, own & (dset.sample < FINE_TUNE_SAMPLES))
    if k:
        rng = np.random.default_rng(seed)
        lab = dset.labels
        extra = [rng.choice(c, min(k, len(c)), replace=False)
                 for c in (np.flatnonzero(~own & (lab == j)) for j in range(len(detected.AAMI4))) if len(c)]
        idx = np.sort(np.concatenate([idx, *extra]))
    n2 = copy.deepcopy(net)
    secs = fit(n2, dset, idx, recipe, seed, desc or f"aami4 fine-tune {name}", pool_from=pool_from)
    return n2, secs


def _protocol_files(folder):
    folder = Path(folder)
    return [(folder / f"{INTER_NAME}.json", INTER)] + [(f, FINETUNE) for f in sorted((folder / PATIENT_DIR).glob("*.json"))]


def recipe_offsets_into(folder) -> list:
    """Give the four-class model files of ``folder`` (a ``ship`` output) their recipe's bias offsets
    (``INTER`` / ``FINETUNE`` ``"bias_offsets"``, and their premature offset, RR rule and template
    rule; idempotent). Returns the files changed."""
    return [p for p, recipe in _protocol_files(folder)
            if p.is_file() and set_bias_offsets(p, recipe.get(BIAS_KEY, [0] * len(detected.AAMI4)),
                                                recipe.get(PREMATURE_KEY, [0, 0]), recipe.get(RULE_KEY),
                                                recipe.get(TEMPLATE_KEY))]


def check_recipe_offsets(folder):
    """Raise unless every four-class model file of ``folder`` records its recipe's bias offsets,
    premature offset, RR rule and template rule."""
    for p, recipe in _protocol_files(folder):
        meta = modelfile.load(p).meta if p.is_file() else {}
        for key, default, target in ((BIAS_KEY, None, "aami4-operating"), (PREMATURE_KEY, [0, 0], "aami4-rhythm"),
                                     (RULE_KEY, None, "aami4-rule"), (TEMPLATE_KEY, None, "aami4-template")):
            want = recipe.get(key, default)
            got = meta.get(key, default) if p.is_file() else want
            if (want is not None or key in (RULE_KEY, TEMPLATE_KEY)) and got != want:
                raise TernEcgError(f"{p}: {key} {got} in its metadata, the recipe has {want}; "
                                   f"run 'make {target} APPLY=1' (or 'make train')")


def meta_of(recipe, seed, protocol, **extra):
    return {"seed": seed, "protocol": protocol, "data": "detected beats (golden/detected.py), EC57-matched labels",
            **{k: v for k, v in recipe.items()}, **extra}


def ship(seed=0, out=modelfile.MODELS_DIR, db=None, stages=("aami4_inter", "aami4_patient"), quiet=False):
    """Train the shipped four-class models: ``aami4_inter`` (DS1 -> models/aami4_inter.json, its
    QAT checkpoint models/qat/aami4_inter.pt) and ``aami4_patient`` (that model fine-tuned per DS2
    record -> models/aami4_patient/<record>.json). Returns ``{stage_seconds}``."""
    out = Path(out)
    records = detected.load(db)
    times = {}
    ck = out / "qat" / f"{INTER_NAME}.pt"
    if "aami4_inter" in stages:
        t0 = time.time()
        net, _ = train_inter(records, splits.DS1, INTER, seed, desc="aami4 inter-patient")
        to_model(net, meta_of(INTER, seed, "inter_patient DS1, detected beats, RR codes"), out / f"{INTER_NAME}.json",
                 INTER.get(BIAS_KEY), INTER.get(PREMATURE_KEY), INTER.get(RULE_KEY), INTER.get(TEMPLATE_KEY))
        ck.parent.mkdir(parents=True, exist_ok=True)
        torch.save(net.state_dict(), ck)
        times["aami4_inter_s"] = round(time.time() - t0, 1)
    if "aami4_patient" in stages:
        if not ck.is_file():
            raise TernEcgError(f"{ck} not found: run the 'aami4_inter' stage first")
        t0 = time.time()
        net = train.new_net(config(INTER), True, seed)
        net.load_state_dict(torch.load(ck, weights_only=True))
        pool = detected.make_set(records, splits.DS1)
        for rec in splits.DS2:
            n2, _ = finetune(net, records, rec, FINETUNE, seed, pool, common_from=splits.DS1)
            to_model(n2, meta_of(FINETUNE, seed, f"patient_specific {rec}: {INTER_NAME} fine-tuned on the "
                                                 f"first 5 minutes, detected beats"),
                     out / PATIENT_DIR / f"{rec}.json", FINETUNE.get(BIAS_KEY), FINETUNE.get(PREMATURE_KEY),
                     FINETUNE.get(RULE_KEY), FINETUNE.get(TEMPLATE_KEY))
        times["aami4_patient_s"] = round(time.time() - t0, 1)
    return times
