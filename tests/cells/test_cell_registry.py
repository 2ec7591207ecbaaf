"""One registry of cells (rnnkit.registry): a cell registered in one line is usable from every
task model, saved by its name, and offered by every command's --cell option."""
import numpy as np
import pytest

import rnnkit
import rnnkit.io
from rnnkit import LSTM, registry
from rnnkit.cli import build_parser
from rnnkit.registry import Cell, build_layer, check_cell, state_count


@pytest.fixture
def new_cell(monkeypatch):
    """A cell registered the way the registry asks: one line (here an LSTM whose forget gate starts at 2)."""
    monkeypatch.setitem(registry.CELLS, "lstm_fb2", Cell(LSTM, {"forget_bias": 2.0}))
    return "lstm_fb2"


def test_a_name_builds_its_layer_with_the_options_it_fixes():
    assert build_layer("rnn_relu", 3, 4).nonlinearity == "relu"
    assert build_layer("lstm_fb0", 3, 4, num_layers=2, batch_first=True).forget_bias == 0.0
    assert [state_count(c) for c in ("lstm", "gru", "rnn", "lstm_fb0")] == [2, 1, 1, 2]


def test_an_unknown_cell_is_refused_with_the_registered_names():
    with pytest.raises(ValueError, match="unknown cell 'lstmx'; use one of lstm, gru, rnn, sgru"):
        check_cell("lstmx")


def test_a_registered_cell_is_offered_by_every_cell_option(new_cell):
    parse = build_parser().parse_args
    assert parse(["lm", "train", "--out", "r", "--cell", new_cell]).cell == new_cell
    for task in ("classify", "tag", "seq2seq"):
        assert parse([task, "train", "--out", "r", "--cell", new_cell]).cell == new_cell
    assert parse(["forecast", "train", "y.csv", "--out", "r", "--cell", new_cell]).cell == new_cell
    assert parse(["gradflow", "--cells", new_cell, "lstm"]).cells == [new_cell, "lstm"]


def test_a_registered_cell_trains_in_every_task_model_and_is_saved_by_name(new_cell, tmp_path, rng):
    from rnnkit.forecast import Forecaster
    from rnnkit.models import LanguageModel, OneToMany, SequenceClassifier, TokenRNN

    net = TokenRNN(5, 4, cell=new_cell, seed=0)
    rnnkit.io.save(net, tmp_path / "net.rnnkit")
    back = rnnkit.io.load(tmp_path / "net.rnnkit")
    assert back.cell == new_cell and back.rnn.forget_bias == 2.0

    lm = LanguageModel(level="char", cell=new_cell, hidden_size=4, num_layers=1, embedding_dim=3, seq_len=4,
                       batch_size=2, steps=2, random_state=0).fit("hello world, " * 10)
    assert lm.net_.rnn.forget_bias == 2.0 and lm.get_config()["cell"] == new_cell

    X = [rng.normal(size=(n, 2)) for n in (3, 5, 4, 6)]
    clf = SequenceClassifier(cell=new_cell, hidden_size=3, epochs=1, random_state=0).fit(X, [0, 1, 0, 1])
    clf.save(tmp_path / "clf.rnnkit")
    assert SequenceClassifier.load(tmp_path / "clf.rnnkit").net_.encoder.rnn.forget_bias == 2.0

    o2m = OneToMany(cell=new_cell, hidden_size=3, embedding_dim=2, epochs=1, random_state=0)
    o2m.fit(rng.normal(size=(4, 2)), [[1, 2], [0], [2, 2, 1], [1]])
    assert o2m.predict(rng.normal(size=(2, 2)), max_length=3)

    f = Forecaster(lookback=4, horizon=2, cell=new_cell, hidden_size=3, epochs=1, interval="insample")
    f.fit(np.sin(np.arange(40) / 3.0)).save(tmp_path / "f.rnnkit")
    assert Forecaster.load(tmp_path / "f.rnnkit").rnn_.forget_bias == 2.0


@pytest.mark.parametrize("name, layer", [("lnlstm", rnnkit.LayerNormLSTM), ("lngru", rnnkit.LayerNormGRU)])
def test_the_layer_normalised_cells_train_in_every_task_model_and_save_by_name(name, layer, tmp_path, rng):
    from rnnkit.forecast import Forecaster
    from rnnkit.models import LanguageModel, OneToMany, SequenceClassifier, SequenceTagger, TokenRNN

    net = TokenRNN(5, 4, cell=name, seed=0)
    rnnkit.io.save(net, tmp_path / "net.rnnkit")
    back = rnnkit.io.load(tmp_path / "net.rnnkit")
    assert back.cell == name and type(back.rnn) is layer
    for k, v in net.rnn.params.items():
        np.testing.assert_array_equal(back.rnn.params[k], v)

    lm = LanguageModel(level="char", cell=name, hidden_size=4, num_layers=2, embedding_dim=3, seq_len=4,
                       batch_size=2, steps=3, random_state=0).fit("hello world, " * 10)
    assert type(lm.net_.rnn) is layer and np.isfinite(lm.history_[-1]["loss"])

    X = [rng.normal(size=(n, 2)) for n in (3, 5, 4, 6)]
    clf = SequenceClassifier(cell=name, hidden_size=3, epochs=2, random_state=0).fit(X, [0, 1, 0, 1])
    clf.save(tmp_path / "clf.rnnkit")
    again = SequenceClassifier.load(tmp_path / "clf.rnnkit")
    assert type(again.net_.encoder.rnn) is layer
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))

    tagger = SequenceTagger(cell=name, hidden_size=3, epochs=1, random_state=0)
    tagger.fit(X, [rng.integers(0, 2, len(x)) for x in X])
    assert [len(t) for t in tagger.predict(X)] == [3, 5, 4, 6]

    o2m = OneToMany(cell=name, hidden_size=3, embedding_dim=2, epochs=1, random_state=0)
    o2m.fit(rng.normal(size=(4, 2)), [[1, 2], [0], [2, 2, 1], [1]])
    assert o2m.predict(rng.normal(size=(2, 2)), max_length=3)

    f = Forecaster(lookback=4, horizon=2, cell=name, hidden_size=3, epochs=1, interval="insample")
    f.fit(np.sin(np.arange(40) / 3.0)).save(tmp_path / "f.rnnkit")
    assert type(Forecaster.load(tmp_path / "f.rnnkit").rnn_) is layer


def test_the_layer_normalised_cells_run_from_the_command_line(tmp_path, capsys):
    from conftest import run_cli

    data = tmp_path / "d.csv"
    data.write_text("text,label\n" + "".join(f"{'good fine' if i % 2 else 'bad awful'} {i},{i % 2}\n"
                                             for i in range(12)))
    code, out, err = run_cli(["classify", "train", "--data", data, "--out", tmp_path / "run", "--cell", "lnlstm",
                              "--epochs", "1", "--hidden", "4"], capsys)
    assert code == 0, err
    code, out, err = run_cli(["classify", "predict", tmp_path / "run", "--data", data], capsys)
    assert code == 0, err
    assert len(out.strip().splitlines()) >= 12
    text = tmp_path / "t.txt"
    text.write_text("hello world, " * 40)
    code, out, err = run_cli(["lm", "train", "--data", text, "--out", tmp_path / "lm", "--cell", "lngru",
                              "--steps", "3", "--hidden", "8", "--layers", "1", "--batch", "2", "--seq-len", "8",
                              "--no-progress"], capsys)
    assert code == 0, err
