"""The edge of every input (homelab/inputs.py) on its own, table by table: which characters are
refused and how they are named, the checks of a file's bytes and lines, of a command-line
argument, a stack name and a value. Real files in tmp_path (a FIFO, a link, a directory)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from homelab.inputs import (
    ACCEPT_CRLF,
    UNIT_LINE_MAX,
    VALUE_MAX,
    YAML_DEPTH_MAX,
    Found,
    InputError,
    bad_char,
    check_arg,
    check_text,
    decode,
    describe_char,
    printable,
    read_file,
    stack_name_problem,
    string_problem,
    unit_crlf_fix,
    value_problems,
)

CR = (
    "a carriage return (CR): systemd and YAML read a lone CR as a line break, so what follows "
    "it would become a line of its own"
)
BIDI = "(it changes what the line appears to say)"
NONCHAR = "(systemd refuses it as invalid UTF-8)"

# (character, how it is named); every one of them is refused in a file and in a value.
REFUSED_CHARS = [
    ("\0", "a NUL byte"),
    ("\r", CR),
    ("\x01", "the control character U+0001"),
    ("\x08", "the control character U+0008"),
    ("\x0b", "the control character U+000B"),
    ("\x1f", "the control character U+001F"),
    ("\x7f", "the control character U+007F"),
    ("\x80", "the C1 control character U+0080 (Python and Go read U+0085 as a line break)"),
    ("\x85", "the C1 control character U+0085 (Python and Go read U+0085 as a line break)"),
    ("\x9f", "the C1 control character U+009F (Python and Go read U+0085 as a line break)"),
    ("\u2028", "the Unicode line separator U+2028 (a line break to Python and Go, not systemd)"),
    ("\u2029", "the Unicode line separator U+2029 (a line break to Python and Go, not systemd)"),
    ("\ufeff", "a byte order mark (U+FEFF)"),
    ("\u061c", f"the bidirectional control U+061C {BIDI}"),
    ("\u200e", f"the bidirectional control U+200E {BIDI}"),
    ("\u200f", f"the bidirectional control U+200F {BIDI}"),
    ("\u202a", f"the bidirectional control U+202A {BIDI}"),
    ("\u202e", f"the bidirectional control U+202E {BIDI}"),
    ("\u2066", f"the bidirectional control U+2066 {BIDI}"),
    ("\u2069", f"the bidirectional control U+2069 {BIDI}"),
    ("\ufdd0", f"the Unicode noncharacter U+FDD0 {NONCHAR}"),
    ("\ufdef", f"the Unicode noncharacter U+FDEF {NONCHAR}"),
    ("\ufffe", f"the Unicode noncharacter U+FFFE {NONCHAR}"),
    ("\U0001ffff", f"the Unicode noncharacter U+1FFFF {NONCHAR}"),
    ("\U0010fffe", f"the Unicode noncharacter U+10FFFE {NONCHAR}"),
]
# Allowed everywhere (next to the refused ones, by code point).
ALLOWED_CHARS = [
    "a",
    " ",
    "~",
    "\xa0",
    "é",
    "\u061b",
    "\u200d",
    "\u2027",
    "\u202f",
    "\u2065",
    "\u206a",
    "\ufdcf",
    "\ufdf0",
    "\ufffd",
    "\U0001fffd",
    "\U0010fffd",
]


@pytest.mark.parametrize(("ch", "name"), REFUSED_CHARS)
def test_a_refused_character_is_found_and_named(ch: str, name: str) -> None:
    assert describe_char(ch) == name
    assert bad_char("ab" + ch + "\0") == (2, ch)
    assert bad_char("ab" + ch, value=True) == (2, ch)
    assert printable("x" + ch) == "x" + ch.encode("unicode_escape").decode()


@pytest.mark.parametrize("ch", ALLOWED_CHARS)
def test_an_allowed_character_passes(ch: str) -> None:
    assert bad_char("a" + ch + "b") is None
    assert bad_char("a" + ch + "b", value=True) is None
    assert printable(ch) == ch


def test_tab_and_newline_only_in_files() -> None:
    assert (describe_char("\t"), describe_char("\n")) == ("a tab", "a newline")
    assert bad_char("a\tb\nc") is None
    assert bad_char("ab\tc", value=True) == (2, "\t")
    assert bad_char("a\nb", value=True) == (1, "\n")
    assert printable("a\tb\nc") == "a\\tb\\nc"


# --- a file's text -----------------------------------------------------------------------

LONG = (
    "long (continuations joined); the limit is 10 bytes: shorten it, or move large data into a "
    "file the container mounts"
)


@pytest.mark.parametrize(
    ("text", "crlf", "limit", "found"),
    [
        ("a\nb\n", None, None, []),
        (
            "\ufeffa\n",
            None,
            None,
            [(1, "the file starts with a byte order mark; save it without one")],
        ),
        # A BOM later in the file is a character like any other.
        ("a\n\ufeffb\n", None, None, [(2, "a byte order mark (U+FEFF) at column 1; remove it")]),
        # Columns count from after the byte order mark, and lines after a CR LF.
        (
            "\ufeffa\x01\n",
            None,
            None,
            [
                (1, "the file starts with a byte order mark; save it without one"),
                (1, "the control character U+0001 at column 2; remove it"),
            ],
        ),
        (
            "a\r\nb\x01\n",
            "FIX",
            None,
            [
                (1, "lines end in CR LF (Windows line endings); FIX"),
                (2, "the control character U+0001 at column 2; remove it"),
            ],
        ),
        # A character problem and a long line: both are reported.
        (
            "\x01\n" + "x" * 11,
            None,
            10,
            [
                (1, "the control character U+0001 at column 1; remove it"),
                (2, f"this line is 11 bytes {LONG}"),
            ],
        ),
        # A backslash followed by blanks still continues the line.
        ("aaaa \\  \nbbbbbbb\n", None, 10, [(1, f"this line is 15 bytes {LONG}")]),
        (
            "a\r\nb\r\n",
            None,
            None,
            [
                (
                    1,
                    "lines end in CR LF (Windows line endings); save the file with LF (Unix) line "
                    "endings",
                )
            ],
        ),
        ("a\r\n", "FIX IT", None, [(1, "lines end in CR LF (Windows line endings); FIX IT")]),
        (
            "a\nbc\rd\n",
            None,
            None,
            [(2, f"{CR} at column 3; save the file with LF (Unix) line endings")],
        ),
        # One problem per line (its first character), each at its line and column.
        (
            "ok\nx\x01\x02\n\n\x7f\n",
            None,
            None,
            [
                (2, "the control character U+0001 at column 2; remove it"),
                (4, "the control character U+007F at column 1; remove it"),
            ],
        ),
        # Only \n ends a line: U+2028 is a character on line 1.
        (
            "a\u2028b\nc\x01",
            None,
            None,
            [
                (1, f"{describe_char(chr(0x2028))} at column 2; remove it"),
                (2, "the control character U+0001 at column 2; remove it"),
            ],
        ),
        # Lines longer than the limit, continuations joined, at the line they start.
        (
            "x" * 10 + "\n" + "y" * 4 + " \\\n" + "z" * 5 + "\nshort\n" + "w" * 11,
            None,
            10,
            [(2, f"this line is 11 bytes {LONG}"), (5, f"this line is 11 bytes {LONG}")],
        ),
        ("é" * 5 + "\n" + "é" * 6, None, 10, [(2, f"this line is 12 bytes {LONG}")]),
        (
            "\\\n\\\nab",
            None,
            3,
            [(1, f"this line is 4 bytes {LONG}".replace("10 bytes", "3 bytes"))],
        ),
    ],
)
def test_check_text(text: str, crlf: str | None, limit: int | None, found: list) -> None:
    assert check_text(text, "F", limit, crlf) == [Found("F", n, m) for n, m in found]


def test_sizes_are_named_in_kib_from_1024_bytes() -> None:
    got = check_text("x" * 1024, "F", 1023)
    assert got[0].message.startswith(
        "this line is 1 KiB long (continuations joined); the limit is 1023 bytes:"
    )
    assert UNIT_LINE_MAX == 32 * 1024


def test_decode_names_the_first_bad_byte_at_its_line_and_column() -> None:
    with pytest.raises(InputError) as exc:
        decode(b"ok\nab\xffc\xfe\n", "F")
    assert exc.value.problems == [
        "F:2: byte 0xff at column 3 is not valid UTF-8; save the file as UTF-8"
    ]
    # Line and column count every newline before the byte, from the file's first byte.
    for data, line, col in [(b"\nx\nab\xffc\n", 3, 3), (b"\n\xff", 2, 1), (b"\xff\n\n", 1, 1)]:
        with pytest.raises(InputError) as exc:
            decode(data, "F")
        assert exc.value.problems == [
            f"F:{line}: byte 0xff at column {col} is not valid UTF-8; save the file as UTF-8"
        ]
    with pytest.raises(InputError) as exc:
        decode(b"\xc3", "F")
    assert exc.value.problems == [
        "F:1: byte 0xc3 at column 1 is not valid UTF-8; save the file as UTF-8"
    ]


def test_decode_accepts_crlf_only_when_asked_and_returns_the_text_as_it_is() -> None:
    assert decode(b"a\r\nb\r\n", "F", crlf=ACCEPT_CRLF) == "a\r\nb\r\n"
    with pytest.raises(InputError) as exc:
        decode(b"a\r\nb\rc\n", "F", crlf=ACCEPT_CRLF)
    assert exc.value.problems == [
        f"F:2: {CR} at column 2; save the file with LF (Unix) line endings"
    ]
    with pytest.raises(InputError) as exc:
        decode(b"a\r\n", "F", crlf=unit_crlf_fix("u.container"))
    assert exc.value.problems == [
        "F:1: lines end in CR LF (Windows line endings); run `homelab quadlet fmt -w "
        "u.container` (it rewrites them as LF)"
    ]
    with pytest.raises(InputError) as exc:
        decode(b"x" * 11 + b"\n", "F", 10)
    assert exc.value.problems == [f"F:1: this line is 11 bytes {LONG}"]


def _refused(path: Path, shown: str = "f", **kw: object) -> list[str]:
    with pytest.raises(InputError) as exc:
        read_file(path, shown, 100, **kw)  # type: ignore[arg-type]
    return exc.value.problems


def test_read_file_reads_a_regular_file_up_to_its_limit(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"x" * 99 + b"\n")
    assert read_file(f, "f", 100) == "x" * 99 + "\n"
    link = tmp_path / "link"
    link.symlink_to(f)
    assert read_file(link, "link", 100) == "x" * 99 + "\n"


def test_read_file_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    assert _refused(tmp_path / "nope") == ["f:1: does not exist"]
    assert _refused(tmp_path) == ["f:1: is a directory; give a regular file"]
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # no writer: a blocking open would hang here
    assert _refused(fifo) == ["f:1: is not a regular file; give a regular file"]
    link = tmp_path / "link"
    link.symlink_to("target\x01")
    assert _refused(link, symlink=False) == [
        "f:1: is a symbolic link (to target\\x01); it must be a regular file: copy the file "
        "here instead of linking it"
    ]
    # Followed (and missing), when links are allowed.
    assert _refused(link) == ["f:1: does not exist"]
    # The name shown is made printable.
    assert _refused(tmp_path / "nope", shown="a\tb") == ["a\\tb:1: does not exist"]


def test_read_file_names_what_it_cannot_read(tmp_path: Path) -> None:
    # A path below a regular file: an error other than a link's, with links refused or not.
    (tmp_path / "file").write_text("x")
    for symlink in (True, False):
        assert _refused(tmp_path / "file" / "below", symlink=symlink) == [
            "f:1: cannot be read: Not a directory"
        ]
    if os.geteuid() != 0:  # root reads any mode
        f = tmp_path / "f"
        f.write_text("x")
        f.chmod(0)
        assert _refused(f) == ["f:1: cannot be read: Permission denied"]


def test_read_file_over_its_limit_names_the_line_it_passes_it_on(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"a\n" * 30 + b"x" * 40 + b"\n" + b"y" * 100)
    assert _refused(f) == [
        "f:31: the file is larger than 100 bytes, the limit for this kind of file (it passes "
        "the limit on this line); shorten it"
    ]
    f.write_bytes(b"\n" * 101)
    assert _refused(f)[0].startswith("f:101: the file is larger than 100 bytes")
    big = tmp_path / "big"
    big.write_bytes(b"x" * 2049)
    with pytest.raises(InputError) as exc:
        read_file(big, "big", 2048)
    assert exc.value.problems[0].startswith("big:1: the file is larger than 2 KiB, the limit")


def test_read_file_checks_the_bytes_and_lines(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"a\r\nbb\n")
    assert _refused(f, crlf="FIX") == ["f:1: lines end in CR LF (Windows line endings); FIX"]
    assert read_file(f, "f", 100, crlf=ACCEPT_CRLF) == "a\r\nbb\n"
    with pytest.raises(InputError) as exc:
        read_file(f, "f", 100, line_limit=1, crlf=ACCEPT_CRLF)
    assert exc.value.problems[0].startswith("f:2: this line is 2 bytes long")


# --- arguments, stack names, values ------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("Pulumi.mouse.yaml", None),
        ("a\tb", "stack file 'a\\\\tb' holds a tab; use a plain name"),
        (
            "a\u202eb",
            "stack file 'a\\\\u202eb' holds the bidirectional control U+202E "
            + BIDI
            + "; use a plain name",
        ),
        ("\udcff", "stack file '\\udcff' is not valid UTF-8; use a plain name"),
    ],
)
def test_check_arg(value: str, problem: str | None) -> None:
    assert check_arg("stack file", value) == problem


NAME_RULE = (
    " is not a stack's short name: letters, digits, '-', '_' and '.' only (up to 100), e.g. mouse"
)


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("mouse", None),
        ("XX", None),
        (["é"], "['é']"),
        ("vm-test", None),
        ("a.b_c-9", None),
        ("x" * 100, None),
        (".a", None),
        ("x" * 101, "'" + "x" * 101 + "'"),
        ("", "''"),
        (".", "'.'"),
        ("..", "'..'"),
        ("a b", "'a b'"),
        ("a/b", "'a/b'"),
        ("é", "'\\xe9'"),
        ("a\n", "'a\\n'"),
        (3, "3"),
        (None, "None"),
        (["mouse"], "['mouse']"),
    ],
)
def test_stack_name(name: object, shown: str | None) -> None:
    got = stack_name_problem(name)
    assert got == (None if shown is None else f"stack name {shown}{NAME_RULE}")


ONE_LINE = (
    "must be one line of plain text (it could otherwise add lines to the file it is written to)"
)


def _nested(depth: int) -> list:
    out: list = []
    for _ in range(depth):
        out = [out]
    return out


@pytest.mark.parametrize(
    ("data", "problems"),
    [
        ({"a": "x", "b": [1, "y", None], "c": {"d": True}}, []),
        (
            {"a": ["x", "y\tz"]},
            [(("a", 1), f"the value holds a tab at character 2; a value {ONE_LINE}")],
        ),
        (
            {"a": {1: "x", "b\n": "y", "c": "\x00"}},
            [
                (("a",), "key 1 is not a string; quote it"),
                (("a",), f"the key holds a newline at character 2; a key {ONE_LINE}"),
                (("a", "c"), f"the value holds a NUL byte at character 1; a value {ONE_LINE}"),
            ],
        ),
        # After a bad key, its value is not looked at; the next key is.
        (
            {"k\t": "\x00", 2: "\x00", "z": "\x01"},
            [
                ((), f"the key holds a tab at character 2; a key {ONE_LINE}"),
                ((), "key 2 is not a string; quote it"),
                (
                    ("z",),
                    "the value holds the control character U+0001 at character 1; a value "
                    + ONE_LINE,
                ),
            ],
        ),
        ({"v": "x" * VALUE_MAX}, []),
        ({"v": "x" * (VALUE_MAX + 1)}, [(("v",), "the value is 32 KiB long; the limit is 32 KiB")]),
        (
            {"v": "é" * (VALUE_MAX // 2 + 1)},
            [(("v",), "the value is 32 KiB long; the limit is 32 KiB")],
        ),
        ({"v": "x" * 40000}, [(("v",), "the value is 39 KiB long; the limit is 32 KiB")]),
        (_nested(YAML_DEPTH_MAX), []),
        (
            _nested(YAML_DEPTH_MAX + 1),
            [
                (
                    (0,) * (YAML_DEPTH_MAX + 1),
                    f"nested deeper than {YAML_DEPTH_MAX} levels; flatten it",
                )
            ],
        ),
        (
            {"a": _nested(YAML_DEPTH_MAX)},
            [
                (
                    ("a",) + (0,) * YAML_DEPTH_MAX,
                    f"nested deeper than {YAML_DEPTH_MAX} levels; flatten it",
                )
            ],
        ),
    ],
)
def test_value_problems(data: object, problems: list) -> None:
    assert list(value_problems(data)) == problems


def test_string_problem_never_repeats_the_text_and_hides_the_position_on_request() -> None:
    assert string_problem("s3cret\u2028x") == (
        "the value holds the Unicode line separator U+2028 (a line break to Python and Go, not "
        f"systemd) at character 7; a value {ONE_LINE}"
    )
    assert string_problem("s3cret\u2028x", "secret", position=False) == (
        "the secret holds the Unicode line separator U+2028 (a line break to Python and Go, not "
        f"systemd); a secret {ONE_LINE}"
    )
    assert string_problem("plain") is None
    # A lone surrogate (from a runtime value) is counted, not an encoding crash.
    assert string_problem("\udcff" * (VALUE_MAX // 3 + 1)) == (
        "the value is 32 KiB long; the limit is 32 KiB"
    )


def test_an_input_error_is_its_lines() -> None:
    found = [Found("a", 1, "x"), Found("b", 2, "y")]
    err = InputError(found)
    assert (err.found, err.problems, str(err)) == (found, ["a:1: x", "b:2: y"], "a:1: x\nb:2: y")
