"""Result plots: losses, accuracy rows with CIs, per-class accuracy, confusion matrix, feature embeddings."""

from __future__ import annotations

import numpy as np
import seaborn as sns

from mumae_core.viz.style import modality_color, subplots, to_numpy


def plot_losses(
    records: list[dict],
    keys: list[str],
    x: str = "step",
    title: str | None = None,
    baseline: dict[str, float] | None = None,
):
    """Training curves from metrics.jsonl records; baseline {key: value} draws dashed reference lines."""
    fig, axes = subplots(1, 1, cell=(7.0, 3.4))
    ax = axes[0, 0]
    for k in keys:
        pts = [(r[x], r[k]) for r in records if k in r and x in r]
        if not pts:
            continue
        xs, ys = zip(*pts)
        name = k.split("/")[-1].removeprefix("loss_")
        ax.plot(
            xs,
            ys,
            label=k,
            lw=1.4 if k in ("loss", "train/loss") else 1.0,
            color=None if name in ("loss",) else modality_color(name),
        )
    for k, v in (baseline or {}).items():
        ax.axhline(v, ls="--", lw=0.8, color="k", alpha=0.6)
        ax.text(ax.get_xlim()[0], v, f" {k}", va="bottom", fontsize=7)
    ax.set_xlabel(x)
    ax.set_ylabel("loss (MSE of normalised hidden patches)")
    ax.legend(fontsize=7, ncol=2)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_curve(curve, chance: float | None = None, title: str | None = None):
    """The pretraining curve (mumae_core.curve): validation-class probe accuracy +- 95% CI per kept step."""
    fig, axes = subplots(1, 1, cell=(5.5, 3.2))
    ax = axes[0, 0]
    x, y, ci = curve["step"].to_numpy(), curve["accuracy"].to_numpy(), curve["ci95"].to_numpy()
    ax.plot(x, y, marker="o", lw=1.4, color="k")
    ax.fill_between(x, y - ci, y + ci, alpha=0.2, color="k", lw=0)
    if chance is not None:
        ax.axhline(chance, ls="--", lw=0.8, color="k", alpha=0.6)
        ax.text(x[0], chance, " chance", va="bottom", fontsize=7)
    ax.set_xlabel("pretraining step (0 = random init)")
    ax.set_ylabel("frozen probe, val classes (%)")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_accuracy_rows(
    rows: list[dict], label: str = "row", title: str | None = None, chance: float | None = None
):
    """Horizontal bars of accuracy ± 95% CI; rows are dicts with `label`, `accuracy`, `ci95` (percent).

    chance: the chance accuracy in percent (100 / way), drawn as a dashed line with a legend entry; pass it
    for every accuracy plot (headline rows and ablations alike) so a bar can be read against it.
    """
    fig, axes = subplots(1, 1, cell=(7.0, 0.45 * len(rows) + 1.6))
    ax = axes[0, 0]
    y = np.arange(len(rows))
    acc = np.array([r["accuracy"] for r in rows])
    ci = np.array([r.get("ci95") or 0.0 for r in rows])
    ax.barh(y, acc, xerr=ci, color="#4c72b0", alpha=0.8, capsize=3)
    ax.set_yticks(y, [str(r[label]) for r in rows], fontsize=8)
    ax.invert_yaxis()
    if chance is not None:
        ax.axvline(chance, color="k", ls="--", lw=0.8, label=f"chance {chance:.0f} %")
        ax.legend(fontsize=7)
    ax.set_xlabel("accuracy (%) ± 95% CI over test episodes")
    ax.set_xlim(0, 100)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_per_class(per_class: dict[str, float], title: str | None = None):
    """Bars of per-class accuracy {class: percent}."""
    names = list(per_class)
    fig, axes = subplots(1, 1, cell=(max(4.0, 0.45 * len(names) + 1.5), 3.2))
    ax = axes[0, 0]
    ax.bar(range(len(names)), [per_class[c] for c in names], color="#55a868")
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) counts, rows = true class."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)), 1)
    return cm


def plot_confusion(cm, class_names: list[str], normalize: bool = True, title: str | None = None):
    """Seaborn heat map of a confusion matrix (rows = true); normalize -> row fractions."""
    cm = to_numpy(cm).astype(float)
    if normalize:
        rs = cm.sum(axis=1, keepdims=True)
        cm = np.divide(cm, rs, out=np.zeros_like(cm), where=rs > 0)
    n = len(class_names)
    fig, axes = subplots(1, 1, cell=(0.45 * n + 2.5, 0.45 * n + 1.5))
    sns.heatmap(
        cm,
        ax=axes[0, 0],
        annot=n <= 12,
        fmt=".2f" if normalize else ".0f",
        cmap="Blues",
        xticklabels=class_names,
        yticklabels=class_names,
        vmin=0,
        annot_kws={"fontsize": 7},
    )
    axes[0, 0].set_xlabel("predicted")
    axes[0, 0].set_ylabel("true")
    axes[0, 0].tick_params(labelsize=7)
    if title:
        axes[0, 0].set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def pca_2d(features) -> np.ndarray:
    """(N, D) -> (N, 2): projection on the top-2 principal components (numpy SVD, centred)."""
    x = to_numpy(features).astype(np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"pca_2d: need (N >= 2, D) features; got shape {x.shape}")
    x = x - x.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    comps = vt[:2]
    if comps.shape[0] < 2:
        comps = np.vstack([comps, np.zeros_like(comps)])
    return x @ comps.T


def plot_embedding(features, labels, class_names: list[str], title: str | None = None):
    """PCA scatter of clip features (N, D) coloured by label (N,)."""
    xy = pca_2d(features)
    labels = np.asarray(labels)
    fig, axes = subplots(1, 1, cell=(5.5, 4.5))
    ax = axes[0, 0]
    palette = sns.color_palette("tab10" if len(class_names) <= 10 else "tab20", len(class_names))
    for c, name in enumerate(class_names):
        sel = labels == c
        if sel.any():
            ax.scatter(xy[sel, 0], xy[sel, 1], s=14, color=palette[c], label=name, alpha=0.8)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.legend(fontsize=6, ncol=2, loc="best")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
