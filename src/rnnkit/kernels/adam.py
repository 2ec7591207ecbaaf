"""The float32 Adam update of :class:`rnnkit.optim.Adam` in one compiled pass."""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(error_model="numpy", cache=True, nogil=True)
def adam_update(p, g, m, v, b1, c1, b2, c2, rc2, eps, lr_t):
    """One Adam step in place, one pass over ``p, g, m, v`` (float32, C-contiguous,
    equal shapes) instead of NumPy's dozen; the arithmetic of
    :meth:`rnnkit.optim.Adam._update` operation by operation, to the bit (no
    fast-math, so no fused multiply-adds):

        m = m b1 + g c1;   v = v b2 + (g c2) g;   p -= (m lr_t) / (√v / rc2 + eps)

    with ``c1 = 1 − b1``, ``c2 = 1 − b2``, ``rc2 = √(1 − b2^t)``, ``lr_t = lr / (1 − b1^t)``.
    """
    pf, gf, mf, vf = p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1)
    for k in range(pf.size):
        gk = gf[k]
        mk = mf[k] * b1 + gk * c1
        vk = vf[k] * b2 + (gk * c2) * gk
        mf[k] = mk
        vf[k] = vk
        pf[k] = pf[k] - (mk * lr_t) / (np.sqrt(vk) / rc2 + eps)
