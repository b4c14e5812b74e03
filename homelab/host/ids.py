"""The one uid/gid rule: numeric ids chown(2) can set, read from `UID[:GID]`."""

from __future__ import annotations

import re

MAX_ID = 4294967294  # uid_t/gid_t; (uid_t)-1 means "unchanged" to chown(2)
RANGE = f"uid and gid must be at most {MAX_ID}"


def numeric_ids(text: str) -> tuple[int, int] | None:
    """(uid, gid) of a numeric `UID` or `UID:GID` (no group: the gid is the uid, as for the
    data directories of a `User=1000` container); None when it is not numeric."""
    m = re.fullmatch(r"(\d{1,20})(?::(\d{1,20}))?", text)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2) or m.group(1))


def out_of_range(ids: tuple[int, int]) -> bool:
    return max(ids) > MAX_ID
