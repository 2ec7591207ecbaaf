"""The default corpus: the Python standard library's source, test folders left out."""
import os
import sysconfig

from rnnkit.data.corpus import stdlib_corpus, stdlib_files


def test_stdlib_files_are_sorted_py_files_without_test_folders():
    root, files = stdlib_files()
    assert root == sysconfig.get_paths()["stdlib"]
    assert files == sorted(files) and len(files) > 100
    assert all(f.endswith(".py") for f in files)
    parts = {p for f in files for p in f.split(os.sep)[:-1]}
    assert not parts & {"test", "tests", "idle_test", "site-packages"}
    assert "os.py" in files and os.path.join("json", "decoder.py") in files


def test_corpus_hash_and_count_are_recorded_on_a_small_tree(tmp_path):
    (tmp_path / "pkg" / "tests").mkdir(parents=True)
    (tmp_path / "b.py").write_text("b = 2\n")
    (tmp_path / "a.py").write_text("a = 1\n")
    (tmp_path / "pkg" / "tests" / "t.py").write_text("skip me\n")
    (tmp_path / "notes.txt").write_text("not python\n")
    raw, info = stdlib_corpus("byte", root=str(tmp_path))
    assert raw == b"a = 1\n\nb = 2\n" and info["files"] == 2 and len(info["sha256"]) == 64
    text, info2 = stdlib_corpus("char", root=str(tmp_path))
    assert text == raw.decode() and info2["sha256"] == info["sha256"]
