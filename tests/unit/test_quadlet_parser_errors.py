"""The parser's exact findings (line, key, message) and podman's line rules it follows.

podman's UnitFile.Parse (pkg/systemd/parser/unitfile.go): every line is trimmed with Go's
strings.TrimSpace, a group header is `[name]` with only spaces or tabs after the `]` and no
bracket or control character (unicode.IsControl) in the name, a key's end and a value's start
are trimmed byte by byte (so only ASCII space counts there). The last test checks the trimming
and the group-name rule against the real generator.
"""

from __future__ import annotations

import pytest

from homelab.quadlet import QuadletError, parse_unit
from homelab.quadlet.keys import KIND_GROUP, valid_sections
from homelab.quadlet.render import Line, Section
from homelab.quadlet.split import escape_word
from homelab.tools import quadlet_generate

F = "containers/x.container"
NOT_KV = "is not a key=value pair, a [Section] or a comment"


def _soft(text: str, filename: str = F) -> list[tuple[int, str, str]]:
    errors: list[QuadletError] = []
    parse_unit(text, filename, errors)
    return [(e.line, e.key, e.message) for e in errors]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (
            "[Container]\nImage=x\nthis is not a key\n",
            [(3, "", f"line 'this is not a key' {NOT_KV}")],
        ),
        ("[Container]\n=value\n", [(2, "", f"line '=value' {NOT_KV}")]),
        ("# c\nImage = x\n[Container]\n", [(2, "Image", "key=value before any [Section]")]),
        ("[]\nK=v\n", [(1, "", "invalid group name: ")]),
        ("[Container]\n[a[b]\n", [(2, "", "invalid group name: a[b")]),
        ("[X-a\x1fb]\n", [(1, "", "invalid group name: X-a\x1fb")]),
        ("[X-a\x7fb]\n", [(1, "", "invalid group name: X-a\x7fb")]),
        ("[X-a\x85b]\n", [(1, "", "invalid group name: X-a\x85b")]),
        ("[X-a b]\nK=v\n[X-\xe9]\n[X-\xa0]\n", []),  # space, é and NBSP: no control
        # only spaces and tabs may follow the `]` of a header
        ("[X-a] \t\nK=v\n", []),
        ("[Container] ]\n", [(1, "", f"line '[Container] ]' {NOT_KV}")]),
        ("[X-a]X\n", [(1, "", f"line '[X-a]X' {NOT_KV}")]),
        ("[X-a]\x1c\n", [(1, "", f"line '[X-a]\\x1c' {NOT_KV}")]),
        # unknown sections: the kind named, a close match offered
        (
            "[Servcie]\n",
            [(1, "", "unknown section [Servcie] in a .container file; did you mean [Service]?")],
        ),
        ("[Zzzzzz]\n", [(1, "", "unknown section [Zzzzzz] in a .container file")]),
        ("[Container]\n[Volume]\n", [(2, "", "unknown section [Volume] in a .container file")]),
        # continuation at end of file: the key it started, "" when there is none
        ("[Container]\nExec=a=b \\\n", [(2, "Exec", "line continuation at end of file")]),
        (
            "[Container]\nfoo \\\n",
            [(2, "", "line continuation at end of file"), (2, "", f"line 'foo ' {NOT_KV}")],
        ),
        # quoting, by how podman reads the key: strv (escapes kept) or command line (unescaped)
        ('[Unit]\nAfter=a\\"b\n', [(2, "After", "unterminated quote in value 'a\\\\\"b'")]),
        ('[Unit]\nDescription=a\\"b\n', []),
        (
            '[Container]\nAddDevice=a\\"b\n',
            [(2, "AddDevice", "unterminated quote in value 'a\\\\\"b'")],
        ),
        ('[Container]\nExec=a\\"b\n', []),
        (
            '[Container]\nEnvironment="A=1\n',
            [(2, "Environment", "unterminated quote in value '\"A=1'")],
        ),
        (
            '[Service]\nExecStart=sh -c "x\n',
            [(2, "ExecStart", "unterminated quote in value 'sh -c \"x'")],
        ),
    ],
)
def test_findings_are_exact(text, found):
    assert _soft(text) == found


def test_kind_of_file_in_unknown_section_message():
    assert _soft("[Foo]\n", "noext") == [(1, "", "unknown section [Foo] in this file")]
    assert _soft("[Foo]\n", "a.unit") == [(1, "", "unknown section [Foo] in a .unit file")]
    # a file name that is no Quadlet kind accepts every Quadlet group
    assert _soft("[Volume]\nA=1\n[Container]\nB=2\n", "a.unit") == []


def test_valid_sections():
    base = {"Unit", "Service", "Install", "Quadlet"}
    assert valid_sections(".container") == base | {"Container"}
    assert valid_sections(".volume") == base | {"Volume"}
    assert valid_sections(".txt") == base | set(KIND_GROUP.values())
    assert valid_sections("") == base | set(KIND_GROUP.values())


def test_entries_of_an_invalid_group_go_nowhere():
    text = "[Container]\nImage=x\n[]\nK=v\n"
    errors: list[QuadletError] = []
    unit = parse_unit(text, F, errors)
    assert [(e.line, e.key, e.message) for e in errors] == [(3, "", "invalid group name: ")]
    assert [s.name for s in unit.sections] == ["Container"]
    assert unit.get("Container", "K") == []


def test_soft_errors_carry_the_message():
    errors: list[QuadletError] = []
    parse_unit("[Container]\nnope\n", F, errors)
    (e,) = errors
    assert str(e) == f"{F}:2: line 'nope' {NOT_KV}"


def test_keys_values_and_comments_with_their_lines():
    text = "# top\n\n[X-a]\nXKey = a ]\n; mid\nV=  x  \nExec=echo a]\n# end"
    unit = parse_unit(text, "a.container")
    (s,) = unit.sections
    assert s.comments == [Line(value="# top", line=1), Line(value="", line=2)]
    assert s.entries == [
        Line(key="XKey", value="a ]", line=4),
        Line(value="; mid", line=5),
        Line(key="V", value="x", line=6),
        Line(key="Exec", value="echo a]", line=7),
        Line(value="# end", line=8),
    ]


def test_key_end_trimmed_of_ascii_space_only():
    unit = parse_unit("[X-a]\nK \t=v\nL\x1c=w\n", "x.unit")
    assert [(e.key, e.value) for e in unit.section("X-a").entries] == [("K", "v"), ("L\x1c", "w")]


def test_last_line_without_newline():
    unit = parse_unit("[Container]\nExec=a b", F)
    assert unit.get("Container", "Exec") == ["a b"]


def test_comment_only_file():
    unit = parse_unit("# only\n; this\n", F)
    assert unit.sections == [
        Section(
            name="", line=0, comments=[Line(value="# only", line=1), Line(value="; this", line=2)]
        )
    ]


@pytest.mark.parametrize("comment", ["# inside", "; inside"])
def test_folded_entry_keeps_its_comment(comment):
    text = f"[Container]\nExec=a=b \\\n{comment}\n  c\n"
    unit = parse_unit(text, F)
    (e,) = unit.section("Container").entries
    assert (e.key, e.value, e.folded) == ("Exec", "a=b c", ("Exec=a=b ", comment, "c"))
    assert unit.render() == f"[Container]\nExec=a=b \\\n  {comment}\n  c\n"


def test_folded_entry_value_starting_with_nbsp():
    text = "[Container]\nExec=\xa0a \\\n# c\n  b\n"
    unit = parse_unit(text, F)
    assert unit.get("Container", "Exec") == ["\xa0a b"]
    assert unit.render() == "[Container]\nExec=\xa0a \\\n  # c\n  b\n"


# line text -> the PodmanArgs words podman reads from it (checked against the generator below)
TRIM_CASES: list[tuple[str, list[str]]] = [
    ("PodmanArgs=t0 a\x1c", ["t0", "a\x1c"]),  # \x1c: space to Python, not to Go
    ("PodmanArgs=t1 a\u3000", ["t1", "a"]),  # Unicode space ends a line: trimmed
    ("PodmanArgs=t2 a\u2028", ["t2", "a"]),
    ("\u3000PodmanArgs=t3", ["t3"]),
    ("PodmanArgs=\xa0t4", ["\xa0t4"]),  # but not at a value's start
    ("PodmanArgs=\x85t5", ["\x85t5"]),
    ("PodmanArgs=\u3000t6", ["\u3000t6"]),
    ("PodmanArgs \t=  t7", ["t7"]),
]


def test_trimming_and_group_names_are_podmans():
    good = "[Container]\nImage=docker.io/library/busybox:1.36\n"
    good += "".join(line + "\n" for line, _ in TRIM_CASES)
    good += "[X-a\xa0b]\nK=v\n"
    bad = "[Container]\nImage=docker.io/library/busybox:1.36\n[X-a\x85b]\nK=v\n"
    # one run each: podman 5.4 generates nothing when one file fails to parse
    refused = quadlet_generate({"bad.container": bad})
    # (its message is cut at the U+0085 by the line split of DryRun.messages)
    assert refused.returncode == 1 and refused.units() == {}
    assert any("invalid group name: X-a" in m for m in refused.messages), refused.messages
    run = quadlet_generate({"good.container": good})
    assert run.returncode == 0 and not run.messages, run.messages
    (execstart,) = [ln for ln in run.stdout.split("\n") if ln.startswith("ExecStart=")]
    words = execstart.split(" ")
    want = [w for _, ws in TRIM_CASES for w in ws]
    # podman writes each word with its escapeWords (escape_word, test_quadlet_split_escapes)
    got = words[words.index("t0") : words.index("docker.io/library/busybox:1.36")]
    assert got == [escape_word(w) for w in want]
    # and ours
    assert parse_unit(good, "good.container").args("Container", "PodmanArgs") == want
    assert _soft(bad) == [(3, "", "invalid group name: X-a\x85b")]
