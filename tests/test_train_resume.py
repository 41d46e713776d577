"""Training survives a kill: a run killed (SIGKILL) between two checkpoints resumes from the last one with
`--resume`, loses at most one checkpoint interval, and then finishes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from atomgen.errors import InputError
from atomgen.io.formats import write
from atomgen.train.config import load_train_config
from atomgen.train.run import train

INTERVAL = 10  # steps between checkpoints
MAX_STEPS = 150  # the killed run dies far from its end (seconds of steps): a busy machine still kills it mid-run
_STEP_LINE = re.compile(r"^step (\d+) ")


def _train_command(run: Path, data: Path, *extra: str) -> list[str]:
    """`atomgen train` of a tiny Quetzal on `data`, logging every step and saving every INTERVAL steps."""
    settings = ["model.preset=tiny", f"data.dataset={data}", "data.batch_size=4", "trainer.precision=32",
                "trainer.sample_every_steps=0", "trainer.log_every_steps=1",
                f"trainer.checkpoint_every_steps={INTERVAL}", f"trainer.max_steps={MAX_STEPS}"]
    command = [sys.executable, "-m", "atomgen.cli", "train", "quetzal", "--run-dir", str(run)]
    for setting in settings:
        command += ["--set", setting]
    return command + list(extra)


def _steps(lines: list[str]) -> list[int]:
    """The steps of the per-step log lines."""
    return [int(m.group(1)) for m in map(_STEP_LINE.match, lines) if m]


def _kill_between_checkpoints(command: list[str], last: Path, env: dict[str, str]) -> list[str]:
    """Start a run, SIGKILL it a few steps after a checkpoint exists (mid-interval); its output lines."""
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: list[str] = []
    deadline = time.monotonic() + 120
    try:
        for line in child.stdout:
            lines.append(line)
            steps = _steps([line])
            if steps and last.is_file() and 3 <= steps[0] % INTERVAL <= 7:
                child.send_signal(signal.SIGKILL)
                break
            assert time.monotonic() < deadline, "the run never reached a checkpoint"
        lines += child.stdout.read().splitlines(keepends=True)  # what it printed before it died
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL, "".join(lines[-20:])
    return lines


def test_a_killed_run_resumes_from_its_last_checkpoint_and_finishes(tmp_path, small_molecules):
    data = write(tmp_path / "train.sdf", small_molecules)
    run = tmp_path / "run"
    last = run / "checkpoints" / "last.ckpt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # two busy cores are shared with the test itself

    killed = _steps(_kill_between_checkpoints(_train_command(run, data), last, env))
    saved = torch.load(last, map_location="cpu", weights_only=False)["global_step"]
    assert saved % INTERVAL == 0 and INTERVAL <= saved <= killed[-1]
    assert killed[-1] - saved <= INTERVAL  # at most one checkpoint interval lost
    assert killed[-1] < MAX_STEPS

    resumed = subprocess.run(_train_command(run, data, "--resume"), capture_output=True, text=True, env=env,
                             timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    lines = resumed.stdout.splitlines()
    assert f"training from step {saved} to step {MAX_STEPS}" in lines
    assert _steps(lines) == list(range(saved + 1, MAX_STEPS + 1))  # continues right after the checkpoint
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == MAX_STEPS
    assert json.loads((run / "model" / "config.json").read_text())["global_step"] == MAX_STEPS


def test_a_negative_checkpoint_interval_is_refused_before_any_work(tmp_path):
    config = load_train_config(None, ["trainer.checkpoint_every_steps=-1"], family="quetzal")
    with pytest.raises(InputError, match="checkpoint_every_steps must be 0"):
        train(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()
