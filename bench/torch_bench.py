#!/usr/bin/env python3
"""The reference side of the benchmarks: the same workloads as bench/*.ts in
PyTorch eager fp32 (CUDA when available, else CPU), printing the same JSON lines.

Workloads (names as in forward_bench.ts / train_bench.ts):
  infer_<arch>_b1_<size>       eval forward, BatchNorm folded into the convs
  throughput_<arch>_b8_<size>  the same at batch 8
  gemm_<M>x<N>x<K>             C = At^T B in fp32 (bench/gemm_bench.ts's reference)
  train_<arch>_b<B>_<size>     one step: train-mode forward, seven BCE-with-logits,
                               backward, AdamW (two param groups), LambdaLR step

GPU work is synchronised inside the timed region (torch.cuda.synchronize). Each
record names its `precision`, and one run measures every precision of
--precisions side by side (on CUDA: default,amp,fp32):
  default   PyTorch's defaults: cuDNN may use TF32 for convolutions
            (torch.backends.cudnn.allow_tf32 True), matmuls stay fp32
  tf32      TF32 for convolutions and matmuls
  amp       autocast fp16 + GradScaler (the usual mixed-precision recipe), TF32 as default
  amp-bf16  autocast bf16, no scaler
  fp32      strict fp32, TF32 off (what our fp32 WebGPU kernels compute)
--tf32 is the old spelling of --precisions tf32. The
U2-Net below is written from the behaviour spec (seed_behaviour.md section 1):
seed module layout, conv bias off, BN eps 1e-5, ceil-mode pooling, bilinear
align_corners=False resizes to the skip's size.

  python3 bench/torch_bench.py [--device auto|cuda|cpu] [--models lite,full]
      [--size 320] [--infer-batches 1,8] [--train-size 288] [--train-batches 8,16]
      [--runs 10] [--warmup 3] [--workloads infer,train,gemm] [--inflight 8] [--threads N] [--no-fold]
      [--precisions default,amp,fp32]
"""
import argparse
import json
import math
import os
import platform
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# ----------------------------------------------------------------- the network


class ConvBNReLU(nn.Module):
    def __init__(self, cin, cout, dilation=1, pool=False):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.pool = pool

    def forward(self, x):
        if self.pool:
            x = F.max_pool2d(x, 2, 2, ceil_mode=True)
        return F.relu(self.bn(self.conv(x)))


def upsample_like(x, like):
    if x.shape[2:] == like.shape[2:]:
        return x
    return F.interpolate(x, size=like.shape[2:], mode="bilinear", align_corners=False)


class RSU(nn.Module):
    """RSU-L (pooling encoder, upsampling decoder) or RSU-4F (dilations, no resampling)."""

    def __init__(self, height, cin, mid, cout, dilated=False):
        super().__init__()
        self.dilated = dilated
        self.conv_in = ConvBNReLU(cin, cout)
        if dilated:
            enc = [ConvBNReLU(cout, mid, 1)] + [ConvBNReLU(mid, mid, d) for d in (2, 4, 8)]
            dec = [ConvBNReLU(2 * mid, mid, 4), ConvBNReLU(2 * mid, mid, 2),
                   ConvBNReLU(2 * mid, cout, 1)]
        else:
            enc = [ConvBNReLU(cout, mid)]
            enc += [ConvBNReLU(mid, mid, pool=True) for _ in range(height - 2)]
            enc += [ConvBNReLU(mid, mid, 2)]
            dec = [ConvBNReLU(2 * mid, mid)]
            dec += [ConvBNReLU(2 * mid, mid if i < height - 3 else cout) for i in range(height - 2)]
        self.encode_modules = nn.ModuleList(enc)
        self.decode_modules = nn.ModuleList(dec)

    def forward(self, x):
        x_in = self.conv_in(x)
        feats, h = [], x_in
        for m in self.encode_modules:
            h = m(h)
            feats.append(h)
        h = feats.pop()
        for i, m in enumerate(self.decode_modules):
            skip = feats.pop()
            if i > 0 and not self.dilated:
                h = upsample_like(h, skip)
            h = m(torch.cat([h, skip], 1))
        return h + x_in


# [height, in, mid, out, RSU4F, side]
CFG = {
    "full": {
        "encode": [[7, 3, 32, 64, False, False], [6, 64, 32, 128, False, False],
                   [5, 128, 64, 256, False, False], [4, 256, 128, 512, False, False],
                   [4, 512, 256, 512, True, False], [4, 512, 256, 512, True, True]],
        "decode": [[4, 1024, 256, 512, True, True], [4, 1024, 128, 256, False, True],
                   [5, 512, 64, 128, False, True], [6, 256, 32, 64, False, True],
                   [7, 128, 16, 64, False, True]],
    },
    "lite": {
        "encode": [[7, 3, 16, 64, False, False], [6, 64, 16, 64, False, False],
                   [5, 64, 16, 64, False, False], [4, 64, 16, 64, False, False],
                   [4, 64, 16, 64, True, False], [4, 64, 16, 64, True, True]],
        "decode": [[4, 128, 16, 64, True, True], [4, 128, 16, 64, False, True],
                   [5, 128, 16, 64, False, True], [6, 128, 16, 64, False, True],
                   [7, 128, 16, 64, False, True]],
    },
}


class U2Net(nn.Module):
    def __init__(self, arch):
        super().__init__()
        cfg = CFG[arch]
        rows = cfg["encode"] + cfg["decode"]
        self.encode_modules = nn.ModuleList(RSU(h, i, m, o, f) for h, i, m, o, f, _ in cfg["encode"])
        self.decode_modules = nn.ModuleList(RSU(h, i, m, o, f) for h, i, m, o, f, _ in cfg["decode"])
        self.side_modules = nn.ModuleList(
            nn.Conv2d(r[3], 1, 3, padding=1) for r in rows if r[5])
        self.out_conv = nn.Conv2d(6, 1, 1)

    def forward(self, x):
        hw = x.shape[2:]
        enc = []
        for i, m in enumerate(self.encode_modules):
            x = m(x)
            enc.append(x)
            if i != len(self.encode_modules) - 1:
                x = F.max_pool2d(x, 2, 2, ceil_mode=True)
        x = enc.pop()
        dec = [x]
        for m in self.decode_modules:
            skip = enc.pop()
            x = m(torch.cat([upsample_like(x, skip), skip], 1))
            dec.insert(0, x)
        sides = []
        for m in self.side_modules:
            s = m(dec.pop())
            if s.shape[2:] != hw:
                s = F.interpolate(s, size=hw, mode="bilinear", align_corners=False)
            sides.insert(0, s)
        fused = self.out_conv(torch.cat(sides, 1))
        if self.training:
            return [fused] + sides
        return torch.sigmoid(fused)


def fold_bn(model):
    """Eval-mode BatchNorm folded into the convs (conv gets a bias, BN becomes identity)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval
    for m in model.modules():
        if isinstance(m, ConvBNReLU):
            m.conv = fuse_conv_bn_eval(m.conv, m.bn)
            m.bn = nn.Identity()
    return model


# ------------------------------------------------------------- the seed's training


def params_groups(model, weight_decay=1e-4):
    no_decay, decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim == 1 or name.endswith(".bias") else decay).append(p)
    return [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]


def lr_lambda(num_step, epochs, warmup_epochs=2, warmup_factor=1e-3, end_factor=1e-6):
    def f(x):
        if x <= warmup_epochs * num_step:
            alpha = x / (warmup_epochs * num_step)
            return warmup_factor * (1 - alpha) + alpha
        cur = x - warmup_epochs * num_step
        total = (epochs - warmup_epochs) * num_step
        return ((1 + math.cos(cur * math.pi / total)) / 2) * (1 - end_factor) + end_factor
    return f


def criterion(outputs, target):
    return sum(F.binary_cross_entropy_with_logits(o, target) for o in outputs)


def read_safetensors(path):
    """name -> tensor (F32 / I64 only), enough for the parity fixtures."""
    import numpy as np
    with open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        dt = {"F32": np.float32, "I64": np.int64}[v["dtype"]]
        arr = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=dt).reshape(v["shape"])
        out[k] = torch.from_numpy(arr.copy())
    return out


def parity(testdata):
    """Max |ours - fixture| of the eval output of lite_wz (the network above is the seed's)."""
    model = U2Net("lite").eval()
    model.load_state_dict(read_safetensors(os.path.join(testdata, "lite_wz.safetensors")))
    io = read_safetensors(os.path.join(testdata, "lite_io.safetensors"))
    with torch.no_grad():
        d = (model(io["x"]) - io["eval_wz"]).abs().max().item()
        d_fold = (fold_bn(model)(io["x"]) - io["eval_wz"]).abs().max().item()
    print(json.dumps({"parity": "lite_wz eval vs fixture", "max_abs_diff": d,
                      "max_abs_diff_folded": d_fold}), flush=True)


# ------------------------------------------------------------------ benchmarking


def machine():
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{platform.system().lower()}-{platform.machine()}, {os.cpu_count()} cores, {name}"


def timed(fn, sync, runs, warmup, max_seconds):
    for _ in range(warmup):
        fn()
    sync()
    times, start = [], time.perf_counter()
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1000)
        if time.perf_counter() - start > max_seconds:
            break
    return times


def emit(workload, backend, adapter, times, **extra):
    rec = {"workload": workload, "backend": backend, "adapter": adapter, "machine": machine(),
           "median_ms": round(statistics.median(times), 2), "runs": [round(t, 2) for t in times]}
    rec.update(extra)
    print(json.dumps(rec), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    ap.add_argument("--models", default="lite,full")
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--infer-batches", default="1,8")
    ap.add_argument("--train-size", type=int, default=288)
    ap.add_argument("--train-batches", default="8,16")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--max-seconds", type=float, default=60)
    ap.add_argument("--workloads", default="infer,train,gemm")
    ap.add_argument("--gemm-size", default="2048x2048x4096",
                    help="MxNxK of the gemm workload (bench/gemm_bench.ts's C = At^T B)")
    ap.add_argument("--inflight", type=int, default=8,
                    help="batch-1 inference also as N calls and one wait (pipelined_ rows; 1: off)")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    ap.add_argument("--tf32", action="store_true", help="same as --precisions tf32")
    ap.add_argument("--precisions", default="",
                    help="comma list of default|tf32|amp|amp-bf16|fp32 (default: on CUDA "
                    "default,amp,fp32; on CPU default)")
    ap.add_argument("--no-fold", action="store_true", help="keep BatchNorm in inference")
    ap.add_argument("--parity", metavar="DIR", help="first check the network against DIR's "
                    "lite_wz.safetensors / lite_io.safetensors (tests/testdata)")
    a = ap.parse_args()
    if a.parity:
        parity(a.parity)

    cuda = torch.cuda.is_available() and a.device != "cpu"
    if a.device == "cuda" and not cuda:
        raise SystemExit("Cannot run on cuda: current value is torch.cuda.is_available() False")
    dev = torch.device("cuda" if cuda else "cpu")
    if a.threads:
        torch.set_num_threads(a.threads)
    backend = "torch-cuda" if cuda else "torch-cpu"
    adapter = torch.cuda.get_device_name(0) if cuda else None
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    precisions = [p for p in (a.precisions or ("tf32" if a.tf32 else (
        "default,amp,fp32" if cuda else "default"))).split(",") if p]
    for p in precisions:
        if p not in PRECISIONS:
            raise SystemExit(f"Cannot use precision {p}: current choices are {', '.join(PRECISIONS)}")
    works = a.workloads.split(",")
    for p in precisions:
        set_precision(p)
        extra = {"torch": torch.__version__, "threads": torch.get_num_threads(), "precision": p,
                 "tf32": p in ("default", "tf32", "amp", "amp-bf16")}
        torch.manual_seed(0)
        run_workloads(a, works, dev, cuda, backend, adapter, sync, p, extra)


PRECISIONS = ("default", "tf32", "amp", "amp-bf16", "fp32")


def set_precision(p):
    """PyTorch's flags for precision p (see the module text)."""
    torch.backends.cudnn.allow_tf32 = p != "fp32"
    torch.backends.cuda.matmul.allow_tf32 = p == "tf32"


def autocast(p, dev):
    """The autocast context of precision p (a no-op context for the fp32/TF32 ones)."""
    import contextlib
    if p == "amp":
        return torch.autocast(dev.type, dtype=torch.float16 if dev.type == "cuda" else torch.bfloat16)
    if p == "amp-bf16":
        return torch.autocast(dev.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def run_workloads(a, works, dev, cuda, backend, adapter, sync, p, extra):
    if "gemm" in works:
        m, n, k = (int(v) for v in a.gemm_size.split("x"))
        at = torch.rand(k, m, device=dev)
        b = torch.rand(k, n, device=dev)
        with autocast(p, dev):
            times = timed(lambda: torch.mm(at.t(), b), sync, a.runs, a.warmup, a.max_seconds)
        emit(f"gemm_{a.gemm_size}", backend, adapter, times,
             tflops=round(2 * m * n * k / statistics.median(times) / 1e9, 2), **extra)
        del at, b

    for arch in a.models.split(","):
        if "infer" in works:
            model = U2Net(arch).to(dev).eval()
            if not a.no_fold:
                fold_bn(model)
            for b in [int(v) for v in a.infer_batches.split(",")]:
                x = torch.rand(b, 3, a.size, a.size, device=dev) * 4 - 2
                with torch.no_grad(), autocast(p, dev):
                    times = timed(lambda: model(x), sync, a.runs, a.warmup, a.max_seconds)
                kind = "infer" if b == 1 else "throughput"
                emit(f"{kind}_{arch}_b{b}_{a.size}" + ("_bn" if a.no_fold else ""), backend, adapter,
                     times, ms_per_image=round(statistics.median(times) / b, 2),
                     images_per_s=round(1000 * b / statistics.median(times), 2), **extra)
                if a.inflight > 1 and b == 1:
                    # forward_bench --inflight N: N calls, one wait (CUDA queues them)
                    def calls():
                        for _ in range(a.inflight):
                            model(x)
                    with torch.no_grad(), autocast(p, dev):
                        group = timed(calls, sync, a.runs, a.warmup, a.max_seconds)
                    times = [t / a.inflight for t in group]
                    emit(f"pipelined_{arch}_b{b}_{a.size}" + ("_bn" if a.no_fold else ""), backend,
                         adapter, times, ms_per_image=round(statistics.median(times) / b, 2),
                         images_per_s=round(1000 * b / statistics.median(times), 2),
                         inflight=a.inflight, **extra)
            del model
        if "train" in works:
            for b in [int(v) for v in a.train_batches.split(",")]:
                model = U2Net(arch).to(dev).train()
                opt = torch.optim.AdamW(params_groups(model), lr=1e-3)
                sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(1000, 360))
                # GradScaler for fp16 autocast, as the usual AMP recipe (skips steps on overflow)
                scaler = torch.cuda.amp.GradScaler() if p == "amp" and cuda else None
                s = a.train_size
                x = torch.rand(b, 3, s, s, device=dev) * 4 - 2
                y = (torch.rand(b, 1, s, s, device=dev) > 0.5).float()
                last = {}

                def step():
                    with autocast(p, dev):
                        loss = criterion(model(x), y)
                    opt.zero_grad()
                    if scaler is not None:
                        scaler.scale(loss).backward()
                        scaler.step(opt)
                        scaler.update()
                    else:
                        loss.backward()
                        opt.step()
                    sched.step()
                    last["loss"] = loss

                times = timed(step, sync, a.runs, a.warmup, a.max_seconds)
                mem = torch.cuda.max_memory_allocated() / 2**20 if cuda else None
                emit(f"train_{arch}_b{b}_{s}", backend, adapter, times,
                     loss=round(float(last["loss"]), 4),
                     peak_mib=round(mem, 1) if mem is not None else None, **extra)
                del model, opt, sched, x, y
                if cuda:
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats()

if __name__ == "__main__":
    main()
