"""What a notebook needs from the kit before its first real cell: its parameters, its folders, its Config.

Every notebook's `parameters` cell (papermill) holds only

    profile = "smoke"    # a named profile of mumae_core.config
    overrides = []       # "section.key=value" strings, exactly as `mumae ... --set`
    out_dir = data_dir = runs_dir = None   # paths; None = the defaults below

and then calls `P = notebook.setup("02_one_shot", globals())` and `cfg = notebook.config(P)`. Sizes, epochs
and episode counts come from the profile (config.py) and nowhere else, so `mumae evaluate --profile P`
with `--set ...` and notebook 02 with the same profile and overrides build the same Config.

Where things live:
  local    data: paths.data_home() (./data or $MUMAE_DATA), runs: ./runs/<profile>,
           report: ./reports/<profile>
  Kaggle   data: a SynthAct copy under /kaggle/input/* if one is attached (read-only), else generated into
           /kaggle/working/data; runs and report under /kaggle/working. The GPU is used when present.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from mumae_core import paths
from mumae_core.config import Config, get_config
from mumae_core.errors import ConfigError

NOTEBOOKS = (
    "00_tour",
    "01_pretrain",
    "02_one_shot",
    "03_reconstructions",
    "04_attention_maps",
    "05_ablations",
    "06_your_data",
)
# Which notebooks need another notebook's outputs (the report skips them when that one failed).
DEPENDS: dict[str, tuple[str, ...]] = {
    "02_one_shot": ("01_pretrain",),
    "03_reconstructions": ("01_pretrain",),
    "04_attention_maps": ("01_pretrain",),
    "05_ablations": ("01_pretrain",),
    "06_your_data": ("01_pretrain",),
}
PARAMETERS = ("profile", "overrides", "out_dir", "data_dir", "runs_dir")


def parameters(
    profile: str, out_dir: str | os.PathLike, data_dir=None, runs_dir=None, overrides=()
) -> dict[str, Any]:
    """The papermill parameters of every notebook for a report of `profile` written to `out_dir`."""
    return dict(
        profile=profile,
        overrides=list(overrides),
        out_dir=str(out_dir),
        data_dir=None if data_dir is None else str(data_dir),
        runs_dir=None if runs_dir is None else str(runs_dir),
    )


def setup(notebook: str, given: dict[str, Any]) -> SimpleNamespace:
    """The notebook's resolved parameters and folders (created): P.profile, P.overrides, P.out_dir,
    P.figures_dir, P.tables_dir, P.metrics_path, P.data_dir, P.runs_dir, P.notebook, P.in_kaggle.

    `given` is usually the notebook's `globals()`: only the PARAMETERS are read.
    """
    if notebook not in NOTEBOOKS:
        raise ConfigError(f"notebook.setup: unknown notebook {notebook!r}; known: {list(NOTEBOOKS)}")
    profile = given.get("profile") or "smoke"
    overrides = given.get("overrides") or []
    if isinstance(overrides, str):
        overrides = [overrides]
    out = Path(given.get("out_dir") or paths.reports_dir(profile))
    P = SimpleNamespace(
        profile=profile,
        overrides=list(overrides),
        out_dir=out,
        figures_dir=out / "figures",
        tables_dir=out / "tables",
        metrics_path=out / "metrics" / f"{notebook}.json",
        data_dir=Path(given["data_dir"]) if given.get("data_dir") else None,
        runs_dir=Path(given.get("runs_dir") or paths.runs_dir(profile)),
        notebook=notebook,
        in_kaggle=paths.in_kaggle(),
    )
    for d in (P.figures_dir, P.tables_dir, P.metrics_path.parent, P.runs_dir):
        d.mkdir(parents=True, exist_ok=True)
    get_config(profile, P.overrides).validate()  # a bad profile or override fails here, naming the key
    print(f"{notebook}: profile {profile!r}, overrides {P.overrides}, in_kaggle={P.in_kaggle}", flush=True)
    return P


def settings(P: SimpleNamespace, *extra: str) -> Config:
    """The Config of `P.profile` with `P.overrides` and `extra`, not pointed at data (nothing generated)."""
    return get_config(P.profile, [*P.overrides, *extra])


def config(P: SimpleNamespace, *extra: str) -> Config:
    """The validated Config of `P.profile` with `P.overrides`, then `extra` overrides, pointed at its data.

    SynthAct is generated (once) when it is not there; `data.dataset=mmact` needs `data.root=<your copy>`
    (on Kaggle an attached `mmact` folder is found under /kaggle/input).
    """
    cfg = settings(P, *extra)
    d = cfg.data
    if d.dataset == "synthact" and not d.root:
        from mumae_core.data.synthact.store import ensure_synthact

        root = ensure_synthact(d.synth_size, P.data_dir)
        if P.data_dir is not None or paths.in_kaggle():  # else data.root=None resolves to the same folder
            cfg = cfg.with_overrides({"data.root": str(root)})
    elif d.dataset == "mmact" and not d.root:
        found = paths.find_kaggle_input("mmact") if paths.in_kaggle() else None
        if found is None:
            raise ConfigError(
                "data.dataset=mmact needs overrides=['data.root=/path/to/mmact'] (video/<class>/<clip>.mp4 "
                "and <sensor>_clip/<class>/<recording>.csv); MMAct is licensed: the kit cannot download it"
            )
        cfg = cfg.with_overrides({"data.root": str(found)})
    return cfg.validate()
