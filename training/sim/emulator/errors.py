"""The emulator's two failures: a run that cannot go on, and a slot without an answer."""

from __future__ import annotations


class EmulatorError(Exception):
    """The emulation cannot run (bad options, service unreachable at start)."""


class SlotFailure(Exception):
    """No valid answer for a slot.

    ``code`` is the gRPC status name the service answered with (a status or an
    error reply), "" when there was no status (a timeout on a stream, a broken
    connection, an answer that does not match the request).
    """

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code

    @property
    def reason(self) -> str:
        """The key this failure is counted under: the status, or the message's head."""
        return self.code or str(self).split(":")[0]
