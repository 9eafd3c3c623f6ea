"""mumae_core.api and `mumae embed` / `mumae classify`, end to end: a 1-epoch smoke model on SynthAct smoke
clips (an MMAct-layout folder) and a sensor-only smoke model on an .npz of sensor arrays."""

from __future__ import annotations

import csv
import shutil
import sys

import numpy as np
import pytest
import torch
from test_pretrain import _Clips

from mumae_core.api import HEADS, OneShotClassifier, embed, load_clips, load_encoder
from mumae_core.cli import HEADS as CLI_HEADS
from mumae_core.cli import main
from mumae_core.config import get_config
from mumae_core.data.mmact import parse_clip_name
from mumae_core.errors import DataError
from mumae_core.train.pretrain import pretrain

CLASSES = ["drinking", "waving_hand", "jumping"]
SENSOR_CLS = ["slow", "medium", "fast"]


# ---------------------------------------------------------------------- fixtures
def _copy_clips(src, dst, keep) -> None:
    """Copy the MMAct-layout clips whose name satisfies keep(name), with their sensor recordings."""
    from mumae_core.data.mmact import recording_name

    for mp4 in sorted((src / "video").glob("*/*.mp4")):
        if not keep(mp4.stem):
            continue
        cls = mp4.parent.name
        (dst / "video" / cls).mkdir(parents=True, exist_ok=True)
        shutil.copy(mp4, dst / "video" / cls / mp4.name)
        for folder in src.glob("*_clip"):
            csv_file = folder / cls / f"{recording_name(mp4.stem)}.csv"
            (dst / folder.name / cls).mkdir(parents=True, exist_ok=True)
            shutil.copy(csv_file, dst / folder.name / cls / csv_file.name)


@pytest.fixture(scope="module")
def video_run(tmp_path_factory):
    """(run dir, support folder: subject1 cam1 of each class, query folder: every other clip)."""
    from mumae_core.data.synthact import generate

    tmp = tmp_path_factory.mktemp("api")
    sa = generate(tmp / "sa", size="smoke", seed=0, workers=1, progress=False, classes=CLASSES)
    _copy_clips(sa, tmp / "support", lambda n: n.startswith("subject1_cam1_"))
    _copy_clips(sa, tmp / "query", lambda n: not n.startswith("subject1_cam1_"))
    cfg = get_config("smoke", ["pretrain.epochs=1", "pretrain.tensorboard=false"]).validate()
    pretrain(cfg, tmp / "run", datasets={"train": _Clips(cfg, 16)}, progress=False)
    return tmp / "run", tmp / "support", tmp / "query"


def _sensor_arrays(cfg, n_per_class: int, seed: int) -> dict[str, np.ndarray]:
    """Three classes of sine waves at 1, 3 and 6 cycles per window (+ noise), {acc, gyro}: (N, L, 3)."""
    g = np.random.default_rng(seed)
    t = np.linspace(0, 1, cfg.data.sensor_len)[None, :, None]
    y = np.repeat(np.arange(3), n_per_class)
    freq = np.array([1.0, 3.0, 6.0])[y][:, None, None]
    phase = g.uniform(0, 6.28, (len(y), 1, 3))
    out = {
        m: (k + 1) * np.sin(6.28 * freq * t + phase) + 0.05 * g.standard_normal((len(y), t.shape[1], 3))
        for k, m in enumerate(("acc", "gyro"))
    }
    ids = np.array([f"rec{seed}_{i:02d}" for i in range(len(y))])
    return dict(out, labels=y, ids=ids, class_names=np.array(SENSOR_CLS))


@pytest.fixture(scope="module")
def sensor_run(tmp_path_factory):
    """(run dir, support .npz: 1 per class, query .npz: 4 per class)."""
    tmp = tmp_path_factory.mktemp("api-npz")
    cfg = get_config(
        "smoke", ["data.dataset=hapt", "data.modalities=acc,gyro", "pretrain.epochs=1"]
    ).validate()
    pretrain(cfg, tmp / "run", datasets={"train": _Clips(cfg, 16)}, progress=False)
    np.savez(tmp / "support.npz", **_sensor_arrays(cfg, 1, seed=0))
    np.savez(tmp / "query.npz", **_sensor_arrays(cfg, 4, seed=1))
    return tmp / "run", tmp / "support.npz", tmp / "query.npz"


# ---------------------------------------------------------------------- the API
def test_load_encoder_and_embed_a_folder(video_run):
    run, support, query = video_run
    mae, cfg = load_encoder(run)
    assert not mae.training and cfg.profile == "smoke"
    clips = load_clips(query, cfg)
    assert len(clips) == 3 * 3 and clips.class_names == sorted(CLASSES)
    assert [parse_clip_name(i)["cls"] for i in clips.ids] == [clips.class_names[y] for y in clips.labels]
    assert not any(i.startswith("subject1_cam1_") for i in clips.ids)  # the support clips are not there
    feats = embed(clips, mae, cfg)
    assert feats.shape == (9, cfg.model.embed_dim) and feats.dtype == np.float32
    assert np.isfinite(feats).all()
    # batching does not change a clip's embedding, and clips differ from each other
    assert np.allclose(embed(query, mae, cfg, batch_size=2), feats, atol=1e-5)
    assert np.abs(feats[0] - feats[1]).max() > 1e-4


def test_one_shot_classifier_on_folders(video_run):
    run, support, query = video_run
    mae, cfg = load_encoder(run)
    clf = OneShotClassifier(mae, cfg)
    assert clf.fit(support) is clf and clf.classes == sorted(CLASSES)
    scores = clf(query)
    assert scores.shape == (9, 3) and torch.isfinite(scores).all()
    pred = clf.predict(query)
    assert pred.shape == (9,) and set(pred) <= set(CLASSES)
    # one shot per class: each support clip is its own prototype, so classifying the support set returns
    # its labels exactly
    sup = load_clips(support, cfg, stats=clf.stats)
    assert list(clf.predict(sup)) == [sup.class_names[y] for y in sup.labels]


def test_process_support_set_with_explicit_labels_and_errors(sensor_run):
    run, support, query = sensor_run
    mae, cfg = load_encoder(run)
    clf = OneShotClassifier(mae, cfg, head="proto_euclid")
    clf.process_support_set(support, labels=[10, 20, 30])
    assert clf.classes == [10, 20, 30] and set(clf.predict(query)) <= {10, 20, 30}
    with pytest.raises(DataError, match="3 support clips"):
        clf.fit(support, labels=[1, 2])
    with pytest.raises(DataError, match=">= 2 classes"):
        clf.fit(support, labels=[1, 1, 1])
    with pytest.raises(DataError, match="call fit"):
        OneShotClassifier(mae, cfg)(query)


def test_npz_of_sensor_arrays(sensor_run, tmp_path):
    run, support, query = sensor_run
    mae, cfg = load_encoder(run)
    clips = load_clips(query, cfg)
    assert clips.ids[:2] == ["rec1_00", "rec1_01"] and clips.class_names == SENSOR_CLS
    feats = embed(query, mae, cfg)
    assert feats.shape == (12, cfg.model.embed_dim)
    clf = OneShotClassifier(mae, cfg).fit(support)
    assert list(clf.predict(support)) == SENSOR_CLS
    # queries need no labels; a wrong window length names the array and what the model wants
    z = dict(np.load(query))
    np.savez(tmp_path / "nolabels.npz", acc=z["acc"], gyro=z["gyro"])
    assert clf.predict(tmp_path / "nolabels.npz").shape == (12,)
    np.savez(tmp_path / "short.npz", acc=z["acc"][:, :16], labels=z["labels"])
    with pytest.raises(DataError, match=r"'acc' has shape \(12, 16, 3\); the model wants \(N, 32, 3\)"):
        load_clips(tmp_path / "short.npz", cfg)
    with pytest.raises(DataError, match="MMAct layout"):
        load_clips(tmp_path, cfg)


# ---------------------------------------------------------------------- the command line
def test_cli_classify_folder_writes_predictions(video_run, tmp_path, capsys):
    run, support, query = video_run
    out = tmp_path / "preds.csv"
    main(
        [
            "classify",
            "--checkpoint",
            str(run),
            "--support",
            str(support),
            "--query",
            str(query),
            "--out",
            str(out),
        ]
    )
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 9 and set(rows[0]) == {"clip", "predicted", "score"}
    mae, cfg = load_encoder(run)
    want = OneShotClassifier(mae, cfg).fit(support).predict(query)
    assert [r["predicted"] for r in rows] == list(want)
    assert all(1 / 3 <= float(r["score"]) <= 1 for r in rows)
    assert rows[0]["clip"] == load_clips(query, cfg).ids[0]
    assert "9 predictions over 3 classes" in capsys.readouterr().out


def test_cli_classify_npz_prints_csv(sensor_run, capsys):
    run, support, query = sensor_run
    main(["classify", "--checkpoint", str(run), "--support", str(support), "--query", str(query)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "clip,predicted,score" and len(lines) == 13
    assert lines[1].startswith("rec1_00,") and lines[1].split(",")[1] in SENSOR_CLS


def test_cli_embed_npy_with_ids(sensor_run, tmp_path):
    run, _, query = sensor_run
    out = tmp_path / "emb" / "feats.npy"
    main(["embed", "--checkpoint", str(run), "--data", str(query), "--out", str(out)])
    mae, cfg = load_encoder(run)
    assert np.allclose(np.load(out), embed(query, mae, cfg), atol=1e-6)
    ids = (tmp_path / "emb" / "feats.ids.txt").read_text().splitlines()
    assert ids == [str(i) for i in np.load(query)["ids"]]


def test_cli_embed_parquet(video_run, tmp_path, monkeypatch, capsys):
    run, support, _ = video_run
    out = tmp_path / "feats.parquet"
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        have_pyarrow = False
    else:
        have_pyarrow = True
        monkeypatch.setitem(sys.modules, "pyarrow", None)
    # without pyarrow: the .npy pair instead, and it says so
    main(["embed", "--checkpoint", str(run), "--data", str(support), "--out", str(out)])
    assert "pyarrow is not installed" in capsys.readouterr().out
    assert np.load(tmp_path / "feats.npy").shape[0] == 3 and not out.exists()
    assert len((tmp_path / "feats.ids.txt").read_text().splitlines()) == 3
    if have_pyarrow:
        import pandas as pd

        monkeypatch.delitem(sys.modules, "pyarrow")
        main(["embed", "--checkpoint", str(run), "--data", str(support), "--out", str(out)])
        df = pd.read_parquet(out)
        assert list(df.columns[:2]) == ["id", "f0"] and len(df) == 3


def test_cli_and_api_offer_the_same_heads():
    assert tuple(HEADS) == CLI_HEADS
