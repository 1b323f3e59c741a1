"""Showing decisions: a Rich terminal view (default), JSON lines (for scripts), or an OpenCV window."""

from __future__ import annotations

import datetime as dt
import json
from typing import Protocol

import numpy as np
from rich.console import Console
from rich.text import Text

from keys.errors import SuishenError
from scanner_client.decision import CHECK_PHOTO_ID, MANUAL_CHECK, GateDecision
from verifier.decide import GRANTED

_STYLE = {GRANTED: "bold green", MANUAL_CHECK: "bold yellow"}
_BGR = {GRANTED: (40, 160, 40), MANUAL_CHECK: (0, 170, 230)}
_RED = (40, 40, 200)


class DisplayError(SuishenError, RuntimeError):
    """The decisions cannot be shown as asked (an OpenCV build without window support)."""


class Display(Protocol):
    def show(self, decision: GateDecision) -> None: ...

    def frame(self, image: np.ndarray) -> bool:
        """Called for every frame; False when the operator asked to stop."""
        ...

    def message(self, text: str) -> None: ...


class TerminalDisplay:
    """One line per decision, coloured; repeats say so instead of looking like a second entry."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()

    def show(self, decision: GateDecision) -> None:
        clock = dt.datetime.fromtimestamp(decision.at).strftime("%H:%M:%S")
        line = Text(f"{clock} ")
        line.append(f"{decision.result:<12}", style=_STYLE.get(decision.result, "bold red"))
        if decision.check_id and decision.result == GRANTED:  # the privilege, then CHECK PHOTO ID beside it
            line.append(f" {decision.words.removesuffix(CHECK_PHOTO_ID).rstrip()}")
            line.append(f"  {CHECK_PHOTO_ID}", style="bold black on yellow")
        else:
            line.append(f" {decision.words}")
            if decision.check_id:
                line.append(f"  {CHECK_PHOTO_ID}", style="bold yellow")
        if decision.detail and decision.result != GRANTED:
            line.append(f"  ({decision.detail[:100]})", style="dim")
        if decision.repeat:
            line.append("  (shown again: same decision as before)", style="dim")
        if decision.degraded:
            line.append("  [degraded: shared replay cache unreachable]", style="yellow")
        self.console.print(line)

    def frame(self, image: np.ndarray) -> bool:
        return True

    def message(self, text: str) -> None:
        self.console.print(Text(text, style="dim"))


class JsonDisplay:
    """One JSON object per decision on stdout; messages go to stderr."""

    def __init__(self) -> None:
        self._err = Console(stderr=True)

    def show(self, decision: GateDecision) -> None:
        print(json.dumps(decision.to_json(), ensure_ascii=False), flush=True)

    def frame(self, image: np.ndarray) -> bool:
        return True

    def message(self, text: str) -> None:
        self._err.print(text, style="dim", markup=False)


class WindowDisplay:
    """The camera view with a large green, yellow or red banner for the latest decision (needs a GUI OpenCV)."""

    def __init__(self, inner: Display, title: str = "Suishen gate") -> None:
        import cv2

        self.cv2 = cv2
        self.inner = inner
        self.title = title
        self.latest: GateDecision | None = None
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error:
            message = "this OpenCV build has no window support (opencv-python-headless): run without --window"
            raise DisplayError(message) from None

    def show(self, decision: GateDecision) -> None:
        self.latest = decision
        self.inner.show(decision)

    def frame(self, image: np.ndarray) -> bool:
        cv2, d = self.cv2, self.latest
        view = image.copy()
        if d is not None:
            height = max(90, view.shape[0] // 5)
            cv2.rectangle(view, (0, 0), (view.shape[1], height), _BGR.get(d.result, _RED), -1)
            head = d.result + ("  CHECK PHOTO ID" if d.check_id else "") + ("  (repeat)" if d.repeat else "")
            lines = [head, d.words.removesuffix(CHECK_PHOTO_ID).rstrip()[:60], d.detail[:60]]
            for i, line in enumerate(lines):
                scale = 1.4 if i == 0 else 0.8
                cv2.putText(view, line, (12, 40 + 32 * i), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 2)
        cv2.imshow(self.title, view)
        return (cv2.waitKey(1) & 0xFF) not in (ord("q"), 27)

    def message(self, text: str) -> None:
        self.inner.message(text)
