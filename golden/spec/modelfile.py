"""The exported model file: one versioned JSON document holding every integer constant.

Schema (version 1)::

    {"format": "ternecg-model", "version": 1,
     "config": {...},                      # the topology, as in golden/configs (re-validated on load)
     "normalize": {"mean_mul", "mean_shift", "out_max", "raw_bits"},
     "layers": [                           # one entry per config layer, same order
        {"name", "weights": [str per output channel], "thresholds": [[int]*(2^b-1) per channel],
         "acc_bits": int}                                   # conv and hidden dense layers
        {"name", "weights": [...], "bias": [int per class], "acc_bits": int,   # logits layer
         "rr_table": [[[int] * 2^rr_bits per RR feature] per class],          # (only with rr_bits)
         "rr_rule": {"from": int, "to": int, "max_codes": [int per RR feature]}}  # (optional; or a
                                                    # list of up to MAX_RULES such rules, in order)
        {"name", "dw": {conv entry}, "grp": {conv entry}}                      # MUX-skip block
     ],
     "meta": {...},                        # provenance: seed, data, training time (not checked)
     "sha256": hex}                        # over the canonical JSON of everything else

A weight string lists one output channel's ternary codes, input channel major, tap minor, as
``+`` (add), ``-`` (subtract) and ``0`` (skip). Loading checks everything and raises
:class:`TernEcgError` with one clear message on the first problem, naming the field and the limit.

Bounds (every integer is a JSON integer: booleans, strings and floats are rejected):

- ``acc_bits``: at least what the layer's weights need (:func:`acc_bits_needed`), at most
  ``MAX_ACC_BITS`` = 24 (the widest accumulator the hardware generator builds);
- ``thresholds``: ascending per channel, within the accumulator: ``|T| <= 2^(acc_bits-1)``;
- ``bias``: a signed ``BIAS_BITS`` = 24-bit integer, ``-2^23 <= b < 2^23``;
- ``rr_table``: signed 16-bit entries (``RR_ENTRY_BITS``);
- ``rr_rule`` (optional, only with ``rr_bits``): one rule or a list of 1 .. ``MAX_RULES`` rules
  applied in order, each with ``from`` and ``to`` two different classes and ``max_codes`` one
  code ``0 .. 2^rr_bits - 1`` per RR feature (docs/arithmetic.md 6).

So a logit ``acc + bias + T[0] + T[1] + T[2]`` stays below ``2^23 + 2^23 + 3 * 2^15 < 2^25``
in magnitude: it always fits the 32-bit logits of the RESULT frame (docs/protocol.md), and no
accepted file can make the board report a truncated value.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ternecg.errors import TernEcgError
from ternecg.paths import models_dir

from .config import MAX_ACC_BITS, RR_MAX_FEATURES, ConvSpec, MuxSpec, ModelConfig, parse_config
from .normalize import MEAN_MUL, MEAN_SHIFT, OUT_MAX, RAW_BITS

FORMAT = "ternecg-model"
VERSION = 1
CODE = {"+": 1, "0": 0, "-": -1}
CHAR = {1: "+", 0: "0", -1: "-"}
NORMALIZE = {"mean_mul": MEAN_MUL, "mean_shift": MEAN_SHIFT, "out_max": OUT_MAX, "raw_bits": RAW_BITS}
MODELS_DIR = models_dir()
DEFAULT_MODEL = MODELS_DIR / "default.json"


@dataclass
class IntConv:
    """Integer constants of one ternary conv (numpy int64 arrays): ``codes[oc]`` is
    ``(cin_g, k_of_group)``."""
    spec: ConvSpec
    codes: list
    thresholds: np.ndarray | None       # (cout, 2^b - 1) int64, non-decreasing per row
    bias: np.ndarray | None             # (cout,) int64, logits layer only
    acc_bits: int
    rr_table: np.ndarray | None = None  # (cout, features, 2^rr_bits) int64, logits layer with RR path
    #: the logits layer's RR rules ``[{"from", "to", "max_codes"}, ...]``, applied in order
    rr_rules: list = field(default_factory=list)


@dataclass
class IntMux:
    spec: MuxSpec
    dw: IntConv
    grp: IntConv


@dataclass
class IntModel:
    cfg: ModelConfig
    layers: list
    meta: dict
    sha256: str
    path: str = ""

    @property
    def classes(self):
        return self.cfg.classes

    @property
    def rr_table(self):
        """(classes, features, 2^rr_bits) int64 RR table added to the logits, or None."""
        return self.layers[-1].rr_table

    @property
    def rr_rules(self) -> list:
        """The RR rules ``[{"from": class, "to": class, "max_codes": [code per feature]}, ...]``
        applied in order after the argmax (docs/arithmetic.md 6); empty without."""
        return self.layers[-1].rr_rules


def checksum(doc):
    body = {k: v for k, v in doc.items() if k != "sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def encode_conv(spec, codes, thresholds=None, bias=None, acc_bits=None, rr_table=None, rr_rules=()):
    entry = {"name": spec.name,
             "weights": ["".join(CHAR[int(v)] for v in np.asarray(c).flatten().tolist()) for c in codes],
             "acc_bits": int(acc_bits)}
    if thresholds is not None:
        entry["thresholds"] = [[int(v) for v in row] for row in np.asarray(thresholds).tolist()]
    if bias is not None:
        entry["bias"] = [int(v) for v in np.asarray(bias).tolist()]
    if rr_table is not None:
        entry["rr_table"] = [[[int(v) for v in row] for row in cls] for cls in np.asarray(rr_table).tolist()]
    if rr_rules:
        entry["rr_rule"] = encode_rules(rr_rules)
    return entry


def encode_rule(rule) -> dict:
    """The model file's form of an RR rule (plain ints)."""
    return {"from": int(rule["from"]), "to": int(rule["to"]),
            "max_codes": [int(v) for v in rule["max_codes"]]}


def encode_rules(rules):
    """The model file's ``rr_rule`` value of a rule list: one rule as an object (the form of files
    with one rule), several as a list."""
    rules = [encode_rule(r) for r in rules]
    return rules[0] if len(rules) == 1 else rules


def make_document(cfg, entries, meta):
    doc = {"format": FORMAT, "version": VERSION, "config": cfg.raw, "normalize": dict(NORMALIZE),
           "layers": entries, "meta": meta}
    doc["sha256"] = checksum(doc)
    return doc


def save(doc, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


def _bad(path, msg):
    raise TernEcgError(f"model file {path}: {msg}")


RR_ENTRY_BITS = 16      # widest RR table entry (signed) the hardware accepts
MAX_RULES = 4           # most RR rules a model file may list (each is a comparator set in the head)
BIAS_BITS = 24          # widest logits-layer bias (signed)
RESULT_LOGIT_BITS = 32  # a logit in the RESULT frame (docs/protocol.md)
# the largest logit an accepted file can produce fits the RESULT frame
assert (1 << (MAX_ACC_BITS - 1)) + (1 << (BIAS_BITS - 1)) + RR_MAX_FEATURES * (1 << (RR_ENTRY_BITS - 1)) \
    < 1 << (RESULT_LOGIT_BITS - 1)


def _is_int(v) -> bool:
    """A JSON integer (not a boolean, string or float)."""
    return isinstance(v, int) and not isinstance(v, bool)


def _rr_from(entry, cfg, path, where):
    t = entry.get("rr_table")
    if not cfg.rr_bits:
        if t is not None:
            _bad(path, f"{where}.rr_table is present but the config has no 'rr_bits'")
        return None
    n, f, c = cfg.layers[-1].cout, cfg.rr_features, 1 << cfg.rr_bits
    lim = 1 << (RR_ENTRY_BITS - 1)
    if (not isinstance(t, list) or len(t) != n
            or not all(isinstance(r, list) and len(r) == f for r in t)
            or not all(isinstance(row, list) and len(row) == c
                       and all(_is_int(v) and -lim <= v < lim for v in row)
                       for r in t for row in r)):
        _bad(path, f"{where}.rr_table must be {n} classes x {f} features x {c} integers "
                   f"in [{-lim}, {lim - 1}] (config rr_bits = {cfg.rr_bits})")
    return np.array(t, dtype=np.int64)


def _rule_from(entry, cfg, path, where) -> list:
    r = entry.get("rr_rule")
    if r is None:
        return []
    if not cfg.rr_bits:
        _bad(path, f"{where}.rr_rule is present but the config has no 'rr_bits' (the rule reads RR codes)")
    n, f, cmax = cfg.layers[-1].cout, cfg.rr_features, (1 << cfg.rr_bits) - 1
    form = (f'{{"from": class, "to": class, "max_codes": [{f} codes]}} with two different classes in '
            f'0..{n - 1} and codes in 0..{cmax} (config rr_bits = {cfg.rr_bits}), or a list of 1..{MAX_RULES} '
            f'such rules')
    rules = r if isinstance(r, list) else [r]
    if not 1 <= len(rules) <= MAX_RULES:
        _bad(path, f"{where}.rr_rule lists {len(rules)} rules: must be {form}")
    for i, rule in enumerate(rules):
        at = f"{where}.rr_rule" + (f"[{i}]" if isinstance(r, list) else "")
        if not isinstance(rule, dict) or set(rule) != {"from", "to", "max_codes"}:
            _bad(path, f"{at} must be {form}")
        mc = rule["max_codes"]
        if (not all(_is_int(rule[k]) and 0 <= rule[k] < n for k in ("from", "to")) or rule["from"] == rule["to"]
                or not isinstance(mc, list) or len(mc) != f or not all(_is_int(v) and 0 <= v <= cmax for v in mc)):
            _bad(path, f"{at} = {rule!r}: must be {form}")
    return [encode_rule(rule) for rule in rules]


def _conv_from(entry, spec, act_bits, xmax, path, where):
    if not isinstance(entry, dict):
        _bad(path, f"{where} must be an object")
    ws = entry.get("weights")
    if not isinstance(ws, list) or len(ws) != spec.cout:
        _bad(path, f"{where}.weights must list {spec.cout} output channels, "
                   f"got {len(ws) if isinstance(ws, list) else type(ws).__name__}")
    codes = []
    for oc, w in enumerate(ws):
        k = spec.kernel_of(oc)
        if not isinstance(w, str) or len(w) != spec.cin_g * k:
            _bad(path, f"{where}.weights[{oc}] must be a string of {spec.cin_g * k} codes")
        bad = set(w) - set(CODE)
        if bad:
            _bad(path, f"{where}.weights[{oc}] has non-ternary code(s) {''.join(sorted(bad))!r}; "
                       f"only '+', '0', '-' are allowed")
        codes.append(np.array([CODE[ch] for ch in w], dtype=np.int64).reshape(spec.cin_g, k))
    acc_bits = entry.get("acc_bits")
    need = acc_bits_needed(codes, xmax)
    if not _is_int(acc_bits):
        _bad(path, f"{where}.acc_bits = {acc_bits!r} must be an integer in {need}..{MAX_ACC_BITS}")
    if acc_bits < need:
        _bad(path, f"{where}.acc_bits = {acc_bits!r} is too narrow: the weights need {need} bits")
    if acc_bits > MAX_ACC_BITS:
        _bad(path, f"{where}.acc_bits = {acc_bits} exceeds the {MAX_ACC_BITS}-bit accumulator limit "
                   f"(the weights need {need})")
    thresholds = bias = None
    if spec.final:
        b = entry.get("bias")
        if not isinstance(b, list) or len(b) != spec.cout or not all(_is_int(v) for v in b):
            _bad(path, f"{where}.bias must be a list of {spec.cout} integers")
        lim = 1 << (BIAS_BITS - 1)
        out = [v for v in b if not -lim <= v < lim]
        if out:
            _bad(path, f"{where}.bias value {out[0]} is outside the signed {BIAS_BITS}-bit range "
                       f"[{-lim}, {lim - 1}] (logits must fit the RESULT frame's {RESULT_LOGIT_BITS} bits)")
        bias = np.array(b, dtype=np.int64)
    else:
        t = entry.get("thresholds")
        n = (1 << act_bits) - 1
        if (not isinstance(t, list) or len(t) != spec.cout
                or not all(isinstance(r, list) and len(r) == n and all(_is_int(v) for v in r)
                           for r in t)):
            _bad(path, f"{where}.thresholds must be {spec.cout} lists of {n} integers")
        thresholds = np.array(t, dtype=np.int64)
        if bool((thresholds[:, 1:] < thresholds[:, :-1]).any()):
            _bad(path, f"{where}.thresholds must be ascending in every channel")
        lim = 1 << (acc_bits - 1)
        if bool((np.abs(thresholds) > lim).any()):
            v = int(thresholds.flat[int(np.argmax(np.abs(thresholds)))])
            _bad(path, f"{where}.thresholds value {v} exceeds the {acc_bits}-bit accumulator range "
                       f"(|T| <= {lim})")
    return IntConv(spec, codes, thresholds, bias, acc_bits)


def input_bound(act_bits, index):
    """Largest |value| entering layer ``index``: the int8 input, then b-bit activations."""
    return 128 if index == 0 else (1 << act_bits) - 1


def acc_bound(codes, xmax):
    """Worst-case |acc| over output channels: sum(|w|) * max|x|."""
    return max(int(np.abs(np.asarray(c)).sum()) for c in codes) * xmax


def acc_bits_needed(codes, xmax):
    """Signed accumulator width for the worst case, plus one bit of threshold headroom (T <= B+1)."""
    bound = acc_bound(codes, xmax)
    return max(bound.bit_length() + 2, 2)   # sign bit + one bit of threshold headroom


def load(path=None):
    """Load and fully validate a model file (default: the shipped models/default.json)."""
    path = Path(path) if path else DEFAULT_MODEL
    if not path.is_file():
        raise TernEcgError(f"model file {path} not found; pass an existing file (the shipped "
                           f"default is {DEFAULT_MODEL}) or run 'make train'")
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        _bad(path, f"not valid JSON ({e}); the file is corrupt, restore it or re-export")
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        _bad(path, f"format is {doc.get('format') if isinstance(doc, dict) else None!r}, "
                   f"expected {FORMAT!r}: not a ternecg model file")
    if not _is_int(doc.get("version")) or doc.get("version") != VERSION:
        _bad(path, f"unknown file version {doc.get('version')!r}; this ternecg reads version {VERSION}")
    if doc.get("sha256") != checksum(doc):
        _bad(path, "checksum mismatch: the file was modified or corrupted after export")
    norm = doc.get("normalize")
    if (not isinstance(norm, dict) or norm != NORMALIZE
            or not all(_is_int(v) for v in norm.values())):
        _bad(path, f"normalize = {doc.get('normalize')!r} differs from this ternecg's {NORMALIZE}")
    cfg = parse_config(doc.get("config"), source=f"in model file {path.name}")
    entries = doc.get("layers")
    if not isinstance(entries, list) or len(entries) != len(cfg.layers):
        _bad(path, f"has {len(entries) if isinstance(entries, list) else 0} layer entries, "
                   f"the config has {len(cfg.layers)}")
    layers = []
    for i, (spec, e) in enumerate(zip(cfg.layers, entries)):
        where = f"layers[{i}]"
        xmax = input_bound(cfg.act_bits, i)
        if isinstance(spec, MuxSpec):
            if not isinstance(e, dict):
                _bad(path, f"{where} must be an object")
            layers.append(IntMux(spec, _conv_from(e.get("dw"), spec.dw, cfg.act_bits, xmax, path, where + ".dw"),
                                 _conv_from(e.get("grp"), spec.grp, cfg.act_bits, xmax, path, where + ".grp")))
        else:
            layers.append(_conv_from(e, spec, cfg.act_bits, xmax, path, where))
    layers[-1].rr_table = _rr_from(entries[-1], cfg, path, f"layers[{len(entries) - 1}]")
    layers[-1].rr_rules = _rule_from(entries[-1], cfg, path, f"layers[{len(entries) - 1}]")
    return IntModel(cfg, layers, doc.get("meta", {}), doc["sha256"], str(path))
