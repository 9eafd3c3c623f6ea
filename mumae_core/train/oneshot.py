"""Episodic one-shot training, validation-class model selection, test evaluation on saved episodes.

Protocol (DESIGN.md §5), unlike the reference (best of ~80 periodic tests on the TEST classes):
  * train on episodes of the train split (base classes minus the validation classes);
  * every `val_classes_eval_every` episodes (and before training) score `val_episodes` fixed episodes of the
    validation classes; keep the state with the best validation accuracy -- selection NEVER sees the test;
  * score the selected model once on a fixed, saved list of test episodes (novel classes),
    `splits/<dataset>/episodes_<way>w<shot>s_<n>_seed<k>.json`, so every configuration is scored on the same
    episodes and two configurations can be compared by paired differences (mumae_core.stats).
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
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from mumae_core.data.episodes import (
    EpisodicSampler,
    collate_episode,
    episode_path,
    fixed_episodes,
    sample_episodes,
)
from mumae_core.errors import ConfigError, DataError, EpisodeError
from mumae_core.models.oneshot import OneShotModel, build_oneshot_model
from mumae_core.progress import progress as progress_bar
from mumae_core.runtime import autocast, autocast_dtype, environment_info, resolve_device, seed_everything
from mumae_core.stats import mean_ci
from mumae_core.train import featcache
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


def check_split(ds, split: str, way: int, shot: int, query: int) -> None:
    """EpisodeError unless `ds` has >= way classes, each with >= shot + query clips."""
    counts = Counter(int(y) for y in ds.labels)
    names = list(getattr(ds, "class_names", []) or [])
    if len(counts) < way:
        raise EpisodeError(
            f"{split} split: {len(counts)} classes ({[names[c] if c < len(names) else c for c in counts]}) "
            f"but oneshot.way={way}"
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
    for split in needed:
        way = val_way(cfg, datasets[split]) if split == "val" else o.way
        check_split(datasets[split], split, way, o.shot, o.query)
    if o.test_episodes < 2 or (train and o.val_episodes < 2):
        raise ConfigError(
            f"oneshot.test_episodes={o.test_episodes} and oneshot.val_episodes={o.val_episodes} must be >= 2 "
            "(a confidence interval needs at least 2 episodes)"
        )


# ---------------------------------------------------------------------- evaluation
def summarise(scores: list[torch.Tensor], episodes, class_names) -> dict:
    """Per-episode scores (Q_e, way) -> accuracy (%) ± 95% CI, per-class accuracy, confusion, per-episode."""
    classes = sorted({c for ep in episodes for c in ep.classes})
    pos = np.full(max(classes) + 1, -1)
    pos[classes] = np.arange(len(classes))
    conf = np.zeros((len(classes), len(classes)), dtype=np.int64)
    ep_acc = np.empty(len(episodes))
    for k, (s, ep) in enumerate(zip(scores, episodes)):
        if not torch.isfinite(s).all():
            raise DataError(f"evaluate: non-finite scores in episode {k}")
        pred = s.argmax(1).numpy()
        y = np.asarray(ep.query_labels)
        ep_acc[k] = 100.0 * float((pred == y).mean())
        cls = np.asarray(ep.classes)
        np.add.at(conf, (pos[cls[y]], pos[cls[pred]]), 1)
    name = lambda c: class_names[c] if c < len(class_names) else str(c)  # noqa: E731
    names = [name(c) for c in classes]
    per_class = {n: float(100.0 * conf[i, i] / conf[i].sum()) for i, n in enumerate(names) if conf[i].sum()}
    m, ci = mean_ci(ep_acc)
    return {
        "accuracy": m,
        "ci95": ci,
        "n_episodes": len(episodes),
        "n_queries": int(conf.sum()),
        "episode_accuracy": ep_acc.tolist(),
        "per_class_accuracy": per_class,
        "confusion": {"classes": names, "matrix": conf.tolist()},
    }


def evaluate(
    model: OneShotModel,
    test_ds,
    episodes,
    modalities=None,
    batch_size: int = 32,
    device: torch.device | str | None = None,
    amp: str = "off",
    use_cache: bool | None = None,
    num_workers: int = 0,
    progress: bool = True,
) -> dict:
    """Score `episodes` (indices into test_ds) with `model`; return the summary dict (see `summarise`).

    modalities: feed only these (default: the model's modalities present in test_ds); the others are reported
    under "missing_modalities". use_cache: None = the feature cache when the fusion is per clip, else naive.
    """
    if not episodes:
        raise EpisodeError("evaluate: no episodes")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    have = set(getattr(test_ds, "modalities", model.modalities))
    wanted = set(modalities) if modalities is not None else set(model.modalities)
    unknown = wanted - set(model.modalities)
    if unknown:
        raise DataError(f"evaluate: modalities {sorted(unknown)} are not modalities of the model")
    used = [m for m in model.modalities if m in have and m in wanted]
    if not used:
        raise DataError(f"evaluate: none of the model's modalities {model.modalities} can be fed from {have}")
    cache = featcache.can_use_cache(model) if use_cache is None else use_cache
    if cache and not featcache.can_use_cache(model):
        raise ConfigError("evaluate: use_cache=True with the episode-scope (transductive) fusion")
    dtype = autocast_dtype(device, amp)
    t0 = time.perf_counter()
    if cache:
        feats = featcache.encode_clips(model, test_ds, used, batch_size, device, dtype, num_workers, progress)
        t1 = time.perf_counter()
        scores = featcache.score_from_cache(model.head, feats.to(device), episodes)
    else:
        t1 = t0
        scores = featcache.naive_scores(model, test_ds, episodes, used, device, dtype, progress)
    out = summarise(scores, episodes, list(test_ds.class_names))
    out.update(
        modalities=used,
        missing_modalities=[m for m in model.modalities if m not in used],
        path="cache" if cache else "naive",
        seconds_encode=t1 - t0,
        seconds_total=time.perf_counter() - t0,
    )
    return out


def results_tables(result: dict) -> dict[str, pd.DataFrame]:
    """DataFrames for a notebook: per_class (accuracy %), confusion (true x predicted), episodes."""
    conf = result["confusion"]
    return {
        "per_class": pd.Series(result["per_class_accuracy"], name="accuracy").to_frame(),
        "confusion": pd.DataFrame(conf["matrix"], index=conf["classes"], columns=conf["classes"]),
        "episodes": pd.DataFrame({"accuracy": result["episode_accuracy"]}).rename_axis("episode"),
    }


# ---------------------------------------------------------------------- training
def _test_episodes(cfg, test_ds, out_dir: Path | None, path: str | Path | None):
    o = cfg.oneshot
    groups = getattr(test_ds, "groups", None)
    args = dict(
        labels=list(test_ds.labels), dataset=dataset_name(cfg), n=o.test_episodes, way=o.way, shot=o.shot,
        query=o.query, protocol=o.query_protocol, seed=o.episode_seed, groups=groups,
        class_names=list(test_ds.class_names),
    )  # fmt: skip
    if path is None and cfg.data.dataset == "arrays":  # user arrays: never a shared file under splits/
        if out_dir is None:
            return sample_episodes(**{k: v for k, v in args.items() if k != "dataset"}), None
        path = out_dir / episode_path("arrays", o.way, o.shot, o.test_episodes, o.episode_seed,
                                      o.query, o.query_protocol).name  # fmt: skip
    try:
        eps = fixed_episodes(**args, path=path)
    except OSError:  # splits/ not writable (e.g. an installed package): keep the list beside the results
        if out_dir is None:
            raise
        path = out_dir / episode_path(args["dataset"], o.way, o.shot, o.test_episodes, o.episode_seed,
                                      o.query, o.query_protocol).name  # fmt: skip
        eps = fixed_episodes(**args, path=path)
    if path is None:
        path = episode_path(args["dataset"], o.way, o.shot, o.test_episodes, o.episode_seed, o.query,
                            o.query_protocol)  # fmt: skip
    return eps, Path(path)


def _episode_loader(ds, cfg, sampler) -> DataLoader:
    return DataLoader(
        ds,
        batch_sampler=sampler.batch_sampler(),
        collate_fn=functools.partial(collate_episode, n_support=cfg.oneshot.way * cfg.oneshot.shot),
        num_workers=cfg.data.num_workers,
    )


def episodes_fingerprint(episodes) -> str:
    """A short hash of an episode list: two results are paired only when their fingerprints agree."""
    blob = json.dumps([ep.to_dict() for ep in episodes], separators=(",", ":")).encode()
    return hashlib.sha1(blob).hexdigest()[:16]


def gather_representations(reps: dict, idx: list[int], device) -> tuple:
    """Rows `idx` of cached representations -> (rm (n, D) or None, {mod: (n, N_m, D_m)}) on `device`."""
    rm = None if reps["rm"] is None else reps["rm"][idx].to(device)
    return rm, {m: f[idx].to(device) for m, f in reps["feats"].items()}


@torch.no_grad()
def scores_from_representations(model, reps: dict, episodes, device, chunk: int = 256) -> list[torch.Tensor]:
    """Episode scores from cached representations (frozen encoder): per-clip fusion once per clip then the
    head from the feature cache; episode-scope fusion per episode."""
    was = model.training
    model.eval()
    if model.transductive:
        out = []
        for ep in episodes:
            rm, feats = gather_representations(reps, ep.support + ep.query, device)
            s_lab = torch.tensor(ep.support_labels, device=device)
            out.append(model.scores_from_representations(rm, feats, s_lab).float().cpu())
    else:
        n = next(iter(reps["feats"].values())).shape[0]
        f = torch.cat([model.fusion(*gather_representations(reps, list(range(a, min(a + chunk, n))), device))
                       for a in range(0, n, chunk)])  # fmt: skip
        out = featcache.score_from_cache(model.head, f.float(), episodes)
    model.train(was)
    return out


def _cpu_state(model) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def train_oneshot(
    cfg,
    mae=None,
    datasets: dict | None = None,
    out_dir: str | Path | None = None,
    progress: bool = True,
    test_episodes_path: str | Path | None = None,
) -> dict:
    """Episodic training + validation-class selection + test on saved episodes. Returns the metrics dict.

    mae: a (pretrained) MultimodalMAE, None = randomly initialised. datasets: {"train", "val", "test"}
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
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    test_eps, test_path = _test_episodes(cfg, datasets["test"], out, test_episodes_path)
    val_eps = sample_episodes(
        list(datasets["val"].labels), o.val_episodes, val_way(cfg, datasets["val"]), o.shot, o.query,
        o.query_protocol,
        seed=o.episode_seed, groups=getattr(datasets["val"], "groups", None),
        class_names=list(datasets["val"].class_names),
    )  # fmt: skip
    sampler = EpisodicSampler(
        list(datasets["train"].labels), o.way, o.shot, o.query, o.train_episodes, o.query_protocol,
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
    reps = {}
    if fixed:
        enc = functools.partial(
            featcache.encode_representations, batch_size=32, device=device, amp_dtype=dtype,
            num_workers=cfg.data.num_workers, progress=progress,
        )  # fmt: skip
        reps = {k: enc(model, datasets[k]) for k in ("train", "val")}

    def validate(episode: int, train_loss: float | None) -> dict:
        if fixed:
            r = summarise(scores_from_representations(model, reps["val"], val_eps, device), val_eps,
                          list(datasets["val"].class_names))  # fmt: skip
        else:
            r = ev(model, datasets["val"], val_eps)
        row = {"episode": episode, "val_accuracy": r["accuracy"], "val_ci95": r["ci95"]}
        row["train_loss"] = train_loss
        history.append(row)
        if out is not None:
            append_metrics(out, row)
        return r

    def train_episodes():
        """(clips: cached (rm, feats) or a batch {mod: (S + Q, ...)}, support labels, query labels)."""
        if fixed:
            for ep in sampler:
                reps_ep = gather_representations(reps["train"], ep.support + ep.query, device)
                yield reps_ep, torch.tensor(ep.support_labels, device=device), ep.query_labels
        else:
            for eb in _episode_loader(datasets["train"], cfg, sampler):
                joint = {m: torch.cat([eb.support[m], eb.query[m]]).to(device) for m in model.modalities}
                yield joint, eb.support_labels.to(device), eb.query_labels

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
        for i, (clips, s_lab, q_lab) in enumerate(train_episodes(), start=1):
            with autocast(device, dtype):
                rm, feats = clips if fixed else model.representations(clips)
                scores = model.scores_from_representations(rm, feats, s_lab)
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
    test = ev(model, datasets["test"], test_eps, progress=progress)
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
