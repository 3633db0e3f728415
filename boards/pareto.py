"""The hardware report's Pareto plot: logic against throughput, one point per setting, both boards.

:func:`pareto_front` picks the settings that no other setting beats in both logic (fewer LC) and
throughput (more beats per second); :func:`write_pareto` draws every setting of hw.json (one
series per device, each point labelled with its lane count P) and the front through all of them,
as a PNG without a timestamp or a software tag (the same rows give the same bytes). The iCE40's
logic cells and the ECP5's LUT4s are both 4-input LUTs (with or without a flip-flop), so one axis
serves both boards.
"""

from __future__ import annotations

from pathlib import Path

from ternecg.errors import TernEcgError

__all__ = ["pareto_front", "write_pareto"]

#: series style per device: (label, marker, colour)
STYLE = {"up5k": ("iCE40 UP5K (iCEBreaker), logic cells", "o", "tab:blue"),
         "ecp5-85f": ("ECP5 85F (ULX3S), LUT4", "s", "tab:orange")}


def pareto_front(points):
    """The points (``(lc, beats_per_s, ...)`` tuples) that no other point dominates (no more LC and
    no fewer beats per second, one of them strictly), by increasing LC."""
    pts = sorted(points, key=lambda p: (p[0], -p[1]))
    front, best = [], None
    for p in pts:
        if best is None or p[1] > best:
            front.append(p)
            best = p[1]
    return front


def write_pareto(rows, path):
    """Draw ``rows`` (hw.json settings: ``device``, ``parallel``, ``lc``, ``beats_per_s``) into
    the PNG ``path``; returns the path. Rows without a throughput are left out."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [(r["lc"], r["beats_per_s"], r["device"], r["parallel"]) for r in rows if r.get("beats_per_s")]
    if not pts:
        raise TernEcgError("no setting with a throughput (beats_per_s) to plot")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for device in sorted({p[2] for p in pts}, key=lambda d: list(STYLE).index(d) if d in STYLE else 99):
        label, marker, colour = STYLE.get(device, (device, "^", "tab:gray"))
        mine = [p for p in pts if p[2] == device]
        ax.scatter([p[0] for p in mine], [p[1] for p in mine], marker=marker, color=colour, label=label, zorder=3)
        for p in mine:
            ax.annotate(f"P={p[3]}", (p[0], p[1]), textcoords="offset points", xytext=(5, 4), fontsize=8)
    front = pareto_front(pts)
    ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="black", linewidth=1,
            linestyle="--", label="Pareto front", zorder=2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("logic (nextpnr: iCE40 LC / ECP5 LUT4)")
    ax.set_ylabel("beats per second (Fmax / cycles per beat)")
    ax.set_title("ternecg accelerator: one point per setting (make hw-report)")
    ax.grid(True, which="both", linewidth=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    # no "Software" tag (the matplotlib version) and no time: the same rows give the same bytes
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)
    return path
