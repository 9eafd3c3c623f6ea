"""Metric one-shot heads behind one API (easyfsl style).

    head.process_support_set(support_feats (S, D), support_labels (S,) in 0..way-1)
    scores = head(query_feats (Q, D))                  -> (Q, way), higher = more likely

PrototypeHead (kit default, metric "cosine" with a learnable scale or "euclidean") also scores many episodes
at once from a feature cache: `batched_scores(support (E, S, D), labels (E, S), query (E, Q, D), way)`.
Its `center` (`oneshot.center`) subtracts a mean feature from prototypes and queries before the metric:
"support" the episode's support mean, "train" a running mean of the training episodes' support features
(SimpleShot's centring, Wang et al. 2019; the statistics baselines are centred with their training clips'
mean).
SelfCrossHead is a reconstruction of the reference's STAF/CAN self + cross correlation head.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mumae_core.errors import ConfigError, EpisodeError


def _check_support(support: torch.Tensor, labels: torch.Tensor) -> int:
    """Validate a support set; return way = number of classes (labels must be exactly 0..way-1)."""
    if support.dim() != 2 or labels.dim() != 1 or support.shape[0] != labels.shape[0]:
        raise EpisodeError(
            f"heads: support features must be (S, D) with labels (S,); got {tuple(support.shape)} and "
            f"{tuple(labels.shape)}"
        )
    way = int(labels.max().item()) + 1 if labels.numel() else 0
    present = torch.unique(labels)
    if way < 2 or present.numel() != way:
        raise EpisodeError(
            f"heads: support labels must cover 0..way-1 with way >= 2; got labels {present.tolist()}"
        )
    return way


def prototypes(support: torch.Tensor, labels: torch.Tensor, way: int) -> torch.Tensor:
    """Class means. support (..., S, D), labels (..., S) -> (..., way, D)."""
    S = labels.shape[-1]
    if S % way == 0 and torch.equal(labels, _class_major(way, S // way, labels).expand_as(labels)):
        return support.unflatten(-2, (way, S // way)).mean(-2)  # class-major support: a reshape
    onehot = F.one_hot(labels, way).to(support.dtype)  # (..., S, way)
    counts = onehot.sum(-2).clamp_min(1.0)  # (..., way)
    return (onehot.transpose(-1, -2) @ support) / counts.unsqueeze(-1)


def _class_major(way: int, shot: int, like: torch.Tensor) -> torch.Tensor:
    return torch.arange(way, device=like.device).repeat_interleave(shot)


class FewShotHead(nn.Module):
    """Base class: store the support set, then score queries."""

    def process_support_set(self, support_feats: torch.Tensor, support_labels: torch.Tensor) -> None:
        raise NotImplementedError

    def forward(self, query_feats: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


CENTERS = ("none", "support", "train")
CENTER_MOMENTUM = 0.1  # weight of each training episode's support mean in the running "train" centre


class PrototypeHead(FewShotHead):
    """Prototypical head: score = scale * cos(q - c, prototype - c) (learnable scale, init 10) or
    -||q - p||^2, with c = 0 (center "none"), the episode's support mean ("support") or the running mean of
    the training episodes' support features ("train": updated, without gradient, in every training episode,
    before it is used; 0 before any). dim: the feature size (needed by "train")."""

    def __init__(self, metric: str = "cosine", init_scale: float = 10.0, center: str = "none", dim: int = 0):
        super().__init__()
        if metric not in ("cosine", "euclidean"):
            raise ConfigError(f"PrototypeHead: metric must be 'cosine' or 'euclidean'; got {metric!r}")
        if center not in CENTERS:
            raise ConfigError(f"oneshot.center must be one of {', '.join(CENTERS)}; got {center!r}")
        if center == "train" and dim < 1:
            raise ConfigError(f"PrototypeHead: center 'train' needs the feature size dim >= 1; got {dim}")
        self.metric, self.center = metric, center
        self.scale = nn.Parameter(torch.tensor(float(init_scale))) if metric == "cosine" else None
        if center == "train":
            self.register_buffer("train_mean", torch.zeros(dim))
            self.register_buffer("train_seen", torch.zeros((), dtype=torch.bool))
        self.protos: torch.Tensor | None = None
        self.shift: torch.Tensor | None = None

    def _center(self, support: torch.Tensor) -> torch.Tensor | None:
        """support (..., S, D) fp32 -> the centre (..., 1, D) to subtract, or None for center "none" (with
        center "train", a training episode first moves the running mean towards its support mean)."""
        if self.center == "none":
            return None
        if self.center == "support":
            return support.mean(-2, keepdim=True)
        if support.shape[-1] != self.train_mean.shape[0]:
            raise EpisodeError(
                f"PrototypeHead: features of size {support.shape[-1]}, its train centre of size "
                f"{self.train_mean.shape[0]}"
            )
        if self.training:
            with torch.no_grad():
                m = support.detach().reshape(-1, support.shape[-1]).mean(0)  # (D,)
                ema = torch.lerp(self.train_mean, m, CENTER_MOMENTUM)
                self.train_mean.copy_(torch.where(self.train_seen, ema, m))
                self.train_seen.fill_(True)
        return self.train_mean.expand(support.shape[:-2] + (1, support.shape[-1]))

    def _centred(self, protos: torch.Tensor, query: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        """Scores (..., Q, way) of query (..., Q, D) against protos (..., way, D), both less c (..., 1, D)."""
        return self._scores(protos, query) if c is None else self._scores(protos - c, query - c)

    def process_support_set(self, support_feats: torch.Tensor, support_labels: torch.Tensor) -> None:
        way = _check_support(support_feats, support_labels)
        support = support_feats.float()  # (S, D)
        self.protos = prototypes(support, support_labels, way)  # (way, D)
        self.shift = self._center(support)  # (1, D) or None

    def forward(self, query_feats: torch.Tensor) -> torch.Tensor:
        if self.protos is None:
            raise EpisodeError("PrototypeHead: call process_support_set before scoring queries")
        return self._centred(self.protos, query_feats.float(), self.shift)

    def _scores(self, protos: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """protos (..., way, D), query (..., Q, D) -> (..., Q, way)."""
        if self.metric == "cosine":
            return self.scale * (F.normalize(query, dim=-1) @ F.normalize(protos, dim=-1).transpose(-1, -2))
        d2 = (
            (query * query).sum(-1, keepdim=True)
            - 2 * query @ protos.transpose(-1, -2)
            + (protos * protos).sum(-1).unsqueeze(-2)
        )
        return -d2.clamp_min(0.0)

    def batched_scores(
        self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor, way: int
    ) -> torch.Tensor:
        """Many episodes at once. support (E, S, D), labels (E, S), query (E, Q, D) -> scores (E, Q, way)."""
        support = support.float()
        return self._centred(prototypes(support, support_labels, way), query.float(), self._center(support))


# ---------------------------------------------------------------------------------------------------------
# Reference self + cross head (reconstruction)
# ---------------------------------------------------------------------------------------------------------
class _MetaLearner(nn.Module):
    """CAN's CAM meta-learner over M positions: mean over one axis, 1x1 conv M->6 (+BN) -> ReLU -> 6->M."""

    def __init__(self, positions: int, hidden: int = 6):
        super().__init__()
        self.conv1 = nn.Conv2d(positions, hidden, 1)
        self.bn = nn.BatchNorm2d(hidden)
        self.conv2 = nn.Conv2d(hidden, positions, 1)

    def forward(self, corr: torch.Tensor, temperature: float) -> torch.Tensor:
        """corr (B, n1, n2, M1, M2) cosine maps -> attention over the M1 positions (B, n1, n2, M1)."""
        a = corr.mean(3).permute(0, 3, 2, 1)  # (B, M2, n2, n1): positions as channels
        a = self.conv1(a)
        if a.shape[0] * a.shape[2] * a.shape[3] > 1:  # BN needs more than one value per channel
            a = self.bn(a)
        a = self.conv2(F.relu(a)).permute(0, 3, 2, 1).unsqueeze(3)  # (B, n1, n2, 1, M2)
        a = (corr * a).mean(-1)  # (B, n1, n2, M1)
        return F.softmax(a / temperature, dim=-1) + 1


class SelfCrossHead(FewShotHead):
    """RECONSTRUCTION of the reference STAF/MASTAF self + cross correlation head (method_reference.md §4.6).

    The reference's `cam_vivit.CAM` is missing from its repository; this follows the description inferred from
    STAF's `cam_r3d` / CAN. A clip feature (D,) is reshaped to C = D/4 channels x M = 4 "positions" (not real
    spatio-temporal positions, as in the reference). Cosine correlation maps between positions are built for
    the cross pair (prototype vs query) and the self pairs (prototype with itself, query with itself), passed
    through the meta-learner, and turned into position weights softmax(mean(corr * w) / 0.025) + 1 that
    reweight the features. Score = scale * cos_cross + alpha * scale * cos_self (features averaged over
    positions and L2-normalised), scale 7 and alpha 1 as in the reference. Only the episode cross-entropy is
    used for training here (the reference adds a global-class loss). Episode-dependent: no feature-cache
    vectorisation; the cache path scores it one episode at a time.
    """

    def __init__(
        self, dim: int, positions: int = 4, scale: float = 7.0, alpha: float = 1.0, temperature: float = 0.025
    ):
        super().__init__()
        if dim % positions:
            raise ConfigError(f"SelfCrossHead: feature dim {dim} is not divisible by positions={positions}")
        self.positions, self.scale, self.alpha, self.temperature = positions, scale, alpha, temperature
        self.cross = _MetaLearner(positions)
        self.self_meta = _MetaLearner(positions)
        self.support: torch.Tensor | None = None

    def _maps(self, x: torch.Tensor) -> torch.Tensor:
        """(n, D) -> (n, C, M)."""
        return x.float().reshape(x.shape[0], -1, self.positions)

    def _attend(self, f1: torch.Tensor, f2: torch.Tensor, meta: _MetaLearner):
        """CAN's CAM. f1 (n1, C, M), f2 (n2, C, M) -> reweighted f1, f2, each (n2, n1, C, M) (query-major)."""
        n1f = F.normalize(f1, dim=1).transpose(1, 2).unsqueeze(1)  # (n1, 1, M, C)
        n2f = F.normalize(f2, dim=1).unsqueeze(0)  # (1, n2, C, M)
        corr = (n1f @ n2f).unsqueeze(0)  # (1, n1, n2, M1, M2)
        a1 = meta(corr, self.temperature)[0]  # (n1, n2, M)
        a2 = meta(corr.transpose(3, 4).transpose(1, 2), self.temperature)[0]  # (n2, n1, M)
        g1 = f1.unsqueeze(1) * a1.unsqueeze(2)  # (n1, n2, C, M)
        g2 = f2.unsqueeze(1) * a2.unsqueeze(2)  # (n2, n1, C, M)
        return g1.transpose(0, 1), g2

    def _self(self, f: torch.Tensor) -> torch.Tensor:
        """Self correlation of each item with itself. f (n, C, M) -> reweighted (n, C, M)."""
        nf = F.normalize(f, dim=1)
        corr = (nf.transpose(1, 2) @ nf).unsqueeze(2).unsqueeze(0)  # (1, n, 1, M, M)
        a = self.self_meta(corr, self.temperature)[0, :, 0]  # (n, M)
        return f * a.unsqueeze(1)

    def process_support_set(self, support_feats: torch.Tensor, support_labels: torch.Tensor) -> None:
        way = _check_support(support_feats, support_labels)
        self.support = prototypes(support_feats.float(), support_labels, way)  # (way, D)

    def forward(self, query_feats: torch.Tensor) -> torch.Tensor:
        if self.support is None:
            raise EpisodeError("SelfCrossHead: call process_support_set before scoring queries")
        p, q = self._maps(self.support), self._maps(query_feats)  # (way, C, M), (Q, C, M)
        p_cross, q_cross = self._attend(p, q, self.cross)  # (Q, way, C, M) each
        cos_cross = F.cosine_similarity(p_cross.mean(-1), q_cross.mean(-1), dim=-1)  # (Q, way)
        p_self = F.normalize(self._self(p).mean(-1), dim=-1)  # (way, C)
        q_self = F.normalize(self._self(q).mean(-1), dim=-1)  # (Q, C)
        cos_self = q_self @ p_self.T  # (Q, way)
        return self.scale * cos_cross + self.alpha * self.scale * cos_self


def build_head(cfg, dim: int) -> FewShotHead:
    """The head named by cfg.oneshot.head (proto_cos | proto_euclid | selfcross) for features of size dim."""
    name = cfg.oneshot.head
    center = cfg.oneshot.center
    if name == "proto_cos":
        return PrototypeHead("cosine", center=center, dim=dim)
    if name == "proto_euclid":
        return PrototypeHead("euclidean", center=center, dim=dim)
    if center != "none":
        raise ConfigError(f"oneshot.center={center!r} needs a prototype head (proto_cos | proto_euclid)")
    if name == "selfcross":
        return SelfCrossHead(dim)
    raise ConfigError(f"oneshot.head must be one of proto_cos, proto_euclid, selfcross; got {name!r}")
