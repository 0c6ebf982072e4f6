"""A rich progress bar for preparation (rich comes with the training stack)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ddsp_launch.trainer.prepare.pipeline import Reporter


class RichReporter(Reporter):
    def __init__(self):
        self.console = Console(stderr=True)
        self.progress = None
        self.task = None

    def message(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def start(self, total_seconds: float) -> None:
        self.progress = Progress(
            TextColumn("features"), BarColumn(), MofNCompleteColumn(), TextColumn("audio s"),
            TimeRemainingColumn(), console=self.console, transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task("features", total=round(total_seconds))

    def advance(self, seconds: float) -> None:
        if self.progress is not None:
            self.progress.advance(self.task, seconds)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
