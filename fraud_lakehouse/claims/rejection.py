"""Why a landed file cannot be loaded at all (its reasons: docs/guarantees.md)."""

from __future__ import annotations


class RejectedFile(Exception):
    """A file that cannot be loaded at all; ``reason`` is a stable code, ``detail`` says why and what to do."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
