"""rnnkit vs PyTorch on the issue's reference language model.

Bytes as tokens, embedding 64, 2-layer LSTM 256, T 64, B 32 stateful streams,
Adam 2e-3, global-norm clip 5, the last 5% of the stdlib corpus held out.
rnnkit trains for ``--minutes``; PyTorch (nn.Embedding + nn.LSTM + nn.Linear,
initial weights copied from rnnkit's, the same batches in the same order) then
trains for the same number of steps, is scored, and goes on training until its
loop has run as long as rnnkit's, and is scored again (the same wall time).
Scores are on the first ``--val-tokens`` held-out bytes (stateful, B streams).
The runs are sequential, so the machine's matmul rate is measured before,
between and after them (a shared machine's speed drifts).  The results, with
both loss curves and a sample, go to ``benchmarks/results/lm_vs_torch.json``
(``--out`` elsewhere, ``--no-out`` nowhere; a ``--steps`` run writes only where
``--out`` says).

    PYTHONPATH=src python benchmarks/lm_vs_torch.py --minutes 10 --run-dir runs/lm-bench
"""
import argparse
import json
import math
import sys
import time

import numpy as np

import _results  # this folder is on sys.path when run as a script
from compare_torch import matmul_gflops
from rnnkit.data.corpus import stdlib_corpus
from rnnkit.models import LanguageModel


def torch_twin(torch, weights, V=256, E=64, H=256, L=2):
    """``nn.Embedding`` + ``nn.LSTM`` + ``nn.Linear``, batch first, with rnnkit's
    ``TokenRNN.state_dict()`` ``weights`` (the names match PyTorch's)."""
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(V, E)
            self.rnn = nn.LSTM(E, H, L, batch_first=True)
            self.head = nn.Linear(H, V)

        def forward(self, x, s=None):
            h, s = self.rnn(self.embed(x), s)
            return self.head(h), s

    net = Net()
    net.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in weights.items()})
    return net


def torch_run(model0_state, train_x, train_y, val_ids, steps, T, lr, clip, threads, wall_limit=None):
    """Train the twin for ``steps`` steps and score it; then, if ``wall_limit``
    (seconds of training loop) is later than that, go on training until it and
    score again.  Returns ``{"same_steps": (val, wall, steps), "same_wall": ...}``
    and the per-step losses."""
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    net = torch_twin(torch, model0_state)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    nw = train_x.shape[1] // T
    X, Y = torch.from_numpy(train_x), torch.from_numpy(train_y)

    def validate():
        # the same streams as LanguageModel._nats
        n = len(val_ids) - 1
        B = max(1, min(32, n // T or 1))
        L = n // B
        vx = torch.from_numpy(val_ids[: B * L].reshape(B, L))
        vy = torch.from_numpy(val_ids[1: B * L + 1].reshape(B, L))
        total, count, s = 0.0, 0, None
        with torch.no_grad():
            for i in range(0, L, 4 * T):
                logits, s = net(vx[:, i:i + 4 * T], s)
                t = vy[:, i:i + 4 * T]
                total += float(nn.functional.cross_entropy(logits.reshape(-1, 256).double(), t.reshape(-1),
                                                            reduction="sum"))
                count += t.numel()
        return total / count

    state, losses, out = None, [], {}
    wall, step = 0.0, 0
    while True:
        if step == steps:
            out["same_steps"] = (validate(), wall, step)
        if step >= steps and (wall_limit is None or wall >= wall_limit):
            break
        t0 = time.time()
        w = step % nw
        if w == 0:
            state = None
        logits, s = net(X[:, w * T:(w + 1) * T], state)
        loss = nn.functional.cross_entropy(logits.reshape(-1, 256), Y[:, w * T:(w + 1) * T].reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), clip)
        opt.step()
        state = tuple(t.detach() for t in s)
        losses.append(loss.item())
        wall += time.time() - t0
        step += 1
    out["same_wall"] = (validate(), wall, step) if step > steps else out["same_steps"]
    return out, losses


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--steps", type=int, default=None,
                    help="fixed step count instead of --minutes (a check: writes JSON only with --out)")
    ap.add_argument("--val-tokens", type=int, default=131072)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    _results.add_out_options(ap, __file__)
    ap.add_argument("--run-dir", default=None, help="keep rnnkit's run (metrics, loss.png) here")
    a = ap.parse_args()

    text, info = stdlib_corpus("byte")
    lm = LanguageModel(level="byte", cell="lstm", hidden_size=256, num_layers=2, embedding_dim=64, seq_len=64,
                       batch_size=32, lr=2e-3, clip=5.0, steps=a.steps or 10 ** 9, validation_fraction=0.05,
                       eval_every=0, val_tokens=a.val_tokens, random_state=a.seed)
    lm._build(text)
    init_state = {k: v.copy() for k, v in lm.net_.state_dict().items()}
    train_ids, val_ids = lm.split(text)
    val_ids = val_ids[: a.val_tokens + 1]
    x, y = lm.streams(train_ids)

    from rnnkit.runs import RunDir
    run = RunDir(a.run_dir) if a.run_dir else None
    rate_before = round(matmul_gflops(repeats=7), 1)
    t0 = time.time()
    lm.fit(text, run=run, minutes=None if a.steps else a.minutes, checkpoint_every=0,
           run_config={"data": info})
    rk_total = time.time() - t0
    rk_wall = lm.train_seconds_        # the training loop only, as torch's wall below (fit also
    steps = lm.step_                   # validates, saves, plots and samples after it)
    rk_val = lm._nats(val_ids)
    sample = lm.sample(300, prime="def ", temperature=0.8, random_state=0)
    print(f"rnnkit: {steps} steps in {rk_wall:.1f}s ({steps / rk_wall:.2f} steps/s), val {rk_val:.4f} nats/byte",
          flush=True)

    rate_between = round(matmul_gflops(repeats=7), 1)
    th, th_losses = torch_run(init_state, x, y, val_ids, steps, 64, 2e-3, 5.0, a.threads,
                              wall_limit=None if a.steps else rk_wall)
    rate_after = round(matmul_gflops(repeats=7), 1)
    th_val, th_wall, _ = th["same_steps"]
    wall_val, wall_wall, wall_steps = th["same_wall"]
    print(f"torch:  {steps} steps in {th_wall:.1f}s ({steps / th_wall:.2f} steps/s), val {th_val:.4f} nats/byte",
          flush=True)
    if not a.steps:
        print(f"torch in rnnkit's wall time: {wall_steps} steps in {wall_wall:.1f}s, val {wall_val:.4f} nats/byte",
              flush=True)
    print(f"float32 matmul GFLOP/s before / between / after: {rate_before} / {rate_between} / {rate_after}")
    res = {"corpus": info, "steps": steps, "val_tokens": int(len(val_ids) - 1),
           "matmul_gflops": {"before": rate_before, "between": rate_between, "after": rate_after},
           "rnnkit": {"wall_s": rk_wall, "fit_wall_s": rk_total, "steps_per_s": steps / rk_wall, "val_nats": rk_val,
                      "val_bits": rk_val / math.log(2), "train_loss_last100": float(np.mean(
                          [h["loss"] for h in lm.history_ if "loss" in h][-100:]))},
           "torch": {"wall_s": th_wall, "steps_per_s": steps / th_wall, "val_nats": th_val,
                     "val_bits": th_val / math.log(2), "train_loss_last100": float(np.mean(th_losses[steps - 100:steps])),
                     "same_wall": {"steps": wall_steps, "wall_s": wall_wall, "val_nats": wall_val}},
           "difference_nats": rk_val - th_val,
           "difference_same_wall_nats": None if a.steps else rk_val - wall_val, "sample_rnnkit": sample,
           "curve_rnnkit": [(h["step"], h["loss"]) for h in lm.history_ if "loss" in h][::25],
           "curve_torch": [(i + 1, l) for i, l in enumerate(th_losses[:steps])][::25],
           "command": " ".join(sys.argv)}
    _results.write(_results.out_path(a, __file__, smoke=a.steps is not None), res)
    print(json.dumps({k: res[k] for k in ("steps", "difference_nats", "difference_same_wall_nats")}))


if __name__ == "__main__":
    main()
