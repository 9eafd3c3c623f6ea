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

Right after the reference row, the non-learned baselines (`mumae_core.baselines`, `Runner.baselines`: the same
function 02 uses) are the reference's comparators (`report.ablation_baselines`): group "non-learned
baselines", pretraining "none", no seeds, each paired with the reference over the same episodes (fingerprint
checked) and counted in the Holm correction. Their scores are kept in runs_dir (`baselines-<dataset>-<hash>`)
and reused; the encoder probes take R^m from frozen representations the Runner already encoded.
Random-init rows (schedule "none") start from the one shared random init (`runs.RandomInit`, drawn from
pretrain.seed): the probe's encoder, encoded once for all seeds like a pretrained one.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mumae_core import provenance, runs
from mumae_core.config import Config
from mumae_core.errors import ConfigError, EpisodeError
from mumae_core.modalities import has_video, sensors
from mumae_core.stats import holm, mean_ci, p_value, paired_difference, seed_sd

HEADLINE = "full model"
BASELINE_GROUP = "non-learned baselines"  # the table's group title of the baseline lines
BASELINES_FILE = "baselines.json"
SHORT_REFERENCE = "full model, short schedule"
GROUP_TITLES = {
    "reference": "reference",
    "short_reference": "short-schedule reference",
    "sensor_mask": "sensor masking",
    "mask_ratio": "mask ratio",
    "sensor_patches": "sensor patches",
    "sensor_norm": "sensor normalisation",
    "pretrain_span": "pretraining span",
    "pretraining": "pretraining",
    "fusion": "fusion",
    "fusion_scope": "fusion scope",
    "missing": "missing at test",
    "pooling": "readout (pooling)",  # no ^: the title names a figure file in 05
    "cls_token": "readout (learned token)",
    "sensor_target": "sensor targets",
    "token_stats": "readout (token statistics)",
    "input_stats": "readout (input statistics)",
    "modality_dropout": "modality dropout",
    "center": "centred prototypes",
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
        "sensor_patches",
        "8 sensor tokens per stream, not 16",
        ("model.sensor_patches=8",),
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
    Row(
        "pretrain_span",
        "pretraining on ~0.5 s windows, not whole clips",
        ("data.pretrain_span=window",),
        needs=("video",),
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
    # R^m readout: per_modality reads the headline weights another way (one-shot stage: READOUT_SETTINGS);
    # cls puts a token into the encoder, so it pretrains
    Row(
        "pooling",
        "R^m: mean of per-modality means",
        oneshot=("model.pooling=per_modality",),
        needs=("multimodal",),
    ),
    Row("cls_token", "R^m: learned cls token", ("model.pooling=cls",), **_S),
    # the frozen encoder's token mean and SD per modality beside the fused feature (models/stats_readout.py);
    # one-shot stage only, on the headline checkpoint. w 0.3: the better of 0.3 / 0.5 on SynthAct's class
    # folds
    Row("token_stats", "readout + token statistics (w 0.3)", oneshot=("oneshot.token_stats=0.3",)),
    # each sensor's own per-channel statistics (the statistics baseline's features) beside the fused feature;
    # one-shot stage only. w 0.3: the better of 0.3 / 0.5 on SynthAct's class folds (HAPT's: 0.5, by 0.5)
    Row(
        "input_stats",
        "readout + input statistics (w 0.3)",
        oneshot=("oneshot.input_stats=0.3",),
        needs=("sensors",),
    ),
    # the fusion trained with each modality hidden in a training episode with probability p (ModDrop); the
    # one-shot stage only. p 0.5: the better of 0.25 / 0.5 on both datasets' class folds (neither by +2: off)
    Row(
        "modality_dropout",
        "fusion trained with modality dropout (p 0.5)",
        oneshot=("oneshot.modality_dropout=0.5",),
        needs=("multimodal",),
    ),
    # the head's prototypes and queries less a running mean of the training episodes' support features
    # (SimpleShot's centring); the one-shot stage only. "train": the better of support / train on both
    # datasets' class folds (neither by +2: off)
    Row("center", "prototypes centred by the training mean", oneshot=("oneshot.center=train",)),
    Row(
        "sensor_target",
        "sensor targets: per token (the reference's), not the dataset z-score",
        ("model.sensor_target=per_token",),
        needs=("sensors",),
        **_S,
    ),
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


def combine_seeds(per_seed: list[dict]) -> dict:
    """One row's result from its seeded one-shot runs (same test episodes): the per-episode accuracy
    averaged over seeds (accuracy and ci95 over episodes of that average), each seed's accuracy and their SD,
    per-class accuracy averaged and confusions summed over seeds."""
    tests = [r["test"] for r in per_seed]
    prints = {r["test_episodes_fingerprint"] for r in per_seed}
    if len(prints) != 1:
        raise EpisodeError(f"the seeds of one row were scored on different test episodes: {sorted(prints)}")
    seed_ep = np.array([t["episode_accuracy"] for t in tests])  # (S, E)
    m, ci = mean_ci(seed_ep.mean(0))
    classes = tests[0]["per_class_accuracy"]
    test = dict(
        tests[0],
        accuracy=m, ci95=ci, episode_accuracy=seed_ep.mean(0).tolist(),
        seed_episode_accuracy=seed_ep.tolist(), seed_accuracy=[t["accuracy"] for t in tests],
        seed_sd=seed_sd([t["accuracy"] for t in tests]), n_seeds=len(tests),
        per_class_accuracy={c: float(np.mean([t["per_class_accuracy"][c] for t in tests])) for c in classes},
        confusion=dict(tests[0]["confusion"], matrix=np.sum([t["confusion"]["matrix"] for t in tests], 0).tolist()),  # noqa: E501
    )  # fmt: skip
    val = [r["val_best"]["accuracy"] for r in per_seed]
    return {
        "test": test,
        "val_best": {"accuracy": float(np.mean(val)), "seed_accuracy": val},
        "test_episodes_fingerprint": prints.pop(),
        "test_episodes_file": per_seed[0].get("test_episodes_file"),
        "models": [r.get("model") for r in per_seed],
        "model": per_seed[0].get("model"),
        "run_dirs": [r.get("run_dir") for r in per_seed],
    }


def reps_nbytes(reps: dict) -> int:
    """Bytes held by a {"train", "val", "test"} representation set (`eval.encode_representations` each)."""
    total = 0
    for split in reps.values():
        tensors = list(split["feats"].values()) + ([split["rm"]] if split["rm"] is not None else [])
        total += sum(t.nbytes for t in tensors)
    return total


class Runner:
    """Runs rows against one headline config: pretraining and one-shot runs found or made under runs_dir.

    Every row runs `oneshot.seeds` one-shot seeds (oneshot.seed, +1, ...). The representations of a frozen
    encoder (pretrained, or the shared random init) do not depend on the one-shot seed, so they are encoded
    once and shared by the seeds (and by every row with the same checkpoint, data and representation
    settings); their R^m is kept for the encoder-probe baselines.
    """

    # bytes of representation sets kept in memory (the newest set always stays; older ones go, oldest first,
    # while the total is over it): a set with video is about 0.84 GB at the default SynthAct profile, so
    # three fit and 05's headline set outlives the "trained without video" and per-modality R^m sets; HAPT's
    # sets (about 0.02 GB each) all stay, so its single-modality sets no longer evict the headline set
    REPS_BYTES = 3 * 2**30

    def __init__(self, cfg: Config, runs_dir: str | Path, progress: bool = True):
        self.cfg, self.runs_dir, self.progress = cfg, Path(runs_dir), progress
        self._datasets: dict[str, dict] = {}
        self._reps: OrderedDict[str, dict] = OrderedDict()
        self._rm: dict[str, dict] = {}  # _rm_key -> {"train", "test": R^m (N, D)} of the encoded reps
        self.results: dict[str, dict] = {}  # row name -> combined one-shot metrics (with "models")

    def datasets(self, cfg: Config) -> dict:
        """build_datasets(cfg, "oneshot"), shared by every row with the same one-shot data settings (a row
        that changes only what a pretraining clip spans shares the headline's datasets and decoded frames)."""
        from mumae_core.data.build import PRETRAIN_ONLY_SETTINGS, build_datasets

        data = runs.settings(cfg, ("data",))
        key = runs._digest({k: v for k, v in data.items() if k not in PRETRAIN_ONLY_SETTINGS})
        if key not in self._datasets:
            self._datasets[key] = build_datasets(cfg, stage="oneshot", progress=self.progress)
        return self._datasets[key]

    def checkpoint(self, pre: Config, schedule: str) -> Path | runs.RandomInit:
        """The pretraining run dir of `pre` (made when missing); for schedule "none" the shared random init
        `runs.RandomInit(pre)` (drawn from pre.pretrain.seed, the random-init probe's encoder)."""
        if schedule == "none":
            return runs.RandomInit(pre)
        return runs.pretrain_or_reuse(pre, self.runs_dir, progress=self.progress)[0]

    @staticmethod
    def _rm_key(cfg: Config, checkpoint) -> str:
        """The key of a representation set (and its R^m): it depends on the encoder, the data (and its
        modalities), R^m's readout and the precision only."""
        tag, data = runs.checkpoint_tag(checkpoint), runs.settings(cfg, ("data",))
        return runs._digest([tag, data, cfg.model.pooling, cfg.oneshot.amp])

    def representations(self, cfg: Config, checkpoint, data: dict) -> dict | None:
        """Cached {"train", "val", "test"} representations of the frozen encoder of `checkpoint` (a run dir or
        `runs.RandomInit`) for `cfg` (None when the encoder trains, or checkpoint is None: then each seed
        encodes its own)."""
        o = cfg.oneshot
        if checkpoint is None or o.freeze != "frozen" or o.unimodal != "shared":
            return None
        from mumae_core.eval import encode_representations
        from mumae_core.models.oneshot import build_oneshot_model
        from mumae_core.runtime import autocast_dtype, resolve_device

        # the representations hold the per-modality tokens, the sensors' input statistics and R^m (read out
        # by the one-shot config's pooling; encoded even for a fusion that does not read it, so that the ones
        # that do find it); they do not depend on which fusion trains on them: the fusions share one encoding
        key = self._rm_key(cfg, checkpoint)
        if key not in self._reps:
            device = resolve_device(o.device)
            model = build_oneshot_model(cfg, runs.fresh_encoder(checkpoint)).to(device)
            amp = autocast_dtype(device, o.amp)
            enc = dict(device=device, amp_dtype=amp, progress=self.progress, with_rm=True)
            reps = {k: encode_representations(model, data[k], **enc) for k in ("train", "val", "test")}
            self._rm[key] = {k: reps[k]["rm"] for k in ("train", "val", "test")}
            self._keep(key, reps)
        self._reps.move_to_end(key)
        return self._reps[key]

    def _keep(self, key: str, reps: dict) -> None:
        """Keep `reps` as the newest set; drop the least recently used others while over REPS_BYTES."""
        self._reps[key] = reps
        self._reps.move_to_end(key)
        while len(self._reps) > 1 and sum(map(reps_nbytes, self._reps.values())) > self.REPS_BYTES:
            self._reps.popitem(last=False)

    def train(self, row: Row, keep_model: bool = False) -> dict:
        """Combined one-shot metrics of a "train" row over its seeds (each run reused when it exists)."""
        pre, one = row_configs(self.cfg, row)
        ckpt = self.checkpoint(pre, row.schedule)
        data = self.datasets(pre)
        per_seed = []
        for k in range(one.oneshot.seeds):
            c = one.with_overrides({"oneshot.seed": one.oneshot.seed + k})
            per_seed.append(
                runs.oneshot_or_reuse(
                    c, ckpt, data, self.runs_dir, keep_model=keep_model, progress=self.progress,
                    reps=lambda c=c: self.representations(c, ckpt, data),
                )
            )  # fmt: skip
        res = combine_seeds(per_seed)
        self.results[row.name] = res
        return res

    def baselines(self, reference: dict) -> list[dict]:
        """The non-learned baselines of the headline config (`baselines.run_baselines`) on the test episodes
        of `reference` (a combined result of the headline model), the one function 02 and 05 use.

        Reused from runs_dir/baselines-<dataset>-<hash> (data, model, mask and pretraining settings, both
        encoders' tags, the episodes' fingerprint, the baseline names, the code version and baselines.py's
        source) when scored before. The encoder probes
        take R^m from the frozen representations this Runner encoded (same encoder, same precision as the
        one-shot rows) when it has them, else encode it once per split.
        Each row also carries "val" and "train": the same baseline on `oneshot.val_episodes` episodes of the
        validation classes (those the one-shot stage selects its checkpoint on) and of the training classes
        (`train.oneshot.split_episodes`), so a reader sees whether the validation classes rank like the test.
        -> [{"baseline", "test", "val", "train", "test_episodes_fingerprint"}], in `baselines_for` order.
        """
        from mumae_core.baselines import PRETRAINED_PROBE, RANDOM_PROBE, baselines_for, run_baselines
        from mumae_core.data.episodes import load_episodes
        from mumae_core.train.oneshot import episodes_fingerprint, split_episodes
        from mumae_core.train.runlog import write_json_atomic

        pre, _ = row_configs(self.cfg, ROWS[0])
        ckpt, rand = self.checkpoint(pre, "headline"), self.checkpoint(pre, "none")
        eps, _ = load_episodes(reference["test_episodes_file"])
        fp = episodes_fingerprint(eps)
        if fp != reference["test_episodes_fingerprint"]:
            raise EpisodeError(
                f"baselines: the episode file {reference['test_episodes_file']} (fingerprint {fp}) is not "
                f"the one the reference was scored on ({reference['test_episodes_fingerprint']})"
            )
        data = self.datasets(pre)
        names = [b.name for b in baselines_for(pre, data["train"], ckpt)]
        others = {
            k: split_episodes(self.cfg, data[k], self.cfg.oneshot.val_episodes) for k in ("val", "train")
        }
        # the code that computes the scores: the run code and baselines.py itself
        code = provenance.code_version(exclude=tuple(x for x in provenance.NOT_CODE if x != "baselines.py"))
        key = [runs.settings(pre, runs.PRETRAIN_SECTIONS), runs.checkpoint_tag(ckpt), rand.tag, fp, names]
        key.append({k: episodes_fingerprint(e) for k, e in others.items()})
        key.append(code)
        out = self.runs_dir / f"baselines-{runs.dataset_label(pre)}-{runs._digest(key)}" / BASELINES_FILE
        if out.is_file():
            print(f"reusing baseline scores in {out.parent.name}", flush=True)
            return json.loads(out.read_text())
        given = {}
        for name, c in ((RANDOM_PROBE, rand), (PRETRAINED_PROBE, ckpt)):
            rm = self._rm.get(self._rm_key(pre, c))
            if rm is not None:
                given[name] = {k: v.numpy() for k, v in rm.items()}
        res = [
            dict(r, test_episodes_fingerprint=fp)
            for r in run_baselines(pre, data, eps, checkpoint=ckpt, features=given, others=others)
        ]
        out.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out, res)
        return res

    @staticmethod
    def _test(res: dict) -> dict:
        return dict(res["test"], fingerprint=res["test_episodes_fingerprint"])

    def _missing(self, full: dict, test_ds, eps, keep: list[str]) -> dict:
        """The headline's seeds scored with only `keep` fed at test time, combined like `combine_seeds`.

        The seeds share one frozen encoder (same checkpoint, nothing before the fusion trains): the test
        clips' representations without the missing modality are encoded once and every seed's fusion and
        head score them (an encoder that trained is encoded per seed)."""
        from mumae_core.eval import encode_representations, evaluate
        from mumae_core.runtime import autocast_dtype

        models = full["models"]
        reps = None
        if _share_one_fixed_encoder(models):
            device = next(models[0].parameters()).device
            amp = autocast_dtype(device, self.cfg.oneshot.amp)
            reps = encode_representations(models[0], test_ds, keep, device=device, amp_dtype=amp,
                                          progress=self.progress)  # fmt: skip
        per_seed = [
            {"test": evaluate(m, test_ds, eps, modalities=keep, progress=False, reps=reps),
             "val_best": {"accuracy": 0}, "test_episodes_fingerprint": full["test_episodes_fingerprint"]}
            for m in models
        ]  # fmt: skip
        return self._test(combine_seeds(per_seed))

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
            # "X missing at test" (trained with X) beside "trained without X": the first mixes the information
            # X carries with the shift of R^m and of the fusion's rescaling when X is removed; the second not
            from mumae_core.data.episodes import load_episodes

            full = self.results.get(HEADLINE) or self.train(ROWS[0], keep_model=True)
            eps, _ = load_episodes(full["test_episodes_file"])
            test = self.datasets(row_configs(self.cfg, ROWS[0])[0])["test"]
            out = []
            for m in mods:
                keep = [x for x in mods if x != m]
                out.append((replace(row, name=f"{m} missing at test"), self._missing(full, test, eps, keep)))
                if m not in self.cfg.report.trained_without and len(keep) > 1:
                    continue  # one remaining modality: the single-modality row, reused
                without = replace(
                    row, name=f"trained without {m}", oneshot=(f"data.modalities={','.join(keep)}",)
                )
                out.append((without, self._test(self.train(without))))
            return out
        raise ConfigError(f"ablation row {row.name!r}: unknown kind {row.kind!r}")


def _share_one_fixed_encoder(models: list) -> bool:
    """True when every model's encoder is fixed (`encoder_is_fixed`) and holds the same weights: their
    representations of a clip are the same, so one encoding serves them all."""
    if not models or not all(getattr(m, "encoder_is_fixed", False) for m in models):
        return False
    if any(m.encoder is None for m in models):
        return False
    first = list(models[0].encoder.state_dict().values())
    return all(
        all(torch.equal(a, b) for a, b in zip(first, m.encoder.state_dict().values(), strict=True))
        for m in models[1:]
    )


def _schedule_label(cfg: Config, row: Row) -> str:
    if row.schedule == "none":
        return "none"
    if row.schedule == "short":
        return f"short ({cfg.report.ablation_epochs} ep)"
    return f"headline ({cfg.pretrain.epochs} ep)"


def _baseline_lines(runner: Runner, label: str, ref_ep: list[float], ref_fp: str) -> list[dict]:
    """One table line per baseline, paired with the headline reference row over the same episodes."""
    out = []
    for b in runner.baselines(runner.results[HEADLINE]):
        if b["test_episodes_fingerprint"] != ref_fp:
            raise EpisodeError(
                f"baseline {b['baseline']!r} was scored on other test episodes "
                f"({b['test_episodes_fingerprint']}) than {HEADLINE!r} ({ref_fp})"
            )
        t = b["test"]
        diff = paired_difference(t["episode_accuracy"], ref_ep)
        out.append(
            dict(
                dataset=label, group=BASELINE_GROUP, row=b["baseline"], pretraining="none",
                accuracy=t["accuracy"], ci95=t["ci95"], seed_sd=0.0, seeds=0, reference=HEADLINE,
                diff=diff[0], diff_ci95=diff[1], diff_seed_sd=0.0, p=p_value(*diff),
            )
        )  # fmt: skip
    return out


def run_ablations(
    cfg: Config, runs_dir: str | Path, groups: tuple[str, ...] | None = None, dataset: str | None = None,
    progress: bool = True,
) -> pd.DataFrame:  # fmt: skip
    """Run the selected rows for the headline `cfg`; one table line per row with its paired difference.

    Columns (percent points): dataset, group, row, pretraining, accuracy and ci95 (95% CI over episodes of the
    seed-averaged accuracy), seed_sd (SD of the seeds' accuracies), seeds, reference, diff and diff_ci95 (the
    paired difference over episodes of the seed-averaged accuracies), diff_seed_sd (SD over seeds of the
    per-seed paired difference), p (two-sided, normal approximation), p_holm (Holm over the table's compared
    rows) and significant (p_holm < 0.05). With report.ablation_baselines, the baselines
    (`Runner.baselines`) follow the reference row: group BASELINE_GROUP, seeds 0, reference HEADLINE.
    """
    runner = Runner(cfg, runs_dir, progress)
    label = dataset or runs.dataset_label(cfg)
    per_ep: dict[str, list[float]] = {}
    seed_ep: dict[str, list] = {}
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
            seed_diffs = [
                float(np.mean(np.subtract(a, b)))
                for a, b in zip(test.get("seed_episode_accuracy", []), seed_ep.get(ref, []))
            ]
            seed_ep[shown.name] = test.get("seed_episode_accuracy", [])
            lines.append(
                dict(
                    dataset=label, group=GROUP_TITLES[shown.group], row=shown.name,
                    pretraining=_schedule_label(cfg, shown), accuracy=test["accuracy"], ci95=test["ci95"],
                    seed_sd=test.get("seed_sd", 0.0), seeds=test.get("n_seeds", 1), reference=ref,
                    diff=diff[0], diff_ci95=diff[1], diff_seed_sd=seed_sd(seed_diffs) if seed_diffs else 0.0,
                    p=1.0 if ref == shown.name else p_value(*diff),
                )
            )  # fmt: skip
    if cfg.report.ablation_baselines:
        at = next(i for i, line in enumerate(lines) if line["row"] == HEADLINE) + 1
        lines[at:at] = _baseline_lines(runner, label, per_ep[HEADLINE], prints[HEADLINE])
    table = pd.DataFrame(lines)
    compared = table["row"] != table["reference"]
    table["p_holm"] = 1.0
    if compared.any():
        table.loc[compared, "p_holm"] = holm(table.loc[compared, "p"].tolist())
    table["significant"] = table["p_holm"] < 0.05
    return table
