"""The `mumae` console script (DESIGN.md §7). Each subcommand calls one function in mumae_core."""

from __future__ import annotations

import argparse
import sys

from mumae_core.errors import MumaeError


def _cmd_synth(a: argparse.Namespace) -> None:
    from mumae_core.data.synthact import generate

    generate(out=a.out, size=a.size, seed=a.seed)


def _cmd_pretrain(a: argparse.Namespace) -> None:
    from mumae_core.config import get_config
    from mumae_core.train.pretrain import pretrain

    cfg = get_config(a.profile, a.set).validate()
    pretrain(cfg, out_dir=a.out)


def _cmd_evaluate(a: argparse.Namespace) -> None:
    from mumae_core.config import get_config
    from mumae_core.train.oneshot import evaluate_cli

    cfg = get_config(a.profile, a.set).validate()
    evaluate_cli(cfg, checkpoint=a.checkpoint, out_dir=a.out)


def _cmd_report(a: argparse.Namespace) -> None:
    from mumae_core.report import run_report

    code = run_report(profile=a.profile, out=a.out, only=a.only)
    if code:
        sys.exit(code)


def _cmd_bench(a: argparse.Namespace) -> None:
    import importlib

    mod = importlib.import_module(f"mumae_core.bench.{a.what}")
    extra = {"compare": a.compare_reference, "real": a.real} if a.what == "pretrain" else {}
    mod.main(out=a.out, profile=a.profile, repeats=a.repeats, **extra)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mumae", description="Mu-MAE research kit")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="write a SynthAct dataset in the MMAct layout")
    s.add_argument("--size", choices=["smoke", "default"], default="default")
    s.add_argument("--out", required=True)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=_cmd_synth)

    s = sub.add_parser("pretrain", help="pretrain the multimodal MAE (also under torchrun for DDP)")
    s.add_argument("--profile", default="default")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    s.add_argument("--out", required=True, help="run directory")
    s.set_defaults(func=_cmd_pretrain)

    s = sub.add_parser("evaluate", help="episodic one-shot training + validation selection + test")
    s.add_argument("--profile", default="default")
    s.add_argument("--checkpoint", default=None, help="pretraining run dir or checkpoint file")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    s.add_argument("--out", default=None)
    s.set_defaults(func=_cmd_evaluate)

    s = sub.add_parser("report", help="execute notebooks 00-05 with papermill into reports/<profile>")
    s.add_argument("--profile", default="default")
    s.add_argument("--out", default=None)
    s.add_argument("--only", action="append", default=None, help="run only these notebooks (e.g. 00_tour)")
    s.set_defaults(func=_cmd_report)

    s = sub.add_parser("bench", help="speed and memory benchmarks -> reports/benchmarks/")
    s.add_argument("what", choices=["pretrain", "evaluate", "data"])
    s.add_argument("--out", default=None)
    s.add_argument("--profile", default="default")
    s.add_argument("--repeats", type=int, default=5)
    s.add_argument(
        "--compare-reference",
        action="store_true",
        help="pretrain: the kit's step vs the reference's, same process",
    )
    s.add_argument(
        "--real", default=None, metavar="DATA_ROOT", help="pretrain: real SynthAct batches vs synthetic"
    )
    s.set_defaults(func=_cmd_bench)
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except MumaeError as e:
        print(f"mumae {args.command}: error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
