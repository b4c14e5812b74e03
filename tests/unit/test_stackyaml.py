"""The stack file's YAML reader (homelab/stackyaml.py) on its own: a table of YAML texts and
what the user gets back, the value or the exact `FILE:LINE: what, how to fix` lines. The
hostile-input table covers the same rules through the whole config; this one pins the words
and the line of each refusal, and the values the readers agree on."""

from __future__ import annotations

import pytest
import yaml

from homelab.inputs import YAML_DEPTH_MAX, InputError
from homelab.stackyaml import _yaml_problem, load_yaml, plain_scalar_tag

NUMBER = (
    " is read as a number or a date, differently by different YAML readers (octal, hex, digit "
    "groups, more than 18 digits, dates); write a plain decimal, or quote it if it is text"
)
TAGS = "are not allowed (pulumi ignores them); remove it, and quote the value if it is text"


def _deep(n: int) -> str:
    return "[" * n + "]" * n


def _nested(n: int) -> list:
    out: list = []
    for _ in range(n - 1):
        out = [out]
    return out


# (id, YAML text, the data it reads as)
READ = [
    ("plain", "a: 1\nb: x\n", {"a": 1, "b": "x"}),
    ("empty file", "", None),
    ("only a comment", "# nothing\n", None),
    ("nulls", "a: ~\nb: null\nc: NULL\nd:\n", {"a": None, "b": None, "c": None, "d": None}),
    ("bools", "a: true\nb: False\nc: TRUE\n", {"a": True, "b": False, "c": True}),
    (
        "yes/no/on are text, as pulumi reads them",
        "a: yes\nb: off\nc: N\n",
        {"a": "yes", "b": "off", "c": "N"},
    ),
    ("base-60 is text", "a: 1:20\nb: 12:30:45.5\n", {"a": "1:20", "b": "12:30:45.5"}),
    ("decimals", "a: -0\nb: 1.5\nc: -12.25\nd: 0.0\n", {"a": 0, "b": 1.5, "c": -12.25, "d": 0.0}),
    ("18 digits is a number", "a: 123456789012345678\n", {"a": 123456789012345678}),
    (
        "quoted forms are text",
        "a: '010'\nb: \"2020-01-01\"\nc: '<<'\n",
        {"a": "010", "b": "2020-01-01", "c": "<<"},
    ),
    ("lists", "- a\n- [x, y]\n- {k: v}\n", ["a", ["x", "y"], {"k": "v"}]),
    ("same key in sibling maps", "a:\n  k: 1\nb:\n  k: 2\n", {"a": {"k": 1}, "b": {"k": 2}}),
    ("nested to the limit", _deep(YAML_DEPTH_MAX) + "\n", _nested(YAML_DEPTH_MAX)),
    # The depth is of one branch: siblings each as deep as allowed are fine.
    (
        "siblings each at the limit",
        f"a: {_deep(YAML_DEPTH_MAX - 1)}\nb: {_deep(YAML_DEPTH_MAX - 1)}\n",
        {"a": _nested(YAML_DEPTH_MAX - 1), "b": _nested(YAML_DEPTH_MAX - 1)},
    ),
    ("a directive", "%YAML 1.1\n---\na: 1\n", {"a": 1}),
]


@pytest.mark.parametrize(("text", "data"), [c[1:] for c in READ], ids=[c[0] for c in READ])
def test_what_both_readers_agree_on_is_read(text: str, data: object) -> None:
    node, got = load_yaml(text, "Pulumi.s.yaml")
    assert got == data
    assert (node is None) == (data is None)


# (id, YAML text, the problems, exactly)
REFUSED = [
    ("anchor", "a: 1\nb: &x 1\n", ["S:2: YAML anchors (&x) are not allowed; write the value out"]),
    ("alias", "a: 1\n\nb: *x\n", ["S:3: YAML aliases (*name) are not allowed; write it out"]),
    (
        "anchor on a map",
        "a: &m\n  k: 1\n",
        ["S:1: YAML anchors (&m) are not allowed; write the value out"],
    ),
    ("standard tag", "a: 1\nb: !!str 1\n", [f"S:2: YAML tags (tag:yaml.org,2002:str) {TAGS}"]),
    ("local tag", "a: !foo x\n", [f"S:1: YAML tags (!foo) {TAGS}"]),
    ("tag on a list", "a:\n  b: !seq\n    - 1\n", [f"S:2: YAML tags (!seq) {TAGS}"]),
    (
        "duplicate key",
        "a:\n  b: 1\n  c: 2\n  b: 3\n",
        [
            "S:4: duplicate key 'b' (first at line 2); YAML keeps only the last one: merge the two "
            "into one"
        ],
    ),
    (
        "duplicate key in a flow map",
        "{a: 1, a: 2}\n",
        [
            "S:1: duplicate key 'a' (first at line 1); YAML keeps only the last one: merge the two "
            "into one"
        ],
    ),
    (
        "duplicate key, explicit",
        "x: 0\na: 1\n? a\n: 2\n",
        [
            "S:3: duplicate key 'a' (first at line 2); YAML keeps only the last one: merge the two "
            "into one"
        ],
    ),
    ("number key", "a: 1\n1: a\n", ["S:2: key 1 is not a string; keys must be text: quote it"]),
    ("null key", "null: 1\n", ["S:1: key null is not a string; keys must be text: quote it"]),
    ("bool key", "true: 1\n", ["S:1: key true is not a string; keys must be text: quote it"]),
    (
        "list key",
        "a: 1\n? [a]\n: b\n",
        ["S:2: key a list or mapping is not a string; keys must be text: quote it"],
    ),
    ("octal", "a: 1\nb: 010\n", [f"S:2: 010{NUMBER}"]),
    ("hex", "a: 0x10\n", [f"S:1: 0x10{NUMBER}"]),
    ("digit groups", "a: 1_000\n", [f"S:1: 1_000{NUMBER}"]),
    ("plus sign", "a: +1\n", [f"S:1: +1{NUMBER}"]),
    ("exponent", "a: 1e3\n", [f"S:1: 1e3{NUMBER}"]),
    ("leading dot", "a: .5\n", [f"S:1: .5{NUMBER}"]),
    ("date", "a: 2020-01-01\n", [f"S:1: 2020-01-01{NUMBER}"]),
    ("19 digits", "a: 1234567890123456789\n", [f"S:1: 1234567890123456789{NUMBER}"]),
    ("a long number is cut at 40", "a: " + "1" * 50 + "\n", [f"S:1: {'1' * 40}...{NUMBER}"]),
    ("infinity, YAML 1.1", "a: .inf\n", [f"S:1: .inf{NUMBER}"]),
    ("not a number, YAML 1.1", "a: .NaN\n", [f"S:1: .NaN{NUMBER}"]),
    ("40 digits are shown whole", "a: " + "1" * 40 + "\n", [f"S:1: {'1' * 40}{NUMBER}"]),
    ("41 digits are cut", "a: " + "1" * 41 + "\n", [f"S:1: {'1' * 40}...{NUMBER}"]),
    # The depth is counted back as each list closes: a sibling after a closed one is as deep.
    (
        "too deep after a closed sibling",
        "[" * 30 + "[[], [[]]]" + "]" * 30 + "\n",
        [f"S:1: nested deeper than {YAML_DEPTH_MAX} levels; flatten it"],
    ),
    # Refused by PyYAML's reader before any parsing (the bytes' check refuses it first).
    (
        "a control character",
        "\nb: \x07\nc: 1\n\n",
        ["S:2: not valid YAML: special characters are not allowed (U+0007); remove it"],
    ),
    (
        "merge key",
        "a: 1\n<<: {b: 1}\n",
        ["S:2: << is a special YAML key (merge/value); write the keys out"],
    ),
    ("value key", "=: 1\n", ["S:1: = is a special YAML key (merge/value); write the keys out"]),
    (
        "too deep",
        _deep(YAML_DEPTH_MAX + 1) + "\n",
        [f"S:1: nested deeper than {YAML_DEPTH_MAX} levels; flatten it"],
    ),
    (
        "too deep, block",
        "a:\n  b:\n"
        + "".join("  " * i + f"{'k'}{i}:\n" for i in range(2, 33))
        + "  " * 33
        + "z: 1\n",
        [f"S:33: nested deeper than {YAML_DEPTH_MAX} levels; flatten it"],
    ),
    (
        "unclosed list: at the bracket",
        "a: 1\nb: [1, 2\n",
        [
            "S:2: not valid YAML: expected ',' or ']', but got '<stream end>' (while parsing a "
            "flow sequence opened here, error found at line 3); fix the syntax"
        ],
    ),
    (
        "unclosed quote",
        "a: 'x\n",
        [
            "S:1: not valid YAML: found unexpected end of stream (while scanning a quoted scalar "
            "opened here, error found at line 2); fix the syntax"
        ],
    ),
    (
        "no context",
        "a: 1\nb: c: d\n",
        ["S:2: not valid YAML: mapping values are not allowed here; fix the syntax"],
    ),
    (
        "a tab",
        "a: 1\n\t b: 1\n",
        ["S:2: not valid YAML: found character '\\t' that cannot start any token; fix the syntax"],
    ),
    (
        "two documents",
        "a: b\n---\nc: d\n",
        [
            "S:1: not valid YAML: but found another document (expected a single document in the "
            "stream opened here, error found at line 2); fix the syntax"
        ],
    ),
]


@pytest.mark.parametrize(
    ("text", "problems"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_what_the_readers_read_differently_is_refused_at_its_line(
    text: str, problems: list[str]
) -> None:
    with pytest.raises(InputError) as exc:
        load_yaml(text, "S")
    assert exc.value.problems == problems


# (value, the tag pulumi gives it); ValueError cases are in REFUSED above.
TAGS_OF = [
    ("", "null"),
    ("~", "null"),
    ("Null", "null"),
    ("true", "bool"),
    ("FALSE", "bool"),
    ("0", "int"),
    ("-7", "int"),
    ("123456789012345678", "int"),
    ("0.5", "float"),
    ("-1.25", "float"),
    ("yes", "str"),
    ("On", "str"),
    ("1:30", "str"),
    ("text", "str"),
    ("a1", "str"),
    ("1.2.3", "str"),
]


@pytest.mark.parametrize(("value", "tag"), TAGS_OF)
def test_plain_scalar_tag(value: str, tag: str) -> None:
    assert plain_scalar_tag(value) == f"tag:yaml.org,2002:{tag}"


def test_a_yaml_error_without_marks_or_words_is_still_one_line() -> None:
    assert str(_yaml_problem(yaml.MarkedYAMLError(), "S")) == (
        "S:1: not valid YAML: syntax error; fix the syntax"
    )
