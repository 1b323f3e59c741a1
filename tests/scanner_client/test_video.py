"""A short video written with OpenCV, read back by the gate: one decision per showing, repeats marked."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from scanner_client.sources import SourceError, video_frames
from tests.support.gates import gate_cli, live_files
from tests.support.scenes import make_frame

GATE = str(Path(sys.executable).parent / "suishen-gate")
SIZE = (640, 480)


def write_video(path: Path, shots: list[tuple[str, int, str]], rng: random.Random) -> None:
    """Shots of (code text or "", frame count, condition), each frame drawn anew (the hand moves)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 15, SIZE)
    assert writer.isOpened()
    for text, count, condition in shots:
        for _ in range(count):
            writer.write(make_frame(text, *SIZE, rng, condition if text else "empty"))
    writer.release()


def test_video_gives_one_decision_per_showing(tmp_path: Path) -> None:
    world, files, _ = live_files(tmp_path, codes=0)
    first, second = world.online(lifetime=600), world.online(lifetime=600)
    video = tmp_path / "gate.avi"
    write_video(video, [("", 4, "empty"), (first, 10, "rotation"), ("", 20, "empty"), (first, 6, "perspective"),
                        (second, 8, "phone_screen"), ("", 3, "empty")], random.Random(31))  # fmt: skip
    frames = list(video_frames(video))
    assert len(frames) == 51 and frames[0].image is not None and frames[0].image.shape == (480, 640, 3)
    command = [
        GATE, "--venue", "sh-century-park", "--video", str(video), "--root", str(files["root"]),
        "--trust-list", str(files["trust"]), "--catalogue", str(files["catalogue"]), "--revocations",
        str(files["revocations"]), "--state", str(tmp_path / "s"), "--json",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    decisions = [json.loads(line) for line in result.stdout.splitlines()]
    expected = [("GRANTED", False), ("GRANTED", True), ("GRANTED", False)]  # first, first again, second
    assert [(d["result"], d["repeat"]) for d in decisions] == expected
    assert decisions[0]["privileges"][0]["companions"] == 1
    assert "51 frame(s), 3 decision(s)" in result.stderr


def test_a_missing_or_unreadable_video_is_a_clear_error(tmp_path: Path) -> None:
    _, files, _ = live_files(tmp_path, codes=0)
    with pytest.raises(SourceError, match="no video file"):
        video_frames(tmp_path / "missing.avi")
    bogus = tmp_path / "clip.avi"
    bogus.write_bytes(np.random.default_rng(1).bytes(4096))
    try:
        assert list(video_frames(bogus)) == []  # some OpenCV builds open anything and read no frame
    except SourceError as exc:
        assert "cannot open video" in str(exc)
    missing = tmp_path / "missing.avi"
    result = gate_cli("--venue", "sh-zoo", "--video", str(missing), "--root", str(files["root"]), "--state",
                      str(tmp_path / "s"))  # fmt: skip
    assert result.code == 2 and result.stderr.strip() == f"error: no video file {missing}"


def test_no_camera_and_no_window_support_are_clear_errors(tmp_path: Path) -> None:
    _, files, _ = live_files(tmp_path, codes=1)
    common = ["--root", str(files["root"]), "--state", str(tmp_path / "s")]
    base = ["--venue", "sh-zoo", *common]
    camera = gate_cli(*base, "--camera", "7")
    assert camera.code == 2 and "error: cannot open camera 7" in camera.stderr
    if re.search(r"GUI:\s+NONE", cv2.getBuildInformation()):  # headless OpenCV, as installed here
        window = gate_cli(*base, "--images", str(files["frames"]), "--window")
        assert window.code == 2 and "no window support" in window.stderr
    both = gate_cli(*base, "--images", str(files["frames"]), "--camera", "0")
    assert both.code == 2 and "choose exactly one source" in both.stderr
    unknown = gate_cli("--venue", "sh-nowhere", *common, "--images", str(files["frames"]))
    assert unknown.code == 2 and "no venue 'sh-nowhere'" in unknown.stderr
