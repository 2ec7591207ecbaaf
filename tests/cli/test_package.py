"""The package's edges: a light import, and the CLI's case study."""
import subprocess
import sys


def test_import_rnnkit_loads_numpy_and_nothing_heavy():
    code = ("import sys, rnnkit, rnnkit.interop, rnnkit.io, rnnkit.models, rnnkit.runs; "
            "heavy = [m for m in ('torch', 'matplotlib', 'tqdm', 'onnx', 'scipy', 'pandas') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_hello_learns_the_word_and_exits_zero():
    out = subprocess.run([sys.executable, "-m", "rnnkit", "hello"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "sample from 'h': hello" in out.stdout


def test_cli_bad_arguments_give_one_line_and_no_traceback():
    out = subprocess.run([sys.executable, "-m", "rnnkit", "hello", "--steps", "0"], capture_output=True, text=True)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().count("\n") == 0 and "rnnkit: error:" in out.stderr


def test_cli_hello_that_does_not_learn_says_why_on_stderr(capsys):
    from rnnkit.cli import main
    assert main(["hello", "--hidden", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("rnnkit: error: hello: the sample does not reproduce 'hello'")
    assert "--steps or --hidden" in err
