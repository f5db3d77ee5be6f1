# Writes rembg_pil.json: Pillow's LANCZOS resizes and rembg's u2net-session
# pre/post-processing (rembg/sessions/base.py normalize + u2net.py predict) on
# small arrays, as references for lib/predict/preprocess.ts.
# Run with Debian's python3 + python3-pil (9.4) + python3-numpy: python3 rembg_pil.py
import json

import numpy as np
from PIL import Image

rng = np.random.default_rng(7)
img = rng.integers(0, 201, size=(17, 23, 3), dtype=np.uint8)  # max 200, not 255
img[5:11, 8:15] = [190, 40, 30]  # a block, so edges ring
pil = Image.fromarray(img, mode="RGB")
down = np.array(pil.resize((8, 8), Image.LANCZOS))
up = np.array(pil.resize((40, 31), Image.LANCZOS))

# rembg BaseSession.normalize(img, mean, std, (320, 320)), here at 8x8.
mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
im = pil.convert("RGB").resize((8, 8), Image.LANCZOS)
im_ary = np.array(im)
im_ary = im_ary / max(np.max(im_ary), 1e-6)
tmp = np.zeros((im_ary.shape[0], im_ary.shape[1], 3))
for c in range(3):
    tmp[:, :, c] = (im_ary[:, :, c] - mean[c]) / std[c]
net_input = tmp.astype(np.float32)  # HWC

# U2netSession.predict post-processing of output 0, resized back to 23x17.
pred = (rng.random((8, 8)) * 0.5 + 0.2).astype(np.float32)
ma, mi = np.max(pred), np.min(pred)
p = (pred - mi) / (ma - mi)
mask = Image.fromarray((p * 255).astype("uint8"), mode="L").resize((23, 17), Image.LANCZOS)

json.dump(
    {
        "pillow": Image.__version__,
        "image": {"height": 17, "width": 23, "data": img.ravel().tolist()},
        "down": {"height": 8, "width": 8, "data": down.ravel().tolist()},
        "up": {"height": 31, "width": 40, "data": up.ravel().tolist()},
        "net_input": {"height": 8, "width": 8, "data": net_input.ravel().tolist()},
        "pred": {"height": 8, "width": 8, "data": pred.ravel().tolist()},
        "mask": {"height": 17, "width": 23, "data": np.array(mask).ravel().tolist()},
    },
    open("rembg_pil.json", "w"),
)
