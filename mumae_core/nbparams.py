"""Notebook parameters per profile, where things live (locally or on Kaggle), and the metrics file.

Every notebook's `parameters` cell (papermill) lists its parameters; `None` means "the profile's value".
`resolve(notebook, globals())` fills those Nones from the tables below, creates the output folders and
returns a namespace `P` (`P.epochs`, `P.figures_dir`, ...). `mumae report` passes the same values
explicitly (`report_parameters(profile, out)`), so a batch run and an interactive run agree.

Where things live:
  local    data: runtime.data_home() (./data or $MUMAE_DATA), runs: ./runs/<profile>,
           report: ./reports/<profile>
  Kaggle   data: a SynthAct copy under /kaggle/input/* if one is attached (read-only), else generated into
           /kaggle/working/data; runs and report under /kaggle/working. The GPU is used when present
           (device "auto").

Metrics: each notebook writes `<out>/metrics/<notebook>.json` with `write_metrics` (plain JSON, no
scrapbook): `{"notebook", "profile", "metrics": {name: number}, "headline": [row], "ablations": [row], ...}`.
Rows are flat dicts; accuracy rows carry `accuracy` and `ci95` in percent (as train.oneshot reports them).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from mumae_core import runtime
from mumae_core.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = (
    "00_tour",
    "01_pretrain",
    "02_one_shot",
    "03_reconstructions",
    "04_attention_maps",
    "05_ablations",
)
KAGGLE_INPUT = Path("/kaggle/input")
KAGGLE_WORKING = Path("/kaggle/working")

# ---------------------------------------------------------------------------------------------------
# Parameters shared by every notebook. Paths are filled by `_paths`.
COMMON = dict(
    profile="smoke",
    out_dir=None,
    figures_dir=None,
    tables_dir=None,
    metrics_path=None,
    data_dir=None,
    runs_dir=None,
    seed=0,
    device="auto",
)

ALL_GROUPS = (
    "sensor_mask",
    "mask_ratio",
    "pretraining",
    "fusion",
    "sensor_patches",
    "fusion_scope",
    "sensor_norm",
    "missing",
)

# Per-notebook parameters: {name: {profile: value}}; a plain value applies to every profile.
# The default profile's numbers are sized so the whole report fits 40 minutes on 2 CPU cores.
PER_NOTEBOOK: dict[str, dict[str, Any]] = {
    "00_tour": dict(
        synth_size="smoke",  # the tour always uses the small dataset (< 1 minute on CPU)
        clip_index=0,
        check_size={"smoke": "smoke", "default": "default", "paper": "default"},
    ),
    "01_pretrain": dict(
        dataset="synthact",  # or "mmact" with data_root = your MMAct copy (split 3 from splits/mmact/)
        data_root=None,
        synth_size={"smoke": "smoke", "default": "default", "paper": "default"},
        modalities=None,  # None: all of the dataset's modalities
        video_mask=None,
        video_ratio=None,
        sensor_mask=None,
        sensor_ratio=None,  # None: the profile's
        model_size=None,
        epochs={"smoke": 1, "default": None, "paper": None},  # None: the profile's (default: 20)
        batch_size=None,
        lr=None,  # base_lr (scaled by batch / 256)
        run_name="mumae",
        hapt={"smoke": False, "default": True, "paper": True},  # also pretrain sensor-only on HAPT
        hapt_epochs={"smoke": 1, "default": 10, "paper": None},
        hapt_run_name="mumae_hapt",
    ),
    "02_one_shot": dict(
        run_name="mumae",  # the pretraining run (checkpoint) under runs_dir
        dataset="synthact",
        synth_size={"smoke": "smoke", "default": "default", "paper": "default"},
        way=5,
        shot=1,
        queries=1,
        head=None,
        fusion=None,
        modalities=None,
        freeze=None,
        train_episodes={"smoke": 8, "default": 300, "paper": None},
        test_episodes={"smoke": 20, "default": 1000, "paper": None},
        val_episodes={"smoke": 10, "default": 100, "paper": None},
        # headline rows: "full" (pretrained + cross-attention), "scratch", "single" (each modality)
        rows={
            "smoke": ("full", "scratch"),
            "default": ("full", "scratch", "single"),
            "paper": ("full", "scratch", "single"),
        },
        hapt={"smoke": False, "default": True, "paper": True},
        hapt_run_name="mumae_hapt",
    ),
    "03_reconstructions": dict(
        run_name="mumae",
        synth_size={"smoke": "smoke", "default": "default", "paper": "default"},
        n_clips={"smoke": 1, "default": 3, "paper": 3},
    ),
    "04_attention_maps": dict(
        run_name="mumae",
        synth_size={"smoke": "smoke", "default": "default", "paper": "default"},
        n_clips={"smoke": 1, "default": 2, "paper": 3},
    ),
    "05_ablations": dict(
        run_name="mumae",
        synth_size={"smoke": "smoke", "default": "default", "paper": "default"},
        ablation_epochs={"smoke": 1, "default": 3, "paper": 200},
        train_episodes=None,  # None: the same one-shot settings as 02_one_shot (its rows are reused)
        test_episodes=None,
        val_episodes=None,
        hapt={"smoke": False, "default": True, "paper": True},
        hapt_run_name="mumae_hapt",
        # which groups of rows to run; see the notebook
        groups={
            "smoke": ("sensor_norm", "pretraining", "fusion", "missing"),
            "default": ALL_GROUPS,
            "paper": ALL_GROUPS,
        },
    ),
}

# Which notebooks need another notebook's outputs (the report skips them when that one failed).
DEPENDS: dict[str, tuple[str, ...]] = {
    "02_one_shot": ("01_pretrain",),
    "03_reconstructions": ("01_pretrain",),
    "04_attention_maps": ("01_pretrain",),
    "05_ablations": ("01_pretrain",),
}


# ---------------------------------------------------------------------------------------------------
def default_out_dir(profile: str) -> Path:
    """reports/<profile> (under /kaggle/working inside Kaggle)."""
    base = KAGGLE_WORKING if runtime.in_kaggle() else REPO
    return base / "reports" / profile


def default_runs_dir(profile: str) -> Path:
    """runs/<profile> (under /kaggle/working inside Kaggle)."""
    base = KAGGLE_WORKING if runtime.in_kaggle() else REPO
    return base / "runs" / profile


def find_input_dataset(name: str, input_root: Path = KAGGLE_INPUT) -> Path | None:
    """A read-only copy of dataset folder `name` (e.g. 'synthact-default') attached under /kaggle/input."""
    if not input_root.is_dir():
        return None
    for cand in [
        input_root / name,
        *sorted(input_root.glob(f"*/{name}")),
        *sorted(input_root.glob(f"*/*/{name}")),
    ]:
        if cand.is_dir():
            return cand
    return None


def synthact_root(size: str, data_dir: str | os.PathLike | None = None) -> Path:
    """SynthAct of `size`: a Kaggle input copy if attached, else <data_dir>/synthact-<size>."""
    name = f"synthact-{size}"
    if runtime.in_kaggle():
        found = find_input_dataset(name)
        if found is not None:
            return found
    return Path(data_dir or runtime.data_home()) / name


def _value(notebook: str, name: str, spec: Any, profile: str) -> Any:
    if isinstance(spec, dict):
        if profile not in spec:
            raise ConfigError(f"nbparams: {notebook}.{name} has no value for profile {profile!r}")
        return spec[profile]
    return spec


def profile_parameters(notebook: str, profile: str) -> dict[str, Any]:
    """The notebook-specific parameters for `profile` (without paths)."""
    if notebook not in PER_NOTEBOOK:
        raise ConfigError(f"nbparams: unknown notebook {notebook!r}; known: {list(PER_NOTEBOOK)}")
    return {k: _value(notebook, k, v, profile) for k, v in PER_NOTEBOOK[notebook].items()}


def _paths(notebook: str, profile: str, out_dir: Path | None, data_dir=None, runs_dir=None) -> dict[str, str]:
    out = Path(out_dir) if out_dir else default_out_dir(profile)
    return dict(
        out_dir=str(out),
        figures_dir=str(out / "figures"),
        tables_dir=str(out / "tables"),
        metrics_path=str(out / "metrics" / f"{notebook}.json"),
        data_dir=str(data_dir or runtime.data_home()),
        runs_dir=str(runs_dir or default_runs_dir(profile)),
    )


def report_parameters(
    profile: str, out_dir: str | os.PathLike, data_dir=None, runs_dir=None
) -> dict[str, dict[str, Any]]:
    """{notebook: papermill parameters} for a report of `profile` written to `out_dir`."""
    params = {}
    for nb in NOTEBOOKS:
        p = dict(COMMON, profile=profile)
        p.update(_paths(nb, profile, Path(out_dir), data_dir, runs_dir))
        p.update(profile_parameters(nb, profile))
        params[nb] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in p.items()}
    return params


def resolve(notebook: str, given: dict[str, Any]) -> SimpleNamespace:
    """Fill the notebook's None parameters from its profile; make the output folders; return them.

    `given` is usually the notebook's `globals()`: only the names this module knows are read.
    """
    profile = given.get("profile") or COMMON["profile"]
    base = dict(COMMON, profile=profile)
    base.update(_paths(notebook, profile, given.get("out_dir"), given.get("data_dir"), given.get("runs_dir")))
    base.update(profile_parameters(notebook, profile))
    for k in base:
        v = given.get(k)
        if v is not None:
            base[k] = v
    for k in ("figures_dir", "tables_dir"):
        Path(base[k]).mkdir(parents=True, exist_ok=True)
    Path(base["metrics_path"]).parent.mkdir(parents=True, exist_ok=True)
    base["notebook"] = notebook
    base["in_kaggle"] = runtime.in_kaggle()
    return SimpleNamespace(**base)


# ---------------------------------------------------------------------------------------------------
def _clean(x: Any, where: str) -> Any:
    """JSON-safe copy: numpy/torch scalars -> python; a NaN or inf is an error naming the key."""
    if isinstance(x, dict):
        return {str(k): _clean(v, f"{where}.{k}") for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v, f"{where}[{i}]") for i, v in enumerate(x)]
    if hasattr(x, "item") and callable(x.item) and getattr(x, "ndim", 0) == 0:
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        raise ValueError(f"write_metrics: {where} is {x}; refusing to record a non-finite metric")
    if isinstance(x, Path):
        return str(x)
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    raise TypeError(f"write_metrics: {where} has type {type(x).__name__}, which JSON cannot hold")


def write_metrics(path: str | os.PathLike, notebook: str, profile: str, **sections: Any) -> Path:
    """Write the notebook's metrics JSON (atomically) and return its path.

    sections: `metrics={name: number}`, `headline=[row]`, `ablations=[row]`, `notes=[str]`, anything else
    JSON can hold.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = _clean(dict(notebook=notebook, profile=profile, **sections), "metrics")
    from mumae_core.train.runlog import write_json_atomic

    write_json_atomic(path, doc)  # _clean has already refused NaN / inf, naming the key
    return path


def read_metrics(path: str | os.PathLike) -> dict[str, Any] | None:
    """The metrics JSON at `path`, or None when the notebook did not write one."""
    path = Path(path)
    if not path.is_file():
        return None
    return json.loads(path.read_text())


# ---------------------------------------------------------------------------------------------------
# Notebook helpers: data, configs, and reuse of finished runs (a re-run with nothing changed is quick).
def ensure_synthact(size: str, data_dir: str | os.PathLike | None = None, seed: int = 0) -> Path:
    """The SynthAct dataset of `size`, generated (once) when it is not there yet. Returns its root."""
    root = synthact_root(size, data_dir)
    if _synthact_complete(root, size, seed):
        return root
    if runtime.in_kaggle() and str(root).startswith(str(KAGGLE_INPUT)):
        raise ConfigError(f"{root} under /kaggle/input is incomplete and read-only; attach a full copy")
    from mumae_core.data.synthact import generate

    print(f"generating SynthAct ({size}) into {root} ...", flush=True)
    generate(out=root, size=size, seed=seed)
    return root


def _synthact_complete(root: Path, size: str, seed: int) -> bool:
    """synthact.json is written last by `generate`; its size and seed must match."""
    meta = root / "synthact.json"
    if not meta.is_file():
        return False
    try:
        m = json.loads(meta.read_text())
    except ValueError:
        return False
    from mumae_core.data.synthact.generate import VERSION

    if m.get("generator_version") != VERSION:
        print(
            f"{root} was made by SynthAct {m.get('generator_version')}, not {VERSION}: regenerating",
            flush=True,
        )
        return False
    if m.get("size") != size or m.get("seed") != seed:
        raise ConfigError(
            f"{root} holds SynthAct size={m.get('size')!r} seed={m.get('seed')}, not size={size!r} "
            f"seed={seed}; point data_dir elsewhere or delete it"
        )
    return True


def make_config(P: SimpleNamespace, dataset: str = "synthact", overrides: list[str] | dict | None = None):
    """The profile's Config for `dataset`, pointed at the notebook's data and device, with `overrides`.

    SynthAct: data.root = the resolved dataset (generated when missing), data.synth_size = P.synth_size.
    """
    from mumae_core.config import for_dataset, get_config

    cfg = for_dataset(get_config(P.profile), dataset)
    base: dict[str, Any] = {
        "pretrain.device": P.device,
        "oneshot.device": P.device,
        "pretrain.seed": P.seed,
        "oneshot.seed": P.seed,
    }
    if dataset == "synthact":
        size = getattr(P, "synth_size", None) or cfg.data.synth_size
        base["data.synth_size"] = size
        base["data.root"] = str(ensure_synthact(size, P.data_dir, seed=P.seed))
    elif dataset == "mmact":
        root = getattr(P, "data_root", None) or (find_input_dataset("mmact") if runtime.in_kaggle() else None)
        if not root:
            raise ConfigError(
                "dataset='mmact' needs data_root = the folder of your MMAct copy (video/<class>/<clip>.mp4 "
                "and <sensor>_clip/<class>/<recording>.csv); MMAct is licensed: the kit cannot download it"
            )
        base["data.root"] = str(root)
    cfg = cfg.with_overrides(base).with_overrides(overrides)
    return cfg.validate()


def _config_differences(saved: dict, now: dict, free_sections: tuple[str, ...]) -> list[str]:
    """Differences that matter between a saved run's config and `now` (JSON round trip: tuples -> lists)."""
    from mumae_core.train.pretrain import config_differences

    return config_differences(saved, json.loads(json.dumps(now)), free_sections=free_sections)


def pretrain_or_reuse(cfg, run_dir: str | os.PathLike, progress: bool = True) -> dict:
    """summary.json of a finished run in `run_dir` with the same config, else pretrain(cfg, run_dir).

    A finished run with a different config is moved aside to `<run_dir>.replaced-<time>` (never deleted)
    and a fresh run starts; an unfinished run with the same config resumes.
    """
    from mumae_core.train.pretrain import pretrain

    run = Path(run_dir)
    cfg_file, summary = run / "config.json", run / "summary.json"
    if cfg_file.is_file():
        from mumae_core.train.pretrain import RESUME_FREE_SECTIONS

        saved_cfg = json.loads(cfg_file.read_text()).get("config", {})
        diffs = _config_differences(saved_cfg, cfg.to_dict(), RESUME_FREE_SECTIONS)
        if not diffs and summary.is_file():
            print(f"reusing the finished pretraining run {run}", flush=True)
            return json.loads(summary.read_text())
        if diffs:
            import time

            aside = run.with_name(f"{run.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
            print(f"{run} has a different config ({'; '.join(diffs[:3])}); moving it to {aside}", flush=True)
            run.rename(aside)
    return pretrain(cfg, run, progress=progress)


def oneshot_or_reuse(
    cfg,
    mae,
    datasets,
    out_dir: str | os.PathLike,
    tag: str = "",
    progress: bool = True,
    keep_model: bool = False,
) -> dict:
    """train_oneshot(cfg, mae, datasets, out_dir), or its metrics.json when out_dir holds a finished run of
    the same config and the same `tag` (e.g. the pretraining checkpoint it started from).

    keep_model: save the trained one-shot model's state to out_dir/model.pt; when reusing, rebuild the
    model and load that state (returned under "model").
    """
    from mumae_core.train.oneshot import train_oneshot

    out = Path(out_dir)
    mfile, tfile, wfile = out / "metrics.json", out / "reuse_tag.json", out / "model.pt"
    if mfile.is_file() and tfile.is_file() and (wfile.is_file() or not keep_model):
        saved = json.loads(mfile.read_text())
        same = (
            # every section counts here, the one-shot settings included
            not _config_differences(saved.get("config", {}), cfg.to_dict(), free_sections=())
            and json.loads(tfile.read_text()) == tag
        )
        if same:
            print(f"reusing one-shot results in {out}", flush=True)
            if keep_model:
                import torch

                from mumae_core.models.oneshot import build_oneshot_model

                model = build_oneshot_model(cfg, mae)
                model.load_state_dict(torch.load(wfile, map_location="cpu", weights_only=True))
                saved["model"] = model.eval()
            return saved
    res = train_oneshot(cfg, mae, datasets, out_dir=out, progress=progress)
    if keep_model:
        import torch

        torch.save(res["model"].state_dict(), wfile)
    tfile.write_text(json.dumps(tag))
    return res


def single_modality_config(cfg, modality: str):
    """The headline one-shot config restricted to one modality: R^m and the cross-attention fusion see only
    `modality`, so the row has the same trainable capacity as the full model (a fair single-modality row)."""
    return cfg.with_overrides({"data.modalities": modality}).validate()


def checkpoint_tag(run_dir: str | os.PathLike | None) -> str:
    """Identifies a pretraining run's final weights (path + size + mtime); 'scratch' for None."""
    if run_dir is None:
        return "scratch"
    from mumae_core.train.checkpoint import find_checkpoint

    ck = find_checkpoint(run_dir)
    st = ck.stat()
    return f"{ck}:{st.st_size}:{int(st.st_mtime)}"


def oneshot_config(P: SimpleNamespace, run_cfg, overrides: list[str] | dict | None = None):
    """One-shot Config: the pretraining run's data / model / mask settings, the profile's one-shot section,
    the notebook's device and seed, P's one-shot parameters that are not None, then `overrides`."""
    from mumae_core.config import Config, get_config

    d = run_cfg.to_dict()
    d["oneshot"] = get_config(P.profile).to_dict()["oneshot"]
    cfg = Config.from_dict(d)
    cfg.profile = P.profile
    given = {
        "way": getattr(P, "way", None), "shot": getattr(P, "shot", None),
        "query": getattr(P, "queries", None),
        "head": getattr(P, "head", None), "fusion": getattr(P, "fusion", None),
        "freeze": getattr(P, "freeze", None), "train_episodes": getattr(P, "train_episodes", None),
        "test_episodes": getattr(P, "test_episodes", None), "val_episodes": getattr(P, "val_episodes", None),
    }  # fmt: skip
    base = {f"oneshot.{k}": v for k, v in given.items() if v is not None}
    base.update({"oneshot.device": P.device, "oneshot.seed": P.seed, "pretrain.device": P.device})
    if base.get("oneshot.train_episodes") is not None:
        every = max(1, min(cfg.oneshot.val_classes_eval_every, int(base["oneshot.train_episodes"]) // 3 or 1))
        base["oneshot.val_classes_eval_every"] = every
    return cfg.with_overrides(base).with_overrides(overrides).validate()


def clip_features(model, dataset, batch_size: int = 32, device: str = "cpu", limit: int | None = None):
    """Fused per-clip features of a one-shot model over `dataset`: (features (N, D) numpy, labels (N,))."""
    import numpy as np
    from torch.utils.data import Subset

    from mumae_core.train.featcache import encode_clips

    n = len(dataset) if limit is None else min(limit, len(dataset))
    feats = encode_clips(
        model, Subset(dataset, range(n)), batch_size=batch_size, device=device, progress=False
    )
    return feats.numpy(), np.asarray(dataset.labels[:n])


def headline_oneshot_config(P: SimpleNamespace, run_cfg, overrides: list[str] | dict | None = None):
    """02_one_shot's one-shot settings for P.profile, with P's own non-None values on top: rows of 04 and 05
    that match 02's headline rows reuse their trained models, and every row is scored on the same episodes."""
    q = dict(vars(P))
    for k, v in profile_parameters("02_one_shot", P.profile).items():
        if q.get(k) is None:
            q[k] = v
    return oneshot_config(SimpleNamespace(**q), run_cfg, overrides)
