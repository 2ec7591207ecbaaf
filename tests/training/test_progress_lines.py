"""Progress a person can follow: away from a terminal, plain lines at the start,
about every 30 s (step, loss, throughput, time left) and at the end; a run bounded
by --minutes has a total."""
import io

from rnnkit.progress import LogLines, progress

from conftest import run_cli


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_log_lines_come_at_start_every_30_seconds_and_at_the_end():
    out, clock = io.StringIO(), Clock()
    bar = LogLines(1000, "lm train", unit="step", file=out, clock=clock)
    for _ in range(100):                       # 100 steps in 20 s: no line yet
        clock.t += 0.2
        bar.set_postfix(loss="1.500", tok_s="5,000")
        bar.update(1)
    assert out.getvalue().splitlines() == ["lm train: start, 1,000 steps"]
    for _ in range(60):                        # 12 s more: one line, 160 steps in 32 s
        clock.t += 0.2
        bar.update(1)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[1].startswith("lm train: step 150/1,000 (15%), loss 1.500, tok_s 5,000, ")
    assert lines[1].endswith(" left") and "2m50s left" in lines[1]        # 850 steps at 5 steps/s
    bar.close()
    assert out.getvalue().splitlines()[-1].startswith("lm train: done, step 160/1,000 (16%)")


def test_a_run_bounded_by_time_counts_the_seconds_given():
    out, clock = io.StringIO(), Clock()
    bar = LogLines(600, "lm train", unit="s", file=out, clock=clock)
    clock.t += 45
    bar.set_postfix(step=1234, loss="2.000")
    bar.update(45)
    lines = out.getvalue().splitlines()
    assert lines[0] == "lm train: start, 600 seconds"
    assert lines[1].startswith("lm train: 45s of 10m00s (8%), step 1234, loss 2.000") and "9m15s left" in lines[1]


def test_a_terminal_gets_a_bar_and_a_file_gets_lines():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert isinstance(progress(10, "x", file=io.StringIO()), LogLines)
    tty = Tty()
    bar = progress(10, "x", file=tty)
    bar.update(5)
    bar.close()
    assert not isinstance(bar, LogLines) and "5/10" in tty.getvalue()
    assert not isinstance(progress(10, "x", disable=True, file=io.StringIO()), LogLines)


def test_train_commands_write_progress_lines_to_a_non_terminal(tmp_path, capsys):
    (tmp_path / "t.txt").write_text("some text to learn from\n" * 80)
    common = ["--data", tmp_path / "t.txt", "--level", "char", "--hidden", "4", "--layers", "1", "--seq-len", "8",
              "--batch-size", "2"]
    rc, _, err = run_cli(["lm", "train", *common, "--steps", "5", "--out", tmp_path / "a"], capsys)
    assert rc == 0 and "lm train: start, 5 steps" in err and "lm train: done, step 5/5 (100%)" in err
    rc, _, err = run_cli(["lm", "train", *common, "--minutes", "0.01", "--out", tmp_path / "b"], capsys)
    assert rc == 0 and "lm train: start, 1 seconds" in err and "lm train: done, " in err
    rc, _, err = run_cli(["lm", "train", *common, "--steps", "2", "--quiet", "--out", tmp_path / "c"], capsys)
    assert rc == 0 and "lm train:" not in err


def test_a_backtest_shows_its_progress_off_a_terminal_and_nothing_by_default(capsys):
    import numpy as np

    from rnnkit.forecast import Forecaster
    from rnnkit.forecast.backtest import backtest

    y = np.sin(np.arange(60) / 4.0)
    model = Forecaster(lookback=6, horizon=2, hidden_size=4, epochs=1, interval="insample")
    backtest(model, y, 50, baselines=False)
    assert "forecast eval" not in capsys.readouterr().err
    backtest(model, y, 50, baselines=False, fit=False, verbose=True)
    err = capsys.readouterr().err
    assert "forecast eval: start, 9 forecasts" in err and "forecast eval: done" in err
