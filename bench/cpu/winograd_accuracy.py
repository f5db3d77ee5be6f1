"""Float32 error of Winograd F(m x m, 3x3) against float64, beside a direct conv's.

Why CpuTrainer stops at F(2x2): the issue asks for training gradients no
further from float64 than tfjs-cpu's (direct) convs. This simulates, in numpy
float32 with every sum sequential in channel order (as our kernels and
tfjs-cpu sum), one 3x3 conv of random network-like data (ci channels, 12x12,
8 outputs) several ways: direct, and Winograd F(m1 x m2, 3x3) with the
Toom-Cook matrices for the given points (plus infinity) on each axis, exact in
fractions then cast; square tiles and the non-square ones (F(3x2), F(4x2):
fewer multiplications than F(2x2) where a map has enough rows). Inputs are
standard normal, then ReLU'd (as a network's are). Prints each one's relative
L2 error against the float64 conv.

    python3 bench/cpu/winograd_accuracy.py
"""
from fractions import Fraction as Fr

import numpy as np

f32 = np.float32


def seqsum(terms):
    acc = np.zeros(terms.shape[1:], f32)
    for t in terms:
        acc = (acc + t.astype(f32)).astype(f32)
    return acc


def direct(x, w):
    h, wd = x.shape[0] - 2, x.shape[1] - 2
    out = np.zeros((h, wd, w.shape[3]), f32)
    for ky in range(3):
        for kx in range(3):
            for c in range(w.shape[2]):
                prod = (x[ky:ky + h, kx:kx + wd, c, None] * w[ky, kx, c][None, None, :]).astype(f32)
                out = (out + prod).astype(f32)
    return out


def toom_cook(m, r, pts):
    """A^T, G, B^T of F(m, r) for the finite points `pts` (n - 2 of them) and infinity."""
    n = m + r - 1
    pts = [Fr(p) for p in pts]
    at = [[p ** i for p in pts] + [Fr(int(i == m - 1))] for i in range(m)]
    g = []
    for j, p in enumerate(pts):
        f = Fr(1)
        for k, q in enumerate(pts):
            if k != j:
                f *= p - q
        g.append([p ** k / f for k in range(r)])
    g.append([Fr(int(k == r - 1)) for k in range(r)])

    def coeffs(roots):
        c = [Fr(1)]
        for a in roots:
            c = [Fr(0)] + c
            for i in range(len(c) - 1):
                c[i] -= a * c[i + 1]
        return c + [Fr(0)] * (n - len(c))

    bt = [coeffs([q for k, q in enumerate(pts) if k != j]) for j in range(len(pts))]
    bt.append(coeffs(pts))
    return [np.array([[float(v) for v in row] for row in mat]) for mat in (at, g, bt)]


def winograd(x, w, tile1, tile2, dt):
    """Winograd F(m1 x m2, 3x3): `tile1` = (m1, its matrices) along rows, `tile2` along columns."""
    (m1, mats1), (m2, mats2) = tile1, tile2
    at1, g1, bt1 = (a.astype(dt) for a in mats1)
    at2, g2, bt2 = (a.astype(dt) for a in mats2)
    h, wd, co = x.shape[0] - 2, x.shape[1] - 2, w.shape[3]
    u = np.einsum("ik,klcd,jl->ijcd", g1, w.astype(dt), g2).astype(dt)
    out = np.zeros((h, wd, co), dt)
    for ty in range(0, h, m1):
        for tx in range(0, wd, m2):
            v = np.einsum("ik,klc,jl->ijc", bt1, x[ty:ty + m1 + 2, tx:tx + m2 + 2].astype(dt), bt2)
            v = v.astype(dt)
            if dt == f32:
                mm = seqsum(np.stack([(v[:, :, c, None] * u[:, :, c, :]).astype(f32)
                                      for c in range(w.shape[2])]))
            else:
                mm = np.einsum("ijc,ijcd->ijd", v, u)
            out[ty:ty + m1, tx:tx + m2] = np.einsum("ik,klc,jl->ijc", at1, mm, at2).astype(dt)
    return out


def main():
    rng = np.random.default_rng(1)
    tiles = {f"{m}{tag}": (m, toom_cook(m, 3, pts)) for m, tag, pts in [
        (2, "", [0, 1, -1]), (3, "", [0, 1, -1, 2]), (3, "'", [0, 1, -1, Fr(1, 2)]),
        (4, "", [0, 1, -1, 2, -2]), (4, "'", [0, 1, -1, Fr(1, 2), -2])]}
    cases = [("2", "2"), ("3", "2"), ("3'", "2"), ("4'", "2"), ("4", "2"), ("3", "3"), ("3'", "3'"),
             ("4", "4"), ("4'", "4'")]
    print("points: 2 = 0, 1, -1; 3 = 0, 1, -1, 2; 3' = 0, 1, -1, 1/2; 4 = 0, 1, -1, 2, -2; "
          "4' = 0, 1, -1, 1/2, -2 (each with infinity)")
    for relu in (False, True):
        for ci in (16, 64, 128):
            h = 12
            x = rng.standard_normal((h + 2, h + 2, ci)).astype(f32)
            x = np.maximum(x, 0) if relu else x
            w = (rng.standard_normal((3, 3, ci, 8)) * np.sqrt(2 / (9 * ci))).astype(f32)
            x64, w64 = x.astype(np.float64), w.astype(np.float64)
            ref = sum(np.einsum("yxc,cd->yxd", x64[ky:ky + h, kx:kx + h], w64[ky, kx])
                      for ky in range(3) for kx in range(3))

            def err(o):
                return np.sqrt(np.mean((o.astype(np.float64) - ref) ** 2) / np.mean(ref ** 2))

            e_direct = err(direct(x, w))
            row = []
            for a, b in cases:
                assert np.abs(winograd(x64, w64, tiles[a], tiles[b], np.float64) - ref).max() < 1e-9
                e = err(winograd(x, w, tiles[a], tiles[b], f32))
                row.append(f"F({a}x{b}) {e / e_direct:.2f}x")
            kind = "ReLU'd" if relu else "normal"
            print(f"{kind} ci={ci}: direct {e_direct:.2e}; " + ", ".join(row), flush=True)


if __name__ == "__main__":
    main()
