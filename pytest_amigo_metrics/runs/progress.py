"""The session's progress line: conversations finished out of those started, and the models
whose calls wait for a rate limit."""

from __future__ import annotations

from dataclasses import dataclass

from ..verdicts.outcomes import RunOutcome


@dataclass
class Progress:
    """Conversations of the session: started and finished, for the progress line."""

    total: int = 0
    finished: int = 0

    def ended(self, run: RunOutcome) -> None:
        self.finished += 1

    def line(self, waited: float, paused: list[str]) -> str:
        text = (
            f"amigo: {self.finished}/{self.total} conversations finished, "
            f"{self.total - self.finished} in flight or queued ({waited:.0f}s on this test)"
        )
        if paused:
            text += "; waiting for rate limits: " + ", ".join(paused)
        return text
