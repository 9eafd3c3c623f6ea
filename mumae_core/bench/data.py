"""Data benchmark: clips/s read and decoded at a profile's clip size, with and without the in-memory cache.

Reads the SynthAct dataset at `data_home()/synthact-default` when it exists, else generates a smoke-size
one into a temporary folder (the JSON says which). For each stage (pretrain: random windows at
`frame_stride`; oneshot: frames spread over the clip) and modality set, it times `ds[i]` over the same
clips: uncached (decode + CSV parse every time), cached cold (first pass, fills the cache) and cached warm
(later epochs), median of `repeats`. Writes `reports/benchmarks/data.json` and prints a table.

    mumae bench data [--profile default] [--repeats 5] [--out FILE.json]
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import torch

from mumae_core import runtime
from mumae_core.bench.common import format_table, timeit, write_report
from mumae_core.config import get_config
from mumae_core.errors import DataError


def _dataset_root(tmp: str) -> tuple[Path, str, str]:
    root = runtime.data_home() / "synthact-default"
    if root.is_dir():
        return root, "default", f"existing SynthAct at {root}"
    try:
        from mumae_core.data.synthact import generate
    except ImportError as e:
        raise DataError(
            f"no SynthAct dataset at {root} and the generator is not available ({e}); "
            f"run `mumae synth --size default --out {root}` first"
        ) from e
    out = Path(tmp) / "synthact-smoke"
    generate(out=out, size="smoke", seed=0)
    return out, "smoke", f"SynthAct smoke generated into a temporary folder ({root} does not exist)"


def _read_all(ds, n: int) -> None:
    for i in range(n):
        ds[i]


def main(
    out: str | Path | None = None, profile: str = "default", repeats: int = 5, n_clips: int = 48
) -> dict:
    """Run the benchmark; returns the results dict written to JSON."""
    from mumae_core.data.build import build_datasets

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a DataLoader worker: reading is single-threaded
    try:
        return _run(out, profile, repeats, n_clips, build_datasets)
    finally:
        torch.set_num_threads(threads)


def _run(out, profile: str, repeats: int, n_clips: int, build_datasets) -> dict:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        root, size, source = _dataset_root(tmp)
        base = get_config(
            profile, {"data.dataset": "synthact", "data.root": str(root), "data.synth_size": size}
        )
        base.validate()
        d = base.data
        sensors = [m for m in d.modalities if m != "video"]
        sets = {"all": d.modalities}
        if "video" in d.modalities and sensors:
            sets.update({"video": ("video",), "sensors": tuple(sensors)})
        rows = []
        for stage in ("pretrain", "oneshot"):
            for set_name, mods in sets.items():
                cfg = base.with_overrides({"data.modalities": ",".join(mods)})
                for cache in (False, True):
                    ds = build_datasets(cfg, stage=stage, splits=("train",), cache=cache, progress=False)[
                        "train"
                    ]
                    n = min(n_clips, len(ds))
                    row = dict(stage=stage, modalities=set_name, cache=cache, clips=n)
                    if cache:
                        t = time.perf_counter()
                        _read_all(ds, n)
                        row["cold_clips_per_s"] = n / (time.perf_counter() - t)
                        r = timeit(lambda ds=ds, n=n: _read_all(ds, n), repeats=repeats, warmup=0)
                        row["cache_mb_per_clip"] = ds.cache_nbytes() / n / 2**20
                        row["cache_mb_train_split"] = row["cache_mb_per_clip"] * len(ds)
                    else:
                        r = timeit(lambda ds=ds, n=n: _read_all(ds, n), repeats=repeats, warmup=1)
                    row["clips_per_s"] = n / r["median_s"]
                    row["ms_per_clip"] = 1000 * r["median_s"] / n
                    row["train_split_clips"] = len(ds)
                    rows.append(row)
    results = dict(
        profile=profile, source=source, repeats=repeats, torch_threads=1,
        load_average_1min=dict(before=load_before, after=os.getloadavg()[0]),
        clip_size=dict(num_frames=d.num_frames, frame_stride=d.frame_stride, img_size=d.img_size,
                       sensor_len=d.sensor_len),
        rows=rows,
    )  # fmt: skip
    path = write_report("data", results, out)
    cols = [
        "stage",
        "modalities",
        "cache",
        "clips_per_s",
        "ms_per_clip",
        "cold_clips_per_s",
        "cache_mb_train_split",
    ]
    print(f"data benchmark, profile {profile}: {source} (1 torch thread; load {load_before:.1f})")
    print(
        f"clip: {d.num_frames} frames x {d.img_size}^2, stride {d.frame_stride}; sensors L={d.sensor_len}; "
        f"median of {repeats}"
    )
    print(format_table(rows, cols))
    print(f"written to {path}")
    return results


if __name__ == "__main__":
    main()
