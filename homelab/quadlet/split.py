"""Word splitting and quoting of values, as podman's pkg/systemd/parser/split.go does it.

podman reads some keys as command lines (Exec=, PodmanArgs=: split, unquoted, C escapes),
some as KEY=VALUE words (Environment=, Label=) and some as plain word lists (AddDevice=,
After=: escapes kept). `escape_word` quotes a word so that the splitter gives it back.
"""

from __future__ import annotations

WHITESPACE = " \t\n\r"
# Go's unicode.IsSpace: ASCII space, NEL, NBSP and Unicode's other White_Space characters
# (podman trims lines and looked-up values with it).
GO_SPACE = (
    " \t\n\r\v\f\x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000"
)


class SplitError(ValueError):
    pass


# --- word splitting (podman's split.go, itself a port of systemd's extract_first_word) ---

RELAX = 1
CUNESCAPE = 2
UNQUOTE = 4
RETAIN_ESCAPE = 8
UNESCAPE_RELAX = 16  # keep unknown escapes verbatim instead of failing

_SIMPLE = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "'": "'",
    "s": " ",
}
_HEX = "0123456789abcdefABCDEF"


def _cunescape_one(s: str) -> tuple[int, str]:
    """(chars consumed, char) for the escape after a backslash; (-1, "") if unsupported."""
    if not s:
        return -1, ""
    c = s[0]
    if c in _SIMPLE:
        return 1, _SIMPLE[c]
    if c == "x":
        if len(s) < 3 or s[1] not in _HEX or s[2] not in _HEX or s[1:3] == "00":
            return -1, ""
        return 3, chr(int(s[1:3], 16))
    if c in "uU":
        n = 4 if c == "u" else 8
        digits = s[1 : 1 + n]
        if len(digits) < n or any(d not in _HEX for d in digits):
            return -1, ""
        v = int(digits, 16)
        if v == 0 or v > 0x10FFFF:
            return -1, ""
        # Go's WriteRune writes a UTF-16 surrogate half as U+FFFD, the replacement char.
        return n + 1, "\ufffd" if 0xD800 <= v <= 0xDFFF else chr(v)
    if c in "01234567":
        digits = s[:3]
        if len(digits) < 3 or any(d not in "01234567" for d in digits):
            return -1, ""
        v = int(digits, 8)
        if v == 0 or v > 255:
            return -1, ""
        return 3, chr(v)
    return -1, ""


def split_words(value: str, flags: int = RELAX | UNQUOTE | CUNESCAPE) -> list[str]:
    """Split like podman's splitString (default flags: LookupAllArgs / Exec=)."""
    words: list[str] = []
    i, n = 0, len(value)
    while True:
        while i < n and value[i] in WHITESPACE:
            i += 1
        if i >= n:
            return words
        word: list[str] = []
        quote = ""
        while i < n:
            c = value[i]
            if c == "\\" and not flags & RETAIN_ESCAPE:
                if i + 1 >= n:
                    if flags & RELAX:
                        i = n
                        break
                    raise SplitError("unbalanced escape")
                if flags & CUNESCAPE:
                    used, ch = _cunescape_one(value[i + 1 :])
                    if used < 0 and flags & UNESCAPE_RELAX:
                        used, ch = 1, "\\" + value[i + 1]
                    elif used < 0:
                        raise SplitError("unsupported escape char")
                    word.append(ch)
                    i += 1 + used
                else:
                    word.append(value[i + 1])
                    i += 2
                continue
            if quote:
                if c == quote:
                    quote = ""
                else:
                    word.append(c)
                i += 1
                continue
            if c in "'\"" and flags & UNQUOTE:
                quote = c
                i += 1
                continue
            if c in WHITESPACE:
                break
            word.append(c)
            i += 1
        if quote and not flags & RELAX:
            raise SplitError("unbalanced quotes")
        if not word:
            # podman (unlike systemd) ends the split at an empty word such as ""
            return words
        words.append("".join(word))


def _need_escape(c: str) -> bool:
    # Go's unicode.IsSpace or IsControl up to 128: the C0 controls, DEL and U+0080.
    o = ord(c)
    return o <= 128 and (c.isspace() or o < 32 or o >= 127 or c in "\"'\\")


def escape_word(word: str) -> str:
    """Quote one word so that podman's splitter gives it back (podman's escapeWords)."""
    if word and not any(_need_escape(c) for c in word):
        return word
    out = ['"']
    rev = {v: k for k, v in _SIMPLE.items() if k not in "s'"}
    for c in word:
        if not _need_escape(c) or c in " '":
            out.append(c)
        elif c in rev:
            out.append("\\" + rev[c])
        else:
            out.append(f"\\x{ord(c):02x}")
    out.append('"')
    return "".join(out)
