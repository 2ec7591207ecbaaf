"""safetensors written by hand (rnnkit.io.safetensors), cross-checked with the
``safetensors`` package and PyTorch: a layer's file loads into ``torch.nn.LSTM``."""
import json
import subprocess
import sys

import numpy as np
import pytest

import rnnkit
from rnnkit.io import ModelFileError, load, save
from rnnkit.io.safetensors import load_file, save_file

from conftest import run_cli

torch = pytest.importorskip("torch")
st_torch = pytest.importorskip("safetensors.torch")
st_numpy = pytest.importorskip("safetensors.numpy")

LAYERS = {"lstm": (rnnkit.LSTM, torch.nn.LSTM), "gru": (rnnkit.GRU, torch.nn.GRU), "rnn": (rnnkit.RNN, torch.nn.RNN)}


@pytest.mark.parametrize("cell", sorted(LAYERS))
def test_a_layers_file_loads_into_the_torch_module_with_load_state_dict(cell, tmp_path, rng):
    ours, theirs = LAYERS[cell]
    layer = ours(3, 5, num_layers=2, bidirectional=True, batch_first=True, dtype=np.float64, seed=1)
    path = save(layer, tmp_path / "layer.safetensors")
    module = theirs(3, 5, num_layers=2, bidirectional=True, batch_first=True, dtype=torch.float64)
    module.load_state_dict(st_torch.load_file(path))            # strict: the names are exactly PyTorch's
    x = rng.normal(size=(2, 7, 3))
    want = module(torch.from_numpy(x))[0].detach().numpy()
    np.testing.assert_allclose(layer(x)[0], want, rtol=1e-12, atol=1e-13)
    back = load(path)
    assert type(back) is type(layer)
    np.testing.assert_array_equal(back(x)[0], layer(x)[0])


def test_metadata_holds_the_config_and_a_checksum_of_every_tensor(tmp_path):
    layer = rnnkit.LSTM(2, 3, seed=0)
    path = save(layer, tmp_path / "m.bin", format="safetensors")
    from safetensors import safe_open

    with safe_open(str(path), "np") as f:
        meta = f.metadata()
        names = set(f.keys())
    header = json.loads(meta["rnnkit"])
    assert meta["format"] == "pt" and header["config"]["class"] == "LSTM"
    assert set(header["sha256"]) == names == set(layer.state_dict())
    assert load(path).hidden_size == 3                           # found by its first bytes, not its suffix


def test_the_byte_layout_is_what_the_format_says(tmp_path):
    path = save_file(tmp_path / "t.safetensors", {"b": np.arange(3, dtype=">i4"), "a": np.ones((2, 2), np.float32)})
    raw = path and open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    assert n % 8 == 0 and header["a"] == {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}
    assert header["b"]["dtype"] == "I32" and raw[8 + n + 16:] == np.arange(3, dtype="<i4").tobytes()


def test_files_of_the_safetensors_package_read_back_exactly(tmp_path):
    tensors = {"f16": np.arange(6, dtype=np.float16).reshape(2, 3), "i64": np.array([-1, 2**40]),
               "u8": np.arange(4, dtype=np.uint8), "ok": np.array([True, False]), "empty": np.zeros((0, 4))}
    st_numpy.save_file(tensors, str(tmp_path / "x.safetensors"), metadata={"k": "v"})
    got, meta = load_file(tmp_path / "x.safetensors")
    assert meta == {"k": "v"} and set(got) == set(tensors)
    for k, v in tensors.items():
        assert got[k].dtype == v.dtype
        np.testing.assert_array_equal(got[k], v)
    save_file(tmp_path / "y.safetensors", tensors, {"k": "v"})
    theirs = st_numpy.load_file(str(tmp_path / "y.safetensors"))
    for k, v in tensors.items():
        np.testing.assert_array_equal(theirs[k], v)


def test_a_flipped_byte_a_cut_file_and_a_foreign_file_are_refused_in_one_line(tmp_path):
    path = save(rnnkit.GRU(2, 3, seed=0), tmp_path / "g.safetensors")
    raw = bytearray(open(path, "rb").read())
    raw[-3] ^= 0xFF
    (tmp_path / "flip.safetensors").write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        load(tmp_path / "flip.safetensors")
    (tmp_path / "cut.safetensors").write_bytes(bytes(raw[:-10]))
    with pytest.raises(ModelFileError, match="not a readable safetensors file"):
        load(tmp_path / "cut.safetensors")
    st_numpy.save_file({"w": np.ones(2)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(ModelFileError, match="without rnnkit's config"):
        load(tmp_path / "foreign.safetensors")


def test_estimators_save_and_load_in_safetensors_with_the_same_predictions(tmp_path, rng):
    from rnnkit.forecast import Forecaster
    from rnnkit.models import SequenceClassifier

    X = [rng.normal(size=(int(rng.integers(2, 6)), 2)) for _ in range(20)]
    y = np.array([int(x[0, 0] > 0) for x in X])
    clf = SequenceClassifier(hidden_size=4, epochs=2, random_state=0).fit(X, y)
    back = SequenceClassifier.load(clf.save(tmp_path / "clf.safetensors"))
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    series = np.sin(np.arange(80) / 5)
    f = Forecaster(lookback=6, hidden_size=4, epochs=2, interval="insample").fit(series)
    np.testing.assert_array_equal(Forecaster.load(f.save(tmp_path / "f", format="safetensors")).predict(series),
                                  f.predict(series))


def test_export_safetensors_reads_model_files_and_every_kind_of_run(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("abcabd " * 300)
    lm = tmp_path / "lm"
    assert run_cli(["lm", "train", "--data", text, "--level", "char", "--hidden", "8", "--layers", "1",
                    "--seq-len", "8", "--batch", "2", "--steps", "3", "--no-progress", "--out", lm], capsys)[0] == 0
    rc, out, err = run_cli(["export", "safetensors", lm, tmp_path / "lm.safetensors"], capsys)
    assert rc == 0 and "safetensors" in out, err
    net = load(tmp_path / "lm.safetensors")
    module = torch.nn.LSTM(net.rnn.input_size, 8, batch_first=True)
    weights = st_torch.load_file(str(tmp_path / "lm.safetensors"))
    module.load_state_dict({k[len("rnn."):]: v for k, v in weights.items() if k.startswith("rnn.")})
    layer = tmp_path / "layer.rnnkit"
    save(rnnkit.LSTM(2, 3, seed=0), layer)
    assert run_cli(["export", "safetensors", layer, tmp_path / "layer.safetensors"], capsys)[0] == 0
    torch.nn.LSTM(2, 3).load_state_dict(st_torch.load_file(str(tmp_path / "layer.safetensors")))
    rc, _, err = run_cli(["export", "safetensors", lm, tmp_path / "x.safetensors", "--opset", "14"], capsys)
    assert rc == 2 and "ONNX export only" in err


def test_the_core_import_stays_light():
    code = ("import sys, rnnkit, rnnkit.io.safetensors, rnnkit.io; "
            "print(any(m in sys.modules for m in ('torch', 'safetensors')))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
