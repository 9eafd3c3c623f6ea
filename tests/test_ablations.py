"""The ablation table is data: its rows are consistent, select by modality, and runs are found again by id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mumae_core import ablations, config, runs
from mumae_core.config import ABLATION_GROUPS, get_config
from mumae_core.runs import PRETRAIN_SECTIONS


def test_rows_are_consistent():
    names = [r.name for r in ablations.ROWS]
    assert len(names) == len(set(names)), "row names must be unique"
    for r in ablations.ROWS:
        assert r.reference in names, f"{r.name}: reference {r.reference!r} is not a row"
        assert r.group in ablations.GROUP_TITLES, r.group
        assert r.schedule in ablations.SCHEDULES and r.kind in ("train", "best_single", "missing")
    groups = {r.group for r in ablations.ROWS} - {"reference", "short_reference"}
    assert groups == set(ABLATION_GROUPS), "config.ABLATION_GROUPS and the table must name the same groups"


@pytest.mark.parametrize("row", ablations.ROWS, ids=lambda r: r.name)
def test_overrides_validate_and_sit_in_the_right_stage(row):
    """A `pretrain` override must change the pretraining run and a `oneshot` override must not: a row put in
    the wrong list would silently share (or not share) the headline checkpoint."""
    cfg = get_config("default")
    pre, one = ablations.row_configs(cfg, row)
    for o in row.pretrain:
        assert o.split(".")[0] in PRETRAIN_SECTIONS, f"{row.name}: {o} is not a pretraining setting"
    headline = runs.pretrain_id(cfg)
    if row.pretrain:
        assert runs.pretrain_id(pre) != headline
    elif row.schedule == "headline":
        assert runs.pretrain_id(pre) == headline, f"{row.name}: a one-shot-only row must share the checkpoint"
    if row.oneshot:
        assert runs.settings(one) != runs.settings(pre)


def test_rows_follow_the_modalities():
    names = lambda cfg, g=None: [r.name for r in ablations.select_rows(cfg, g)]  # noqa: E731
    full = names(get_config("paper"))  # every group
    assert full[:2] == [ablations.HEADLINE, ablations.SHORT_REFERENCE]
    assert "sensor masking none" in full and "missing at test" in full
    hapt = names(get_config("paper", ["data.dataset=hapt"]))
    assert "sensor masking none" not in hapt, "HAPT has no video: hiding no sensor token would hide nothing"
    assert "pretraining on ~0.5 s windows, not whole clips" not in hapt  # fixed windows: no span to choose
    groups = {r.group for r in ablations.select_rows(get_config("default"))}
    assert groups - {"reference", "short_reference"} == set(config.REPORT_GROUPS)  # the budget's groups
    only_video = names(get_config("paper", ["data.modalities=video"]))
    assert not {"strided sensor patches", "missing at test", "best single modality"} & set(only_video)
    assert names(get_config("default"), ("fusion",)) == [
        ablations.HEADLINE,
        "concat fusion",
        "mean fusion",
        "best single modality",
    ]  # fmt: skip  (no short-schedule reference when no row needs one)


def test_run_ids_follow_the_settings_that_matter():
    cfg = get_config("default")
    pid = runs.pretrain_id(cfg)
    assert pid == runs.pretrain_id(get_config("default")) and pid.startswith("pretrain-synthact-default-")
    same = [
        "pretrain.device=cpu",
        "data.root=/elsewhere",
        "data.num_workers=2",
        "oneshot.lr=0.5",
        "report.hapt=false",
    ]
    assert runs.pretrain_id(cfg.with_overrides(same)) == pid
    assert runs.pretrain_id(cfg.with_overrides(["model.depth=2"])) != pid
    assert runs.oneshot_id(cfg, None) != runs.oneshot_id(cfg.with_overrides(["oneshot.lr=0.5"]), None)
    assert runs.oneshot_id(cfg, None) == runs.oneshot_id(cfg.with_overrides(["report.hapt=false"]), None)
    rand = runs.RandomInit(cfg)
    assert runs.oneshot_id(cfg, rand) != runs.oneshot_id(cfg, None), "old random-init runs are not reused"
    assert runs.checkpoint_tag(rand).startswith(f"random-init:seed{cfg.pretrain.seed}:")
    assert runs.checkpoint_tag(runs.RandomInit(cfg.with_overrides(["pretrain.seed=7"]))) != rand.tag


@pytest.fixture(scope="module")
def smoke_root(tmp_path_factory):
    from mumae_core.data.synthact import generate

    return generate(
        out=tmp_path_factory.mktemp("abl") / "synthact-smoke", size="smoke", seed=0, progress=False
    )


@pytest.mark.slow
def test_run_ablations_reuses_every_finished_run(smoke_root, tmp_path, monkeypatch):
    cfg = get_config(
        "smoke", [f"data.root={smoke_root}", "data.modalities=acc_watch,gyro", "pretrain.device=cpu"]
    )
    cfg = cfg.validate()
    first = ablations.run_ablations(
        cfg, tmp_path, groups=("pretraining", "fusion", "sensor_mask"), progress=False
    )
    learned = first[first["group"] != ablations.BASELINE_GROUP]  # the baselines follow the reference row
    assert list(learned["row"])[:2] == [ablations.HEADLINE, ablations.SHORT_REFERENCE]
    assert first.loc[first["row"] == ablations.HEADLINE, "diff"].item() == 0.0
    assert first["accuracy"].between(0, 100).all() and (first["ci95"] > 0).all()

    def boom(*a, **k):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr("mumae_core.train.pretrain.pretrain", boom)
    monkeypatch.setattr("mumae_core.train.oneshot.train_oneshot", boom)
    again = ablations.run_ablations(
        cfg, tmp_path, groups=("pretraining", "fusion", "sensor_mask"), progress=False
    )
    assert again.equals(first)


def _smoke_cfg(smoke_root, *extra):
    return get_config(
        "smoke", [f"data.root={smoke_root}", "data.modalities=acc_watch,gyro", "pretrain.device=cpu", *extra]
    ).validate()


def _count_encodes(monkeypatch) -> list[int]:
    """Every encode_representations call (the Runner's and train_oneshot's), as the split's size."""
    from mumae_core import eval as ev

    calls, real = [], ev.encode_representations

    def counting(model, ds, *a, **k):
        calls.append(len(ds))
        return real(model, ds, *a, **k)

    monkeypatch.setattr("mumae_core.eval.encode_representations", counting)
    monkeypatch.setattr("mumae_core.train.oneshot.encode_representations", counting)
    return calls


@pytest.mark.slow
def test_random_init_seeds_share_one_encoder_encoded_once(smoke_root, tmp_path, monkeypatch):
    """Regression (fails on the old code: each seed drew and encoded its own random MAE): the seeds of a
    random-init frozen row start from runs.random_init_mae (the probe baseline's encoder), encoded once."""
    import torch

    cfg = _smoke_cfg(smoke_root)
    calls = _count_encodes(monkeypatch)
    row = next(r for r in ablations.ROWS if r.schedule == "none")
    res = ablations.Runner(cfg, tmp_path, progress=False).train(row, keep_model=True)
    assert cfg.oneshot.seeds >= 2 and len(res["models"]) == cfg.oneshot.seeds
    assert len(calls) == 3, f"train / val / test encoded once for all seeds, got {calls}"
    probe = runs.random_init_mae(cfg).state_dict()
    for m in res["models"]:
        enc = m.encoder.state_dict()
        assert all(torch.equal(enc[k], probe[k]) for k in probe), "a seed's encoder is not the shared draw"
    tags = [(d / runs.REUSE_TAG).read_text() for d in tmp_path.iterdir() if d.name.startswith("oneshot-")]
    assert len(tags) == cfg.oneshot.seeds and all("random-init:seed" in t for t in tags), tags


@pytest.mark.slow
def test_ablation_table_has_the_baselines_after_the_reference(smoke_root, tmp_path, monkeypatch):
    import numpy as np

    from mumae_core import baselines

    cfg = _smoke_cfg(smoke_root)
    probes = []
    real_probe = baselines.encoder_probe
    monkeypatch.setattr(
        "mumae_core.baselines.encoder_probe", lambda *a, **k: probes.append(1) or real_probe(*a, **k)
    )
    first = ablations.run_ablations(cfg, tmp_path, groups=("pretraining",), progress=False)
    rows = list(first["row"])
    base = first[first["group"] == ablations.BASELINE_GROUP]
    names = base["row"].tolist()
    at = rows.index(ablations.HEADLINE) + 1
    assert rows[at : at + len(names)] == names, "the baselines follow the reference row"
    assert {"mean and std: all sensors", baselines.RANDOM_PROBE, baselines.PRETRAINED_PROBE} <= set(names)
    assert (base["reference"] == ablations.HEADLINE).all() and (base["seeds"] == 0).all()
    assert (base["pretraining"] == "none").all() and (base["seed_sd"] == 0).all()
    assert np.isfinite(base[["accuracy", "diff", "diff_ci95", "p", "p_holm"]].to_numpy(float)).all()
    assert (base["diff"] != 0).any() and (first["p_holm"] >= first["p"]).all()
    assert not probes, "the probes must reuse the R^m the one-shot rows encoded"

    def boom(*a, **k):
        raise AssertionError("a second run trained or encoded again")

    for name in (
        "mumae_core.train.pretrain.pretrain", "mumae_core.train.oneshot.train_oneshot",
        "mumae_core.eval.encode_representations", "mumae_core.baselines.encoder_probe",
        "mumae_core.baselines.run_baselines",
    ):  # fmt: skip
        monkeypatch.setattr(name, boom)
    again = ablations.run_ablations(cfg, tmp_path, groups=("pretraining",), progress=False)
    assert again.equals(first)
    off = ablations.run_ablations(
        cfg.with_overrides(["report.ablation_baselines=false"]), tmp_path, groups=("pretraining",),
        progress=False,
    )  # fmt: skip
    assert ablations.BASELINE_GROUP not in set(off["group"]) and list(off["row"]) == [
        r for r in rows if r not in names
    ]


@pytest.mark.slow
def test_headline_and_ablations_share_one_baseline_function(smoke_root, tmp_path, monkeypatch):
    """02 (headline) scores the baselines once; 05 (run_ablations) then reuses those very scores."""
    from mumae_core import headline

    cfg = _smoke_cfg(smoke_root, "report.headline_rows=full,scratch")
    h = headline.headline(cfg, tmp_path, "SynthAct", progress=False)
    in_02 = {r["model"]: r["accuracy"] for r in h.rows if r["kind"] == "baseline"}
    assert "mean and std: all sensors" in in_02 and h.verdict
    # the validation-vs-test table: every baseline on validation- and training-class episodes too
    assert [r["model"] for r in h.splits[1:]] == list(in_02) and len(h.context) == 1
    assert h.splits[0]["validation_classes"] == next(iter(h.results.values()))["val_best"]["accuracy"]
    assert all(
        0 <= r["validation_classes"] <= 100 and 0 <= r["training_classes"] <= 100 for r in h.splits[1:]
    )

    def boom(*a, **k):
        raise AssertionError("05 recomputed what 02 ran")

    for name in (
        "mumae_core.train.oneshot.train_oneshot", "mumae_core.baselines.run_baselines",
        "mumae_core.eval.encode_representations",
    ):  # fmt: skip
        monkeypatch.setattr(name, boom)
    table = ablations.run_ablations(cfg, tmp_path, groups=("pretraining",), progress=False)
    in_05 = table[table["group"] == ablations.BASELINE_GROUP].set_index("row")["accuracy"].to_dict()
    assert in_05 == in_02


def test_the_kept_r_m_of_an_encoder_depends_on_its_readout():
    """R^m read out per modality must not stand in for the tokens readout the probe baseline uses."""
    cfg = get_config("default")
    per_mod = cfg.with_overrides(["model.pooling=per_modality"])
    ck = runs.RandomInit(cfg)
    assert ablations.Runner._rm_key(cfg, ck) != ablations.Runner._rm_key(per_mod, ck)
    assert ablations.Runner._rm_key(cfg, ck) == ablations.Runner._rm_key(cfg.with_overrides({}), ck)


@pytest.mark.slow
def test_missing_at_test_encodes_once_for_all_seeds_and_scores_like_each_seed(
    smoke_root, tmp_path, monkeypatch
):
    """Regression (fails on the old code: every seed re-encoded the test clips without X, seeds x modalities
    encodes): the seeds share one frozen encoder, so the test clips without X are encoded once, and every
    seed scores them as it would on its own. fp32 (oneshot.amp=off): under CPU bf16 a matmul's rounding
    depends on the batch it runs in, and the random encoder's near-tied scores then break differently."""
    from mumae_core.data.episodes import load_episodes
    from mumae_core.eval import evaluate

    cfg = _smoke_cfg(smoke_root, "oneshot.amp=off")
    runner = ablations.Runner(cfg, tmp_path, progress=False)
    row = next(r for r in ablations.ROWS if r.schedule == "none")
    full = runner.train(row, keep_model=True)
    eps, _ = load_episodes(full["test_episodes_file"])
    test = runner.datasets(cfg)["test"]
    calls = _count_encodes(monkeypatch)
    got = runner._missing(full, test, eps, ["gyro"])
    assert calls == [len(test)], f"one encode of the test clips for {cfg.oneshot.seeds} seeds, got {calls}"
    alone = [evaluate(m, test, eps, modalities=["gyro"], progress=False) for m in full["models"]]
    fp = full["test_episodes_fingerprint"]
    per_seed = [{"test": t, "val_best": {"accuracy": 0}, "test_episodes_fingerprint": fp} for t in alone]
    expect = ablations.combine_seeds(per_seed)["test"]
    assert got["episode_accuracy"] == pytest.approx(expect["episode_accuracy"], abs=1e-9)
    assert got["missing_modalities"] == ["acc_watch"]


@pytest.mark.slow
def test_fusions_share_one_encoding_of_the_frozen_encoder(smoke_root, tmp_path, monkeypatch):
    """Regression (fails on the old code: the cache key held the fusion, so each fusion row re-encoded the
    same encoder; later a set encoded for a fusion without R^m was encoded again for cross-attention, and the
    input-statistics readout had a set of its own): one encoding, with R^m and the sensors' input statistics,
    serves every fusion, both statistics readouts and a fusion trained with modality dropout."""
    cfg = _smoke_cfg(smoke_root, "oneshot.seeds=1")
    runner = ablations.Runner(cfg, tmp_path, progress=False)
    calls = _count_encodes(monkeypatch)
    for fusion in ("concat", "mean"):
        runner.train(ablations.Row("fusion", fusion, oneshot=(f"oneshot.fusion={fusion}",), schedule="none"))
    assert len(calls) == 3, f"train / val / test encoded once for both fusions, got {calls}"
    runner.train(ablations.Row("fusion", "cross", schedule="none"))
    for readout in ("token_stats", "input_stats", "modality_dropout"):
        runner.train(ablations.Row(readout, readout, oneshot=(f"oneshot.{readout}=0.3",), schedule="none"))
    assert len(calls) == 3, f"cross-attention and the readouts reuse the set (R^m included), got {calls}"
    losses = {
        name: [h["train_loss"] for h in json.loads((Path(d) / "metrics.json").read_text())["history"]]
        for name in ("modality_dropout", "cross")
        for d in runner.results[name]["run_dirs"]
    }
    assert losses["modality_dropout"] != losses["cross"]  # the dropout row trained its own fusion


def test_rows_that_change_only_the_pretraining_span_share_the_one_shot_datasets(smoke_root, tmp_path):
    cfg = _smoke_cfg(smoke_root)
    runner = ablations.Runner(cfg, tmp_path, progress=False)
    base = runner.datasets(cfg)
    assert runner.datasets(cfg.with_overrides(["data.pretrain_span=window"]).validate()) is base
    assert runner.datasets(cfg.with_overrides(["data.frame_stride=3"]).validate()) is base
    assert runner.datasets(cfg.with_overrides(["data.sensor_len=64"]).validate()) is not base


@pytest.mark.slow
def test_trained_without_runs_when_one_modality_remains_and_reuses_the_single_row(smoke_root, tmp_path):
    """ "trained without X" runs for report.trained_without, and always when one modality remains: then it
    is the single-modality row (same run, same numbers)."""
    cfg = _smoke_cfg(smoke_root, "report.trained_without=video", "oneshot.seeds=1")
    runner = ablations.Runner(cfg, tmp_path, progress=False)
    single = runner.expand(next(r for r in ablations.ROWS if r.kind == "best_single"))
    missing = dict(
        (r.name, t) for r, t in runner.expand(next(r for r in ablations.ROWS if r.kind == "missing"))
    )
    names = ["acc_watch missing at test", "trained without acc_watch"]
    assert list(missing) == [*names, "gyro missing at test", "trained without gyro"]
    assert missing["trained without acc_watch"]["accuracy"] == runner.results["gyro only"]["test"]["accuracy"]
    assert missing["trained without gyro"]["accuracy"] == runner.results["acc_watch only"]["test"]["accuracy"]
    assert (
        single
        and runner.results["trained without gyro"]["run_dirs"] == runner.results["acc_watch only"]["run_dirs"]
    )


def test_class_split_sentence_says_when_validation_and_test_disagree():
    from types import SimpleNamespace

    from mumae_core.headline import _class_splits

    data = {
        "val": SimpleNamespace(class_names=list("abcde")),
        "train": SimpleNamespace(class_names=list("f" * 18)),
    }
    main = {"val_best": {"accuracy": 82.3}, "test": {"accuracy": 79.7}}
    base = [
        {
            "baseline": "stats",
            "val": {"accuracy": 61.6},
            "train": {"accuracy": 75.5},
            "test": {"accuracy": 87.7},
        },
        {
            "baseline": "pixels",
            "val": {"accuracy": 30.0},
            "train": {"accuracy": 31.0},
            "test": {"accuracy": 26.0},
        },
    ]
    rows, (sentence,) = _class_splits("SynthAct", 5, "Mu-MAE", main, base, data)
    assert [r["model"] for r in rows] == ["Mu-MAE", "stats", "pixels"] and rows[0]["training_classes"] is None
    assert (
        "stats, scores 61.6% on the 5-way" in sentence
        and "+20.7 points" in sentence
        and "-8.0 on test" in sentence
    )
    assert "need not carry over" in sentence
    main["test"]["accuracy"] = 90.0
    assert "need not carry over" not in _class_splits("SynthAct", 5, "Mu-MAE", main, base, data)[1][0]


def test_representation_sets_are_kept_by_bytes(tmp_path, monkeypatch):
    """The Runner keeps the least recently used sets out first, while the total is over REPS_BYTES; the
    newest always stays. Sets the size of a default SynthAct set with video: three fit, a fourth evicts the
    oldest; small sets (HAPT's) all stay."""
    runner = ablations.Runner(get_config("smoke"), tmp_path, progress=False)

    def fake(mb: float) -> dict:
        n = int(mb * 2**20) // 4
        split = {"rm": None, "feats": {"acc": torch.zeros(n)}}
        return {"train": split, "val": {"rm": torch.zeros(0), "feats": {}}, "test": {"rm": None, "feats": {}}}

    assert ablations.reps_nbytes(fake(1.0)) == 2**20
    monkeypatch.setattr(ablations.Runner, "REPS_BYTES", 10 * 2**20)
    for key in "abc":
        runner._keep(key, fake(3.0))
    assert list(runner._reps) == ["a", "b", "c"]
    runner._reps.move_to_end("a")  # "a" used again: "b" is now the oldest
    runner._keep("d", fake(3.0))
    assert list(runner._reps) == ["c", "a", "d"]
    runner._keep("huge", fake(40.0))  # over the budget alone: kept, every other set goes
    assert list(runner._reps) == ["huge"]
    for key in range(20):
        runner._keep(str(key), fake(0.25))
    assert len(runner._reps) == 20  # 5 MB of small sets all stay ("huge" went)
