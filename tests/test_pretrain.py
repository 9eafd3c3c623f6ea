"""The pretraining loop: run dir, exact resume after a kill (mid-epoch, with accumulation), NaN stop,
config checks, weight-decay groups, sensor-only (HAPT-like) pretraining."""

import json

import pytest
import torch

from mumae_core.config import get_config
from mumae_core.errors import ConfigError
from mumae_core.models.mae import build_mae
from mumae_core.train import checkpoint as ck
from mumae_core.train.pretrain import NonFiniteLossError, param_groups, pretrain


class _Clips(torch.utils.data.Dataset):
    """n clips of the config's shapes: noisy sine waves per sensor, smooth random video."""

    def __init__(self, cfg, n, seed=0):
        d = cfg.data
        g = torch.Generator().manual_seed(seed)
        self.modalities = tuple(d.modalities)
        t = torch.linspace(0, 1, d.sensor_len).view(1, -1, 1)
        freq, phase = 1 + 3 * torch.rand(n, 1, 1, generator=g), 6.28 * torch.rand(n, 1, 3, generator=g)
        self.x = {}
        for k, m in enumerate(self.modalities):
            if m == "video":
                v = torch.randn(n, 3, d.num_frames, d.img_size // 8, d.img_size // 8, generator=g)
                self.x[m] = torch.nn.functional.interpolate(v, size=(d.num_frames, d.img_size, d.img_size))
            else:
                self.x[m] = (k + 1) * torch.sin(6.28 * freq * t + phase) + 0.05 * torch.randn(
                    n, d.sensor_len, 3, generator=g
                )
        self.labels = [i % 3 for i in range(n)]
        self.class_names = ["a", "b", "c"]

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {**{m: v[i] for m, v in self.x.items()}, "label": self.labels[i], "meta": {"clip": str(i)}}


class _Untouchable(torch.utils.data.Dataset):
    """A split pretraining must never read."""

    def __len__(self):
        return 4

    def __getitem__(self, i):
        raise AssertionError("pretraining read the test split")


def _cfg(*extra, sensors_only=True):
    base = (
        ["data.dataset=hapt", "data.modalities=acc,gyro"] if sensors_only else ["data.modalities=video,gyro"]
    )
    return get_config("smoke", [*base, *extra]).validate()


def _weights(run_dir, name=ck.LAST):
    return ck.load_checkpoint(run_dir / name)["model"]


def _metrics(run_dir):
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "time"} for r in rows]


class _Kill(Exception):
    pass


def _model_that_fails(at_call: int, how: str):
    """model_fn: the real model, with a forward hook that at its `at_call`-th call kills the run or
    makes the loss NaN (call numbers count micro-batches from 1)."""

    def make(cfg):
        model, calls = build_mae(cfg), [0]

        def hook(module, args, out):
            calls[0] += 1
            if calls[0] == at_call:
                if how == "kill":
                    raise _Kill
                out.losses["acc"] = out.losses["acc"] * float("nan")
                out.loss = out.loss * float("nan")
            return out

        model.register_forward_hook(hook)
        return model

    return make


def test_sensor_only_run_writes_the_run_dir_and_learns(tmp_path):
    cfg = _cfg(
        "pretrain.epochs=4", "pretrain.base_lr=3e-2", "pretrain.warmup_epochs=1", "pretrain.log_every=2"
    )
    data = {"train": _Clips(cfg, 48), "val": _Clips(cfg, 12, seed=1), "test": _Untouchable()}
    s = pretrain(cfg, tmp_path, datasets=data, progress=False)
    assert {p.name for p in tmp_path.iterdir()} >= {
        "config.json", "metrics.jsonl", "summary.json", ck.LAST, ck.FINAL,
    }  # fmt: skip
    rec = json.loads((tmp_path / "config.json").read_text())
    assert rec["config"] == json.loads(json.dumps(cfg.to_dict())) and rec["seed"] == 0
    assert "torch" in rec["environment"] and "git_commit" in rec["environment"]
    rows = _metrics(tmp_path)
    assert [r["step"] for r in rows] == list(range(2, 25, 2))  # 48 clips / 8 = 6 steps x 4 epochs
    assert set(rows[0]) == {"step", "epoch", "lr", "loss", "loss_acc", "loss_gyro"}
    assert s == json.loads((tmp_path / "summary.json").read_text())
    assert s["steps"] == 24 and s["device"] == "cpu" and s["dtype"] in ("float32", "bfloat16")
    first, last = rows[0]["loss"], s["train_loss"]["last_epoch_mean"]["total"]
    assert last < 0.7 * first, f"the loss did not go down: {first} -> {last}"
    val = s["val_hidden_token_loss"]
    assert val["clips"] == 12 and set(val["model"]) == set(val["mean"]) == {"total", "acc", "gyro"}
    assert "vs predicting the mean" in s["headline"]
    assert s["clips_per_s"] > 0 and s["wall_time_s"] > 0


def test_killed_run_resumes_to_the_same_weights(tmp_path):
    """Kill after step 4 of 6 (mid-epoch, 2 micro-batches per step), resume: identical to one go."""
    extra = ["pretrain.epochs=2", "pretrain.batch_size=4", "pretrain.accum_steps=2", "pretrain.ckpt_every=2"]
    cfg = _cfg(*extra, sensors_only=False)
    data = {"train": _Clips(cfg, 26)}  # 6 batches of 4 (2 clips dropped) -> 3 steps per epoch
    pretrain(cfg, tmp_path / "one_go", datasets=data, progress=False)

    run = tmp_path / "resumed"
    with pytest.raises(_Kill):
        pretrain(cfg, run, datasets=data, progress=False, model_fn=_model_that_fails(4 * 2 + 2, "kill"))
    state = ck.load_checkpoint(run / ck.LAST)
    assert (state["step"], state["epoch"], state["epoch_step"]) == (4, 1, 1)
    assert not (run / ck.FINAL).exists()
    pretrain(cfg, run, datasets=data, progress=False)

    a, b = _weights(tmp_path / "one_go"), _weights(run)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _metrics(tmp_path / "one_go") == _metrics(run)  # every logged loss and lr, once each
    assert len(json.loads((run / "config.json").read_text())["resumes"]) == 1
    kept = ck.kept_checkpoints(run)  # keep_at 0, 1/4, 1/2 of 6 steps (rounded) and the final weights
    assert list(kept) == [0, 2, 3, 6] and kept[6].name == ck.FINAL
    assert kept.keys() == ck.kept_checkpoints(tmp_path / "one_go").keys()
    w0 = ck.load_checkpoint(kept[0])["model"]
    assert w0.keys() == a.keys() and any(not torch.equal(w0[k], a[k]) for k in a)  # not the trained model
    mid = ck.load_checkpoint(tmp_path / "one_go" / ck.kept_name(3))["model"]
    assert all(torch.equal(mid[k], ck.load_checkpoint(kept[3])["model"][k]) for k in mid)  # resume-exact


def test_resume_with_another_config_is_an_error(tmp_path):
    cfg = _cfg("pretrain.epochs=1")
    data = {"train": _Clips(cfg, 16)}
    pretrain(cfg, tmp_path, datasets=data, progress=False)
    old = cfg.pretrain.base_lr
    with pytest.raises(ConfigError, match=rf"pretrain.base_lr: checkpoint {old} vs now 0.0123"):
        pretrain(
            _cfg("pretrain.epochs=1", "pretrain.base_lr=0.0123"), tmp_path, datasets=data, progress=False
        )
    # settings that do not change the numbers may differ
    pretrain(_cfg("pretrain.epochs=1", "pretrain.log_every=5"), tmp_path, datasets=data, progress=False)


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint(tmp_path):
    cfg = _cfg("pretrain.epochs=2", "pretrain.ckpt_every=2")
    with pytest.raises(NonFiniteLossError, match=r"step 3 .*loss_acc=nan.*checkpoint-last.pt \(step 2\)"):
        pretrain(cfg, tmp_path, datasets={"train": _Clips(cfg, 32)}, progress=False,
                 model_fn=_model_that_fails(4, "nan"))  # fmt: skip
    state = ck.load_checkpoint(tmp_path / ck.LAST)
    assert state["step"] == 2 and not (tmp_path / ck.FINAL).exists()
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_invalid_config_raises_before_any_work(tmp_path):
    cfg = get_config("smoke", ["pretrain.batch_size=0"])
    with pytest.raises(ConfigError, match="pretrain.batch_size"):
        pretrain(cfg, tmp_path / "run", datasets={"train": _Untouchable()})
    assert not (tmp_path / "run").exists()
    cfg = _cfg("pretrain.batch_size=8")
    with pytest.raises(ConfigError, match="no full optimizer step"):
        pretrain(cfg, tmp_path / "run", datasets={"train": _Clips(cfg, 5)}, progress=False)


def test_weight_decay_groups():
    model = build_mae(_cfg(sensors_only=False))
    decay, no_decay = param_groups(model, 0.05)
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    nd = {names[id(p)] for p in no_decay["params"]}
    assert all(model.get_parameter(n).ndim <= 1 or n in model.no_weight_decay() for n in nd)
    assert any(n.endswith("mask_token") for n in nd) and any(n.endswith(".bias") for n in nd)
    assert all(p.ndim >= 2 for p in decay["params"]) and len(decay["params"]) + len(nd) == len(names)


def test_pretraining_curve_scores_every_kept_checkpoint_on_validation_classes(tmp_path):
    from mumae_core.curve import pretraining_curve

    cfg = _cfg("pretrain.epochs=2", "report.curve_episodes=12")
    data = {"train": _Clips(cfg, 24), "val": _Clips(cfg, 12, seed=1), "test": _Untouchable()}
    pretrain(cfg, tmp_path, datasets=data, progress=False)
    curve = pretraining_curve(cfg, tmp_path, data)  # the test split is never read
    assert curve["step"].tolist() == [0, 2, 3, 6] and curve["fraction"].tolist()[-1] == 1.0
    assert curve.loc[0, "diff"] == 0 and (curve["n_episodes"] == 12).all()
    assert curve["accuracy"].between(0, 100).all() and curve["accuracy"].nunique() > 1
