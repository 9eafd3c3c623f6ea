"""Notebook parameters: profiles resolve, and real MMAct needs the user's data_root."""

from types import SimpleNamespace

import pytest

from mumae_core import nbparams
from mumae_core.errors import ConfigError


def _p(**kw):
    base = dict(
        profile="smoke", device="cpu", seed=0, data_dir="/nonexistent", synth_size=None, data_root=None
    )
    return SimpleNamespace(**{**base, **kw})


def test_mmact_without_data_root_is_a_clear_error():
    with pytest.raises(ConfigError, match="data_root"):
        nbparams.make_config(_p(), "mmact")


def test_mmact_with_data_root_points_the_config_there(tmp_path):
    cfg = nbparams.make_config(_p(data_root=str(tmp_path)), "mmact")
    assert cfg.data.dataset == "mmact" and cfg.data.root == str(tmp_path)
    assert cfg.data.split == "03"


@pytest.mark.parametrize("profile", ["smoke", "default", "paper"])
def test_every_notebook_has_parameters_for_every_profile(profile, tmp_path):
    params = nbparams.report_parameters(profile, tmp_path)
    assert set(params) == set(nbparams.NOTEBOOKS)
    assert params["01_pretrain"]["data_root"] is None


def test_oneshot_reuse_requires_the_same_oneshot_settings(tmp_path, monkeypatch):
    import json

    from mumae_core.config import get_config
    from mumae_core.train import oneshot as oneshot_mod

    calls = []
    monkeypatch.setattr(
        oneshot_mod, "train_oneshot", lambda cfg, *a, **k: calls.append(cfg) or {"trained": 1}
    )
    cfg = get_config("smoke")
    (tmp_path / "metrics.json").write_text(json.dumps({"config": cfg.to_dict(), "test": {"accuracy": 50.0}}))
    (tmp_path / "reuse_tag.json").write_text(json.dumps("tag"))

    same = nbparams.oneshot_or_reuse(cfg, None, {}, tmp_path, tag="tag", progress=False)
    assert same["test"]["accuracy"] == 50.0 and not calls
    other = cfg.with_overrides({"oneshot.fusion": "concat"})
    assert nbparams.oneshot_or_reuse(other, None, {}, tmp_path, tag="tag", progress=False) == {"trained": 1}
    assert len(calls) == 1
    nbparams.oneshot_or_reuse(cfg, None, {}, tmp_path, tag="another checkpoint", progress=False)
    assert len(calls) == 2
