"""The record kinds of the push's two line formats, named once. The letters are the wire
format (`remote/*.sh` print and read them, and hosts keep old generations' manifest.tsv), so
they stay; Python names them here and nowhere else. The same letter may mean different things
in the two formats: always use the name."""

from __future__ import annotations

from typing import Final


class Row:
    """A row of `manifest.tsv`: what a generation holds (desired.manifest_tsv writes it,
    remote/apply.sh reads it)."""

    GENERATION: Final = "I"  # I  gen-id
    QUADLET_DIR: Final = "Q"  # Q  the Quadlet directory
    TIMEOUTS: Final = "T"  # T  health timeout, settle seconds, confirm seconds (0: off)
    FILE: Final = "F"  # F  path mode uid gid sha256 units
    DIR: Final = "D"  # D  path mode uid gid
    LINK: Final = "L"  # L  path target
    UNIT: Final = "U"  # U  unit that must be active
    SECRET: Final = "S"  # S  path of a secret file (kept in the live generation only)
    DATASET: Final = "Z"  # Z  dataset mountpoint PROP=VALUE,... units (remote/datasets.sh)
    KEEP: Final = "K"  # K  what  how many (`snapshots N`: homelab snapshots kept per dataset)
    PULL: Final = "P"  # P  image ref@digest, units, pull timeout (pulled before the switch)


class Rec:
    """A record the host prints about its live state (remote/read.sh, remote/day2.sh)."""

    GENERATION: Final = "G"  # G  the live generation
    FILE: Final = "F"  # F  path sha256 mode uid gid link|plain|other
    MISSING: Final = "M"  # M  path: no file
    NOT_FILE: Final = "O"  # O  path: something other than a regular file
    DIR: Final = "D"  # D  path mode uid gid
    DIR_MISSING: Final = "DM"
    LINK: Final = "L"  # L  path target
    LINK_MISSING: Final = "LM"
    UNIT: Final = "U"  # U  unit ActiveState (day2: and more fields)
    QUADLET_FILE: Final = "Q"  # Q  a Quadlet file found in the Quadlet directory
    PENDING: Final = "P"  # P  unit whose restart an interrupted push left pending
    ROLLED_BACK: Final = "R"  # R  gen replaced time, of a `homelab rollback`
    OLD_UNIT: Final = "OU"  # OU unit of the live generation
    CONTENT: Final = "C"  # C  path base64 (a changed non-secret file's live text)
    KEPT: Final = "N"  # N  a kept generation: name mtime rollback-of
    PUSHED: Final = "W"  # W  a row of the live generation's manifest.tsv (Row kinds follow)
    IMAGE: Final = "IM"  # IM unit, the REPO@DIGEST names of its running container's image
    DATASET: Final = "Z"  # Z  dataset state creator diffs (remote/read.sh `dataset`)
    ARMED: Final = "A"  # A  GEN PREV DEADLINE: a switch not yet confirmed (confirm-or-revert)
