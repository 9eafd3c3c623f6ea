"""Pretraining step benchmark: time, throughput, FLOPs and memory of one optimizer step, against the same
machine's measured matmul rate.

For each profile: one step = forward + backward + AdamW step of `MultimodalMAE` on random inputs of the
profile's shapes and masks, under the profile's autocast (`runtime.autocast_dtype`). Warmup, then the median
over `repeats`. FLOPs are counted by `torch.utils.flop_counter.FlopCounterMode` (matmuls, convolutions and
attention of forward + backward; the optimizer's elementwise work is not counted). The reference rate is
square matmuls (2048^2, fp32 and bf16) measured in the same process, so "achieved / matmul" says how close a
step gets to this machine's dense-matmul speed.

    mumae bench pretrain [--profile default|paper|all|default,paper] [--repeats 5] [--out FILE.json]
"""

from __future__ import annotations

import os
import resource
import time

import torch

from mumae_core import runtime
from mumae_core.bench.common import format_table, timeit, write_report
from mumae_core.config import get_config
from mumae_core.masking import make_masks
from mumae_core.models.mae import build_mae
from mumae_core.train.pretrain import build_optimizer, make_scaler

CPU_PAPER_BATCH = 2  # the paper profile's batch of 32 at 16x224^2 is GPU work; on a CPU one step of 2 clips


def _sync(device: torch.device):
    return torch.cuda.synchronize if device.type == "cuda" else None


def matmul_rate(device: torch.device, dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> dict:
    """FLOP/s of an (n x n) @ (n x n) matmul in `dtype` on `device`: 2 n^3 / median time."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(device=device, dtype=dtype)
    b = torch.randn(n, n, generator=g).to(device=device, dtype=dtype)
    t = timeit(lambda: a @ b, repeats=repeats, warmup=2, sync=_sync(device))
    return {
        "dtype": str(dtype).replace("torch.", ""),
        "n": n,
        "median_s": t["median_s"],
        "flops_per_s": 2 * n**3 / t["median_s"],
    }


def _inputs(cfg, batch: int, device: torch.device) -> dict:
    d, g = cfg.data, torch.Generator().manual_seed(0)
    shape = {
        m: (3, d.num_frames, d.img_size, d.img_size) if m == "video" else (d.sensor_len, 3)
        for m in d.modalities
    }
    return {m: torch.randn(batch, *s, generator=g).to(device) for m, s in shape.items()}


def _cpu_sdpa_flops() -> dict:
    """FlopCounterMode formulas for the CPU flash-attention kernels, which it does not count itself
    (torch 2.13: SDPA on CPU would count as 0 FLOPs); the same formulas as its CUDA SDPA entries."""
    from torch.utils.flop_counter import sdpa_backward_flop_count, sdpa_flop_count

    aten = torch.ops.aten
    out = {}
    if hasattr(aten, "_scaled_dot_product_flash_attention_for_cpu"):
        out[aten._scaled_dot_product_flash_attention_for_cpu] = lambda q, k, v, *a, out_shape=None, **kw: (
            sdpa_flop_count(q, k, v)
        )
        out[aten._scaled_dot_product_flash_attention_for_cpu_backward] = (
            lambda go, q, k, v, *a, out_shape=None, **kw: sdpa_backward_flop_count(go, q, k, v)
        )
    return out


def _peak_rss_mb() -> float:
    """This process's peak resident set size so far (ru_maxrss; Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_profile(
    profile: str,
    repeats: int = 5,
    device: torch.device | None = None,
    batch: int | None = None,
    amp: str | None = None,
) -> dict:
    """Time one pretraining step of `profile` (see the module docstring); returns one result row."""
    from torch.utils.flop_counter import FlopCounterMode

    cfg = get_config(profile, [f"pretrain.amp={amp}"] if amp else None).validate()
    device = device or runtime.resolve_device(cfg.pretrain.device)
    dtype = runtime.autocast_dtype(device, cfg.pretrain.amp)
    note = ""
    if batch is None:
        batch = cfg.pretrain.batch_size
        if profile == "paper" and device.type == "cpu":
            batch = CPU_PAPER_BATCH
            note = f"CPU: batch {batch} instead of the profile's {cfg.pretrain.batch_size}"
    rss0 = _peak_rss_mb()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    torch.manual_seed(0)
    model = build_mae(cfg).to(device).train()
    opt = build_optimizer(model, cfg)
    for gr in opt.param_groups:
        gr["lr"] = 1e-4
    scaler = make_scaler(device, dtype)
    x = _inputs(cfg, batch, device)
    masks = make_masks(cfg, batch, torch.Generator().manual_seed(0))  # CPU masks (the model moves them)

    def step():
        opt.zero_grad(set_to_none=True)
        with runtime.autocast(device, dtype):
            out = model(x, masks)
        scaler.scale(out.loss).backward()
        scaler.step(opt)
        scaler.update()
        return out.loss

    with FlopCounterMode(display=False, custom_mapping=_cpu_sdpa_flops()) as fc:
        step()
    flops = fc.get_total_flops()
    by_op = {str(k): v for k, v in fc.get_flop_counts().get("Global", {}).items()}
    t = timeit(step, repeats=repeats, warmup=2, sync=_sync(device))
    sec = t["median_s"]
    counts = model.token_counts()
    visible = sum(int((~masks[m][0]).sum()) for m in counts)
    decoded = sum(counts[m] for m in model.decoded)
    row = {
        "profile": profile + (f" amp={amp}" if amp else ""),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else runtime.environment_info()["processor"],
        "threads": torch.get_num_threads(),
        "dtype": str(dtype or torch.float32).replace("torch.", ""),
        "batch": batch,
        "params_M": round(sum(p.numel() for p in model.parameters()) / 1e6, 3),
        "step_s": sec,
        "step_s_min": t["min_s"],
        "clips_per_s": batch / sec,
        "encoder_tokens_per_clip": visible,
        "decoder_tokens_per_clip": decoded,
        "encoder_tokens_per_s": batch * visible / sec,
        "decoder_tokens_per_s": batch * decoded / sec,
        "step_gflop": flops / 1e9,
        "achieved_gflop_per_s": flops / sec / 1e9,
        "gflop_by_op": {k: round(v / 1e9, 3) for k, v in sorted(by_op.items(), key=lambda kv: -kv[1])},
    }
    if device.type == "cuda":
        row["peak_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        row["memory_note"] = "torch.cuda.max_memory_allocated"
    else:
        row["peak_memory_mb"] = _peak_rss_mb()
        row["peak_rss_delta_mb"] = _peak_rss_mb() - rss0
        row["memory_note"] = "process peak RSS (ru_maxrss) and its growth during this profile's benchmark"
    if note:
        row["note"] = note
    row["_step"] = step
    return row


def top_ops(step, n: int = 10) -> list[dict]:
    """torch.profiler over one step: the ops with the most self time (where the step's time goes)."""
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    step()
    with profile(activities=acts) as prof:
        step()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events) or 1
    return [
        {
            "op": e.key,
            "self_ms": round(e.self_cpu_time_total / 1e3, 2),
            "share": round(e.self_cpu_time_total / total, 3),
            "calls": e.count,
        }
        for e in events[:n]
    ]


def main(out=None, profile: str = "default", repeats: int = 5) -> dict:
    """Benchmark the given profile(s) ('all' = default and paper); write JSON and print a table."""
    names = ["default", "paper"] if profile == "all" else [p.strip() for p in profile.split(",") if p.strip()]
    device = runtime.resolve_device("auto")
    rates = {"fp32": matmul_rate(device, torch.float32, repeats=repeats)}
    rates["bf16"] = matmul_rate(device, torch.bfloat16, repeats=repeats)
    if device.type == "cuda":
        rates["fp16"] = matmul_rate(device, torch.float16, repeats=repeats)
    runs = [(name, None) for name in names]
    if device.type == "cpu" and runtime.autocast_dtype(device, "auto") is not None and "default" in names:
        # autocast picks bf16 here; also measure fp32, so each precision is set against its own matmul rate
        runs.append(("default", "off"))
    rows, profiles = [], {}
    for name, amp in runs:
        t0 = time.perf_counter()
        row = bench_profile(name, repeats=repeats, device=device, amp=amp)
        step = row.pop("_step")
        achieved = row["achieved_gflop_per_s"] * 1e9
        row["vs_fp32_matmul"] = achieved / rates["fp32"]["flops_per_s"]
        key = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}[row["dtype"]]
        row["vs_matching_matmul"] = achieved / rates[key]["flops_per_s"]
        if device.type == "cpu" and name == "default" and not amp and row["vs_fp32_matmul"] < 0.40:
            profiles[name] = top_ops(step)
        row["bench_s"] = time.perf_counter() - t0
        rows.append(row)
        del step
    result = {
        "repeats": repeats,
        "load_avg_1m": os.getloadavg()[0],  # > cpu_count means other processes shared the cores
        "matmul_rate": {k: {**v, "gflop_per_s": v["flops_per_s"] / 1e9} for k, v in rates.items()},
        "rows": rows,
        "profile_top_ops": profiles,
        "notes": [
            "step = forward + backward + AdamW step on random inputs; median of repeats after 2 warmup steps",
            "GFLOP: torch.utils.flop_counter.FlopCounterMode (forward + backward matmul/conv/attention; "
            "CPU flash attention added with the same formula as CUDA SDPA)",
            "vs_*_matmul = achieved FLOP/s / FLOP/s of a 2048^2 matmul measured in the same run",
        ],
    }
    path = write_report("pretrain", result, out)
    cols = ["profile", "device", "dtype", "batch", "step_s", "clips_per_s", "encoder_tokens_per_s",
            "decoder_tokens_per_s", "step_gflop", "achieved_gflop_per_s", "vs_fp32_matmul",
            "vs_matching_matmul", "peak_memory_mb"]  # fmt: skip
    print(format_table(rows, cols))
    print(
        "matmul 2048^2: " + ", ".join(f"{k} {v['flops_per_s'] / 1e9:.1f} GFLOP/s" for k, v in rates.items())
    )
    for name, ops in profiles.items():
        print(f"\n{name}: below 40% of the fp32 matmul rate; where one step's time goes (torch.profiler):")
        print(format_table(ops))
    for r in rows:
        if "note" in r:
            print(f"note ({r['profile']}): {r['note']}")
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main(profile="all")
