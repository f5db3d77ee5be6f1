"""Float32 error of Winograd F(m x m, 3x3) against float64, beside a direct conv's.

Why CpuTrainer stops at F(2x2): the issue asks for training gradients no
further from float64 than tfjs-cpu's (direct) convs. This simulates, in numpy
float32 with every sum sequential in channel order (as our kernels and
tfjs-cpu sum), one 3x3 conv of random network-like data (ci channels, 12x12,
8 outputs) three ways: direct, and Winograd F(m, 3) with the Toom-Cook
matrices for the given points (plus infinity), exact in fractions then cast.
Prints each one's relative L2 error against the float64 conv.

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


def winograd(x, w, m, mats, dt):
    at, g, bt = (a.astype(dt) for a in mats)
    a = m + 2
    h, wd, co = x.shape[0] - 2, x.shape[1] - 2, w.shape[3]
    u = np.einsum("ik,klcd,jl->ijcd", g, w.astype(dt), g).astype(dt)
    out = np.zeros((h, wd, co), dt)
    for ty in range(0, h, m):
        for tx in range(0, wd, m):
            v = np.einsum("ik,klc,jl->ijc", bt, x[ty:ty + a, tx:tx + a].astype(dt), bt).astype(dt)
            if dt == f32:
                mm = seqsum(np.stack([(v[:, :, c, None] * u[:, :, c, :]).astype(f32)
                                      for c in range(w.shape[2])]))
            else:
                mm = np.einsum("ijc,ijcd->ijd", v, u)
            out[ty:ty + m, tx:tx + m] = np.einsum("ik,klc,jl->ijc", at, mm, at).astype(dt)
    return out


def main():
    rng = np.random.default_rng(1)
    cases = [(2, [0, 1, -1]), (3, [0, 1, -1, 2]), (3, [0, 1, -1, Fr(1, 2)]),
             (4, [0, 1, -1, 2, -2]), (4, [0, 1, -1, Fr(1, 2), -2])]
    for ci in (16, 64, 128):
        h = 12
        x = rng.standard_normal((h + 2, h + 2, ci)).astype(f32)
        w = (rng.standard_normal((3, 3, ci, 8)) / np.sqrt(9 * ci)).astype(f32)
        x64, w64 = x.astype(np.float64), w.astype(np.float64)
        ref = sum(np.einsum("yxc,cd->yxd", x64[ky:ky + h, kx:kx + h], w64[ky, kx])
                  for ky in range(3) for kx in range(3))

        def err(o):
            return np.sqrt(np.mean((o.astype(np.float64) - ref) ** 2) / np.mean(ref ** 2))

        e_direct = err(direct(x, w))
        print(f"ci={ci}: direct {e_direct:.2e}")
        for m, pts in cases:
            mats = toom_cook(m, 3, pts)
            assert np.abs(winograd(x64, w64, m, mats, np.float64) - ref).max() < 1e-9
            e = err(winograd(x, w, m, mats, f32))
            print(f"  F({m}x{m}) points {[str(p) for p in pts]}: {e:.2e} ({e / e_direct:.2f}x direct)")


if __name__ == "__main__":
    main()
