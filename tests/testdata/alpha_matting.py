# Writes alpha_matting.json: rembg's alpha_matting_cutout (rembg/bg.py, as of
# 2026-07) step by step on small images: the trimap (scipy binary_erosion),
# pymatting's estimate_alpha_cf and estimate_foreground_ml, and the RGBA
# cut-out; references for lib/predict/alpha_matting.ts.
# Run with Debian 12's python3 + python3-pil + python3-numpy + python3-scipy +
# python3-numba and pymatting's source (git, 2026-01; rembg needs >= 1.1.14) on
# PYTHONPATH: python3 alpha_matting.py
import base64
import json

import numpy as np
from PIL import Image
from pymatting.alpha.estimate_alpha_cf import estimate_alpha_cf
from pymatting.foreground.estimate_foreground_ml import estimate_foreground_ml
from pymatting.util.util import stack_images
from scipy.ndimage import binary_erosion


def b64(a):
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()


def soft_ellipse(w, h, cx, cy, rx, ry, ramp, rng):
    """A soft-edged ellipse with a little noise, as uint8 (what a net's mask looks like)."""
    y, x = np.mgrid[0:h, 0:w]
    d = np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2)
    p = np.clip((1 - d) * min(rx, ry) / ramp + 0.5, 0, 1)
    p = np.clip(p + rng.normal(0, 0.02, p.shape), 0, 1)
    return (p * 255).astype(np.uint8)


def cutout_case(img_array, mask_array, fg_t, bg_t, erode):
    # rembg.bg.alpha_matting_cutout, step by step.
    is_foreground = mask_array > fg_t
    is_background = mask_array < bg_t
    structure = None
    if erode > 0:
        structure = np.ones((erode, erode), dtype=np.uint8)
    is_foreground = binary_erosion(is_foreground, structure=structure)
    is_background = binary_erosion(is_background, structure=structure, border_value=1)
    trimap = np.full(mask_array.shape, dtype=np.uint8, fill_value=128)
    trimap[is_foreground] = 255
    trimap[is_background] = 0
    img_normalized = img_array / 255.0
    trimap_normalized = trimap / 255.0
    case = {
        "width": int(img_array.shape[1]),
        "height": int(img_array.shape[0]),
        "foreground_threshold": fg_t,
        "background_threshold": bg_t,
        "erode_size": erode,
        "image": b64(img_array),
        "mask": b64(mask_array),
        "trimap": b64(trimap),
    }
    try:
        alpha = estimate_alpha_cf(img_normalized, trimap_normalized)
    except ValueError as e:  # rembg falls back to the plain cut-out
        case["fallback"] = str(e)
        return case
    foreground = estimate_foreground_ml(img_normalized, alpha)
    cutout = stack_images(foreground, alpha)
    cutout = np.clip(cutout * 255, 0, 255).astype(np.uint8)
    case["alpha"] = b64(alpha.astype(np.float32))
    case["foreground"] = b64(foreground.astype(np.float32))
    case["cutout"] = b64(cutout)
    return case


rng = np.random.default_rng(3)
photo = Image.open("images/coffee.png").convert("RGB")
cases = []
img = np.array(photo.resize((64, 48), Image.LANCZOS))
cases.append(cutout_case(img, soft_ellipse(64, 48, 33, 25, 24, 17, 5, rng), 240, 10, 10))
img = np.array(photo.crop((150, 60, 450, 290)).resize((53, 41), Image.LANCZOS))
cases.append(cutout_case(img, soft_ellipse(53, 41, 25, 21, 17, 13, 4, rng), 200, 30, 0))
cases.append(cutout_case(img, soft_ellipse(53, 41, 27, 19, 15, 12, 3, rng), 230, 20, 3))
# No pixel over the foreground threshold: pymatting raises, rembg falls back.
cases.append(cutout_case(img, (soft_ellipse(53, 41, 25, 21, 17, 13, 4, rng) * 0.8).astype(np.uint8), 240, 10, 10))

json.dump({"rembg": "bg.py alpha_matting_cutout", "pymatting": "git 2026-01", "cases": cases},
          open("alpha_matting.json", "w"))
print([("fallback" in c, c["width"], c["height"]) for c in cases])
