"""Dataclass configs with named profiles (smoke, default, paper).

A `Config` groups the data, model, masking, pretraining and one-shot settings. Build one with
`get_config("default", overrides=["pretrain.epochs=3", "data.modalities=video,acc_watch"])`,
serialise with `to_dict()` / `Config.from_dict(d)`, and call `validate()` before any work.

Profiles (DESIGN.md §6):
  smoke    CI and tests: tiny data and model, each notebook under 2 minutes on 2 CPU cores.
  default  `make report` on a 2-core CPU: the whole report in about 30 minutes.
  paper    a GPU: the reference hyperparameters (ViT-S, 16x224^2, ratios 0.9, 801 epochs).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from mumae_core.errors import ConfigError
from mumae_core.masking import n_hidden
from mumae_core.modalities import HAPT_MODALITIES, MMACT_MODALITIES, SENSOR_CHANNELS, has_video, sensors

__all__ = ["HAPT_MODALITIES", "MMACT_MODALITIES", "SENSOR_CHANNELS"]  # re-exported for older imports

# encoder dim / depth / heads, decoder dim / depth / heads
MODEL_SIZES: dict[str, dict[str, int]] = {
    "tiny": dict(embed_dim=192, depth=4, num_heads=3, decoder_dim=128, decoder_depth=2, decoder_heads=4),
    "small": dict(embed_dim=384, depth=12, num_heads=6, decoder_dim=192, decoder_depth=4, decoder_heads=3),
    "base": dict(embed_dim=768, depth=12, num_heads=12, decoder_dim=384, decoder_depth=4, decoder_heads=6),
}


@dataclass
class DataConfig:
    dataset: str = "synthact"  # synthact | mmact | hapt | arrays
    root: str | None = None  # dataset root; None = data_home()/<dataset>-<synth_size> for synthact
    synth_size: str = "default"  # smoke | default (SynthAct only)
    split: str = "03"  # split files splits/<dataset>/trainlist<split>.txt, testlist<split>.txt
    modalities: tuple[str, ...] = MMACT_MODALITIES
    num_frames: int = 8  # T frames per clip
    frame_stride: int = 2  # pretraining: T frames at this stride; 0 = spread over the whole clip
    img_size: int = 112  # H = W after resize / crop
    sensor_len: int = 128  # L samples per sensor, resampled on the video clip's time span
    sensor_norm: str = "zscore"  # zscore (train statistics) | minmax (per clip, reference)
    video_norm: str = "imagenet"  # imagenet | none
    hold_out_users: bool = False  # HAPT: also make the test users disjoint
    num_workers: int = 0
    on_error: str = "raise"  # raise | skip
    cache: str = "auto"  # auto (on when the decoded-frame cache fits in 4 GiB) | true | false


@dataclass
class ModelConfig:
    size: str = "tiny"  # tiny | small | base (MODEL_SIZES); explicit dims below override
    embed_dim: int | None = None
    depth: int | None = None
    num_heads: int | None = None
    decoder_dim: int | None = None
    decoder_depth: int | None = None
    decoder_heads: int | None = None
    mlp_ratio: float = 4.0
    tubelet: int = 2  # video tubelet: tubelet x patch x patch
    patch: int = 16
    sensor_patches: int = 16  # tokens per sensor; each holds sensor_len / sensor_patches samples x 3 axes
    sensor_patch_mode: str = "contiguous"  # contiguous | strided (reference)
    modality_embed: bool = True
    norm_target: bool = True
    drop_path: float = 0.0
    # attention path: auto (explicit softmax on the CPU up to attention_explicit_max_tokens, SDPA on CUDA;
    # measured, see benchmarks/README.md) | sdpa | explicit
    attention: str = "auto"
    attention_explicit_max_tokens: int = 256  # auto on the CPU: longer sequences use SDPA (measured faster)

    def dims(self) -> dict[str, int]:
        """Resolved encoder/decoder dims: the size preset with explicit overrides applied."""
        if self.size not in MODEL_SIZES:
            raise ConfigError(f"model.size must be one of {sorted(MODEL_SIZES)}; got {self.size!r}")
        d = dict(MODEL_SIZES[self.size])
        for k in d:
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        return d


@dataclass
class MaskConfig:
    video_mask: str = "tube"  # tube | random
    video_ratio: float = 0.9
    sensor_mask: str = "synchronized"  # synchronized | independent | none
    sensor_ratio: float = 0.9


@dataclass
class PretrainConfig:
    epochs: int = 20  # default profile: ~7 min on 2 CPU cores for SynthAct default (measured)
    batch_size: int = 32
    # lr = base_lr * batch_size * accum_steps * world_size / 256. The reference's 1.5e-4 barely learns in
    # the CPU budget (after 3 epochs the hidden-token loss equalled predicting the mean); paper keeps it.
    base_lr: float = 1.5e-3
    min_lr: float = 1e-5  # scaled the same way
    warmup_epochs: float = 2
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.95)
    accum_steps: int = 1
    clip_grad: float | None = None
    loss_hyper: float = 0.5  # L = L_video + loss_hyper * sum(L_sensor)
    amp: str = "auto"  # auto | bf16 | fp16 | off
    device: str = "auto"
    seed: int = 0
    ckpt_every: int = 200  # optimizer steps between checkpoints (and at the end)
    log_every: int = 10
    # torch.compile of the model: auto (on only where it was measured faster with its compile time amortised
    # over a default-profile run: CUDA; off on the CPU, see benchmarks/README.md) | on | off
    compile: str = "auto"
    prefetch_factor: int = (
        4  # batches prepared ahead of the step (per worker, or by one thread if no workers)
    )


@dataclass
class OneShotConfig:
    way: int = 5
    shot: int = 1
    query: int = 1  # queries per class ("per_class") or the one query ("single")
    query_protocol: str = "per_class"  # per_class | single (reference: one query from one class)
    head: str = "proto_cos"  # proto_cos | proto_euclid | selfcross (reference reconstruction)
    fusion: str = "cross_attn"  # cross_attn | concat | mean | single
    fusion_scope: str = "clip"  # clip (kit) | episode (reference, transductive)
    single_modality: str | None = None  # for fusion == "single"
    unimodal: str = "shared"  # shared (pretrained encoder on one modality) | scratch (reference)
    # frozen (default: representations are encoded once and cached; fusion + head train) | partial (the last
    # `trainable_blocks` encoder blocks train too) | full (the paper profile)
    freeze: str = "frozen"
    trainable_blocks: int = 1  # for freeze == "partial"
    fusion_heads: int = 4
    train_episodes: int = 1000
    episodes_per_step: int = 4
    lr: float = 1e-3
    weight_decay: float = 0.01
    val_classes_eval_every: int = 100  # episodes between validation-class evaluations
    val_episodes: int = 200
    test_episodes: int = 2000
    episode_seed: int = 1
    amp: str = "auto"
    device: str = "auto"
    seed: int = 0


@dataclass
class Config:
    profile: str = "default"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    mask: MaskConfig = field(default_factory=MaskConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    oneshot: OneShotConfig = field(default_factory=OneShotConfig)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), indent=2, **kw)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Config:
        """Inverse of to_dict. Unknown keys raise ConfigError (a typo must not pass silently)."""
        cfg = cls(profile=d.get("profile", "custom"))
        for section, values in d.items():
            if section == "profile":
                continue
            if not hasattr(cfg, section):
                raise ConfigError(f"unknown config section {section!r}")
            sub = getattr(cfg, section)
            for k, v in values.items():
                _set_field(sub, section, k, v)
        return cfg

    def with_overrides(self, overrides: list[str] | dict[str, Any] | None) -> Config:
        """A copy with 'section.key=value' overrides applied (values parsed from strings)."""
        cfg = Config.from_dict(self.to_dict())
        cfg.profile = self.profile
        if not overrides:
            return cfg
        items = overrides.items() if isinstance(overrides, dict) else (_split_override(o) for o in overrides)
        for key, value in items:
            if "." not in key:
                raise ConfigError(f"override {key!r} must look like section.key=value")
            section, name = key.split(".", 1)
            if not hasattr(cfg, section) or section == "profile":
                raise ConfigError(f"unknown config section {section!r} in override {key!r}")
            _set_field(getattr(cfg, section), section, name, value)
        return cfg

    # ------------------------------------------------------------------ validation
    @property
    def sensor_modalities(self) -> tuple[str, ...]:
        return sensors(self.data.modalities)

    @property
    def has_video(self) -> bool:
        return has_video(self.data.modalities)

    def validate(self) -> Config:
        """Check every value before any work starts; raise ConfigError naming the parameter."""
        d, m, k, p, o = self.data, self.model, self.mask, self.pretrain, self.oneshot
        _choice("data.dataset", d.dataset, ("synthact", "mmact", "hapt", "arrays"))
        _choice("data.synth_size", d.synth_size, ("smoke", "default"))
        _choice("data.sensor_norm", d.sensor_norm, ("zscore", "minmax"))
        _choice("data.video_norm", d.video_norm, ("imagenet", "none"))
        _choice("data.on_error", d.on_error, ("raise", "skip"))
        _choice("data.cache", d.cache, ("auto", "true", "false"))
        if not d.modalities:
            raise ConfigError("data.modalities is empty: name at least one modality")
        if len(set(d.modalities)) != len(d.modalities):
            raise ConfigError(f"data.modalities has duplicates: {d.modalities}")
        known = HAPT_MODALITIES if d.dataset == "hapt" else MMACT_MODALITIES
        if d.dataset in ("synthact", "mmact", "hapt"):
            bad = [x for x in d.modalities if x not in known]
            if bad:
                raise ConfigError(
                    f"data.modalities: unknown modality {bad} for dataset {d.dataset!r}; known: {list(known)}"
                )
        if d.dataset == "hapt" and "video" in d.modalities:
            raise ConfigError("data.modalities: HAPT has no video")
        _positive("data.num_frames", d.num_frames)
        _positive("data.img_size", d.img_size)
        _positive("data.sensor_len", d.sensor_len)
        if d.frame_stride < 0:
            raise ConfigError(f"data.frame_stride must be >= 0 (0 = spread); got {d.frame_stride}")

        dims = m.dims()
        for name, v in dims.items():
            _positive(f"model.{name}", v)
        if dims["embed_dim"] % dims["num_heads"]:
            raise ConfigError(
                f"model.embed_dim={dims['embed_dim']} is not divisible by model.num_heads={dims['num_heads']}"
            )
        if dims["decoder_dim"] % dims["decoder_heads"]:
            raise ConfigError(
                f"model.decoder_dim={dims['decoder_dim']} not divisible by model.decoder_heads="
                f"{dims['decoder_heads']}"
            )
        _choice("model.sensor_patch_mode", m.sensor_patch_mode, ("contiguous", "strided"))
        _choice("model.attention", m.attention, ("auto", "sdpa", "explicit"))
        _positive("model.attention_explicit_max_tokens", m.attention_explicit_max_tokens)
        if self.has_video:
            if d.num_frames % m.tubelet:
                raise ConfigError(
                    f"clip size: data.num_frames={d.num_frames} is not divisible by model.tubelet={m.tubelet}"
                )
            if d.img_size % m.patch:
                raise ConfigError(
                    f"clip size: data.img_size={d.img_size} is not divisible by model.patch={m.patch}"
                )
        if self.sensor_modalities and d.sensor_len % m.sensor_patches:
            raise ConfigError(
                f"data.sensor_len={d.sensor_len} is not divisible by model.sensor_patches={m.sensor_patches}"
            )

        _choice("mask.video_mask", k.video_mask, ("tube", "random"))
        _choice("mask.sensor_mask", k.sensor_mask, ("synchronized", "independent", "none"))
        if self.has_video:
            n_sp = (d.img_size // m.patch) ** 2
            n_tok = n_sp * (d.num_frames // m.tubelet) if k.video_mask == "random" else n_sp
            n_hidden(k.video_ratio, n_tok, param="mask.video_ratio")
        if self.sensor_modalities and k.sensor_mask != "none":
            n_hidden(k.sensor_ratio, m.sensor_patches, param="mask.sensor_ratio")

        _positive("pretrain.epochs", p.epochs)
        _positive("pretrain.batch_size", p.batch_size)
        _positive("pretrain.accum_steps", p.accum_steps)
        _choice("pretrain.amp", p.amp, ("auto", "bf16", "fp16", "off"))
        _choice("pretrain.compile", p.compile, ("auto", "on", "off"))
        _positive("pretrain.prefetch_factor", p.prefetch_factor)
        if p.base_lr <= 0:
            raise ConfigError(f"pretrain.base_lr must be > 0; got {p.base_lr}")

        _choice("oneshot.query_protocol", o.query_protocol, ("per_class", "single"))
        _choice("oneshot.head", o.head, ("proto_cos", "proto_euclid", "selfcross"))
        _choice("oneshot.fusion", o.fusion, ("cross_attn", "concat", "mean", "single"))
        _choice("oneshot.fusion_scope", o.fusion_scope, ("clip", "episode"))
        _choice("oneshot.unimodal", o.unimodal, ("shared", "scratch"))
        _choice("oneshot.freeze", o.freeze, ("frozen", "partial", "full"))
        _choice("oneshot.amp", o.amp, ("auto", "bf16", "fp16", "off"))
        if o.fusion == "single" and o.single_modality not in d.modalities:
            raise ConfigError(
                f"oneshot.single_modality={o.single_modality!r} must be one of data.modalities {d.modalities}"
            )
        for name in ("way", "shot", "query"):
            _positive(f"oneshot.{name}", getattr(o, name))
        if o.way < 2:
            raise ConfigError(f"oneshot.way must be >= 2; got {o.way}")
        return self


# ---------------------------------------------------------------------- profiles
def _smoke() -> Config:
    return Config(
        profile="smoke",
        data=DataConfig(synth_size="smoke", num_frames=4, img_size=32, sensor_len=32, frame_stride=2),
        model=ModelConfig(
            size="tiny",
            embed_dim=64,
            depth=2,
            num_heads=2,
            decoder_dim=32,
            decoder_depth=1,
            decoder_heads=2,
            patch=16,
            tubelet=2,
            sensor_patches=8,
        ),
        mask=MaskConfig(video_ratio=0.75, sensor_ratio=0.75),
        pretrain=PretrainConfig(epochs=2, batch_size=8, warmup_epochs=1, ckpt_every=20, log_every=1),
        oneshot=OneShotConfig(
            train_episodes=20,
            episodes_per_step=2,
            val_classes_eval_every=10,
            val_episodes=20,
            test_episodes=50,
        ),
    )


def _default() -> Config:
    return Config(profile="default")


def _paper() -> Config:
    return Config(
        profile="paper",
        data=DataConfig(num_frames=16, frame_stride=2, img_size=224, sensor_len=128, num_workers=8),
        model=ModelConfig(size="small", sensor_patches=16, drop_path=0.0),
        mask=MaskConfig(video_ratio=0.9, sensor_ratio=0.9),
        pretrain=PretrainConfig(
            epochs=801, batch_size=32, warmup_epochs=40, ckpt_every=1000, log_every=50, base_lr=1.5e-4
        ),
        oneshot=OneShotConfig(
            freeze="full",
            train_episodes=20000,
            episodes_per_step=32,
            lr=1e-4,
            val_episodes=1000,
            test_episodes=10000,
            val_classes_eval_every=2000,
        ),
    )


PROFILES = {"smoke": _smoke, "default": _default, "paper": _paper}


def get_config(profile: str = "default", overrides: list[str] | dict[str, Any] | None = None) -> Config:
    """The named profile with overrides applied (not yet validated: call .validate())."""
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; choose one of {sorted(PROFILES)}")
    return PROFILES[profile]().with_overrides(overrides)


def for_dataset(cfg: Config, dataset: str) -> Config:
    """Switch a config to another dataset, fixing the modality set (e.g. HAPT: acc, gyro)."""
    out = cfg.with_overrides({"data.dataset": dataset})
    if dataset == "hapt":
        out.data.modalities = HAPT_MODALITIES
    elif dataset in ("synthact", "mmact") and not set(out.data.modalities) <= set(MMACT_MODALITIES):
        out.data.modalities = MMACT_MODALITIES
    return out


# ---------------------------------------------------------------------- helpers
def _split_override(s: str) -> tuple[str, str]:
    if "=" not in s:
        raise ConfigError(f"override {s!r} must look like section.key=value")
    k, v = s.split("=", 1)
    return k.strip(), v.strip()


def _set_field(obj: Any, section: str, name: str, value: Any) -> None:
    fields = {f.name: f for f in dataclasses.fields(obj)}
    if name not in fields:
        raise ConfigError(f"unknown config key {section}.{name}; known: {sorted(fields)}")
    current = getattr(obj, name)
    setattr(obj, name, _coerce(f"{section}.{name}", value, current, fields[name].type))


def _coerce(key: str, value: Any, current: Any, type_str: Any) -> Any:
    """Parse `value` (often a CLI string) into the type of the field."""
    ts = str(type_str)
    if isinstance(value, str):
        v = value.strip()
        if v.lower() in ("none", "null") and "None" in ts:
            return None
        if "tuple" in ts:
            parts = [x.strip() for x in v.strip("()[]").split(",") if x.strip()]
            if "float" in ts:
                return tuple(float(x) for x in parts)
            return tuple(parts)
        if "bool" in ts:
            if v.lower() in ("1", "true", "yes", "on"):
                return True
            if v.lower() in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{key}: expected a boolean, got {value!r}")
        try:
            if ts.startswith("int") or ts == "<class 'int'>" or ts == "int | None":
                return int(v)
            if "float" in ts:
                return float(v)
        except ValueError as e:
            raise ConfigError(f"{key}: cannot parse {value!r} as {ts}") from e
        return v
    if isinstance(value, list):
        return tuple(value)
    return value


def _choice(key: str, value: Any, options: tuple) -> None:
    if value not in options:
        raise ConfigError(f"{key} must be one of {list(options)}; got {value!r}")


def _positive(key: str, value: Any) -> None:
    if not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{key} must be a positive integer; got {value!r}")
