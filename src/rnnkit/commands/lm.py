"""``rnnkit lm train|sample|eval``: character/byte/word language models.

Without ``--data``, ``train`` uses the Python standard library's own source
(found through ``sysconfig``, test folders left out; file count and sha256
recorded in RUN_DIR/config.json)."""
from __future__ import annotations

import json
import os
import sys


def register(sub):
    p = sub.add_parser("lm", help="train, sample and evaluate language models")
    lm = p.add_subparsers(dest="lm_command", metavar="ACTION")
    lm.required = True

    t = lm.add_parser("train", help="train a language model (default corpus: the Python stdlib source)")
    t.add_argument("--data", nargs="+", metavar="FILE", help="text files (default: the stdlib source)")
    t.add_argument("--level", choices=["byte", "char", "word"], default="byte")
    t.add_argument("--unknown", choices=["unk", "error"], default="unk",
                   help="char/word tokens unseen in training: map to <unk>, or refuse the text")
    t.add_argument("--cell", choices=["lstm", "gru", "rnn"], default="lstm")
    t.add_argument("--hidden", type=int, default=256)
    t.add_argument("--layers", type=int, default=2)
    t.add_argument("--embed", type=int, default=64, help="embedding size (0: one-hot)")
    t.add_argument("--seq-len", type=int, default=64, help="TBPTT window T")
    t.add_argument("--batch", type=int, default=32, help="parallel streams B")
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--clip", type=float, default=5.0)
    g = t.add_mutually_exclusive_group()
    g.add_argument("--steps", type=int, default=None)
    g.add_argument("--minutes", type=float, default=None)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--eval-every", type=int, default=200)
    t.add_argument("--val-tokens", type=int, default=65536, help="held-out tokens scored during training")
    t.add_argument("--checkpoint-every", type=int, default=100)
    t.add_argument("--resume", action="store_true", help="continue from RUN_DIR's last checkpoint")
    t.add_argument("--no-progress", action="store_true")
    t.add_argument("--record-gradflow", action="store_true",
                   help="log per-step diagnostics into RUN_DIR/metrics.jsonl: gradient norm before/after "
                        "clipping, clipped or not, ‖∂L/∂h_t‖ per layer and direction, gate saturation, "
                        "forget-gate mean over time, step time (see `rnnkit report RUN_DIR`)")
    t.add_argument("--out", required=True, metavar="RUN_DIR")
    t.set_defaults(func=train)

    s = lm.add_parser("sample", help="generate text from a trained model")
    s.add_argument("run_dir", metavar="RUN_DIR")
    s.add_argument("--length", type=int, default=300)
    s.add_argument("--prime", default="\n")
    s.add_argument("--temperature", type=float, default=0.8)
    s.add_argument("--top-k", type=int, default=None)
    s.add_argument("--seed", type=int, default=None)
    s.set_defaults(func=sample)

    e = lm.add_parser("eval", help="nats and bits per character of a text")
    e.add_argument("run_dir", metavar="RUN_DIR")
    e.add_argument("--data", required=True, nargs="+", metavar="FILE")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=evaluate)


def _load_text(data, level):
    from ..data.corpus import read_texts, stdlib_corpus, text_sha256
    if data:
        text = read_texts(data, level)
        return text, {"source": "files", "files": [os.path.abspath(p) for p in data],
                      "sha256": text_sha256(text)}
    return stdlib_corpus(level)


def train(args):
    from ..models.language_model import LanguageModel
    from ..runs import RunDir

    run = RunDir(args.out)                              # fails early on an unwritable RUN_DIR
    if args.resume:
        if not run.has_checkpoint():
            raise FileNotFoundError(f"{run.file('checkpoint.npz')} does not exist, nothing to resume; "
                                    "train without --resume first")
        cfg = run.read_config()
        data = cfg.get("data", {})
        files = data.get("files") if data.get("source") == "files" else None
        text, info = _load_text(files, cfg["model"]["level"])
        if info["sha256"] != data.get("sha256"):
            raise ValueError(f"the training text differs from the one {args.out} was trained on "
                             f"(sha256 {info['sha256'][:12]} != {str(data.get('sha256'))[:12]}); "
                             "restore it or start a new --out")
        params = {k: v for k, v in cfg["model"].items() if k != "vocab"}
        if args.steps is not None:
            params["steps"] = args.steps
        if args.record_gradflow:
            params["record_gradflow"] = True
        changed = {k: v for k, v in params.items() if cfg["model"].get(k) != v}
        if changed:                                     # config.json says how the run goes on
            run.write_config({**cfg, "model": {**cfg["model"], **changed}})
        model = LanguageModel(**params)
        model.fit(text, run=run, resume=True, minutes=args.minutes, checkpoint_every=args.checkpoint_every,
                  progress=not args.no_progress)
    else:
        if run.has_checkpoint():
            raise FileExistsError(f"{run.file('checkpoint.npz')} already exists; pass --resume to continue "
                                  "that run, or choose a new --out")
        text, info = _load_text(args.data, args.level)
        steps = args.steps if args.steps is not None else (10 ** 9 if args.minutes else 1000)
        model = LanguageModel(level=args.level, cell=args.cell, hidden_size=args.hidden, num_layers=args.layers,
                              embedding_dim=args.embed, seq_len=args.seq_len, batch_size=args.batch, lr=args.lr,
                              clip=args.clip, steps=steps, eval_every=args.eval_every,
                              val_tokens=args.val_tokens, unknown=args.unknown, random_state=args.seed,
                              record_gradflow=args.record_gradflow)
        model.fit(text, run=run, minutes=args.minutes, checkpoint_every=args.checkpoint_every,
                  progress=not args.no_progress, run_config={"data": info})
    last = [m for m in model.history_ if "val_loss" in m]
    msg = f"step {model.step_}"
    if last:
        msg += f": validation {last[-1]['val_loss']:.4f} nats/token, {last[-1]['val_bpc']:.4f} bits/token"
    print(f"{msg}; saved to {args.out}")
    return 0


def sample(args):
    from ..models.language_model import LanguageModel
    model = LanguageModel.load(args.run_dir)
    text = model.sample(args.length, args.prime, args.temperature, args.top_k, args.seed)
    sys.stdout.write(text + "\n")
    return 0


def evaluate(args):
    from ..data.corpus import read_texts
    from ..models.language_model import LanguageModel
    model = LanguageModel.load(args.run_dir)
    text = read_texts(args.data, model.vocab_.level)
    try:
        r = model.evaluate(text)
    except ValueError as exc:
        raise ValueError(f"{', '.join(args.data)}: {exc}") from None
    if args.json:
        print(json.dumps(r))
    else:
        print(f"{r['nats_per_token']:.4f} nats/token  {r['bits_per_token']:.4f} bits/token  "
              f"{r['bits_per_char']:.4f} bits/char  perplexity {r['perplexity']:.3f}  ({r['tokens']} tokens)")
    return 0
