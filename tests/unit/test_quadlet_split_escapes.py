"""C escapes, quoting and word escaping, against podman's own reading of them.

`CASES` is how podman's splitter (pkg/systemd/parser/split.go, a port of systemd's
extract_first_word and cunescape) reads a PodmanArgs= value: its words, or None when podman
drops the whole value (an escape it does not support). `ESCAPES` is how podman writes a word
back into ExecStart= (its escapeWords). Both tables are checked against the real generator in
one run (`test_the_tables_are_podmans_reading`), and our splitter / quoter against the tables.
"""

from __future__ import annotations

import ast
import re

import pytest

from homelab.quadlet.split import (
    CUNESCAPE,
    RELAX,
    RETAIN_ESCAPE,
    UNESCAPE_RELAX,
    UNQUOTE,
    SplitError,
    _cunescape_one,
    escape_word,
    split_words,
)
from homelab.tools import quadlet_generate

CASES: list[tuple[str, list[str] | None]] = [
    # the simple escapes (C's, plus \s for a space)
    (r"a\ab\bc\fd", ["a\ab\bc\fd"]),
    (r"\n\r\t\v", ["\n\r\t\v"]),
    (r"\\ \" \' \s", ["\\", '"', "'", " "]),
    # \xHH: exactly two hex digits, NUL refused
    (r"a\x41b \x4a\x4B", ["aAb", "JK"]),
    (r"\x41BC", ["ABC"]),
    (r"\xff", ["\xff"]),
    (r"\x4g", None),
    (r"\xg4", None),
    (r"a \x4", None),
    (r"\x00", None),
    (r"\x00a", None),
    # \uHHHH: exactly four, NUL refused, a surrogate half becomes U+FFFD (Go's WriteRune)
    (r"\u0041", ["A"]),
    (r"\u00e9x \u20AC", ["\xe9x", "\u20ac"]),
    (r"\u00410", ["A0"]),
    (r"\u004", None),
    (r"\u41", None),
    (r"\u00g1", None),
    (r"\u0000", None),
    (r"\ud800", ["\ufffd"]),
    (r"\ud7ff \ue000", ["\ud7ff", "\ue000"]),
    # \UHHHHHHHH: exactly eight, NUL and anything above U+10FFFF refused
    (r"\U00000041", ["A"]),
    (r"\U0001F600z", ["\U0001f600z"]),
    (r"\U000000410", ["A0"]),
    (r"\U0041", None),
    (r"\U0000004", None),
    (r"\U0000004g", None),
    (r"\U00000000", None),
    (r"\U0010ffff", ["\U0010ffff"]),
    (r"\U00110000", None),
    (r"\U0000dfff", ["\ufffd"]),
    (r"\X00000041", None),
    # \OOO: exactly three octal digits, NUL and anything above 255 refused
    (r"\101", ["A"]),
    (r"\1010", ["A0"]),
    (r"\0101", ["\b1"]),
    (r"\377", ["\xff"]),
    (r"\200", ["\x80"]),
    (r"\400", None),
    (r"\777", None),
    (r"\000", None),
    (r"\12", None),
    (r"\18", None),
    (r"\1X1", None),
    # anything else after a backslash drops the value
    (r"a\qb", None),
    (r"\8", None),
    (r"\c x", None),
    # quoting
    ('"a b" c', ["a b", "c"]),
    ("'x y'z", ["x yz"]),
    (r'"a\tb\"c" ' + r"'d\x41'", ['a\tb"c', "dA"]),
    ("a\tb", ["a", "b"]),
    ('a "" b', ["a"]),  # podman ends the split at an empty word (systemd would not)
    ('a "b c', ["a", "b c"]),  # relaxed: an unterminated quote ends the value
]

# word -> podman's escapeWords(word), as it writes it into ExecStart=
ESCAPES: list[tuple[str, str]] = [
    ("plain", "plain"),
    ("XY", "XY"),
    ("a b", '"a b"'),
    ("it's", '"it\'s"'),
    ('say "hi"', r'"say \"hi\""'),
    ("back\\slash", r'"back\\slash"'),
    ("\a\b\f\n\r\t\v", r'"\a\b\f\n\r\t\v"'),
    ("\x01\x1f", r'"\x01\x1f"'),
    ("\x7f", r'"\x7f"'),
    ("\x80", r'"\x80"'),
    ("\x81\x85\xe9\u20ac", "\x81\x85\xe9\u20ac"),  # above 128: as is
]

IMAGE = "docker.io/library/busybox:1.36"


@pytest.mark.parametrize(("value", "words"), CASES)
def test_split_words_reads_escapes_as_podman(value, words):
    if words is None:
        with pytest.raises(SplitError, match=r"^unsupported escape char$"):
            split_words(value)
    else:
        assert split_words(value) == words


@pytest.mark.parametrize(("word", "token"), ESCAPES)
def test_escape_word_is_podmans_escape(word, token):
    assert escape_word(word) == token
    assert split_words(token) == [word]


def _podman_tokens(execstart: str) -> list[str]:
    return re.findall(r'"(?:[^"\\]|\\.)*"|[^ ]+', execstart)


def _unescape(token: str) -> str:
    # podman's quoted words use only \a \b \f \n \r \t \v \\ \" and \xHH: Python's syntax
    return ast.literal_eval(token) if token.startswith('"') else token


def test_the_tables_are_podmans_reading():
    lines = ["[Container]", f"Image={IMAGE}"]
    lines += [f"PodmanArgs=case{i} {value}" for i, (value, _) in enumerate(CASES)]
    lines += [f"PodmanArgs=esc{i} {token}" for i, (_, token) in enumerate(ESCAPES)]
    run = quadlet_generate({"t.container": "\n".join(lines) + "\n"})
    assert run.returncode == 0 and not run.messages, run.messages
    # split("\n"), not splitlines(): a word may hold U+0085, a line break to splitlines()
    (execstart,) = [ln for ln in run.stdout.split("\n") if ln.startswith("ExecStart=")]
    tokens = _podman_tokens(execstart)
    got: dict[str, list[str]] = {}
    current = None
    for tok in tokens[: tokens.index(IMAGE)]:
        if re.fullmatch(r"(case|esc)\d+", tok):
            current = got.setdefault(tok, [])
        elif current is not None:
            current.append(tok)
    for i, (value, words) in enumerate(CASES):
        seen = got.get(f"case{i}")
        read = None if seen is None else [_unescape(t) for t in seen]
        assert read == words, (value, seen)
    for i, (word, token) in enumerate(ESCAPES):
        assert got.get(f"esc{i}") == [token], word


# --- the flags podman's other readers use (split.go's extractFirstWord) -----------------


def test_trailing_backslash():
    # relaxed (LookupAllArgs): eaten; strict: an error
    assert split_words("a\\") == ["a"]
    assert split_words("a \\") == ["a"]
    assert split_words(r"a b\t") == ["a", "b\t"]
    with pytest.raises(SplitError, match=r"^unbalanced escape$"):
        split_words("ab\\", UNQUOTE | CUNESCAPE)


def test_unknown_escape_kept_verbatim_when_relaxed():
    flags = UNQUOTE | CUNESCAPE | UNESCAPE_RELAX
    assert split_words(r"a\qbc d\x41", flags) == [r"a\qbc", "dA"]
    with pytest.raises(SplitError, match=r"^unsupported escape char$"):
        split_words(r"a\qbc", UNQUOTE | CUNESCAPE)


def test_backslash_without_unescaping_takes_the_next_char():
    assert split_words(r"a\nb\ c d", UNQUOTE) == ["anb c", "d"]


def test_quotes_are_plain_without_unquote():
    assert split_words('"a b" c', RELAX | CUNESCAPE) == ['"a', 'b"', "c"]


def test_unterminated_quote_is_an_error_unless_relaxed():
    with pytest.raises(SplitError, match=r"^unbalanced quotes$"):
        split_words('a "b', UNQUOTE | CUNESCAPE)
    assert split_words('a "b', RELAX | UNQUOTE | CUNESCAPE) == ["a", "b"]


def test_retained_escapes_do_not_escape_quotes():
    assert split_words(r'a\x41 "b\" c', UNQUOTE | RETAIN_ESCAPE) == ["a\\x41", "b\\", "c"]


@pytest.mark.parametrize(
    "escape", ["", "q", "x4g", "x00", "u12", "u0000", "U00110000", "18", "400"]
)
def test_unsupported_escape_is_minus_one(escape):
    # _cunescape_one's documented "unsupported" answer: split_words only looks at the sign, so
    # these pin the contract rather than a behaviour podman shows
    assert _cunescape_one(escape) == (-1, "")
