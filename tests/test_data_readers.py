import numpy as np
import pytest

from rnnkit.data.batching import as_sequences, bucket_batches, pad
from rnnkit.data.series import read_numpy, read_series, read_ts
from rnnkit.data.tables import read_conll, read_records, read_tagged, read_text

TS = """# comment
@problemName Toy
@timeStamps false
@univariate false
@dimensions 2
@equalLength false
@classLabel true a b
@data
1,2,3:4,5,6:a
7,8:9,10:b
"""


def test_ts_reader_gives_series_per_case_and_labels(tmp_path):
    p = tmp_path / "toy.ts"
    p.write_text(TS)
    X, y = read_ts(p)
    assert [x.shape for x in X] == [(3, 2), (2, 2)]
    np.testing.assert_array_equal(X[0], [[1, 4], [2, 5], [3, 6]])
    assert list(y) == ["a", "b"]


@pytest.mark.parametrize("body,expect", [
    (TS.replace("7,8:9,10:b", "7,8:9:b"), "differ in length"),
    (TS.replace("7,8:9,10:b", "7,x:9,10:b"), "not a number"),
    (TS.replace("7,8:9,10:b", "7,8:9,10:c"), "not in the @classLabel"),
    (TS.replace("@data\n", ""), "expected an @header"),
    (TS.replace("7,8:9,10:b", "7,?:9,10:b"), "missing values"),
])
def test_ts_reader_errors_name_file_and_line(tmp_path, body, expect):
    p = tmp_path / "bad.ts"
    p.write_text(body)
    with pytest.raises(ValueError, match=expect) as e:
        read_ts(p)
    assert str(p) in str(e.value)


def test_numpy_series_with_lengths_and_labels(tmp_path):
    X = np.arange(24, dtype=float).reshape(2, 4, 3)
    np.savez(tmp_path / "s.npz", X=X, y=np.array([0, 1]), lengths=np.array([4, 2]))
    S, y = read_series(tmp_path / "s.npz")
    assert [s.shape for s in S] == [(4, 3), (2, 3)] and list(y) == [0, 1]
    np.save(tmp_path / "u.npy", X[:, :, 0])
    S, y = read_numpy(tmp_path / "u.npy")
    assert S[0].shape == (4, 1) and y is None


def test_tables_csv_tsv_jsonl(tmp_path):
    (tmp_path / "a.csv").write_text('text,label\n"hi, there",x\n')
    (tmp_path / "a.tsv").write_text("text\tlabel\nhi\ty\n")
    (tmp_path / "a.jsonl").write_text('{"text": "hi", "label": 1}\n\n')
    assert read_records(tmp_path / "a.csv", ["text", "label"]) == [{"text": "hi, there", "label": "x"}]
    assert read_records(tmp_path / "a.tsv", ["text", "label"])[0]["label"] == "y"
    assert read_records(tmp_path / "a.jsonl", ["text", "label"])[0]["label"] == 1


def test_text_reader_refuses_binary_empty_and_wrong_encoding(tmp_path):
    cases = {"e.csv": b"  \n", "b.csv": b"ab\x00cd", "l.csv": "é".encode("latin-1")}
    msgs = {"e.csv": "is empty", "b.csv": "looks binary", "l.csv": "not valid utf-8"}
    for name, raw in cases.items():
        (tmp_path / name).write_bytes(raw)
        with pytest.raises(ValueError, match=msgs[name]):
            read_text(tmp_path / name)
    assert read_text(tmp_path / "l.csv", encoding="latin-1") == "é"
    with pytest.raises(ValueError, match="line 2: not valid JSON"):
        (tmp_path / "j.jsonl").write_text('{"text": "a", "label": 1}\n{oops\n')
        read_records(tmp_path / "j.jsonl", ["text", "label"])


def test_conll_and_tagged_jsonl(tmp_path):
    (tmp_path / "a.conll").write_text("mr O\nsmith B-PER\n\n\nrome B-LOC\n")
    assert read_conll(tmp_path / "a.conll") == [(["mr", "smith"], ["O", "B-PER"]), (["rome"], ["B-LOC"])]
    (tmp_path / "a.jsonl").write_text('{"tokens": ["a", "b"]}\n')
    assert read_tagged(tmp_path / "a.jsonl") == [(["a", "b"], None)]


def test_pad_and_as_sequences_round_trip():
    seqs = [np.array([1, 2, 3]), np.array([4])]
    x, n = pad(seqs, value=-1)
    np.testing.assert_array_equal(x, [[1, 2, 3], [4, -1, -1]])
    back = as_sequences(x, n)
    assert all(np.array_equal(a, b) for a, b in zip(back, seqs))
    with pytest.raises(ValueError, match="at least one step"):
        as_sequences([np.array([], int)])


def test_bucket_batches_cover_every_index_once_with_similar_lengths():
    lengths = np.random.default_rng(0).integers(1, 50, 103)
    batches = bucket_batches(lengths, 10, rng=1)
    allidx = np.sort(np.concatenate(batches))
    np.testing.assert_array_equal(allidx, np.arange(103))
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    assert spread < 10                       # random batches spread ~40
    assert [list(b) for b in bucket_batches(lengths, 10, rng=1)] == [list(b) for b in batches]
