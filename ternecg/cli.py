"""The `ternecg` command (also behind every make target). User errors print one line, exit 2."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .errors import cli_main


def _eval(args):
    from ternecg.golden.evaluate import evaluate, table
    report = evaluate(models=args.models, db=args.db, out=Path(args.out))
    print(table(report))
    print(f"\nwrote {Path(args.out) / 'eval.json'} and {Path(args.out) / 'eval_confusion.png'}")


def _train(args):
    from ternecg.golden.pipeline import train_all
    t0 = time.time()
    times = train_all(seed=args.seed, out=args.models, db=args.db, epochs=args.epochs,
                      stages=tuple(args.stages.split(",")), kinds=tuple(args.kinds.split(",")))
    print(json.dumps(times, indent=1))
    g = times.get("global_integer_s")
    print(f"make train: {time.time() - t0:.0f} s in total" +
          (f" (global training of the default model: {g:.0f} s)" if g is not None else ""))


def _fixture(args):
    from ternecg.golden.fixture import FIXTURE, build
    n = build(model_path=args.model, db=args.db)
    print(f"wrote {FIXTURE} ({n} beats)")


def _verilog(args):
    from ternecg.hw.generate import generate
    out = generate(args.model, args.parallel, Path(args.out))
    print(f"wrote {out['verilog']} and {out['manifest']}")


def _hw_report(args):
    from ternecg.boards.hw_report import hw_report
    hw_report(args.model, [int(p) for p in args.parallel.split(",")] if args.parallel else None)


def _demo(args):
    from ternecg.demo import demo
    demo(parallel=args.parallel, board=args.board)


def _qrs_eval(args):
    from ternecg.golden.qrs_eval import run
    run(args)


def main(argv=None):
    p = argparse.ArgumentParser(prog="ternecg", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    db = dict(default=None, help="MIT-BIH folder (default: $TERNECG_MITDB, ../shared/data/mitdb, or a download cache)")

    e = sub.add_parser("eval", help="evaluate the shipped model files")
    e.add_argument("--models", default=None)
    e.add_argument("--db", **db)
    e.add_argument("--out", default="build/reports")
    e.set_defaults(func=_eval)

    t = sub.add_parser("train", help="retrain every shipped model file")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--epochs", type=int, default=None, help="global epochs (default: the shipped recipe)")
    t.add_argument("--stages", default="global,patient,six,inter", help="subset of global,patient,six,inter")
    t.add_argument("--kinds", default="integer,float", help="subset of integer,float")
    t.add_argument("--models", default=None)
    t.add_argument("--db", **db)
    t.set_defaults(func=_train)

    f = sub.add_parser("fixture", help="regenerate fixtures/beats.npz")
    f.add_argument("--model", default=None)
    f.add_argument("--db", **db)
    f.set_defaults(func=_fixture)

    v = sub.add_parser("verilog", help="generate Verilog and its manifest from a model file")
    v.add_argument("--model", default=None)
    v.add_argument("--parallel", type=int, default=1)
    v.add_argument("--out", default="build/verilog")
    v.set_defaults(func=_verilog)

    h = sub.add_parser("hw-report", help="synthesize parallelism settings for iCE40 UP5K")
    h.add_argument("--model", default=None)
    h.add_argument("--parallel", default=None, help="comma-separated settings (default: all that fit)")
    h.set_defaults(func=_hw_report)

    d = sub.add_parser("demo", help="Verilog + cocotb check on the fixture beats + iCEBreaker bitstream")
    d.add_argument("--parallel", type=int, default=1)
    d.add_argument("--board", default="icebreaker")
    d.set_defaults(func=_demo)

    q = sub.add_parser("qrs-eval", help="R-peak detector and peers on MIT-BIH, EC57 scoring -> build/reports/qrs.json")
    q.add_argument("--records", default=None, help="comma-separated records (default: all 48)")
    q.add_argument("--db", **db)
    q.add_argument("--no-peers", action="store_true", help="skip the peer detectors")
    q.add_argument("--jobs", type=int, default=2)
    q.add_argument("--out", default="build/reports/qrs.json")
    q.set_defaults(func=_qrs_eval)

    args = p.parse_args(argv)
    for key in ("models",):
        if getattr(args, key, "x") is None:
            from ternecg.golden.spec.modelfile import MODELS_DIR
            setattr(args, key, MODELS_DIR)
    return cli_main(args.cmd)(lambda _argv: args.func(args) or 0)()


if __name__ == "__main__":
    sys.exit(main())
