"""The rnnkit file format and run directories: no pickle, atomic, checked; metrics as strict
JSON, run files with plain permissions, outputs never written onto a protected file."""
import json
import os
import stat
import zipfile

import numpy as np
import pytest

from rnnkit.io import ModelFileError, read_file, write_file
from rnnkit.models import TokenRNN
from rnnkit.optim import Adam
from rnnkit.runs import RunDir, started_run
from _lm_tiny import text_file, trained_run


def test_round_trip_keeps_arrays_config_and_meta(tmp_path):
    arrays = {"a": np.arange(6.0).reshape(2, 3), "b.c": np.array([1, 2], np.int64)}
    write_file(tmp_path / "m.npz", "layer", {"hidden": 4}, arrays, {"step": 3})
    header, back = read_file(tmp_path / "m.npz", kind="layer")
    assert header["config"] == {"hidden": 4} and header["meta"] == {"step": 3}
    for k in arrays:
        np.testing.assert_array_equal(back[k], arrays[k])


def test_truncated_file_is_reported_as_corrupted(tmp_path):
    p = tmp_path / "m.npz"
    write_file(p, "layer", {}, {"w": np.ones((50, 50))})
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated or corrupted"):
        read_file(p)


def test_flipped_bytes_fail_the_checksum(tmp_path):
    p = tmp_path / "m.npz"
    write_file(p, "layer", {}, {"w": np.zeros(1000)})
    with zipfile.ZipFile(p) as z:
        members = {n: z.read(n) for n in z.namelist()}
    raw = bytearray(members["w.npy"])
    raw[-8:] = np.ones(1).tobytes()
    members["w.npy"] = bytes(raw)
    with zipfile.ZipFile(p, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)
    with pytest.raises(ModelFileError, match="checksum mismatch for 'w'"):
        read_file(p)


def test_newer_format_other_kind_and_foreign_files_are_named(tmp_path):
    p = tmp_path / "m.npz"
    write_file(p, "layer", {}, {"w": np.zeros(2)})
    with pytest.raises(ModelFileError, match="holds a 'layer', not a 'checkpoint'"):
        read_file(p, kind="checkpoint")
    np.savez(tmp_path / "plain.npz", w=np.zeros(2))
    with pytest.raises(ModelFileError, match="not an rnnkit model file"):
        read_file(tmp_path / "plain.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ModelFileError, match="truncated or corrupted"):
        read_file(tmp_path / "text.npz")
    header = {"format": "rnnkit", "format_version": 99, "kind": "layer", "config": {}, "meta": {}, "sha256": {}}
    np.savez(tmp_path / "new.npz", __rnnkit__=np.frombuffer(json.dumps(header).encode(), np.uint8))
    with pytest.raises(ModelFileError, match="format version 99, newer"):
        read_file(tmp_path / "new.npz")


def test_object_arrays_are_refused_so_loading_never_unpickles(tmp_path):
    with pytest.raises(TypeError, match="object"):
        write_file(tmp_path / "m.npz", "layer", {}, {"w": np.array([{"a": 1}], dtype=object)})


def test_a_failed_write_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    p = tmp_path / "m.npz"
    write_file(p, "layer", {}, {"w": np.ones(3)})

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError):
        write_file(p, "layer", {}, {"w": np.zeros(3)})
    monkeypatch.undo()
    np.testing.assert_array_equal(read_file(p)[1]["w"], np.ones(3))
    assert [f for f in os.listdir(tmp_path) if f.startswith(".tmp")] == []


def test_checkpoint_restores_weights_optimizer_and_rng(tmp_path):
    run = RunDir(tmp_path / "run")
    net = TokenRNN(6, 5, seed=0)
    opt = Adam(net.named_parameters(), lr=0.01)
    rng = np.random.default_rng(3)
    net.zero_grad()
    opt.step({k: np.ones_like(v) for k, v in net.named_parameters().items()})
    rng.random(5)
    run.save_checkpoint(net, opt, step=7, rng=rng, config={"x": 1})
    net2 = TokenRNN(6, 5, seed=1)
    opt2 = Adam(net2.named_parameters(), lr=0.5)
    rng2 = np.random.default_rng(99)
    config, meta = run.load_checkpoint(net2, opt2, rng2)
    assert config == {"x": 1} and meta["step"] == 7 and opt2.lr == 0.01
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(net2.state_dict()[k], v)
    assert rng2.random() == rng.random()
    with pytest.raises(ValueError, match="does not fit this model"):
        run.load_checkpoint(TokenRNN(6, 9))


def test_metrics_survive_a_cut_last_line_and_truncate_on_resume(tmp_path):
    run = RunDir(tmp_path / "run")
    for s in range(1, 6):
        run.log(step=s, loss=1.0 / s)
    with open(run.file("metrics.jsonl"), "a") as f:
        f.write('{"step": 6, "lo')                      # a kill in mid-write
    assert [m["step"] for m in run.read_metrics()] == [1, 2, 3, 4, 5]
    run.truncate_metrics(3)
    assert [m["step"] for m in run.read_metrics()] == [1, 2, 3]
    assert os.path.getsize(run.plot_losses()) > 1000


def test_unwritable_run_directory_is_named(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError, match="cannot write to run directory"):
        RunDir(blocker / "run")


def test_a_failed_first_run_removes_only_the_empty_directories_it_made(tmp_path):
    out = tmp_path / "a" / "b" / "run"
    with pytest.raises(RuntimeError):
        with started_run(out) as run:
            assert os.path.isdir(run.path)
            raise RuntimeError("refused")
    assert not (tmp_path / "a").exists()
    (tmp_path / "kept").mkdir()                          # a directory that was there stays
    with pytest.raises(KeyboardInterrupt):
        with started_run(tmp_path / "kept"):
            raise KeyboardInterrupt
    assert (tmp_path / "kept").is_dir()
    with pytest.raises(RuntimeError):                    # anything written stays, and the path to it
        with started_run(out) as run:
            run.log(step=1, loss=1.0)
            raise RuntimeError("interrupted")
    assert RunDir(out, create=False).read_metrics() == [{"step": 1, "loss": 1.0}]
    with started_run(tmp_path / "ok") as run:            # success keeps the directory, empty or not
        pass
    assert (tmp_path / "ok").is_dir()


# -- metrics as strict JSON, run files with plain permissions ------------------------------------------------
@pytest.fixture
def data(tmp_path):
    return text_file(tmp_path)


@pytest.fixture
def trained(tmp_path, data, capsys):
    return trained_run(tmp_path, data, capsys)


def test_nan_metrics_are_written_as_json_null(tmp_path):
    run = RunDir(tmp_path / "r")
    run.log(step=1, loss=float("nan"), val=float("inf"), ok=1.5)
    line = (tmp_path / "r" / "metrics.jsonl").read_text()
    assert "NaN" not in line and "Infinity" not in line
    assert json.loads(line) == {"step": 1, "loss": None, "val": None, "ok": 1.5}


def test_run_files_get_the_permissions_of_plain_files(trained):
    mask = os.umask(0o022)
    os.umask(mask)
    want = 0o666 & ~mask
    for name in ("config.json", "checkpoint.npz", "metrics.jsonl"):
        assert stat.S_IMODE(os.stat(trained / name).st_mode) == want, name


# -- outputs never overwrite a protected file ----------------------------------------------------------------
def test_check_output_protect_refuses_the_same_file():
    from rnnkit.io.files import check_output

    here = os.path.abspath(__file__)
    with pytest.raises(ValueError, match="the model"):
        check_output(os.path.join(os.path.dirname(here), ".", os.path.basename(here)), "--out",
                     [(here, "the model")])
    assert check_output(here + ".other", "--out", [here, None]) == here + ".other"
