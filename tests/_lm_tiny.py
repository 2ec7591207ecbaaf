"""A tiny character language model and its run directory, shared by the tests
of the language model's API, its CLI's refusals and its run files."""
from rnnkit.cli import main
from rnnkit.models import LanguageModel

TEXT = "the cat sat on the mat. the dog sat on the log. " * 40
TINY = ["--level", "char", "--hidden", "16", "--layers", "1", "--embed", "8", "--seq-len", "8", "--batch", "4",
        "--no-progress"]


def tiny(**kw):
    """A LanguageModel small enough to fit in a fraction of a second (``kw`` overrides)."""
    p = dict(level="char", hidden_size=16, num_layers=1, embedding_dim=8, seq_len=8, batch_size=4, lr=1e-2,
             steps=10, eval_every=5, random_state=0)
    p.update(kw)
    return LanguageModel(**p)


def text_file(tmp_path):
    """``TEXT`` written to ``tmp_path/train.txt``."""
    p = tmp_path / "train.txt"
    p.write_text(TEXT, encoding="utf-8")
    return p


def trained_run(tmp_path, data, capsys):
    """A 12-step ``rnnkit lm train`` run on ``data`` with checkpoints every 4 steps; its directory."""
    out = tmp_path / "run"
    assert main(["lm", "train", "--data", str(data), *TINY, "--steps", "12", "--checkpoint-every", "4",
                 "--out", str(out)]) == 0
    capsys.readouterr()
    return out
