"""The report's training-controls section in headless Chromium: the schedule and
the early stop drawn, no console errors; a screenshot kept when
RNNKIT_SCREENSHOT_DIR is set (needs Debian's ``chromium``)."""
import os
import shutil
import subprocess

import pytest

from conftest import run_cli

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_report_with_a_schedule_and_an_early_stop_renders_in_chromium(tmp_path, capsys):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is not installed but CI=true")
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    import numpy as np

    (tmp_path / "t.txt").write_text("".join(np.random.default_rng(1).choice(list("abcdefgh \n"), 8000)))
    run = tmp_path / "run"
    assert run_cli(["lm", "train", "--data", tmp_path / "t.txt", "--level", "char", "--hidden", "16", "--layers", "1",
                    "--seq-len", "16", "--batch-size", "4", "--steps", "1000", "--lr", "0.05", "--eval-every", "10",
                    "--early-stopping", "2", "--lr-schedule", "step", "--lr-step-size", "20", "--lr-gamma", "0.5",
                    "--quiet", "--out", run], capsys)[0] == 0
    assert run_cli(["report", run], capsys)[0] == 0
    url = "file://" + str(run / "report.html")
    profile = f"--user-data-dir={tmp_path / 'profile'}"
    dom = subprocess.run([exe, *FLAGS, profile, "--enable-logging=stderr", "--v=0", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120)
    assert "Stopped early" in dom.stdout and "scheduled learning rate" in dom.stdout
    assert not [ln for ln in dom.stderr.splitlines() if ":CONSOLE" in ln]
    shot = tmp_path / "report_controls.png"
    subprocess.run([exe, *FLAGS, profile, f"--screenshot={shot}", "--window-size=1200,1500", url],
                   capture_output=True, text=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 5000
    if os.environ.get("RNNKIT_SCREENSHOT_DIR"):
        os.makedirs(os.environ["RNNKIT_SCREENSHOT_DIR"], exist_ok=True)
        shutil.copy(shot, os.path.join(os.environ["RNNKIT_SCREENSHOT_DIR"], "report_controls.png"))
