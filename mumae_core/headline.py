"""02's headline table and the plain verdict the report opens with, both from the numbers of the same run.

    headline(cfg, runs_dir, dataset) -> Headline(rows, results, verdict)

Rows: the headline rows (`ablations.headline_rows`: pretrained Mu-MAE, random init, each modality alone),
each over `oneshot.seeds` one-shot seeds, then every non-learned baseline (`mumae_core.baselines`, through
`ablations.Runner.baselines`, which 05 uses too) on the same saved test episodes with the same head. Each
row carries its paired difference to the headline row.

The verdict asks three questions, each answered by a paired difference with its 95% CI over episodes (of the
seed-averaged accuracies) and said in plain words when the answer is no:
  1. does the headline beat the best non-learned baseline (the strongest on these test episodes)?
  2. does pretraining beat random init (same model, same one-shot training)?
  3. does fusion beat the best single modality (the strongest single-modality row)?
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mumae_core import ablations
from mumae_core.config import Config
from mumae_core.stats import paired_difference
from mumae_core.train.oneshot import val_way


@dataclass
class Headline:
    rows: list[dict]
    results: dict[str, dict]  # row name -> combined one-shot metrics (ablations.combine_seeds)
    verdict: list[str] = field(default_factory=list)  # one markdown sentence per question
    # validation classes vs test: the headline and each baseline on validation-, training- and test-class
    # episodes, and the sentence index.md shows under the verdict
    splits: list[dict] = field(default_factory=list)
    context: list[str] = field(default_factory=list)
    datasets: dict = field(default_factory=dict)  # the headline's one-shot {split: Dataset} (decoded once)


def _row(dataset: str, name: str, kind: str, mods, test: dict, ref: list[float] | None) -> dict:
    d = (0.0, 0.0) if ref is None else paired_difference(test["episode_accuracy"], ref)
    return dict(
        dataset=dataset, model=name, kind=kind, modalities=",".join(mods), accuracy=test["accuracy"],
        ci95=test["ci95"], seed_sd=test.get("seed_sd", 0.0), seeds=test.get("n_seeds", 0),
        n_episodes=test["n_episodes"], diff=d[0], diff_ci95=d[1],
    )  # fmt: skip


def _answer(dataset: str, question: str, a: tuple[str, float], b: tuple[str, float], diff) -> str:
    """'SynthAct — does X beat Y? **Yes/No/Not shown**: X 76.3% vs Y 87.3%, paired difference ...'."""
    d, ci = diff
    word = "**Yes**" if d - ci > 0 else ("**No**" if d + ci < 0 else "**Not shown**")
    plain = {
        "**Yes**": "it does, and the 95% CI of the difference excludes 0",
        "**No**": f"{b[0]} is better",
        "**Not shown**": "the difference is within the noise (its 95% CI includes 0)",
    }[word]
    return (
        f"{dataset} — {question} {word}: {a[0]} {a[1]:.1f}% vs {b[0]} {b[1]:.1f}%, paired difference "
        f"{d:+.1f} ± {ci:.1f} points; {plain}."
    )


def headline(cfg: Config, runs_dir: str | Path, dataset: str, progress: bool = True) -> Headline:
    """Train (or reuse) the headline rows of `cfg`, score the baselines, and answer the verdict questions."""
    runner = ablations.Runner(cfg, runs_dir, progress)
    rows, results = [], {}
    for i, row in enumerate(ablations.headline_rows(cfg)):
        res = runner.train(row, keep_model=i == 0)
        results[row.name] = res
    names = list(results)
    main = results[names[0]]
    ref = main["test"]["episode_accuracy"]
    for name, res in results.items():
        mods = ablations.row_configs(cfg, next(r for r in ablations.headline_rows(cfg) if r.name == name))[1]
        kind = "scratch" if "random init" in name else ("single" if name.endswith(" only") else "full")
        rows.append(
            _row(dataset, name, kind, mods.data.modalities, res["test"], None if res is main else ref)
        )
    baselines = runner.baselines(main)  # the same function as 05's baseline lines
    for b in baselines:
        rows.append(_row(dataset, b["baseline"], "baseline", cfg.data.modalities, b["test"], ref))

    out = Headline(rows, results, datasets=runner.datasets(cfg))
    way_val = val_way(cfg, out.datasets["val"])
    out.splits, out.context = _class_splits(dataset, way_val, names[0], main, baselines, out.datasets)
    head = (names[0], main["test"]["accuracy"])
    questions = (
        ("baseline", "does Mu-MAE beat the best non-learned baseline?"),
        ("scratch", "does pretraining beat random init?"),
        ("single", "does fusion beat the best single modality?"),
    )
    for kind, question in questions:
        cands = [r for r in rows if r["kind"] == kind]
        if cands:
            best = max(cands, key=lambda r: r["accuracy"])
            other = (best["model"], best["accuracy"])
            out.verdict.append(_answer(dataset, question, head, other, (-best["diff"], best["diff_ci95"])))
    return out


def _class_splits(dataset: str, way_val: int, name: str, main: dict, baselines: list[dict], data: dict):
    """Rows (model, validation classes, training classes, test) and the sentence comparing the headline with
    the best test baseline on validation classes and on test."""
    ways = {k: len(data[k].class_names) for k in ("val", "train")}
    rows = [dict(dataset=dataset, model=name, validation_classes=main["val_best"]["accuracy"],
                 training_classes=None, test=main["test"]["accuracy"])]  # fmt: skip
    rows += [
        dict(dataset=dataset, model=b["baseline"], validation_classes=b["val"]["accuracy"],
             training_classes=b["train"]["accuracy"], test=b["test"]["accuracy"])
        for b in baselines
    ]  # fmt: skip
    best = max(rows[1:], key=lambda r: r["test"])
    lead_val, lead_test = (
        rows[0]["validation_classes"] - best["validation_classes"],
        rows[0]["test"] - best["test"],
    )
    sentence = (
        f"{dataset} — do the validation classes rank like the test classes? The best baseline on test, "
        f"{best['model']}, scores {best['validation_classes']:.1f}% on the {way_val}-way validation-class "
        f"episodes ({ways['val']} classes), {best['training_classes']:.1f}% on training-class episodes "
        f"({ways['train']} classes) and {best['test']:.1f}% on test; Mu-MAE scores "
        f"{rows[0]['validation_classes']:.1f}% on the validation classes (the score its checkpoint was "
        f"selected by) and {rows[0]['test']:.1f}% on test. Against that baseline it is "
        f"{lead_val:+.1f} points on the validation classes and {lead_test:+.1f} on test"
        + (", so choices made on the validation classes need not carry over to the test classes."
           if (lead_val > 0) != (lead_test > 0) else ".")
    )  # fmt: skip
    return rows, [sentence]


SPLITS_CAPTION = (
    "Accuracy (%) of the headline model and of each non-learned baseline on three sets of episodes: "
    "validation classes (oneshot.val_episodes episodes, min(way, #classes)-way: those the one-shot stage "
    "selects its checkpoint on; the model's number is the selected checkpoint's, so slightly optimistic), "
    "training classes (the same number of episodes; baselines only: the model trained on these classes) and "
    "the saved test episodes of the novel classes. Same cosine-prototype head and train-split statistics."
)


CAPTION = (
    "5-way 1-shot accuracy (%) on the saved test episodes. accuracy ± ci95: mean and 95% CI over episodes "
    "of the accuracy averaged over the one-shot seeds; seed_sd: SD of the seeds' accuracies (seeds = how "
    "many; 0 for the non-learned baselines, which have no seed); diff ± diff_ci95: paired difference to the "
    "first row (pretrained Mu-MAE) over the same episodes. Baselines use the same episodes, the same "
    "cosine-prototype head and statistics fitted on the training classes only. The pretrained rows share "
    "one pretraining run and the random-init rows one encoder drawn from pretrain.seed (the encoder probe "
    "'random init' is that same encoder), so seed_sd covers the one-shot stage's seeds only."
)
