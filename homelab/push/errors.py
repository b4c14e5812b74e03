"""What every part of the push raises."""

from __future__ import annotations


class PushError(RuntimeError):
    """The push failed; the message is meant for the person running `pulumi up`."""
