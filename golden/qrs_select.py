"""`make qrs-select`: the R-peak detector's constants swept one at a time on DS1 only (never DS2).

Every constant of golden/spec/qrs.py that is a design choice (each of ``TIMES_MS``, ``E_SHIFT``,
and the threshold floor's ``FLOOR_CODES`` and ``FLOOR_MS``) takes a few values around the shipped
one (time constants and codes: -30, -20, -10, +10, +20, +30 %, rounded half up to whole ms or
codes; ``E_SHIFT``: -2 .. +2), the others staying at their shipped values. Each variant runs the
vectorised detector (:func:`ternecg.golden.qrs.detect` with a :class:`QrsParams` built here; the
spec module's defaults are never changed) over the 22 DS1 records, whole, lead MLII as
``make qrs-eval`` reads them, scored with golden/ec57.py. The criterion is FN + FP over DS1; a tie
goes to the shipped value, then to the value nearest it. Variants that round to the same samples
at 360 Hz are the same detector and run once.

**Noise margin.** A DS1 optimum counts as *material* only when its error count beats the shipped
one by more than chance among the errors the two detectors do not share (a McNemar-style test):
with ``a`` errors only the shipped detector makes and ``b`` only the variant makes (a missed
reference beat is identified by its record and sample, a false detection by its record and
sample), the variant is materially better when ``(a - b) / sqrt(a + b) > 2``. Beats are not
independent (errors come in noisy episodes), so this overstates significance: it errs towards
flagging a variant, not towards hiding one. No correction for the number of variants either.

Writes ``build/reports/qrs_select.json`` and its committed copy ``results/qrs_select.json``
(``tests/golden/test_qrs_select.py`` checks that the copy names the shipped constants).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from ternecg.errors import TernEcgError
from ternecg.paths import build_dir, relative, results_dir

from . import ec57
from .spec import qrs as spec

REPORT = build_dir("reports", "qrs_select.json")
RESULT = results_dir() / "qrs_select.json"
FS = 360
#: relative steps (percent) of the time constants and the floor's codes
STEPS_PERCENT = (-30, -20, -10, 10, 20, 30)
#: steps of E_SHIFT (a shift: whole bits)
SHIFT_STEPS = (-2, -1, 1, 2)
#: z above which a DS1 optimum is a material difference (module docstring)
Z_MATERIAL = 2.0
#: the rules of golden/qrs.py's Decider that are written as fixed shifts, not parameters: not swept
FIXED_RULES = (
    "THR1 = NPK + (SPK - NPK) >> 2, THR2 = THR1 >> 1",
    "SPK rises by 1/16, falls by 1/8 (1/4 after search-back); NPK moves by 1/8",
    "valley (shallow) rule: valley > 3/16 of the peak",
    "T-wave rule: slope below 1/2 of the last beat's",
    "search-back deadline at 1.5 RR; RR average moves by 1/8",
    "failed search-back: SPK and NPK decay by 1/4, table cleared",
    "learning: SPK = M/2, NPK = M/8",
    "R-peak base (u[lo] + u[hi]) >> 1",
)


def shipped() -> dict:
    """The shipped value of every swept constant (ms, bits or ADC codes)."""
    return {**spec.TIMES_MS, "e_shift": spec.E_SHIFT, "floor_codes": spec.FLOOR_CODES,
            "floor_ms": spec.FLOOR_MS}


def unit(name: str) -> str:
    return {"e_shift": "bits", "floor_codes": "codes"}.get(name, "ms")


def values_for(name: str, value: int) -> list[int]:
    """The swept values of one constant, the shipped one included, sorted (positive, distinct)."""
    if name == "e_shift":
        vals = {value + d for d in SHIFT_STEPS}
    else:  # value * (100 + pct) / 100, rounded half up, in integers
        vals = {(2 * value * (100 + pct) + 100) // 200 for pct in STEPS_PERCENT}
    return sorted(v for v in vals | {value} if v > 0 or (name == "e_shift" and v >= 0))


def _floor(fs: int, P: spec.QrsParams, codes: int, ramp_ms: int) -> int:
    """The threshold floor of ``P``'s chain: the largest m of golden/qrs.py's own filters on the
    ramp of golden/spec/qrs.py's ``floor_for`` (``codes`` ADC codes over ``ramp_ms``)."""
    from .qrs import filters
    n_ramp = max(1, spec.ms(ramp_ms, fs))
    length = n_ramp + 2 * P.lp_len + P.deriv_lag + P.mwi_len + 1
    ramp = np.minimum(codes, (codes * np.arange(length, dtype=np.int64)) // n_ramp)
    return int(filters(ramp, P)[2].max())


def params_with(overrides: dict | None = None, fs: int = FS) -> spec.QrsParams:
    """The detector's :class:`QrsParams` at ``fs`` with some constants changed (names of
    :func:`shipped`; values in ms, bits or codes). The candidate table and the floor are derived
    again as golden/spec/qrs.py derives them; the register widths stay the shipped ones (the
    vectorised path computes in int64 and does not use them)."""
    over = dict(overrides or {})
    unknown = sorted(set(over) - set(shipped()))
    if unknown:
        raise TernEcgError(f"unknown detector constant(s) {unknown}; known: {', '.join(shipped())}")
    v = {**shipped(), **over}
    t = {k: spec.ms(v[k], fs) for k in spec.TIMES_MS}
    if min(t.values()) < 1:
        raise TernEcgError(f"detector constants {over} give a length of 0 samples at {fs} Hz; use larger values")
    P = dataclasses.replace(spec.qrs_params(fs), **t, e_shift=v["e_shift"],
                            table=spec.table_size(t["learn"], t["rr_init"], t["rr_max"], t["peak_half"]))
    return dataclasses.replace(P, floor=_floor(fs, P, v["floor_codes"], v["floor_ms"]))


# --- scoring ------------------------------------------------------------------------------------
_DATA: list = []


def _init(data):
    global _DATA
    _DATA = data


def score(P: spec.QrsParams, data=None) -> dict:
    """``P`` over ``data`` (a list of ``(name, raw, fs, beats)``): counts per record and in total,
    and the errors themselves (``("fn"|"fp", record, sample)``) for the noise margin."""
    from .qrs import detect
    data = _DATA if data is None else data
    rows, errors = {}, set()
    for name, raw, fs, beats in data:
        det = detect(raw, fs, params=P)
        m = ec57.match(beats, det, fs)
        rows[name] = {"tp": m.tp, "fn": m.fn, "fp": m.fp}
        errors |= {("fn", name, int(s)) for s in beats[m.fn_index]}
        errors |= {("fp", name, int(s)) for s in det[m.fp_index]}
    tot = {k: sum(r[k] for r in rows.values()) for k in ("tp", "fn", "fp")}
    return {**tot, "errors": tot["fn"] + tot["fp"], "records": rows, "error_set": errors}


def compare(base: dict, var: dict) -> dict:
    """The noise margin of a variant against the shipped detector (module docstring)."""
    a = len(base["error_set"] - var["error_set"])  # only the shipped detector makes them
    b = len(var["error_set"] - base["error_set"])  # only the variant makes them
    z = (a - b) / math.sqrt(a + b) if a + b else 0.0
    return {"only_shipped": a, "only_variant": b, "z": round(z, 2), "material": z > Z_MATERIAL}


def _err(scored: dict, name: str) -> int:
    row = scored["records"][name]
    return row["fn"] + row["fp"]


def choose(shipped_value: int, scored: dict) -> int:
    """The DS1-best value of ``scored`` (value -> errors): fewest errors; a tie goes to the shipped
    value, then to the value nearest it (the smaller on equal distance)."""
    return min(scored, key=lambda v: (scored[v], v != shipped_value, abs(v - shipped_value), v))


def sweep(data, constants=None, fs: int = FS, jobs: int = 1, progress: bool = False) -> dict:
    """Every variant of ``constants`` (default: all of :func:`shipped`) scored on ``data`` (a list
    of ``(name, raw, fs, beats)``); returns the report (without timing)."""
    ship = shipped()
    constants = list(ship) if constants is None else list(constants)
    plan = {}  # constant -> [(value, params)]
    for c in constants:
        if c not in ship:
            raise TernEcgError(f"unknown detector constant {c!r}; known: {', '.join(ship)}")
        plan[c] = [(v, params_with({c: v}, fs)) for v in values_for(c, ship[c])]
    base_P = params_with({}, fs)
    unique = list(dict.fromkeys([base_P] + [P for vs in plan.values() for _, P in vs]))
    results = _run(unique, data, jobs, progress)
    base = results[base_P]
    out = {}
    for c, vs in plan.items():
        variants, scored = [], {}
        for v, P in vs:
            r = results[P]
            scored[v] = r["errors"]
            row = {"value": v, "tp": r["tp"], "fn": r["fn"], "fp": r["fp"], "errors": r["errors"]}
            if c in spec.TIMES_MS:
                row["samples"] = getattr(P, c)
            if P == base_P and v != ship[c]:
                row["same_as_shipped"] = True  # rounds to the shipped samples
            row.update(compare(base, r))
            # where the errors moved: variant minus shipped FN + FP, the records that changed
            row["by_record"] = {n: d for n, d in ((n, _err(r, n) - _err(base, n)) for n in r["records"]) if d}
            variants.append(row)
        best = choose(ship[c], scored)
        cmp = next(row for row in variants if row["value"] == best)
        out[c] = {"unit": unit(c), "shipped": ship[c], "best": best, "errors_shipped": base["errors"],
                  "errors_best": scored[best], "material": bool(cmp["material"]) and best != ship[c],
                  "z_best": cmp["z"], "variants": variants}
    names = [n for n, *_ in data]
    return {
        "what": "each detector constant swept alone around its shipped value; DS1 records only, whole, "
                "lead MLII; criterion FN + FP (golden/ec57.py, 150 ms); ties to the shipped value",
        "records": names, "beats": int(sum(len(b) for *_, b in data)), "fs": fs,
        "steps": {"percent": list(STEPS_PERCENT), "e_shift": list(SHIFT_STEPS)},
        "noise_margin": f"a DS1 optimum is material when (a - b) / sqrt(a + b) > {Z_MATERIAL}, a = errors "
                        "only the shipped detector makes, b = errors only the variant makes (McNemar-style; "
                        "an error = a missed reference beat or a false detection, by record and sample)",
        "shipped": ship,
        "shipped_errors": {k: base[k] for k in ("tp", "fn", "fp", "errors", "records")},
        "constants": out,
        "agree": [c for c, r in out.items() if r["best"] == ship[c]],
        "differ_within_noise": [c for c, r in out.items() if r["best"] != ship[c] and not r["material"]],
        "differ_materially": [c for c, r in out.items() if r["material"]],
        "detector_runs": len(unique),
        "not_swept": {"note": "fixed rules of golden/qrs.py (shifts written in the code, not parameters; "
                              "changing them changes the hardware)", "rules": list(FIXED_RULES)},
    }


def _run(params, data, jobs, progress):
    from tqdm import tqdm
    out = {}
    with tqdm(total=len(params), desc="qrs-select", unit="variant", disable=None if progress else True,
              file=sys.stderr, leave=False) as bar:
        if jobs > 1 and len(params) > 1:
            with ProcessPoolExecutor(max_workers=jobs, initializer=_init, initargs=(data,)) as ex:
                for P, r in zip(params, ex.map(score, params)):
                    out[P] = r
                    bar.update(1)
        else:
            for P in params:
                out[P] = score(P, data)
                bar.update(1)
    return out


def load_ds1(db=None) -> list:
    """``(name, raw, fs, beats)`` of every DS1 record (lead MLII, as ``make qrs-eval`` reads them)."""
    from .qrs_eval import read_annotated
    from .records import find_database
    from .splits import DS1
    db = find_database(db)
    out = []
    for name in DS1:
        raw, fs, beats, *_ = read_annotated(db, name)
        if fs != FS:
            raise TernEcgError(f"record {name} is at {fs} Hz; the selection runs at {FS} Hz (MIT-BIH)")
        out.append((name, raw, fs, beats))
    return out


def table(report) -> str:
    ship = report["shipped_errors"]
    head = f"{'constant':<12} {'shipped':>9} {'DS1-best':>9} {'errors@shipped':>15} {'errors@best':>12} {'z':>6}  swept (errors)"
    lines = [f"DS1: {len(report['records'])} records, {report['beats']:,} beats; shipped detector "
             f"FN {ship['fn']}, FP {ship['fp']}, FN + FP {ship['errors']}", "", head, "-" * len(head)]
    for c, r in report["constants"].items():
        u = r["unit"]
        swept = ", ".join(f"{v['value']}:{v['errors']}" for v in r["variants"])
        mark = "" if r["best"] == r["shipped"] else (" MATERIAL" if r["material"] else " (noise)")
        lines.append(f"{c:<12} {str(r['shipped']) + ' ' + u:>9} {str(r['best']) + ' ' + u:>9} "
                     f"{r['errors_shipped']:>15} {r['errors_best']:>12} {r['z_best']:>6.2f}  {swept}{mark}")
    moved = [(c, r) for c, r in report["constants"].items() if r["best"] != r["shipped"]]
    if moved:
        lines += ["", "where the DS1-best values move the errors (variant minus shipped FN + FP per record):"]
    for c, r in moved:
        v = next(v for v in r["variants"] if v["value"] == r["best"])
        recs = ", ".join(f"{n} {d:+d}" for n, d in sorted(v["by_record"].items(), key=lambda kv: kv[1]))
        lines.append(f"  {c} = {r['best']} {r['unit']}: {recs}; errors only the shipped detector makes "
                     f"{v['only_shipped']}, only this one {v['only_variant']}")
    lines.append("")
    lines.append(f"agree with the shipped value: {len(report['agree'])} of {len(report['constants'])}; "
                 f"DS1 optimum elsewhere within the noise margin (z <= {Z_MATERIAL}): "
                 f"{', '.join(report['differ_within_noise']) or 'none'}; materially: "
                 f"{', '.join(report['differ_materially']) or 'none'}")
    if "seconds" in report:
        lines.append(f"{report['detector_runs']} detector runs over DS1, wall time {report['seconds']:.1f} s")
    return "\n".join(lines)


def _write(report, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(report, indent=1) + "\n")
    os.replace(tmp, path)


def select(db=None, constants=None, jobs: int = 2, out: Path = REPORT, result: Path | None = RESULT,
           progress: bool = True) -> dict:
    """Run the sweep on DS1, write ``out`` and (a full run only) its copy ``result``."""
    t0 = time.perf_counter()
    data = load_ds1(db)
    report = sweep(data, constants, jobs=jobs, progress=progress)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    out = Path(out)
    _write(report, out)
    if result is not None and constants is None:
        Path(result).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out, result)
    return report


def add_parser(sub):
    """``ternecg qrs-select`` (``make qrs-select``)."""
    from ternecg import options
    p = sub.add_parser("qrs-select", description=__doc__.split("\n\n")[0])
    options.add_db(p)
    p.add_argument("--constants", default=None,
                   help="comma-separated constants to sweep (default: all; a partial run does not "
                        "update results/qrs_select.json)")
    options.add_jobs(p)
    options.add_out(p, REPORT.parent, f"writes {REPORT.name}; a full run also copies it to {relative(RESULT)}")
    p.set_defaults(func=_command)
    return p


def _command(args):
    constants = None
    if args.constants is not None:
        constants = [c.strip() for c in str(args.constants).split(",") if c.strip()]
        bad = [c for c in constants if c not in shipped()] or ([] if constants else [args.constants])
        if bad:
            raise TernEcgError(f"--constants: unknown detector constant(s) {bad}; "
                               f"choose from {', '.join(shipped())}")
    out = Path(args.out) / REPORT.name
    report = select(db=args.db, constants=constants, jobs=args.jobs, out=out)
    print(table(report))
    print(f"\nwrote {out}" + (f" and {relative(RESULT)}" if constants is None else ""))
    return 0


def main(argv=None):
    from ternecg.cli import command_main
    return command_main("qrs-select")(argv)


if __name__ == "__main__":
    sys.exit(main())
