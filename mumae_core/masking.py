"""Mask generators: pure, seeded with a `torch.Generator`, batched.

Convention (the only one in the kit): a mask is a `torch.bool` tensor, **True = hidden**. Every sample of a
batch hides exactly the same number of tokens, so the encoder can gather the visible tokens of a batch with
one boolean index and a reshape.

* `random_mask`  hides int(ratio * N) of N tokens, chosen independently per sample.
* `tube_mask`    hides int(ratio * HW) spatial positions per sample and the same positions at every
                 temporal index (VideoMAE tube masking; token order t-major: index = ti * HW + si), so
                 T * int(ratio * HW) tokens in all (the reference: 8 x 176 = 1408 of 1568).
* `sensor_masks` one mask per sensor: `synchronized` (one draw shared by all sensors; the reference's
                 `--sensor_mask_type tube`, the paper's "synchronized masking"), `independent` (a draw per
                 sensor; the reference's `random`), or `none` (nothing hidden).
* `make_masks`   the masks of a whole batch for `cfg.data.modalities`, drawn in that order from one generator.

Masks are drawn on the CPU (where the generator lives); move them with `.to(device)`.
"""

from __future__ import annotations

import torch

from mumae_core.errors import ConfigError

SENSOR_MASK_MODES = ("synchronized", "independent", "none")
VIDEO_MASK_TYPES = ("tube", "random")


def n_hidden(ratio: float, n: int, param: str = "ratio") -> int:
    """int(ratio * n), checked to hide at least one token and leave at least one visible."""
    if n <= 0:
        raise ConfigError(f"masking: {param}: there must be at least one token to mask; got n={n}")
    k = int(ratio * n)
    if not 0 < k < n:
        raise ConfigError(
            f"masking: {param}={ratio} over {n} tokens hides {k}: it must hide at least one token "
            f"and leave at least one visible"
        )
    return k


def _hide_k(batch: int, n: int, k: int, generator: torch.Generator | None) -> torch.Tensor:
    """(batch, n) bool with exactly k True per row, uniformly at random: argsort of uniform noise."""
    noise = torch.rand(batch, n, generator=generator)
    ids = noise.argsort(dim=1)
    mask = torch.zeros(batch, n, dtype=torch.bool)
    mask.scatter_(1, ids[:, :k], True)
    return mask


def random_mask(
    batch: int, n: int, ratio: float, generator: torch.Generator | None, *, param: str = "ratio"
) -> torch.Tensor:
    """(batch, n) bool, True = hidden; int(ratio * n) hidden per sample, positions drawn per sample."""
    return _hide_k(batch, n, n_hidden(ratio, n, param), generator)


def tube_mask(
    batch: int, t: int, hw: int, ratio: float, generator: torch.Generator | None, *, param: str = "ratio"
) -> torch.Tensor:
    """(batch, t * hw) bool, True = hidden: the same int(ratio * hw) spatial positions at every t.

    Token order is t-major (index = ti * hw + si), the order of `VideoTokenizer`.
    """
    if t <= 0:
        raise ConfigError(f"masking: tube_mask needs t >= 1 temporal positions; got t={t}")
    spatial = _hide_k(batch, hw, n_hidden(ratio, hw, param), generator)  # (B, hw)
    return spatial.unsqueeze(1).expand(batch, t, hw).reshape(batch, t * hw)


def sensor_masks(
    batch: int,
    names: list[str] | tuple[str, ...],
    n_tokens: int,
    ratio: float,
    mode: str,
    generator: torch.Generator | None,
    *,
    param: str = "ratio",
) -> dict[str, torch.Tensor]:
    """{name: (batch, n_tokens) bool}, True = hidden.

    mode: 'synchronized' (one mask shared by all sensors: the same token indices hidden in each),
    'independent' (one draw per sensor, in the order of `names`), 'none' (all False; ratio unused).
    """
    if mode not in SENSOR_MASK_MODES:
        raise ConfigError(f"masking: sensor mask mode must be one of {list(SENSOR_MASK_MODES)}; got {mode!r}")
    if mode == "none":
        return {name: torch.zeros(batch, n_tokens, dtype=torch.bool) for name in names}
    if mode == "synchronized":
        shared = random_mask(batch, n_tokens, ratio, generator, param=param)
        return {name: shared.clone() for name in names}
    return {name: random_mask(batch, n_tokens, ratio, generator, param=param) for name in names}


def make_masks(cfg, batch_size: int, generator: torch.Generator | None) -> dict[str, torch.Tensor]:
    """{modality: (B, N_m) bool} for every modality of `cfg.data.modalities` (Config).

    Video: `cfg.mask.video_mask` ('tube' | 'random') at `cfg.mask.video_ratio` over the token grid
    (num_frames / tubelet, (img_size / patch)^2). Sensors: `cfg.mask.sensor_mask` at `cfg.mask.sensor_ratio`
    over `cfg.model.sensor_patches` tokens. Draws happen in modality order from the one generator.
    """
    d, m, k = cfg.data, cfg.model, cfg.mask
    if batch_size <= 0:
        raise ConfigError(f"masking: batch_size must be >= 1; got {batch_size}")
    sensors = [x for x in d.modalities if x != "video"]
    out: dict[str, torch.Tensor] = {}
    sensor_out: dict[str, torch.Tensor] = {}
    for mod in d.modalities:
        if mod == "video":
            if d.num_frames % m.tubelet or d.img_size % m.patch:
                raise ConfigError(
                    f"masking: data.num_frames={d.num_frames} / model.tubelet={m.tubelet} and "
                    f"data.img_size={d.img_size} / model.patch={m.patch} must divide exactly"
                )
            t, hw = d.num_frames // m.tubelet, (d.img_size // m.patch) ** 2
            if k.video_mask == "tube":
                out[mod] = tube_mask(batch_size, t, hw, k.video_ratio, generator, param="mask.video_ratio")
            elif k.video_mask == "random":
                out[mod] = random_mask(batch_size, t * hw, k.video_ratio, generator, param="mask.video_ratio")
            else:
                raise ConfigError(
                    f"mask.video_mask must be one of {list(VIDEO_MASK_TYPES)}; got {k.video_mask!r}"
                )
        else:
            if not sensor_out:  # all sensors are drawn together, when the first one comes up
                sensor_out = sensor_masks(
                    batch_size,
                    sensors,
                    m.sensor_patches,
                    k.sensor_ratio,
                    k.sensor_mask,
                    generator,
                    param="mask.sensor_ratio",
                )
            out[mod] = sensor_out[mod]
    return out
