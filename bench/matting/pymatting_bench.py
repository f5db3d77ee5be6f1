# rembg's alpha_matting_cutout (trimap, pymatting's estimate_alpha_cf and
# estimate_foreground_ml) timed on matting_bench.ts's image and mask, and its
# alpha compared with ours. Needs python3-numpy, python3-scipy, python3-numba
# (Debian 12) and pymatting's source on PYTHONPATH.
#     python3 bench/matting/pymatting_bench.py SIZE RUNS OUT
import contextlib, io, json, sys, time
import numpy as np
from pymatting.alpha.estimate_alpha_cf import estimate_alpha_cf
from pymatting.foreground.estimate_foreground_ml import estimate_foreground_ml
from scipy.ndimage import binary_erosion

size, runs, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
img = np.fromfile(f"{out}/image.bin", np.uint8).reshape(size, size, 3)
mask = np.fromfile(f"{out}/mask.bin", np.uint8).reshape(size, size)
structure = np.ones((10, 10), dtype=np.uint8)
fg = binary_erosion(mask > 240, structure=structure)
bg = binary_erosion(mask < 10, structure=structure, border_value=1)
trimap = np.full(mask.shape, 128, np.uint8)
trimap[fg], trimap[bg] = 255, 0
times, its = [], [0]
cb = lambda *a: its.__setitem__(0, its[0] + 1)
for r in range(runs + 1):  # the first run compiles numba's kernels
    its[0] = 0
    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # ichol's shift warnings
        alpha = estimate_alpha_cf(img / 255.0, trimap / 255.0, cg_kwargs={"callback": cb})
    estimate_foreground_ml(img / 255.0, alpha)
    if r:
        times.append((time.perf_counter() - t) * 1000)
ours = np.fromfile(f"{out}/alpha_ours.bin", np.float64).reshape(size, size)
d = np.abs((ours * 255).astype(int) - (alpha * 255).astype(int))
print(json.dumps({
    "workload": f"alpha_matting_{size}x{size}", "impl": "pymatting", "cg_iterations": its[0],
    "median_ms": round(sorted(times)[len(times) // 2], 1), "runs": [round(t, 1) for t in times],
    "alpha_max_abs_diff": float(np.abs(ours - alpha).max()),
    "bytes_differing": int((d > 0).sum()), "bytes_max_diff": int(d.max()),
}))
