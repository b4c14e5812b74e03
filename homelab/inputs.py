"""The edge of every input: a stack file, a container file, a value from the Pulumi runtime
or a command-line argument is checked here, before anything parses or uses it. One place, used
by `build`, `quadlet check|fmt` and the program alike. Pure: reads only the file it is given.

The limits (README, "What is checked before anything is touched", lists them too):
- a container (unit) file: 256 KiB. podman's largest test units are under 8 KiB, and the
  ExecStart= podman generates from it stays under systemd's 1 MiB line limit.
- a line of a unit file (continuations joined): 32 KiB; a value, of a stack file, from the
  runtime or a secret: 32 KiB. A value ends up as one argument of `podman run`, and Linux
  refuses one over 128 KiB (MAX_ARG_STRLEN).
- a stack file: 1 MiB (the real ones are 2-3 KiB; a secret adds about 100 bytes).
- YAML nesting: 32 levels (the deepest real key is 5 down; PyYAML recurses per level).
All are checked before the text is parsed.

Characters: every byte must be UTF-8. Tab and newline are the only control characters allowed,
in a stack value not even those. Refused everywhere: NUL, CR (systemd reads a lone CR as a
line break: text after it becomes a line of the generated unit), the other C0 and C1 controls
and DEL, U+2028/U+2029 (line separators to Python and Go, text to systemd), a byte order mark,
the bidirectional controls (they reorder what a line appears to say) and the Unicode
noncharacters (systemd's UTF-8 check refuses them). C-style escapes written as text (`\\t`,
`\\x0d`) are what systemd allows instead: podman writes them back escaped.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KIB = 1024
UNIT_FILE_MAX = 256 * KIB
UNIT_LINE_MAX = 32 * KIB
STACK_FILE_MAX = 1024 * KIB
VALUE_MAX = 32 * KIB
YAML_DEPTH_MAX = 32


@dataclass(frozen=True)
class Found:
    """One refused thing: str() is `FILE:LINE: what, how to fix`."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class InputError(Exception):
    """Input refused at the edge; `problems` are `FILE:LINE: what, how to fix` lines."""

    def __init__(self, found: list[Found]):
        self.found = found
        self.problems = [str(f) for f in found]
        super().__init__("\n".join(self.problems))


# --- characters ---------------------------------------------------------------------------

_NONCHARS = "".join(
    chr(c) for plane in range(17) for c in (plane * 0x10000 + 0xFFFE, plane * 0x10000 + 0xFFFF)
)
_BAD_CHARS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
    "\ufeff\ufdd0-\ufdef" + re.escape(_NONCHARS) + "]"
)
# A stack value is one plain line: not even a tab.
_BAD_IN_VALUE = re.compile("[\t\n]|" + _BAD_CHARS.pattern)


def describe_char(ch: str) -> str:
    """What a refused character is, and why it matters, in a few words."""
    o = ord(ch)
    if o == 0:
        return "a NUL byte"
    if ch == "\r":
        return (
            "a carriage return (CR): systemd and YAML read a lone CR as a line break, so what "
            "follows it would become a line of its own"
        )
    if ch == "\n":
        return "a newline"
    if ch == "\t":
        return "a tab"
    if o < 0x20 or o == 0x7F:
        return f"the control character U+{o:04X}"
    if o <= 0x9F:
        return f"the C1 control character U+{o:04X} (Python and Go read U+0085 as a line break)"
    if o in (0x2028, 0x2029):
        return f"the Unicode line separator U+{o:04X} (a line break to Python and Go, not systemd)"
    if o == 0xFEFF:
        return "a byte order mark (U+FEFF)"
    if o in (0x061C, 0x200E, 0x200F) or 0x202A <= o <= 0x202E or 0x2066 <= o <= 0x2069:
        return f"the bidirectional control U+{o:04X} (it changes what the line appears to say)"
    return f"the Unicode noncharacter U+{o:04X} (systemd refuses it as invalid UTF-8)"


def bad_char(text: str, value: bool = False) -> tuple[int, str] | None:
    """(index, character) of the first refused character, or None. `value`: a stack value,
    where tab and newline are refused too."""
    m = (_BAD_IN_VALUE if value else _BAD_CHARS).search(text)
    return (m.start(), m.group()) if m else None


def printable(text: str) -> str:
    """`text` with refused characters written as escapes: safe to put in a message."""
    return _BAD_IN_VALUE.sub(lambda m: m.group().encode("unicode_escape").decode(), text)


# --- files --------------------------------------------------------------------------------


def _size(n: int) -> str:
    return f"{n // KIB} KiB" if n >= KIB else f"{n} bytes"


def read_file(
    path: Path,
    shown: str,
    limit: int,
    *,
    symlink: bool = True,
    line_limit: int | None = None,
    crlf: str | None = None,
) -> str:
    """The text of a regular file of at most `limit` bytes, its bytes checked (`check_text`).

    Never blocks on a FIFO nor reads a device; with `symlink=False` a symbolic link is refused
    rather than followed. Raises InputError naming `shown` (how messages call the file).
    `crlf`: CR LF line endings are refused with this fix (default: save with LF), or, given
    ACCEPT_CRLF, accepted (`quadlet fmt`, which rewrites them as LF).
    """
    shown = printable(shown)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if symlink else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise InputError([Found(shown, 1, "does not exist")]) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP and not symlink:
            target = printable(os.readlink(path))
            raise InputError(
                [
                    Found(
                        shown,
                        1,
                        f"is a symbolic link (to {target}); it must be a regular file: copy the "
                        "file here instead of linking it",
                    )
                ]
            ) from None
        raise InputError([Found(shown, 1, f"cannot be read: {exc.strerror}")]) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise InputError([Found(shown, 1, f"is {kind}; give a regular file")])
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        line = data.count(b"\n", 0, limit) + 1
        raise InputError(
            [
                Found(
                    shown,
                    line,
                    f"the file is larger than {_size(limit)}, the limit for this kind of file "
                    "(it passes the limit on this line); shorten it",
                )
            ]
        )
    return decode(data, shown, line_limit, crlf)


def decode(data: bytes, shown: str, line_limit: int | None = None, crlf: str | None = None) -> str:
    """UTF-8 bytes -> text, checked: InputError at the line of the first bad byte."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputError(
            [
                Found(
                    shown,
                    line,
                    f"byte 0x{data[exc.start]:02x} at column {col} is not valid UTF-8; save "
                    "the file as UTF-8",
                )
            ]
        ) from None
    checked = text.replace("\r\n", "\n") if crlf == ACCEPT_CRLF else text
    problems = check_text(checked, shown, line_limit, crlf)
    if problems:
        raise InputError(problems)
    return text


# `crlf=` of read_file: CR LF line endings are no problem, the text comes back as it is (a
# formatter normalises them); a lone CR stays refused.
ACCEPT_CRLF = "accept"


def unit_crlf_fix(shown: str) -> str:
    """The fix for a unit file with CR LF line endings: the formatter rewrites them."""
    return f"run `homelab quadlet fmt -w {shown}` (it rewrites them as LF)"


def check_text(
    text: str, shown: str, line_limit: int | None = None, crlf: str | None = None
) -> list[Found]:
    """Every line holding a refused character (the first one on it), and, with
    `line_limit`, every logical line (continuations joined) longer than that. CR LF line
    endings are one problem of the whole file, at line 1, fixed by `crlf` (a fix text)."""
    out: list[Found] = []
    if text.startswith("\ufeff"):
        out.append(Found(shown, 1, "the file starts with a byte order mark; save it without one"))
        text = text[1:]
    if "\r\n" in text:  # one message for a whole file of them
        fix = crlf or "save the file with LF (Unix) line endings"
        out.append(Found(shown, 1, f"lines end in CR LF (Windows line endings); {fix}"))
        text = text.replace("\r\n", "\n")
    for nr, line in _lines(text):
        found = bad_char(line)
        if found:
            col, ch = found
            fix = "save the file with LF (Unix) line endings" if ch == "\r" else "remove it"
            out.append(Found(shown, nr, f"{describe_char(ch)} at column {col + 1}; {fix}"))
    if line_limit is not None:
        out += _long_lines(text, shown, line_limit)
    return out


def _lines(text: str) -> Iterator[tuple[int, str]]:
    # Only "\n" ends a line here, as for podman and systemd (str.splitlines knows more).
    yield from enumerate(text.split("\n"), 1)


def _long_lines(text: str, shown: str, limit: int) -> list[Found]:
    out: list[Found] = []
    start, length = 0, 0
    for nr, line in _lines(text):
        if not length:
            start = nr
        length += len(line.encode())
        if line.rstrip().endswith("\\"):
            continue
        if length > limit:
            out.append(
                Found(
                    shown,
                    start,
                    f"this line is {_size(length)} long (continuations joined); the limit is "
                    f"{_size(limit)}: shorten it, or move large data into a file the container "
                    "mounts",
                )
            )
        length = 0
    return out


# --- command-line arguments ---------------------------------------------------------------

STACK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")


def check_arg(what: str, value: str) -> str | None:
    """What is wrong with a command-line argument (a path or a name), or None."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return f"{what} {printable(ascii(value))} is not valid UTF-8; use a plain name"
    found = bad_char(value, value=True)
    if found:
        return f"{what} {printable(value)!r} holds {describe_char(found[1])}; use a plain name"
    return None


def stack_name_problem(stack: object) -> str | None:
    """Pulumi's own rule for a stack name (the file is Pulumi.<name>.yaml), or None."""
    if isinstance(stack, str) and STACK_NAME.fullmatch(stack) and stack.strip(".") != "":
        return None
    shown = printable(ascii(stack) if isinstance(stack, str) else repr(stack))
    return (
        f"stack name {shown} is not a stack's short name: letters, digits, '-', '_' and '.' "
        "only (up to 100), e.g. mouse"
    )


# --- values from the runtime, or parsed from a stack file ---------------------------------

KeyPath = tuple[str | int, ...]


def value_problems(data: Any, at: KeyPath = (), depth: int = 0) -> Iterator[tuple[KeyPath, str]]:
    """(key path, what is wrong) for each key or string of `data` that is not one plain line
    of at most VALUE_MAX bytes, and for nesting deeper than YAML_DEPTH_MAX."""
    if depth > YAML_DEPTH_MAX:
        yield at, f"nested deeper than {YAML_DEPTH_MAX} levels; flatten it"
        return
    if isinstance(data, dict):
        for k, v in data.items():
            if not isinstance(k, str):
                yield at, f"key {k!r} is not a string; quote it"
                continue
            msg = string_problem(k, "key")
            if msg:
                yield at, msg
                continue
            yield from value_problems(v, (*at, k), depth + 1)
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from value_problems(v, (*at, i), depth + 1)
    elif isinstance(data, str):
        msg = string_problem(data, "value")
        if msg:
            yield at, msg


def string_problem(text: str, what: str = "value", position: bool = True) -> str | None:
    """Why `text` cannot be a stack key or value. Never repeats it (it may be a secret); without
    `position`, not even where the offending character is."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > VALUE_MAX:
        return f"the {what} is {_size(size)} long; the limit is {_size(VALUE_MAX)}"
    found = bad_char(text, value=True)
    if found:
        at = f" at character {found[0] + 1}" if position else ""
        return (
            f"the {what} holds {describe_char(found[1])}{at}; a {what} must be one line of "
            "plain text (it could otherwise add lines to the file it is written to)"
        )
    return None
