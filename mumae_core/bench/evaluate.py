"""Benchmark: scoring 10,000 five-way one-shot episodes from the feature cache vs the naive path.

    mumae bench evaluate [--profile default] [--out FILE.json] [--repeats 5]

Model: a randomly initialised model of the profile's size and clip size (weights do not change the cost).
Clips: random tensors of the profile's clip size, 10 novel classes x 20 clips (SynthAct's test split is not
needed: the cost depends on the number and size of the clips only). Episodes: 10,000 five-way one-shot
episodes with one query per class (10 clips each), drawn from a seed.

  cache   `eval.CachedFeatures`: encode every test clip once (batched, no grad), then score all episodes from
          the (N, D) cache; reported with and without the encoding.
  naive   `eval.LiveFeatures`: re-encode the 10 clips of every episode (what a transductive, episode-scope
          fusion must do). It is timed on a SAMPLE of episodes and EXTRAPOLATED linearly to 10,000 (the output
          says so).
Both are scored by the one scoring function of the kit, `eval.score_episodes`, as in training and test.
Targets: cache (including encoding) under 10 s on 2 CPU cores; at least 50x faster than naive.
"""

from __future__ import annotations

import os
import time

import torch
from torch.utils.data import Dataset

from mumae_core.bench.common import format_table, timeit, write_report
from mumae_core.config import get_config
from mumae_core.data.episodes import sample_episodes
from mumae_core.eval import CachedFeatures, LiveFeatures, encode_clips, score_episodes
from mumae_core.models.oneshot import build_oneshot_model
from mumae_core.runtime import autocast_dtype, resolve_device

N_EPISODES = 10_000
N_CLASSES, PER_CLASS = 10, 20
NAIVE_SAMPLE = 20
TARGET_CACHE_S, TARGET_SPEEDUP = 10.0, 50.0


class RandomClips(Dataset):
    """Random clips of the config's clip size: {mod: tensor, "label", "meta"}; n_classes x per_class items."""

    def __init__(self, cfg, n_classes: int = N_CLASSES, per_class: int = PER_CLASS, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        d = cfg.data
        n = n_classes * per_class
        self.labels = [i // per_class for i in range(n)]
        self.groups = [str(i) for i in range(n)]
        self.class_names = [f"class_{c}" for c in range(n_classes)]
        self.modalities = tuple(d.modalities)
        shape = {m: (3, d.num_frames, d.img_size, d.img_size) if m == "video" else (d.sensor_len, 3)
                 for m in self.modalities}  # fmt: skip
        self.data = {m: torch.randn(n, *s, generator=g) for m, s in shape.items()}

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {**{m: x[i] for m, x in self.data.items()}, "label": self.labels[i], "meta": {}}


def main(out=None, profile: str = "default", repeats: int = 5) -> dict:
    cfg = get_config(profile).validate()
    device = resolve_device(cfg.oneshot.device)
    dtype = autocast_dtype(device, cfg.oneshot.amp)
    torch.manual_seed(0)
    model = build_oneshot_model(cfg).to(device).eval()
    ds = RandomClips(cfg)
    episodes = sample_episodes(ds.labels, N_EPISODES, way=5, shot=1, query=1, seed=0, groups=ds.groups)
    sync = torch.cuda.synchronize if device.type == "cuda" else None
    print(f"bench evaluate: profile {profile}, {len(ds)} clips, {N_EPISODES} episodes, device {device}, "
          f"{torch.get_num_threads()} threads, autocast {dtype}")  # fmt: skip

    cache: dict[str, torch.Tensor] = {}

    def encode():
        cache["feats"] = encode_clips(
            model, ds, batch_size=32, device=device, amp_dtype=dtype, progress=False
        )

    with torch.no_grad():  # warm up on a few clips, then time full encodings (at most 2: they are slow)
        model.clip_features({m: x[:4].to(device) for m, x in ds.data.items()})
    load_before = os.getloadavg()[0]
    cpu0 = time.process_time()
    t_enc = timeit(encode, repeats=max(1, min(repeats, 2)), warmup=0, sync=sync)
    t_enc["cpu_s_per_run"] = (time.process_time() - cpu0) / t_enc["repeats"]
    cached_src = CachedFeatures(cache["feats"].to(device), model.head)
    t_score = timeit(lambda: score_episodes(cached_src, episodes), repeats, 1, sync)
    cache_total = t_enc["median_s"] + t_score["median_s"]

    sample = episodes[:NAIVE_SAMPLE]
    live_src = LiveFeatures(model, ds, device=device, amp_dtype=dtype)
    score_episodes(live_src, sample[:2])  # warmup
    t0 = time.perf_counter()
    naive = score_episodes(live_src, sample)
    if sync:
        sync()
    naive_sample_s = time.perf_counter() - t0
    naive_total = naive_sample_s * N_EPISODES / len(sample)
    cached = score_episodes(cached_src, sample)
    agree = all(torch.equal(a.argmax(1), b.argmax(1)) for a, b in zip(cached, naive))
    max_diff = max(float((a - b).abs().max()) for a, b in zip(cached, naive))

    results = {
        "profile": profile,
        "device": str(device),
        "autocast": str(dtype),
        "threads": torch.get_num_threads(),
        "model": cfg.model.dims(),
        "modalities": list(cfg.data.modalities),
        "clip": {
            "num_frames": cfg.data.num_frames,
            "img_size": cfg.data.img_size,
            "sensor_len": cfg.data.sensor_len,
        },  # fmt: skip
        "n_clips": len(ds),
        "n_episodes": N_EPISODES,
        "episode": "5-way 1-shot, 1 query per class (10 clips)",
        "cache": {"encode": t_enc, "score": t_score, "total_s": cache_total},
        "naive": {
            "sample_episodes": len(sample),
            "sample_s": naive_sample_s,
            "extrapolated_total_s": naive_total,
            "note": f"timed on {len(sample)} episodes and extrapolated linearly to {N_EPISODES}",
        },
        "load_average_1min": [load_before, os.getloadavg()[0]],
        "load_note": "wall times are inflated when other processes share the CPU (load average above "
        "the core count); cache.encode.cpu_s_per_run / threads estimates the encoding wall time on "
        "idle cores",
        "speedup_with_encoding": naive_total / cache_total,
        "speedup_scoring_only": naive_total / t_score["median_s"],
        "sample_predictions_agree": agree,
        "sample_max_abs_score_diff": max_diff,
        "targets": {
            f"cache_total_under_{TARGET_CACHE_S:g}s": cache_total < TARGET_CACHE_S,
            f"speedup_at_least_{TARGET_SPEEDUP:g}x": naive_total / cache_total >= TARGET_SPEEDUP,
        },
    }
    path = write_report("evaluate", results, out)
    rows = [
        {"path": "cache: encode test clips", "seconds": t_enc["median_s"], "episodes/s": ""},
        {"path": "cache: score episodes", "seconds": t_score["median_s"],
         "episodes/s": N_EPISODES / t_score["median_s"]},
        {"path": "cache: total", "seconds": cache_total, "episodes/s": N_EPISODES / cache_total},
        {"path": f"naive (extrapolated from {len(sample)})", "seconds": naive_total,
         "episodes/s": N_EPISODES / naive_total},
    ]  # fmt: skip
    print(format_table(rows, floatfmt=".4g"))
    print(f"speedup {results['speedup_with_encoding']:.0f}x with encoding, "
          f"{results['speedup_scoring_only']:.0f}x scoring only; predictions agree on the sample: {agree}; "
          f"targets {results['targets']}; written to {path}")  # fmt: skip
    return results


if __name__ == "__main__":
    main()
