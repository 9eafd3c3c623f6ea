"""Ablations as data: a declarative table of rows, and the one function that runs them.

    ROWS                                   every ablation row (group, name, overrides, reference, schedule)
    select_rows(cfg, groups)               the rows that apply to cfg's modalities, references first
    run_ablations(cfg, runs_dir, groups)   -> DataFrame, one line per row, paired differences to its reference

A row changes the headline experiment by `pretrain` overrides (settings that change the pretrained weights:
the row gets its own pretraining run on its `schedule`) and / or `oneshot` overrides (the one-shot stage only:
the row shares the headline checkpoint). Schedules: "headline" (the config's pretrain.epochs), "short"
(`report.ablation_epochs`, compared with a reference pretrained on that same short schedule) and "none"
(random init). Runs are found and reused by `mumae_core.runs` ids, so a row that equals another run reuses it.
Adding an ablation is one line in ROWS.

Every row is scored on the same saved test episodes; a difference is paired only when the two rows' episode
fingerprints agree (else an error). `kind="best_single"` runs one row per modality and keeps the one with the
best VALIDATION-class accuracy (never the test); `kind="missing"` scores the headline model with one modality
removed at test time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from mumae_core import runs
from mumae_core.config import Config
from mumae_core.errors import ConfigError, EpisodeError
from mumae_core.modalities import has_video, sensors
from mumae_core.stats import paired_difference

HEADLINE = "full model"
SHORT_REFERENCE = "full model, short schedule"
GROUP_TITLES = {
    "reference": "reference",
    "short_reference": "short-schedule reference",
    "sensor_mask": "sensor masking",
    "mask_ratio": "mask ratio",
    "sensor_patches": "sensor patches",
    "sensor_norm": "sensor normalisation",
    "pretraining": "pretraining",
    "fusion": "fusion",
    "fusion_scope": "fusion scope",
    "missing": "missing at test",
}


@dataclass(frozen=True)
class Row:
    """One ablation row. needs: what the data must have ("video", "sensors", "multimodal")."""

    group: str
    name: str
    pretrain: tuple[str, ...] = ()
    oneshot: tuple[str, ...] = ()
    reference: str = HEADLINE
    schedule: str = "headline"  # headline | short | none
    needs: tuple[str, ...] = ()
    kind: str = "train"  # train | best_single | missing


_S = dict(reference=SHORT_REFERENCE, schedule="short")
ROWS: tuple[Row, ...] = (
    Row("reference", HEADLINE),
    Row("short_reference", SHORT_REFERENCE, **_S),
    Row(
        "sensor_mask",
        "sensor masking independent",
        ("mask.sensor_mask=independent",),
        needs=("sensors",),
        **_S,
    ),
    Row("sensor_mask", "sensor masking none", ("mask.sensor_mask=none",), needs=("video", "sensors"), **_S),
    Row("mask_ratio", "mask ratio 0.75", ("mask.video_ratio=0.75", "mask.sensor_ratio=0.75"), **_S),
    Row(
        "sensor_patches",
        "strided sensor patches",
        ("model.sensor_patch_mode=strided",),
        needs=("sensors",),
        **_S,
    ),
    Row(
        "sensor_norm",
        "per-clip min-max normalisation",
        ("data.sensor_norm=minmax",),
        needs=("sensors",),
        **_S,
    ),
    Row("pretraining", "no pretraining (random init)", schedule="none"),
    Row("fusion", "concat fusion", oneshot=("oneshot.fusion=concat",)),
    Row("fusion", "mean fusion", oneshot=("oneshot.fusion=mean",)),
    Row("fusion", "best single modality", kind="best_single", needs=("multimodal",)),
    Row(
        "fusion_scope",
        "episode-level fusion (transductive)",
        oneshot=("oneshot.fusion_scope=episode",),
        needs=("multimodal",),
    ),  # fmt: skip
    Row("missing", "missing at test", kind="missing", needs=("multimodal",)),
)
SCHEDULES = ("headline", "short", "none")


def headline_rows(cfg: Config) -> list[Row]:
    """02's headline rows (cfg.report.headline_rows): the pretrained model, random init, one modality each."""
    out = []
    for kind in cfg.report.headline_rows:
        if kind == "full":
            out.append(Row("headline", "Mu-MAE pretrained, cross-attention fusion"))
        elif kind == "scratch":
            out.append(Row("headline", "same, without pretraining (random init)", schedule="none"))
        elif kind == "single" and len(cfg.data.modalities) > 1:
            out += [
                Row("headline", f"pretrained, {m} only", oneshot=(f"data.modalities={m}",))
                for m in cfg.data.modalities
            ]
    return out


def _applies(row: Row, modalities: tuple[str, ...]) -> bool:
    have = {
        "video": has_video(modalities),
        "sensors": bool(sensors(modalities)),
        "multimodal": len(modalities) > 1,
    }
    return all(have[n] for n in row.needs)


def select_rows(cfg: Config, groups: tuple[str, ...] | None = None) -> list[Row]:
    """The rows of `groups` (default cfg.report.ablation_groups) that apply to cfg's modalities, with the
    reference rows they need first."""
    groups = tuple(cfg.report.ablation_groups if groups is None else groups)
    unknown = [g for g in groups if g not in GROUP_TITLES]
    if unknown:
        raise ConfigError(f"ablations: unknown groups {unknown}; known: {list(GROUP_TITLES)}")
    mods = tuple(cfg.data.modalities)
    chosen = [r for r in ROWS if r.group in groups and _applies(r, mods)]
    needed = {r.reference for r in chosen}
    refs = [r for r in ROWS if r.name in needed or r.group == "reference"]
    return refs + [r for r in chosen if r not in refs]


def row_configs(cfg: Config, row: Row) -> tuple[Config, Config]:
    """(pretraining config, one-shot config) of `row` on top of the headline `cfg`."""
    if row.schedule not in SCHEDULES:
        raise ConfigError(
            f"ablation row {row.name!r}: schedule must be one of {SCHEDULES}; got {row.schedule!r}"
        )
    extra = [f"pretrain.epochs={cfg.report.ablation_epochs}"] if row.schedule == "short" else []
    pre = cfg.with_overrides([*row.pretrain, *extra]).validate()
    return pre, pre.with_overrides(list(row.oneshot)).validate()


class Runner:
    """Runs rows against one headline config: pretraining and one-shot runs found or made under runs_dir."""

    def __init__(self, cfg: Config, runs_dir: str | Path, progress: bool = True):
        self.cfg, self.runs_dir, self.progress = cfg, Path(runs_dir), progress
        self._datasets: dict[str, dict] = {}
        self.results: dict[str, dict] = {}  # row name -> one-shot metrics (with "model" for the headline)

    def datasets(self, cfg: Config) -> dict:
        """build_datasets(cfg, "oneshot"), shared by every row with the same data settings."""
        from mumae_core.data.build import build_datasets

        key = runs._digest(runs.settings(cfg, ("data",)))
        if key not in self._datasets:
            self._datasets[key] = build_datasets(cfg, stage="oneshot", progress=self.progress)
        return self._datasets[key]

    def checkpoint(self, pre: Config, schedule: str) -> Path | None:
        """The pretraining run dir of `pre` (made when missing); None for schedule "none"."""
        if schedule == "none":
            return None
        return runs.pretrain_or_reuse(pre, self.runs_dir, progress=self.progress)[0]

    def train(self, row: Row, keep_model: bool = False) -> dict:
        """One-shot metrics of a "train" row (reused when its run exists)."""
        pre, one = row_configs(self.cfg, row)
        ckpt = self.checkpoint(pre, row.schedule)
        res = runs.oneshot_or_reuse(
            one, ckpt, self.datasets(pre), self.runs_dir, keep_model=keep_model, progress=self.progress
        )
        self.results[row.name] = res
        return res

    @staticmethod
    def _test(res: dict) -> dict:
        return dict(res["test"], fingerprint=res["test_episodes_fingerprint"])

    def expand(self, row: Row) -> list[tuple[Row, dict]]:
        """Run `row`; -> [(row as it appears in the table, its test summary with the episode fingerprint)]."""
        if row.kind == "train":
            return [(row, self._test(self.train(row, keep_model=row.name == HEADLINE)))]
        mods = list(self.cfg.data.modalities)
        if row.kind == "best_single":
            single = {
                m: self.train(replace(row, name=f"{m} only", oneshot=(*row.oneshot, f"data.modalities={m}")))
                for m in mods
            }
            val = {m: r["val_best"]["accuracy"] for m, r in single.items()}
            best = max(val, key=val.get)
            print(f"single modality, best validation-class accuracy: {val} -> {best}", flush=True)
            return [(replace(row, name=f"{row.name} ({best}, chosen on val)"), self._test(single[best]))]
        if row.kind == "missing":
            from mumae_core.data.episodes import load_episodes
            from mumae_core.eval import evaluate

            full = self.results.get(HEADLINE) or self.train(ROWS[0], keep_model=True)
            eps, _ = load_episodes(full["test_episodes_file"])
            test = self.datasets(row_configs(self.cfg, ROWS[0])[0])["test"]
            out = []
            for m in mods:
                t = evaluate(full["model"], test, eps, modalities=[x for x in mods if x != m], progress=False)
                t["fingerprint"] = full["test_episodes_fingerprint"]
                out.append((replace(row, name=f"{m} missing at test"), t))
            return out
        raise ConfigError(f"ablation row {row.name!r}: unknown kind {row.kind!r}")


def _schedule_label(cfg: Config, row: Row) -> str:
    if row.schedule == "none":
        return "none"
    if row.schedule == "short":
        return f"short ({cfg.report.ablation_epochs} ep)"
    return f"headline ({cfg.pretrain.epochs} ep)"


def run_ablations(
    cfg: Config, runs_dir: str | Path, groups: tuple[str, ...] | None = None, dataset: str | None = None,
    progress: bool = True,
) -> pd.DataFrame:  # fmt: skip
    """Run the selected rows for the headline `cfg`; one table line per row with its paired difference.

    Columns: dataset, group, row, pretraining, accuracy, ci95, reference, diff, diff_ci95 (percent points).
    """
    runner = Runner(cfg, runs_dir, progress)
    label = dataset or runs.dataset_label(cfg)
    per_ep: dict[str, list[float]] = {}
    prints: dict[str, str] = {}
    lines = []
    for row in select_rows(cfg, groups):
        for shown, test in runner.expand(row):
            fp = test["fingerprint"]
            per_ep[shown.name], prints[shown.name] = test["episode_accuracy"], fp
            ref = shown.reference
            if ref not in per_ep:
                raise ConfigError(f"ablation row {shown.name!r}: its reference {ref!r} has not run before it")
            if prints[ref] != fp:
                raise EpisodeError(
                    f"ablation row {shown.name!r} was scored on other test episodes (fingerprint {fp}) "
                    f"than its reference {ref!r} ({prints[ref]}): paired differences need the same episodes"
                )
            diff = (0.0, 0.0) if ref == shown.name else paired_difference(per_ep[shown.name], per_ep[ref])
            lines.append(
                dict(
                    dataset=label, group=GROUP_TITLES[shown.group], row=shown.name,
                    pretraining=_schedule_label(cfg, shown), accuracy=test["accuracy"], ci95=test["ci95"],
                    reference=ref, diff=diff[0], diff_ci95=diff[1],
                )
            )  # fmt: skip
    return pd.DataFrame(lines)
