"""The one error type of the signals stage."""

from __future__ import annotations


class SignalError(ValueError):
    """A file that claims to be an image (or cannot be read at all) but cannot be fingerprinted.

    It is a ValueError so callers that already treat bad input as a value problem keep working;
    the message names the reason (empty file, too large, decompression bomb, broken image) because
    it ends up verbatim in the `hash` command's `{"path", "error"}` lines, which analysts read.
    """
