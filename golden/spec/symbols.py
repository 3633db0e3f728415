"""How a model's decided classes are written as WFDB beat annotations (the one place for it).

The host (boards/host.py) and the coming ``make annotate`` / ``make monitor`` write one annotation
per beat; any ANSI/AAMI EC57 tool (PhysioNet's ``bxb``, ``wfdb.processing``, golden/ec57.py) must
read from it exactly what the model decided, and nothing it did not decide.

* A class that *is* one beat type or one EC57 class is written as its standard WFDB symbol:
  ``N`` -> ``N``, ``S`` -> ``S``, ``V`` -> ``V``, ``F`` -> ``F``, ``Q`` -> ``Q``, ``/`` -> ``/``,
  ``f`` -> ``f`` (and any other WFDB beat symbol used as a class name, e.g. ``A``, as itself).
  ``S`` (the four-class models' supraventricular ectopic class, AAMI S = A, a, J, S) is written
  as WFDB ``S`` ("supraventricular premature or ectopic beat, atrial or nodal"), not ``A``:
  ``A`` says *atrial*, which such a model does not decide; bxb counts both as S.
* A class that covers several EC57 classes (the binary models' ``abnormal`` = AAMI S, V or F; the
  six-class models' ``other`` = every beat type not among the other classes) has no standard
  symbol. It is written as ``Q`` with the class name as the beat's aux note, and the file's first
  annotation, a comment (``"``, at sample 1: wfdb-python drops comments at sample 0), says what the
  symbols mean (:attr:`Scheme.header`).

Why ``Q`` (decided here, see boards/README.md "WFDB annotations"): EC57 tools read every beat
symbol as one of N, S, V, F or Q (bxb's ``amap``: ``N L R B`` -> N, ``A a J S e j n`` -> S,
``V r E`` -> V, ``F`` -> F, ``Q / f ?`` -> Q). Writing "abnormal" as ``V`` or ``S`` would claim a
ventricular or supraventricular decision the binary model never made (bxb would count a correctly
flagged S beat as a V false positive). A non-beat symbol (a comment, ``+``, ``~``) would make bxb
skip the annotation, i.e. count every abnormal beat as a *missed QRS*. ``Q`` is the one beat
symbol without a class claim: bxb counts it as a detected beat (QRS Se/+P are exact), never as a
true or false positive of V or S; V and S sensitivity are 0 for a model that decides no V or S,
which is the truth, and the header and the host's report give the abnormal-class figures.
"""

from __future__ import annotations

from dataclasses import dataclass

from ternecg.errors import TernEcgError

#: every WFDB beat annotation symbol (wfdb's ``BEAT_SYMBOLS``; golden/ec57.py uses the same set)
WFDB_BEATS: tuple[str, ...] = tuple("NLRBAaJSVrFejnE/fQ?")

#: WFDB beat symbol -> the EC57 class an EC57 tool counts it as (bxb's ``amap`` with SVEB
#: statistics, ``bxb -S``)
EC57_CLASS: dict[str, str] = {
    **dict.fromkeys("NLRB", "N"), **dict.fromkeys("AaJSejn", "S"), **dict.fromkeys("VrE", "V"),
    "F": "F", **dict.fromkeys("Q/f?", "Q"),
}

#: the symbol of a class that covers several EC57 classes ("unclassified" for an EC57 tool)
UNDECIDED = "Q"

#: class names that cover several EC57 classes -> what the class means (``other`` is described
#: from the model's other classes)
COMPOSITE = {"abnormal": "AAMI S, V or F (supraventricular, ventricular or fusion; not told apart)",
             "other": None}

#: class name -> WFDB symbol, for names that are not themselves a WFDB beat symbol
ALIASES: dict[str, str] = {}

#: longest aux string a WFDB annotation carries (one length byte)
MAX_AUX = 255


@dataclass(frozen=True)
class Scheme:
    """How the classes of one model are annotated.

    Members
    -------
    classes : tuple of str   the model's class names, in logit order
    symbols : tuple of str   the WFDB beat symbol written for each class
    notes : tuple of str     the aux note written with each beat of that class ('' if none)
    header : str             the comment written as the file's first annotation (``"``)
    """
    classes: tuple
    symbols: tuple
    notes: tuple
    header: str

    def symbol(self, cls: int) -> str:
        """The symbol of class index ``cls`` (an index outside the model is an error)."""
        if isinstance(cls, bool) or not hasattr(cls, "__index__") or not 0 <= int(cls) < len(self.classes):
            raise TernEcgError(f"class index {cls!r} is outside the model's {len(self.classes)} classes "
                               f"({', '.join(self.classes)})")
        return self.symbols[int(cls)]


def symbol_of(name: str) -> str:
    """The WFDB symbol of one class name (:data:`UNDECIDED` for a composite class)."""
    if name in COMPOSITE:
        return UNDECIDED
    if name in ALIASES:
        return ALIASES[name]
    if name in WFDB_BEATS:
        return name
    raise TernEcgError(f"class {name!r} has no WFDB beat symbol; name classes after WFDB beat symbols "
                       f"({''.join(WFDB_BEATS)}) or use one of {', '.join(sorted(COMPOSITE))} "
                       f"(golden/spec/symbols.py)")


def scheme(classes, source: str = "") -> Scheme:
    """The annotation scheme of a model with class names ``classes`` (``source``: the model, for the
    header). Raises TernEcgError for a class name without a symbol or two classes on one symbol
    that are not both composite."""
    classes = tuple(str(c) for c in classes)
    if len(set(classes)) != len(classes):
        raise TernEcgError(f"class names {classes} repeat")
    symbols = tuple(symbol_of(c) for c in classes)
    decided = [s for c, s in zip(classes, symbols) if c not in COMPOSITE]
    if len(set(decided)) != len(decided):
        raise TernEcgError(f"classes {classes} map to the same WFDB symbol twice ({symbols})")
    if UNDECIDED in decided and any(c in COMPOSITE for c in classes):
        raise TernEcgError(f"classes {classes}: a composite class and a 'Q' class would share the symbol Q")
    notes = tuple(c if c in COMPOSITE else "" for c in classes)
    own = [c for c in classes if c not in COMPOSITE]
    header = f"ternecg classes {','.join(classes)}" + (f" ({source})" if source else "") + ": "
    header += f"WFDB symbol = class for {', '.join(own)}" if own else ""
    for c in classes:
        if c in COMPOSITE:
            meaning = COMPOSITE[c] or ("any beat type other than " + ", ".join(x for x in classes if x != c))
            header += f"; {UNDECIDED} = {c} = {meaning}, an EC57 'unclassified' beat: no V or S decision"
    if len(header) > MAX_AUX and source:
        return scheme(classes)              # the header without the (long) model path
    if len(header) > MAX_AUX:
        raise TernEcgError(f"annotation header of classes {classes} is {len(header)} characters, more than "
                           f"the {MAX_AUX} a WFDB aux note holds; use shorter class names")
    return Scheme(classes, symbols, notes, header)




def bxb_statistics(reference, test) -> dict:
    """EC57 figures as ``bxb -S`` computes them from matched beat pairs: ``reference[i]`` and
    ``test[i]`` are the WFDB symbols of one pair (beats are matched already, e.g. the host's beats,
    cut at the reference R peaks). Returns the confusion counts ``{"Nn": .., "Vq": .., ...}`` over
    N, S, V, F, Q and VEB / SVEB sensitivity and positive predictivity (None when undefined),
    with bxb's definitions: Se_V = Vv / (V row), +P_V = Vv / (Nv + Sv + Vv) (an F or Q reference
    beat called V is not a false positive), likewise for S."""
    reference, test = list(reference), list(test)
    if len(reference) != len(test):
        raise TernEcgError(f"{len(reference)} reference and {len(test)} test symbols: pairs must match")
    bad = sorted({s for s in reference + test if s not in EC57_CLASS})
    if bad:
        raise TernEcgError(f"not WFDB beat symbols: {bad}")
    counts = {r + t.lower(): 0 for r in "NSVFQ" for t in "NSVFQ"}
    for r, t in zip(reference, test):
        counts[EC57_CLASS[r] + EC57_CLASS[t].lower()] += 1

    def ratio(a, b):
        return a / b if b else None
    row = {c: sum(counts[c + t] for t in "nsvfq") for c in "NSVFQ"}
    return {"counts": counts,
            "veb_se": ratio(counts["Vv"], row["V"]),
            "veb_ppv": ratio(counts["Vv"], counts["Nv"] + counts["Sv"] + counts["Vv"]),
            "sveb_se": ratio(counts["Ss"], row["S"]),
            "sveb_ppv": ratio(counts["Ss"], counts["Ns"] + counts["Ss"] + counts["Vs"] + counts["Fs"]),
            "beats": len(reference)}
