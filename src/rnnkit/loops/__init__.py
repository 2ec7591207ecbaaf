"""The time loops, one per file; :func:`rnnkit.engine.choose_loop` picks one.

* :mod:`.reference`: any cell, step by step through its readable equations;
* :mod:`.rows`: batch-major, compiled float32 step kernels;
* :mod:`.columns`: column layout, the whole sequence compiled;
* :mod:`.frame`: what they share (the cache, buffers, packing by length).

The compiled loops import numba through :mod:`rnnkit.kernels`; the engine
imports them only when it runs them, so ``import rnnkit`` stays light.
"""
