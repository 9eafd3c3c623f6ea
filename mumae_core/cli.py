"""The `mumae` console script (DESIGN.md §7). Each subcommand calls one function in mumae_core."""

from __future__ import annotations

import argparse
import sys

from mumae_core.errors import MumaeError, describe_os_error


def _cmd_synth(a: argparse.Namespace) -> None:
    from mumae_core.data.synthact import generate

    generate(out=a.out, size=a.size, seed=a.seed)


def config_from_args(a: argparse.Namespace):
    """The validated Config of `--profile` and `--set` (the same as a notebook's profile and overrides)."""
    from mumae_core.config import get_config

    return get_config(a.profile, a.set).validate()


def _cmd_pretrain(a: argparse.Namespace) -> None:
    from mumae_core.train.pretrain import pretrain

    pretrain(config_from_args(a), out_dir=a.out)


def _cmd_evaluate(a: argparse.Namespace) -> None:
    from mumae_core.train.oneshot import evaluate_cli

    evaluate_cli(config_from_args(a), checkpoint=a.checkpoint, out_dir=a.out)


def _cmd_report(a: argparse.Namespace) -> None:
    from mumae_core.report import run_report

    code = run_report(profile=a.profile, out=a.out, only=a.only, overrides=a.set)
    if code:
        sys.exit(code)


def _cmd_bench(a: argparse.Namespace) -> None:
    import importlib

    mod = importlib.import_module(f"mumae_core.bench.{a.what}")
    extra = {"compare": a.compare_reference, "real": a.real} if a.what == "pretrain" else {}
    mod.main(out=a.out, profile=a.profile, repeats=a.repeats, **extra)


def _cmd_config(a: argparse.Namespace) -> None:

    if a.keys:
        print(format_config_keys())
        return
    print(config_from_args(a).to_json())


def _cmd_embed(a: argparse.Namespace) -> None:
    from mumae_core.api import embed, load_clips, load_encoder

    mae, cfg = load_encoder(a.checkpoint, device=a.device)
    clips = load_clips(a.data, cfg)
    feats = embed(clips, mae, cfg, batch_size=a.batch_size)
    for line in write_embeddings(a.out, feats, clips.ids):
        print(line)


def _cmd_classify(a: argparse.Namespace) -> None:
    import csv

    from mumae_core.api import OneShotClassifier, load_clips, load_encoder

    mae, cfg = load_encoder(a.checkpoint, device=a.device)
    clf = OneShotClassifier(mae, cfg, head=a.head, batch_size=a.batch_size).fit(a.support)
    queries = load_clips(a.query, cfg, stats=clf.stats)
    probs = clf(queries).softmax(-1)  # (Q, way)
    score, best = probs.max(-1)
    rows = [(i, clf.classes[b], f"{s:.4f}") for i, b, s in zip(queries.ids, best.tolist(), score.tolist())]
    out = open(a.out, "w", newline="") if a.out else sys.stdout
    try:
        w = csv.writer(out)
        w.writerow(["clip", "predicted", "score"])
        w.writerows(rows)
    finally:
        if a.out:
            out.close()
            print(f"{len(rows)} predictions over {len(clf.classes)} classes written to {a.out}")


# ---------------------------------------------------------------------- helpers
def write_embeddings(out: str, feats, ids: list[str]) -> list[str]:
    """FILE.npy (+ FILE.ids.txt, one clip id a line) or FILE.parquet (columns id, f0..f{D-1}; needs
    pyarrow, else the .npy pair is written instead). Returns what was written, for printing."""
    from pathlib import Path

    import numpy as np

    from mumae_core.errors import ConfigError

    path = Path(out)
    if path.suffix not in (".npy", ".parquet"):
        raise ConfigError(f"embed --out {out}: the file must end in .npy or .parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    notes = []
    if path.suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            notes.append("pyarrow is not installed (pip install pyarrow for parquet): writing .npy instead")
            path = path.with_suffix(".npy")
        else:
            import pandas as pd

            df = pd.DataFrame(feats, columns=[f"f{j}" for j in range(feats.shape[1])])
            df.insert(0, "id", ids)
            df.to_parquet(path, index=False)
            return [f"{feats.shape[0]} embeddings of size {feats.shape[1]} written to {path}"]
    np.save(path, feats)
    id_file = path.with_suffix(".ids.txt")
    id_file.write_text("".join(f"{i}\n" for i in ids))
    return notes + [
        f"{feats.shape[0]} embeddings of size {feats.shape[1]} written to {path} (ids: {id_file})"
    ]


def config_keys() -> list[dict]:
    """Every `--set` key: {key, type, default, comment}, read from the dataclasses in config.py (the
    comment is the field's trailing `# ...`, or the comment lines just above it)."""
    import dataclasses
    import inspect

    from mumae_core.config import Config

    out = []
    for section in dataclasses.fields(Config):
        if section.name == "profile":
            continue
        cls = section.default_factory  # type: ignore[misc]
        comments = _field_comments(inspect.getsource(cls))
        defaults = cls()
        for f in dataclasses.fields(cls):
            out.append(
                dict(
                    key=f"{section.name}.{f.name}",
                    type=str(f.type),
                    default=getattr(defaults, f.name),
                    comment=comments.get(f.name, ""),
                )
            )
    return out


def _field_comments(source: str) -> dict[str, str]:
    """{field: comment} from a dataclass's source: `name: type = value  # comment`, or the `# ...` lines
    just above the field."""
    import re

    out, above = {}, []
    for line in source.splitlines():
        s = line.strip()
        if s.startswith("#"):
            above.append(s.lstrip("# ").strip())
            continue
        m = re.match(r"^([a-z_][a-z0-9_]*)\s*:", s)
        if m and line.startswith("    ") and not line.startswith("     "):
            code, _, tail = s.partition("  #")
            out[m.group(1)] = " ".join(above + [tail.strip()] if tail else above).strip()
        above = []
    return out


def format_config_keys() -> str:
    rows = config_keys()
    width = max(len(r["key"]) for r in rows)
    tw = max(len(r["type"]) for r in rows)
    lines = [f"{'key':<{width}}  {'type':<{tw}}  default  # comment"]
    for r in rows:
        default = ",".join(map(str, r["default"])) if isinstance(r["default"], tuple) else r["default"]
        note = f"  # {r['comment']}" if r["comment"] else ""
        lines.append(f"{r['key']:<{width}}  {r['type']:<{tw}}  {default}{note}")
    return "\n".join(lines)


HEADS = ("proto_cos", "proto_euclid")  # mumae_core.api.HEADS (not imported here: --help stays light)
EPILOG = """examples:
  mumae synth --size smoke --out data/synthact-smoke
  mumae pretrain --profile smoke --out runs/smoke --set pretrain.epochs=1
  mumae evaluate --profile smoke --checkpoint runs/smoke
  mumae config --profile default --set data.img_size=224     # the resolved config as JSON
  mumae config --keys                                        # every --set key: type, default, comment
  mumae embed --checkpoint runs/smoke --data my_clips/ --out feats.npy
  mumae classify --checkpoint runs/smoke --support support/ --query queries/ --out preds.csv
  mumae report --profile smoke --only 00_tour
  mumae bench pretrain --profile all --out reports/benchmarks/pretrain.json
  torchrun --nproc_per_node=4 -m mumae_core.cli pretrain --profile paper --out runs/paper
"""


def _profile_arg(p: argparse.ArgumentParser, extra: tuple[str, ...] = ()) -> None:
    from mumae_core.config import PROFILES

    names = sorted(PROFILES) + list(extra)
    p.add_argument(
        "--profile",
        default="default",
        metavar="{" + ",".join(names) + "}",
        help=f"named config profile, one of {', '.join(names)} (default: default)",
    )


def _set_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config value, e.g. --set pretrain.epochs=3 (repeatable; `mumae config --keys` "
        "lists every key)",
    )


def _data_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("--checkpoint", required=True, help="pretraining run directory or checkpoint file (.pt)")
    s.add_argument("--device", default="cpu", help="torch device to encode on (default: cpu)")
    s.add_argument("--batch-size", type=int, default=32, help="clips encoded at once (default: 32)")


def build_parser() -> argparse.ArgumentParser:
    from mumae_core import __version__

    p = argparse.ArgumentParser(
        prog="mumae",
        description="Mu-MAE research kit: multimodal masked autoencoders for one-shot activity recognition",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("synth", help="write a SynthAct dataset in the MMAct layout")
    s.add_argument(
        "--size", choices=["smoke", "default"], default="default",
        help="smoke (a few clips per class, for tests; seconds) or default (the report's dataset) "
        "(default: default)",
    )  # fmt: skip
    s.add_argument("--out", required=True, help="dataset root to write (video/, <sensor>_clip/, splits/)")
    s.add_argument("--seed", type=int, default=0, help="generator seed (default: 0)")
    s.set_defaults(func=_cmd_synth)

    s = sub.add_parser("pretrain", help="pretrain the multimodal MAE (also under torchrun for DDP)")
    _profile_arg(s)
    _set_arg(s)
    s.add_argument("--out", required=True, help="run directory (resumed when it holds checkpoint-last.pt)")
    s.set_defaults(func=_cmd_pretrain)

    s = sub.add_parser("evaluate", help="episodic one-shot training + validation selection + test")
    _profile_arg(s)
    s.add_argument(
        "--checkpoint",
        default=None,
        help="pretraining run dir or checkpoint file (default: a random encoder)",
    )
    _set_arg(s)
    s.add_argument("--out", default=None, help="results directory (default: beside the checkpoint)")
    s.set_defaults(func=_cmd_evaluate)

    s = sub.add_parser("report", help="execute notebooks 00-05 with papermill into reports/<profile>")
    _profile_arg(s)
    _set_arg(s)
    s.add_argument("--out", default=None, help="report directory (default: reports/<profile>)")
    s.add_argument(
        "--only", action="append", default=None, help="run only this notebook (e.g. 00_tour; repeatable)"
    )
    s.set_defaults(func=_cmd_report)

    s = sub.add_parser("bench", help="speed and memory benchmarks -> reports/benchmarks/")
    s.add_argument("what", choices=["pretrain", "evaluate", "data"], help="what to time")
    s.add_argument("--out", default=None, help="JSON file for the results (default: print only)")
    _profile_arg(s, extra=("all",))
    s.add_argument("--repeats", type=int, default=5, help="timed repeats per measurement (default: 5)")
    s.epilog = "--profile all (bench pretrain): the default and paper profiles; a comma list works too"
    s.add_argument(
        "--compare-reference",
        action="store_true",
        help="pretrain: the kit's step vs the reference's, same process",
    )
    s.add_argument(
        "--real", default=None, metavar="DATA_ROOT", help="pretrain: real SynthAct batches vs synthetic"
    )
    s.set_defaults(func=_cmd_bench)

    s = sub.add_parser(
        "config", help="print the resolved config of a profile (JSON), or list every --set key"
    )
    _profile_arg(s)
    _set_arg(s)
    s.add_argument("--keys", action="store_true", help="list every --set key with its type, default, comment")
    s.set_defaults(func=_cmd_config)

    s = sub.add_parser("embed", help="R^m embeddings of your clips (MMAct-layout folder or .npz of sensors)")
    _data_args(s)
    s.add_argument("--data", required=True, help="folder in the MMAct layout, or .npz {modality: (N, L, 3)}")
    s.add_argument(
        "--out", required=True, help="FILE.npy (+ FILE.ids.txt with the clip ids) or FILE.parquet (pyarrow)"
    )
    s.set_defaults(func=_cmd_embed)

    s = sub.add_parser("classify", help="few-shot: label query clips by the nearest support-class prototype")
    _data_args(s)
    s.add_argument("--support", required=True, help="labelled clips: MMAct-layout folder or .npz with labels")
    s.add_argument("--query", required=True, help="clips to classify: MMAct-layout folder or .npz")
    s.add_argument("--out", default=None, help="CSV file clip,predicted,score (default: print to stdout)")
    s.add_argument(
        "--head", choices=list(HEADS), default="proto_cos",
        help="prototype metric: proto_cos (scaled cosine) or proto_euclid (default: proto_cos)",
    )  # fmt: skip
    s.set_defaults(func=_cmd_classify)
    return p


def main(argv: list[str] | None = None) -> None:
    """Run one subcommand. Every expected failure (a MumaeError, an OS error such as a full disk or a
    read-only folder) ends with exit code 2 and one line `mumae <cmd>: error: ...` naming the file or
    parameter; an interrupt exits 130."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except MumaeError as e:
        _fail(args.command, str(e))
    except OSError as e:
        _fail(args.command, describe_os_error(e))
    except KeyboardInterrupt:
        print(f"mumae {args.command}: interrupted", file=sys.stderr)
        sys.exit(130)


def _fail(command: str, message: str) -> None:
    """Print `mumae <command>: error: <message>` as one line (a multi-line message is joined with '; ')."""
    parts = [ln.strip() for ln in message.strip().splitlines() if ln.strip()] or ["unknown error"]
    text = parts[0]
    for prev, part in zip(parts, parts[1:]):
        text += (" " if prev.endswith(":") else "; ") + part
    print(f"mumae {command}: error: {text}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    main()
