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


# -- odd but valid table files, and the errors that name them -----------------------------------------
def test_csv_field_longer_than_the_csv_module_limit_is_read(tmp_path):
    import csv
    long_text = "word " * 40000                              # 200,000 characters, above csv's 131,072
    p = tmp_path / "big.csv"
    p.write_text(f'text,label\n"{long_text}",pos\nshort,neg\n')
    rows = read_records(p, ["text", "label"])
    assert rows[0]["text"] == long_text and rows[1]["label"] == "neg"
    assert csv.field_size_limit() == 131072                 # the module's setting is restored


def test_csv_with_old_mac_line_endings_is_read(tmp_path):
    p = tmp_path / "cr.csv"
    p.write_bytes(b"text,label\rhi,1\rho,0\r")
    assert [(r["text"], r["label"]) for r in read_records(p, ["text", "label"])] == [("hi", "1"), ("ho", "0")]


def test_utf16_table_reads_with_its_encoding_and_is_named_without_it(tmp_path):
    p = tmp_path / "u16.tsv"
    p.write_bytes("text\tlabel\ncafé\toui\n".encode("utf-16"))
    assert read_records(p, ["text", "label"], "utf-16")[0] == {"text": "café", "label": "oui"}
    with pytest.raises(ValueError, match=r"UTF-16 byte-order mark\); pass --encoding utf-16"):
        read_records(p, ["text", "label"])


def test_json_lines_keep_unicode_line_separators_inside_strings(tmp_path):
    import json
    p = tmp_path / "sep.jsonl"
    rows = [{"text": "a\u2028b\u2029c\x85d", "label": "x"}, {"text": "e", "label": "y"}]
    p.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    assert read_records(p, ["text", "label"]) == rows


def test_unclosed_tsv_quote_is_named_at_the_line_it_opens(tmp_path):
    p = tmp_path / "unclosed.tsv"
    p.write_text('text\tlabel\n"oops\tpos\nfine\tneg\nalso fine\tpos\n')
    with pytest.raises(ValueError, match=r"unclosed.tsv line 2: a quoted field runs over a line break"):
        read_records(p, ["text", "label"])


def test_unclosed_csv_quote_is_suggested_when_rows_run_short(tmp_path):
    p = tmp_path / "unclosed.csv"
    p.write_text('text,label\n"oops,pos\nfine,neg\n')
    with pytest.raises(ValueError, match=r"unclosed.csv line 2: too few fields \(a quote opened there is not closed"):
        read_records(p, ["text", "label"])


def test_trailing_lines_of_blanks_are_skipped_but_blank_rows_are_rows(tmp_path):
    p = tmp_path / "blank.csv"
    p.write_text("text,label\na,1\nb,0\n\n\n   \n")
    assert len(read_records(p, ["text", "label"])) == 2
    p.write_text("text,label\r\na,1\r\n  \r\n")
    assert len(read_records(p, ["text", "label"])) == 1
    p.write_text('text\nthe good cat\n" "\nthe bad cat\n')      # a text of one space is a row: predictions line up
    assert [r["text"] for r in read_records(p, ["text"])] == ["the good cat", " ", "the bad cat"]
    p.write_text("text,label\nfoo,\n")                             # an empty last field is kept
    assert read_records(p, ["text", "label"]) == [{"text": "foo", "label": ""}]


def test_conll_tokens_keep_characters_python_calls_spaces(tmp_path):
    p = tmp_path / "t.conll"
    p.write_text("to\x85k O\nb\tB-X\n\n tok\x0cX\tO \n", encoding="utf-8")
    assert read_conll(p) == [(["to\x85k", "b"], ["O", "B-X"]), (["tok\x0cX"], ["O"])]


def test_json_null_text_or_label_is_refused_by_name(tmp_path):
    from rnnkit.data.tables import column_texts
    p = tmp_path / "null.jsonl"
    p.write_text('{"text": "ok", "label": 1}\n{"text": null, "label": "a"}\n')
    rows = read_records(p, ["text", "label"])
    assert column_texts(p, rows, "label") == ["1", "a"]      # numbers written out
    with pytest.raises(ValueError, match=r"null.jsonl example 2: 'text' is null; give every example a text string"):
        column_texts(p, rows, "text")


def test_ts_file_reads_in_the_given_encoding(tmp_path):
    p = tmp_path / "lat.ts"
    p.write_bytes("@problemName Café\n@classLabel true é a\n@data\n1,2:é\n3,4:a\n".encode("latin-1"))
    X, y = read_series(p, "latin-1")
    assert list(y) == ["é", "a"] and X[1].tolist() == [[3.0], [4.0]]
    with pytest.raises(ValueError, match="not valid utf-8"):
        read_series(p)


def test_language_model_text_drops_a_byte_order_mark_at_char_level_only(tmp_path):
    from rnnkit.data.corpus import read_text as read_corpus
    p = tmp_path / "bom.txt"
    p.write_bytes(b"\xef\xbb\xbfhello\n")
    assert read_corpus(p, "char") == "hello\n"
    assert read_corpus(p, "byte") == b"\xef\xbb\xbfhello\n"   # bytes are data, every one kept


# -- encodings, .ts values and headers, quoted TSV fields ----------------------------------------------------
CLS_CSV = "text,label\ngood movie,pos\ngreat fun,pos\nloved it,pos\nbad movie,neg\nawful,neg\nhated it,neg\n"


@pytest.fixture
def cls_csv(tmp_path):
    path = tmp_path / "cls.csv"
    path.write_text(CLS_CSV)
    return path


def test_unknown_encoding_in_the_reader_is_a_value_error(cls_csv):
    with pytest.raises(ValueError, match="unknown text encoding 'bogus'"):
        read_records(cls_csv, ["text"], "bogus")


def test_ts_value_that_is_not_finite_names_file_and_line(tmp_path):
    path = tmp_path / "inf.ts"
    path.write_text("@dimensions 1\n@classLabel true a b\n@data\n1,2,inf:a\n1,2,3:b\n")
    with pytest.raises(ValueError, match=r"inf\.ts line 4: value inf is not finite"):
        read_series(path)


@pytest.mark.parametrize("value", ["three", "0", ""])
def test_ts_malformed_dimensions_header_names_the_line(tmp_path, value):
    path = tmp_path / "bad.ts"
    path.write_text(f"@dimensions {value}\n@classLabel true a b\n@data\n1,2,3:a\n")
    with pytest.raises(ValueError, match=r"bad\.ts line 1: @dimensions .* not a positive whole number"):
        read_series(path)


def test_tsv_reads_fields_quoted_as_pandas_and_r_write_them(tmp_path):
    path = tmp_path / "q.tsv"
    path.write_text('"text"\t"label"\n"he said ""great"""\t1\n"multi\tword"\t0\nplain\t1\n')
    rows = read_records(path, ["text", "label"])
    assert [r["text"] for r in rows] == ['he said "great"', "multi\tword", "plain"]
    assert [r["label"] for r in rows] == ["1", "0", "1"]


def test_a_row_with_more_fields_than_the_header_is_refused(tmp_path):
    path = tmp_path / "q.tsv"
    path.write_text('text\tlabel\n"bad movie\tneg\nok "film\tpos\nfine\tneg\n')     # an unclosed quote
    with pytest.raises(ValueError, match="line 2: a quoted field runs over a line break"):   # where it opens
        read_records(path, ["text", "label"])
    (tmp_path / "e.csv").write_text("text,label\ngood,pos,extra\n")
    with pytest.raises(ValueError, match="e.csv line 2: more fields"):
        read_records(tmp_path / "e.csv", ["text", "label"])
