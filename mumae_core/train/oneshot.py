"""Episodic one-shot training, validation-class model selection, test evaluation on saved episodes.

Protocol (DESIGN.md §5), unlike the reference (best of ~80 periodic tests on the TEST classes):
  * train on episodes of the train split (base classes minus the validation classes);
  * every `val_classes_eval_every` episodes (and before training) score `val_episodes` fixed episodes of the
    validation classes; keep the state with the best validation accuracy -- selection NEVER sees the test;
  * score the selected model once on a fixed, saved list of test episodes (novel classes),
    `episodes_<way>w<shot>s_<n>_seed<k>.json`: the committed reference list in splits/<dataset>/ when it
    matches, else one drawn once into the episode store (`data.episodes.EpisodeStore`), so every
    configuration is scored on the same episodes and two configurations can be compared by paired
    differences (mumae_core.stats).
Scoring (validation, test) and the training episodes' features go through `mumae_core.eval` (feature
sources, `score_episodes`, `summarise`); this module only trains and selects.
Results: mean accuracy (%) with a 95% CI over episodes, per-class accuracy, a confusion matrix over the
novel classes, per-episode accuracies, the modalities used and any missing at test.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from mumae_core import provenance
from mumae_core.data.episodes import (
    EpisodeStore,
    EpisodicSampler,
    collate_episode,
    episode_filename,
    sample_episodes,
)
from mumae_core.errors import ConfigError, DataError, EpisodeError
from mumae_core.eval import (
    CachedRepresentations,
    LiveFeatures,
    encode_representations,
    episode_scores,
    evaluate,
)
from mumae_core.models.oneshot import build_oneshot_model
from mumae_core.progress import progress as progress_bar
from mumae_core.runtime import autocast, autocast_dtype, environment_info, resolve_device, seed_everything
from mumae_core.train.runlog import append_metrics, write_json_atomic

METRICS_JSON = "metrics.json"
EPISODES_CSV = "test_episodes.csv"


# ---------------------------------------------------------------------- input checks
def dataset_name(cfg) -> str:
    """Name of the split directory for episode files: synthact-<size> for SynthAct, else data.dataset."""
    d = cfg.data
    return f"synthact-{d.synth_size}" if d.dataset == "synthact" else d.dataset


def val_way(cfg, val_ds) -> int:
    """Ways of a validation episode: oneshot.way, or fewer when the dataset has fewer validation classes.

    HAPT has 12 classes in all; with 5 novel and 5 training classes only 2 are left for validation, so its
    validation episodes are 2-way. Selection only needs a ranking of checkpoints, not a comparable number.
    """
    n_val = len(set(int(y) for y in val_ds.labels))
    return max(2, min(cfg.oneshot.way, n_val))


def train_way(cfg) -> int:
    """Ways of a training episode: oneshot.train_way, or oneshot.way when it is 0 (the default)."""
    return cfg.oneshot.train_way or cfg.oneshot.way


def split_episodes(cfg, ds, n: int) -> list:
    """`n` fixed `val_way`-way episodes of a non-test split (validation or training classes), drawn with
    oneshot.episode_seed: with n = oneshot.val_episodes on the validation split, the episodes the one-shot
    stage selects its checkpoint on."""
    o = cfg.oneshot
    return sample_episodes(
        list(ds.labels), n, val_way(cfg, ds), o.shot, o.query, o.query_protocol, seed=o.episode_seed,
        groups=getattr(ds, "groups", None), class_names=list(ds.class_names),
    )  # fmt: skip


def check_split(ds, split: str, way: int, shot: int, query: int, setting: str = "oneshot.way") -> None:
    """EpisodeError unless `ds` has >= way classes, each with >= shot + query clips; `setting` names the
    config field that asked for `way` (oneshot.train_way for the training split when it is set)."""
    counts = Counter(int(y) for y in ds.labels)
    names = list(getattr(ds, "class_names", []) or [])
    if len(counts) < way:
        raise EpisodeError(
            f"{split} split: {len(counts)} classes ({[names[c] if c < len(names) else c for c in counts]}) "
            f"but {setting}={way}"
        )
    small = {names[c] if c < len(names) else c: n for c, n in counts.items() if n < shot + query}
    if small:
        raise EpisodeError(
            f"{split} split: classes {small} have fewer clips than oneshot.shot + oneshot.query = "
            f"{shot + query}"
        )


def check_inputs(cfg, datasets: dict, train: bool = True) -> None:
    """Every check that can fail, before any work: modalities, class overlap, episode feasibility."""
    o = cfg.oneshot
    if not cfg.data.modalities:
        raise ConfigError("data.modalities is empty: name at least one modality")
    needed = ("train", "val", "test") if train else ("test",)
    for split in needed:
        if split not in datasets:
            raise DataError(f"train_oneshot: datasets has no {split!r} split (keys {sorted(datasets)})")
    for split in needed:
        ds = datasets[split]
        have = tuple(getattr(ds, "modalities", ()))
        lacking = [m for m in cfg.data.modalities if m not in have]
        if split != "test" and lacking:
            raise DataError(
                f"{split} split lacks modalities {lacking} of data.modalities (it has {list(have)})"
            )
        if split == "test" and not set(have) & set(cfg.data.modalities):
            raise DataError(
                f"test split has none of data.modalities {list(cfg.data.modalities)} (it has {have})"
            )
        if len(ds) == 0:
            raise DataError(f"{split} split is empty")
    test_names = set(datasets["test"].class_names)
    for split in ("train", "val"):
        if split in datasets:
            overlap = test_names & set(datasets[split].class_names)
            if overlap:
                raise DataError(
                    f"test split shares classes {sorted(overlap)} with the {split} split: the test must hold "
                    "novel classes only"
                )
    if train and set(datasets["train"].class_names) & set(datasets["val"].class_names):
        both = sorted(set(datasets["train"].class_names) & set(datasets["val"].class_names))
        raise DataError(f"validation classes {both} are also training classes")
    ways = {"train": train_way(cfg), "test": o.way}
    for split in needed:
        way = val_way(cfg, datasets[split]) if split == "val" else ways[split]
        setting = "oneshot.train_way" if split == "train" and o.train_way else "oneshot.way"
        check_split(datasets[split], split, way, o.shot, o.query, setting)
    if o.test_episodes < 2 or (train and o.val_episodes < 2):
        raise ConfigError(
            f"oneshot.test_episodes={o.test_episodes} and oneshot.val_episodes={o.val_episodes} must be >= 2 "
            "(a confidence interval needs at least 2 episodes)"
        )


# ---------------------------------------------------------------------- training
def _test_episodes(cfg, test_ds, out_dir: Path | None, path: str | Path | None):
    """(test episodes, their file): the reference list in splits/ when it matches, else the episode store's
    (`EpisodeStore`: $MUMAE_EPISODES_DIR or data_home()/episodes), or exactly `path` when given."""
    o = cfg.oneshot
    args = dict(
        labels=list(test_ds.labels), n=o.test_episodes, way=o.way, shot=o.shot, query=o.query,
        protocol=o.query_protocol, seed=o.episode_seed, groups=getattr(test_ds, "groups", None),
        class_names=list(test_ds.class_names),
    )  # fmt: skip
    name = episode_filename(o.way, o.shot, o.test_episodes, o.episode_seed, o.query, o.query_protocol)
    if path is None and cfg.data.dataset == "arrays":  # user arrays: never a list shared between datasets
        if out_dir is None:
            return sample_episodes(**args), None
        path = out_dir / name
    store = EpisodeStore()
    try:
        return store.load_or_create(dataset=dataset_name(cfg), path=path, **args)
    except OSError:  # the store folder is not writable: keep the list beside the results
        if out_dir is None:
            raise
        return store.load_or_create(dataset=dataset_name(cfg), path=out_dir / name, **args)


def _episode_loader(ds, cfg, sampler) -> DataLoader:
    return DataLoader(
        ds,
        batch_sampler=sampler.batch_sampler(),
        collate_fn=functools.partial(collate_episode, n_support=sampler.way * cfg.oneshot.shot),
        num_workers=cfg.data.num_workers,
    )


def episodes_fingerprint(episodes) -> str:
    """A short hash of an episode list: two results are paired only when their fingerprints agree."""
    blob = json.dumps([ep.to_dict() for ep in episodes], separators=(",", ":")).encode()
    return hashlib.sha1(blob).hexdigest()[:16]


def _cpu_state(model) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def train_oneshot(
    cfg,
    mae=None,
    datasets: dict | None = None,
    out_dir: str | Path | None = None,
    progress: bool = True,
    test_episodes_path: str | Path | None = None,
    reps: dict | None = None,
) -> dict:
    """Episodic training + validation-class selection + test on saved episodes. Returns the metrics dict.

    reps: {"train", "val", "test"} representations (`eval.encode_representations`) of a FIXED encoder
    (pretrained, or the shared random init) computed earlier for the same data, e.g. shared by the seeds of
    one row; None = encode here.

    mae: a (pretrained) MultimodalMAE; None = randomly initialised here, after `seed_everything(oneshot.seed)`
    (so each one-shot seed draws its own encoder). For the random init shared by every seed and by the
    random-init probe baseline, pass `mumae_core.runs.random_init_mae(cfg)` (drawn from pretrain.seed): the
    ablation and headline rows do (`runs.RandomInit`). datasets: {"train", "val", "test"}
    (default: build_datasets(cfg, stage="oneshot")). out_dir: where metrics.json, metrics.jsonl, config.json
    and test_episodes.csv go (None = write nothing). The returned dict also holds the trained model under
    "model" (not written to JSON).
    """
    cfg.validate()
    o = cfg.oneshot
    if datasets is None:
        from mumae_core.data.build import build_datasets

        datasets = build_datasets(cfg, stage="oneshot", progress=progress)
    check_inputs(cfg, datasets, train=True)
    out = Path(out_dir) if out_dir is not None else None
    prov = provenance.start_run(out) if out is not None else provenance.record()  # which code made it
    test_eps, test_path = _test_episodes(cfg, datasets["test"], out, test_episodes_path)
    val_eps = split_episodes(cfg, datasets["val"], o.val_episodes)
    sampler = EpisodicSampler(
        list(datasets["train"].labels), train_way(cfg), o.shot, o.query, o.train_episodes, o.query_protocol,
        seed=o.seed, groups=getattr(datasets["train"], "groups", None),
        class_names=list(datasets["train"].class_names),
    )  # fmt: skip

    seed_everything(o.seed)
    device = resolve_device(o.device)
    dtype = autocast_dtype(device, o.amp)
    model = build_oneshot_model(cfg, mae).to(device)
    params = model.trainable_parameters()
    if out is not None:
        write_json_atomic(out / "config.json", {"config": cfg.to_dict(), "seed": o.seed,
                                                "environment": environment_info()})  # fmt: skip
    ev = functools.partial(
        evaluate, device=device, amp=o.amp, num_workers=cfg.data.num_workers, progress=False
    )

    fixed = model.encoder_is_fixed  # frozen encoder: encode train / val clips once, train fusion + head only
    given = reps
    reps = {}
    if fixed and given is not None:
        for k in ("train", "val", "test"):
            n = next(iter(given[k]["feats"].values())).shape[0]
            if n != len(datasets[k]):
                raise DataError(
                    f"train_oneshot: reps[{k!r}] has {n} rows, the {k} split {len(datasets[k])} clips"
                )
        reps = dict(given)
    elif fixed:
        enc = functools.partial(
            encode_representations, batch_size=32, device=device, amp_dtype=dtype,
            num_workers=cfg.data.num_workers, progress=progress,
        )  # fmt: skip
        reps = {k: enc(model, datasets[k]) for k in ("train", "val", "test")}
    # training episodes come from the same feature sources as evaluation (eval/features.py)
    train_src = (
        CachedRepresentations(model, reps["train"], device) if fixed
        else LiveFeatures(model, datasets["train"], device=device, amp_dtype=dtype)
    )  # fmt: skip

    def validate(episode: int, train_loss: float | None) -> dict:
        r = ev(model, datasets["val"], val_eps, reps=reps.get("val"))
        row = {"episode": episode, "val_accuracy": r["accuracy"], "val_ci95": r["ci95"]}
        row["train_loss"] = train_loss
        history.append(row)
        if out is not None:
            append_metrics(out, row)
        return r

    def train_episodes():
        """(episode or None, its loaded clips {mod: (S + Q, ...)} or None, support labels, query labels)."""
        if fixed:
            for ep in sampler:
                yield ep, None, torch.tensor(ep.support_labels, device=device), ep.query_labels
        else:
            for eb in _episode_loader(datasets["train"], cfg, sampler):
                joint = {m: torch.cat([eb.support[m], eb.query[m]]).to(device) for m in model.modalities}
                yield None, joint, eb.support_labels.to(device), eb.query_labels

    history: list[dict] = []
    t0 = time.perf_counter()
    best = validate(0, None)
    best_state, best_episode = _cpu_state(model), 0
    if params and o.train_episodes > 0:
        opt = torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay)
        scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
        model.train()
        losses: list[float] = []
        bar = progress_bar(total=o.train_episodes, desc="one-shot training", disable=not progress)
        for i, (ep, clips, s_lab, q_lab) in enumerate(train_episodes(), start=1):
            with autocast(device, dtype):
                scores = episode_scores(train_src, s_lab, ep, clips)
            loss = F.cross_entropy(scores.float(), torch.as_tensor(q_lab, device=device))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"train_oneshot: non-finite loss at training episode {i}")
            scaler.scale(loss / o.episodes_per_step).backward()
            losses.append(float(loss.detach()))
            if i % o.episodes_per_step == 0 or i == o.train_episodes:
                scaler.step(opt)
                scaler.update()
                opt.zero_grad(set_to_none=True)
            bar.update(1)
            if i % o.val_classes_eval_every == 0 or i == o.train_episodes:
                r = validate(i, float(np.mean(losses)))
                losses = []
                bar.set_postfix(
                    val=f"{r['accuracy']:.1f}", best=f"{max(best['accuracy'], r['accuracy']):.1f}"
                )
                if r["accuracy"] > best["accuracy"]:
                    best, best_episode = r, i
                    best_state = _cpu_state(model)
                model.train()
        bar.close()
    train_seconds = time.perf_counter() - t0
    model.load_state_dict(best_state)
    model.eval()
    test = ev(model, datasets["test"], test_eps, progress=progress, reps=reps.get("test"))
    metrics = {
        "test": test,
        "val_best": {"accuracy": best["accuracy"], "ci95": best["ci95"], "episode": best_episode},
        "history": history,
        "selection": "best validation-class accuracy (never the test classes)",
        "trainable_parameters": int(sum(p.numel() for p in params)),
        "transductive": model.transductive,
        "test_episodes_file": str(test_path) if test_path is not None else None,
        "test_episodes_fingerprint": episodes_fingerprint(test_eps),
        "seconds": {"train_and_val": train_seconds, "test": test["seconds_total"]},
        "config": cfg.to_dict(),
        "provenance": prov,  # a copy of provenance.json
    }
    if out is not None:
        write_json_atomic(out / METRICS_JSON, metrics)
        write_episode_csv(
            out / EPISODES_CSV, test_eps, test["episode_accuracy"], datasets["test"].class_names
        )
    metrics["model"] = model
    return metrics


def write_episode_csv(path: Path, episodes, accuracies, class_names) -> None:
    """One row per test episode: index, accuracy (%), number of queries, class names."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["episode", "accuracy", "n_query", "classes"])
        for k, (ep, a) in enumerate(zip(episodes, accuracies)):
            w.writerow([k, f"{a:.4f}", len(ep.query), "|".join(class_names[c] for c in ep.classes)])


def evaluate_cli(cfg, checkpoint: str | None, out_dir: str | None) -> dict:
    """`mumae evaluate`: load the pretrained encoder (strict; None = random init), train, select, test."""
    cfg.validate()
    mae = None
    if checkpoint:
        from mumae_core.train.checkpoint import load_mae

        mae, _ = load_mae(checkpoint, cfg)
    if out_dir is None:
        base = Path(checkpoint) if checkpoint else Path("runs")
        base = base if base.is_dir() else base.parent
        out_dir = base / f"oneshot-{cfg.profile}{'' if checkpoint else '-random-init'}"
    m = train_oneshot(cfg, mae=mae, out_dir=out_dir)
    t = m["test"]
    print(
        f"{cfg.oneshot.way}-way {cfg.oneshot.shot}-shot: {t['accuracy']:.2f} ± {t['ci95']:.2f} % over "
        f"{t['n_episodes']} test episodes (val best {m['val_best']['accuracy']:.2f} % at episode "
        f"{m['val_best']['episode']}); modalities {t['modalities']}, missing {t['missing_modalities']}; "
        f"results in {out_dir}"
    )
    m.pop("model")
    return m
