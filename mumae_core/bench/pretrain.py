"""Pretraining step benchmark: time, throughput, FLOPs and memory of one optimizer step, against the same
machine's measured matmul rate.

For each profile: one step = forward + backward + AdamW step of `MultimodalMAE` on random inputs of the
profile's shapes and masks, under the profile's autocast (`runtime.autocast_dtype`). Warmup, then the median
over `repeats`. FLOPs are counted by `torch.utils.flop_counter.FlopCounterMode` (matmuls, convolutions and
attention of forward + backward; the optimizer's elementwise work is not counted). The reference rate is
square matmuls (2048^2, fp32 and bf16) measured in the same process, so "achieved / matmul" says how close a
step gets to this machine's dense-matmul speed.

    mumae bench pretrain [--profile default|paper|all|default,paper] [--repeats 5] [--out FILE.json]
                         [--compare-reference] [--real DATA_ROOT]

--compare-reference: the kit's step against `bench/reference.py` (a re-implementation of the reference's
step, a speed baseline only) in the same process, one thread, interleaved A B A B, median of `repeats` after
2 warm-ups each, at the reference configuration (batch 8, 16x112^2, ViT-S 384x12/6, decoders 192x4/3) and at
the default profile's shapes; fp32, and bf16 autocast where the CPU has native bf16 (else the row says why
it was skipped). FLOP counts of the two steps are asserted equal.
--real DATA_ROOT: the whole `pretrain()` loop on the SynthAct data at DATA_ROOT against the same loop on
synthetic in-memory inputs of the same shapes and count (rows `real_vs_synthetic`).
"""

from __future__ import annotations

import os
import resource
import statistics
import time

import torch

from mumae_core import runtime
from mumae_core.bench.common import format_table, timeit, write_report
from mumae_core.config import get_config
from mumae_core.masking import make_masks
from mumae_core.modalities import SENSOR_CHANNELS, is_video
from mumae_core.models.blocks import set_attention
from mumae_core.models.mae import build_mae
from mumae_core.train.pretrain import build_optimizer, make_scaler, maybe_compile

CPU_PAPER_BATCH = 2  # the paper profile's batch of 32 at 16x224^2 is GPU work; on a CPU one step of 2 clips
# the reference's own configuration (method_reference.md §2) at 112^2, batch 8, as overrides of `default`
REFERENCE_SHAPES = [
    "model.size=small", "data.num_frames=16", "data.img_size=112", "data.sensor_len=128",
    "model.sensor_patches=16", "mask.video_ratio=0.9", "mask.sensor_ratio=0.9", "pretrain.batch_size=8",
]  # fmt: skip


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


def _shapes(cfg) -> dict[str, tuple[int, ...]]:
    d = cfg.data
    return {
        m: (3, d.num_frames, d.img_size, d.img_size) if is_video(m) else (d.sensor_len, SENSOR_CHANNELS)
        for m in d.modalities
    }


def _inputs(cfg, batch: int, device: torch.device) -> dict:
    g = torch.Generator().manual_seed(0)
    return {m: torch.randn(batch, *s, generator=g).to(device) for m, s in _shapes(cfg).items()}


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
    net = maybe_compile(model, cfg, device)
    opt = build_optimizer(model, cfg)
    for gr in opt.param_groups:
        gr["lr"] = 1e-4
    scaler = make_scaler(device, dtype)
    x = _inputs(cfg, batch, device)
    masks = make_masks(cfg, batch, torch.Generator().manual_seed(0))  # CPU masks (the model moves them)

    def step():
        opt.zero_grad(set_to_none=True)
        with runtime.autocast(device, dtype):
            out = net(x, masks)
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


# ---------------------------------------------------------------------- kit vs reference
def _step_fn(model, opt, x, masks, device, dtype, loss_of):
    def step():
        opt.zero_grad(set_to_none=True)
        with runtime.autocast(device, dtype):
            loss = loss_of(model(x, masks))
        loss.backward()
        opt.step()

    return step


def _flops(step) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False, custom_mapping=_cpu_sdpa_flops()) as fc:
        step()
    return fc.get_total_flops()


def compare_reference(
    cfg, dtype: torch.dtype | None, repeats: int = 5, device: torch.device | None = None, label: str = ""
) -> dict:
    """Kit step vs `reference.ReferenceMAE` step for `cfg`'s shapes, in this process: FLOPs asserted equal,
    then interleaved A B A B timing (2 warm-ups each, median of `repeats`). Returns one row."""
    from mumae_core.bench.reference import ReferenceMAE, reference_optimizer

    device = device or torch.device("cpu")
    batch = cfg.pretrain.batch_size
    torch.manual_seed(0)
    kit = build_mae(cfg).to(device).train()
    kit_net = maybe_compile(kit, cfg, device)
    kit_opt = build_optimizer(kit, cfg)
    ref = ReferenceMAE(cfg).to(device).train()
    ref_opt = reference_optimizer(ref, 1e-4, cfg.pretrain.weight_decay, cfg.pretrain.betas)
    for gr in kit_opt.param_groups:
        gr["lr"] = 1e-4
    x = _inputs(cfg, batch, device)
    masks = make_masks(cfg, batch, torch.Generator().manual_seed(0))
    ref_masks = {m: k.to(device) for m, k in masks.items()}
    steps = {
        "kit": _step_fn(kit_net, kit_opt, x, masks, device, dtype, lambda out: out.loss),
        "reference": _step_fn(ref, ref_opt, x, ref_masks, device, dtype, lambda loss: loss),
    }
    # FLOPs of the maths: count the kit on its explicit attention path (SDPA's backward recomputes the
    # scores, which FlopCounterMode counts as one more matmul; the model computes the same function)
    set_attention(kit, "explicit")
    eager = {**steps, "kit": _step_fn(kit, kit_opt, x, masks, device, dtype, lambda out: out.loss)}
    flops = {k: _flops(f) for k, f in eager.items()}
    set_attention(kit, cfg.model.attention, cfg.model.attention_explicit_max_tokens)
    if flops["kit"] != flops["reference"]:
        raise AssertionError(
            f"compare_reference: the kit's step counts {flops['kit']} FLOPs and the reference's "
            f"{flops['reference']}; the comparison is only fair at equal FLOPs"
        )
    sync = _sync(device)
    times, cpu = {k: [] for k in steps}, {k: [] for k in steps}
    for _ in range(2):
        for f in steps.values():
            f()
    for _ in range(repeats):  # interleaved: A B A B, so both see the same machine load
        for k, f in steps.items():
            t, c = time.perf_counter(), time.thread_time()
            f()
            if sync:
                sync()
            times[k].append(time.perf_counter() - t)
            cpu[k].append(time.thread_time() - c)
    med = {k: statistics.median(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    return {
        "shapes": label,
        "device": str(device),
        "dtype": str(dtype or torch.float32).replace("torch.", ""),
        "batch": batch,
        "threads": torch.get_num_threads(),
        "load_avg_1m": os.getloadavg()[0],
        "kit_step_s": med["kit"],
        "reference_step_s": med["reference"],
        "kit_over_reference": med["kit"] / med["reference"],
        # CPU time of this (one-threaded) process: robust to other processes sharing the cores
        "kit_cpu_s": med_cpu["kit"],
        "reference_cpu_s": med_cpu["reference"],
        "kit_over_reference_cpu": med_cpu["kit"] / med_cpu["reference"],
        "kit_times_s": times["kit"],
        "reference_times_s": times["reference"],
        "step_gflop": flops["kit"] / 1e9,
        "kit_gflop_per_s": flops["kit"] / med["kit"] / 1e9,
        "reference_gflop_per_s": flops["kit"] / med["reference"] / 1e9,
    }


def compare_rows(repeats: int = 5) -> list[dict]:
    """`compare_reference` at the reference configuration and the default profile's shapes, fp32 and
    bf16 autocast, on one thread (two threads thrash under any other load)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rows = []
    try:
        for label, over in (("reference config", REFERENCE_SHAPES), ("default profile", [])):
            cfg = get_config("default", over).validate()
            for dtype in (None, torch.bfloat16):
                if dtype is not None and not runtime.cpu_has_fast_bf16():
                    why = "this CPU has no native bf16 (AMX / AVX-512 BF16): emulated, meaningless"
                    rows.append({"shapes": label, "dtype": "bfloat16", "skipped": why})
                    continue
                rows.append(compare_reference(cfg, dtype, repeats, label=label))
    finally:
        torch.set_num_threads(threads)
    return rows


# ---------------------------------------------------------------------- real data through the loop
class SyntheticClips(torch.utils.data.Dataset):
    """`n` random clips of `cfg`'s shapes, made once: the loop's input with no decoding at all."""

    def __init__(self, cfg, n: int):
        g = torch.Generator().manual_seed(0)
        self.modalities = tuple(cfg.data.modalities)
        self.items = [{m: torch.randn(*s, generator=g) for m, s in _shapes(cfg).items()} for _ in range(n)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return {**self.items[i], "label": 0, "meta": {}}


def real_vs_synthetic(profile: str, root: str, overrides: list[str] | None = None) -> dict:
    """The whole `pretrain()` loop on the SynthAct data at `root` vs the same loop on `SyntheticClips` of
    the same count: optimizer steps per second of each and their ratio (real / synthetic)."""
    import tempfile

    from mumae_core.data.build import build_datasets
    from mumae_core.train.pretrain import pretrain

    cfg = get_config(profile, [f"data.root={root}", *(overrides or [])]).validate()
    rss0 = _peak_rss_mb()
    data = build_datasets(cfg, stage="pretrain", splits=("train",), progress=False)
    sources = {"real": data, "synthetic": {"train": SyntheticClips(cfg, len(data["train"]))}}
    row = {
        "profile": profile,
        "root": str(root),
        "clips": len(data["train"]),
        "threads": torch.get_num_threads(),
    }
    for name, ds in sources.items():
        with tempfile.TemporaryDirectory() as tmp:
            s = pretrain(cfg, tmp, datasets=ds, progress=False)
        row[f"{name}_steps"] = s["steps"]
        row[f"{name}_wall_s"] = s["wall_time_s"]
        row[f"{name}_steps_per_s"] = s["steps"] / s["wall_time_s"]
    row["real_over_synthetic"] = row["real_steps_per_s"] / row["synthetic_steps_per_s"]
    row["peak_rss_mb"] = _peak_rss_mb()
    row["peak_rss_delta_mb"] = _peak_rss_mb() - rss0
    row["load_avg_1m"] = os.getloadavg()[0]
    return row


def main(
    out=None, profile: str = "default", repeats: int = 5, compare: bool = False, real: str | None = None
) -> dict:
    """Benchmark the given profile(s) ('all' = default and paper); write JSON and print a table."""
    names = ["default", "paper"] if profile == "all" else [p.strip() for p in profile.split(",") if p.strip()]
    device = runtime.resolve_device("auto")
    rates = {"fp32": matmul_rate(device, torch.float32, repeats=repeats)}
    if device.type == "cuda" or runtime.cpu_has_fast_bf16():  # emulated bf16 would take minutes, say nothing
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
        rows.append({"kind": "step", **row})
        del step
    if compare:
        rows += [{"kind": "kit_vs_reference", **r} for r in compare_rows(repeats)]
    if real:
        rows.append({"kind": "real_vs_synthetic", **real_vs_synthetic(names[0], real)})
    result = {
        "repeats": repeats,
        "threads": torch.get_num_threads(),
        "load_avg_1m": os.getloadavg()[0],  # > cpu_count means other processes shared the cores
        "matmul_rate": {k: {**v, "gflop_per_s": v["flops_per_s"] / 1e9} for k, v in rates.items()},
        "rows": rows,
        "profile_top_ops": profiles,
        "notes": [
            "step = forward + backward + AdamW step on random inputs; median of repeats after 2 warmup steps",
            "GFLOP: torch.utils.flop_counter.FlopCounterMode (forward + backward matmul/conv/attention; "
            "CPU flash attention added with the same formula as CUDA SDPA)",
            "vs_*_matmul = achieved FLOP/s / FLOP/s of a 2048^2 matmul measured in the same run",
            "kit_vs_reference rows: one thread, interleaved A B A B, equal FLOPs asserted (reference.py)",
            "real_vs_synthetic rows: the whole pretrain() loop on real data vs in-memory random clips",
        ],
    }
    path = write_report("pretrain", result, out)
    cols = ["profile", "device", "dtype", "batch", "step_s", "clips_per_s", "encoder_tokens_per_s",
            "decoder_tokens_per_s", "step_gflop", "achieved_gflop_per_s", "vs_fp32_matmul",
            "vs_matching_matmul", "peak_memory_mb"]  # fmt: skip
    print(format_table([r for r in rows if r["kind"] == "step"], cols))
    cmp = [r for r in rows if r["kind"] == "kit_vs_reference"]
    if cmp:
        print("\nkit vs reference (one thread, interleaved):")
        print(format_table(cmp, ["shapes", "dtype", "batch", "kit_step_s", "reference_step_s",
                                 "kit_over_reference", "kit_over_reference_cpu", "step_gflop", "load_avg_1m",
                                 "skipped"]))  # fmt: skip
    for r in rows:
        if r["kind"] == "real_vs_synthetic":
            print("\nreal vs synthetic inputs through pretrain():")
            print(format_table([r], ["profile", "clips", "real_steps_per_s", "synthetic_steps_per_s",
                                     "real_over_synthetic", "peak_rss_mb"]))  # fmt: skip
    print(
        "matmul 2048^2: " + ", ".join(f"{k} {v['flops_per_s'] / 1e9:.1f} GFLOP/s" for k, v in rates.items())
    )
    for name, ops in profiles.items():
        print(f"\n{name}: below 40% of the fp32 matmul rate; where one step's time goes (torch.profiler):")
        print(format_table(ops))
    for r in rows:
        if r.get("note"):
            print(f"note ({r['profile']}): {r['note']}")
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main(profile="all")
