"""``rnnkit seq2seq train --attention ... --sampling-schedule ...`` end to end:
the options, the attention map in the run directory and in ``rnnkit report``,
resume, and the one-line refusal of ONNX export."""
import json
import random

import numpy as np
import pytest
from matplotlib.image import imread

from rnnkit.commands._estimator_cli import load
from rnnkit.commands.seq2seq import Seq2SeqTask
from rnnkit.diagnostics.attention_map import DPI, draw_attention, figure_size

from conftest import cli_fails, cli_refused, run_cli


def write_copy_tsv(path, n=200, seed=0):
    """``n`` rows of 1-5 letters of "abcd", each its own target."""
    rnd = random.Random(seed)
    texts = ["".join(rnd.choices("abcd", k=rnd.randint(1, 5))) for _ in range(n)]
    path.write_text("source\ttarget\n" + "".join(f"{s}\t{s}\n" for s in texts), encoding="utf-8")
    return path


def png_size(path):
    """``(width, height)`` of a PNG in pixels."""
    img = imread(path)
    return img.shape[1], img.shape[0]


def not_blank(path):
    """More than a few colours, and pixels far from the background."""
    img = imread(path)[..., :3]
    colours = np.unique((img * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    return len(colours) > 20 and float(np.abs(img - img[0, 0]).max()) > 0.5


@pytest.fixture(scope="module")
def attention_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("s2s")
    data = write_copy_tsv(tmp / "copy.tsv", n=400)
    from rnnkit.cli import main

    code = main([str(a) for a in ("seq2seq", "train", "--data", data, "--out", tmp / "run", "--epochs", 20,
                                  "--hidden", 32, "--embedding-dim", 16, "--attention", "general",
                                  "--sampling-schedule", "linear:c=0.01,min=0.5", "--quiet")])
    assert code == 0
    return tmp, data


def test_train_with_attention_saves_the_settings_and_draws_the_map(attention_run):
    tmp, _ = attention_run
    params = json.loads((tmp / "run" / "config.json").read_text())["model"]["params"]
    assert params["attention"] == "general" and params["sampling_schedule"] == "linear:c=0.01,min=0.5"
    png = tmp / "run" / "attention.png"
    assert png.is_file()
    est, extra = load(Seq2SeqTask(), tmp / "run")
    X, _ = Seq2SeqTask().load_xy(tmp / "copy.tsv", extra, est, need_y=False)
    out, weights = est.predict(X[:1], return_attention=True)      # the first example's map
    assert weights[0].shape == (len(out[0]), len(X[0]))
    w, h = figure_size(len(X[0]), len(out[0]))
    assert png_size(png) == (round(w * DPI), round(h * DPI))
    assert not_blank(png)


def test_attention_model_runs_eval_and_predict(attention_run, capsys):
    tmp, data = attention_run
    code, out, _ = run_cli(["seq2seq", "eval", tmp / "run", "--data", data], capsys)
    assert code == 0 and float(out.split()[1]) > 0.8
    src = tmp / "q.jsonl"
    src.write_text(json.dumps({"source": "dcba"}) + "\n")
    code, out, _ = run_cli(["seq2seq", "predict", tmp / "run", "--data", src, "--beam", 2], capsys)
    assert code == 0 and out.splitlines() == ["dcba"]


def test_report_shows_the_attention_map(attention_run, capsys):
    tmp, _ = attention_run
    code, _, _ = run_cli(["report", tmp / "run"], capsys)
    page = (tmp / "run" / "report.html").read_text(encoding="utf-8")
    assert code == 0 and "<h2>Attention</h2>" in page and "src='data:image/png;base64," in page


def test_resume_refuses_another_attention(attention_run, capsys):
    tmp, _ = attention_run
    line = cli_fails(capsys, "seq2seq", "train", "--out", tmp / "run", "--resume", "--epochs", 9,
                     "--attention", "dot")
    assert "--attention dot differs from the run's general" in line


def test_onnx_export_says_in_one_line_that_attention_models_are_not_exported(attention_run, capsys):
    tmp, _ = attention_run
    line = cli_fails(capsys, "export", "onnx", tmp / "run", tmp / "x.onnx")
    assert "attention models (general attention) are not exported" in line
    assert not (tmp / "x.onnx").exists()


@pytest.mark.parametrize("option,value,says", [
    ("--attention", "luong", "invalid choice: 'luong'"),
    ("--sampling-schedule", "cosine", "unknown sampling schedule 'cosine'"),
    ("--sampling-schedule", "exponential:k=2", "exponential needs 0 < k < 1"),
    ("--merge-mode", "max", "invalid choice: 'max'"),
])
def test_bad_options_are_refused_by_the_parser(tmp_path, capsys, option, value, says):
    line = cli_refused(capsys, "seq2seq", "train", "--data", "x.tsv", "--out", tmp_path / "r", option, value)
    assert says in line


def test_settings_that_do_not_fit_together_are_refused_in_one_line(tmp_path, capsys):
    data = write_copy_tsv(tmp_path / "c.tsv", n=20)
    line = cli_fails(capsys, "seq2seq", "train", "--data", data, "--out", tmp_path / "r", "--input-feeding")
    assert "input_feeding feeds the attention context" in line
    line = cli_fails(capsys, "seq2seq", "train", "--data", data, "--out", tmp_path / "r2", "--attention", "dot",
                     "--bidirectional")
    assert "dot attention needs encoder outputs as wide" in line
    assert not (tmp_path / "r").exists() and not (tmp_path / "r2").exists()


def test_bidirectional_input_feeding_run_draws_its_map(tmp_path, capsys):
    data = write_copy_tsv(tmp_path / "c.tsv", n=30)
    code, _, _ = run_cli(["seq2seq", "train", "--data", data, "--out", tmp_path / "r", "--epochs", 1, "--hidden", 6,
                          "--embedding-dim", 4, "--attention", "additive", "--input-feeding", "--bidirectional",
                          "--merge-mode", "sum", "--quiet"], capsys)
    assert code == 0 and (tmp_path / "r" / "attention.png").is_file()
    params = json.loads((tmp_path / "r" / "config.json").read_text())["model"]["params"]
    assert params["input_feeding"] is True and params["merge_mode"] == "sum" and params["bidirectional"] is True


# -- the picture ---------------------------------------------------------------------------------------------
def test_attention_map_png_has_the_documented_size_and_shows_the_weights(tmp_path):
    w = np.eye(6)[:4] * 0.9 + 0.1 / 6                          # 4 outputs over 6 source tokens
    path = draw_attention(w, list("abc def"[:6]), list("wxyz"), tmp_path / "a.png")
    width, height = figure_size(6, 4)
    assert png_size(path) == (round(width * DPI), round(height * DPI)) == (500, 300)
    assert not_blank(path)
    long_path = draw_attention(np.full((60, 70), 1 / 70), [str(i) for i in range(70)], list(range(60)),
                               tmp_path / "big.png")
    assert png_size(long_path) == (1600, 1200)                  # capped at 16 x 12 inches


def test_an_empty_output_still_draws_a_map_and_shapes_that_differ_are_refused(tmp_path):
    path = draw_attention(np.zeros((0, 3)), list("abc"), [], tmp_path / "e.png")
    assert png_size(path) == (500, 300)
    with pytest.raises(ValueError, match="one row per output token"):
        draw_attention(np.zeros((2, 3)), list("abcd"), list("xy"), tmp_path / "bad.png")
