"""QuadletUnit's readers (podman's Lookup, LookupAllArgs, LookupLastArgs, LookupAllStrv,
LookupAllKeyVal) and its editors, entry by entry; Lookup checked against the generator."""

from __future__ import annotations

import pytest

from homelab.quadlet import QuadletError, parse_unit
from homelab.quadlet.model import QuadletUnit, keyvals
from homelab.quadlet.render import Line
from homelab.quadlet.split import escape_word
from homelab.tools import quadlet_generate

F = "containers/x.container"
IMAGE = "docker.io/library/busybox:1.36"


def _unit(body: str, filename: str = F) -> QuadletUnit:
    return parse_unit(f"[Container]\nImage={IMAGE}\n{body}", filename)


def _lenient(body: str) -> QuadletUnit:
    """Parsed as podman parses it: our stricter checks (unterminated quotes) left aside."""
    errors: list[QuadletError] = []
    unit = parse_unit(f"[Container]\nImage={IMAGE}\n{body}", F, errors)
    assert errors and all("unterminated quote" in e.message for e in errors)
    return unit


def _entries(u: QuadletUnit, section: str = "Container") -> list[tuple[str | None, str, int]]:
    s = u.section(section)
    assert s is not None
    return [(e.key, e.value, e.line) for e in s.entries]


# --- readers --------------------------------------------------------------------------


def test_args_splits_every_value_and_drops_the_unsplittable():
    u = _lenient(
        "PodmanArgs=--a 'b c'\nPodmanArgs=bad\\q\nPodmanArgs=--d \\x41\nPodmanArgs=--e \"f\n"
    )
    assert u.args("Container", "PodmanArgs") == ["--a", "b c", "--d", "A", "--e", "f"]
    assert u.args("Container", "GlobalArgs") == []
    u = _unit("PodmanArgs=--a\nPodmanArgs=\nPodmanArgs=--b\n")  # an empty value resets
    assert u.args("Container", "PodmanArgs") == ["--b"]


def test_last_args_is_the_last_value_split_relaxed():
    u = _lenient("Exec=first\nExec=sh -c 'echo \\x41' \"unterminated x\n")
    assert u.last_args("Container", "Exec") == ["sh", "-c", "echo A", "unterminated x"]
    assert u.last_args("Container", "Nothing") is None


def test_strv_keeps_escapes_and_drops_the_unsplittable():
    u = _lenient('AddDevice=a\\x41 "b c"\nAddDevice=\'unterminated\nAddDevice=d\n')
    assert u.strv("Container", "AddDevice") == ["a\\x41", "b c", "d"]


def test_keyvals():
    assert keyvals("A=1 B 'C=x y' D=e=f") == {"A": "1", "B": None, "C": "x y", "D": "e=f"}
    assert keyvals("E=") == {"E": ""}
    assert keyvals("bad\\q") == {}


# container name -> the `--name` podman runs it with (podman's Lookup: trailing space and every
# leading and trailing double quote trimmed)
NAMES = [
    ('"abc', "abc"),
    ('""def""  ', "def"),
    ('ghi"', "ghi"),
    ('"j k"', "j k"),
    ("lmn \u3000", "lmn"),
    ("opq\x1c", "opq\x1c"),  # \x1c: space to Python, not to Go
    ("XrsX", "XrsX"),
]


def test_lookup_is_podmans():
    units = {
        f"n{i}.container": f"[Container]\nImage={IMAGE}\nContainerName={v}\n"
        for i, (v, _) in enumerate(NAMES)
    }
    run = quadlet_generate(units)
    assert run.returncode == 0 and not run.messages, run.messages
    generated = run.units()
    for i, (value, name) in enumerate(NAMES):
        (execstart,) = [
            ln for ln in generated[f"n{i}.service"].split("\n") if ln.startswith("ExecStart=")
        ]
        assert f" --name {escape_word(name)} " in execstart, (value, execstart)
        u = parse_unit(units[f"n{i}.container"], f"n{i}.container")
        assert u.lookup("Container", "ContainerName") == name
        assert u.container_name == name


def test_lookup_of_the_last_value():
    u = _unit("User=a\nUser=b \t\n")
    assert u.lookup("Container", "User") == "b"
    assert u.lookup("Container", "Group") is None
    assert _unit('User=""\n').lookup("Container", "User") == ""
    assert _unit('User="\n').lookup("Container", "User") == ""
    u.set("Container", "User", [" c  "])  # set in code: trailing space, podman trims it
    assert u.lookup("Container", "User") == " c"


def test_section_lookup_does_not_create():
    u = _unit("")
    assert u.section("Service") is None
    assert [s.name for s in u.sections] == ["Container"]


def test_section_line():
    u = parse_unit(f"# c\n[Container]\nImage={IMAGE}\n\n[Service]\nRestart=always\n", F)
    assert u.section_line("Service") == 5
    assert u.section_line("Install") == 1  # absent
    u.set("Install", "WantedBy", ["default.target"])
    assert u.section_line("Install") == 1  # added in code: no line of its own


def test_error_text():
    e = QuadletError(F, 3, "", "broken")
    assert str(e) == f"{F}:3: broken" and e.args == (f"{F}:3: broken",)
    e = QuadletError(F, 4, "Exec", "broken")
    assert str(e) == f"{F}:4: Exec: broken" and e.args == (str(e),)
    assert e.problem.message == "Exec: broken"


# --- editors --------------------------------------------------------------------------


def test_set_replaces_in_place_of_the_first():
    u = _unit("A=1\nK=old1\nB=2\nK=old2\n# end\n")
    u.set("Container", "K", ["x", "y"])
    assert _entries(u) == [
        ("Image", IMAGE, 2),
        ("A", "1", 3),
        ("K", "x", 4),
        ("K", "y", 4),
        ("B", "2", 5),
        (None, "# end", 7),
    ]


def test_set_of_a_new_key_goes_after_the_last_key():
    u = _unit("A=1\n# one\n# two\n")
    u.set("Container", "K", ["x"])
    assert _entries(u) == [
        ("Image", IMAGE, 2),
        ("A", "1", 3),
        ("K", "x", 0),
        (None, "# one", 4),
        (None, "# two", 5),
    ]


def test_set_creates_the_section():
    u = _unit("")
    u.set("Service", "Restart", ["always"])
    assert [s.name for s in u.sections] == ["Container", "Service"]
    assert _entries(u, "Service") == [("Restart", "always", 0)]


def test_add_after_the_last_of_its_key():
    u = _unit("K=1\nA=2\n# c\n")
    u.add("Container", "K", "3")
    u.add("Container", "B", "4")
    assert _entries(u) == [
        ("Image", IMAGE, 2),
        ("K", "1", 3),
        ("K", "3", 0),
        ("A", "2", 4),
        ("B", "4", 0),
        (None, "# c", 5),
    ]


def test_add_to_a_section_of_comments_only():
    u = parse_unit("[Service]\n# one\n# two\n# three\n", "x.container")
    u.add("Service", "Restart", "always")
    assert _entries(u, "Service") == [
        ("Restart", "always", 0),
        (None, "# one", 2),
        (None, "# two", 3),
        (None, "# three", 4),
    ]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("a=b", "v", "invalid key name 'a=b'"),
        (" a", "v", "invalid key name ' a'"),
        ("", "v", "invalid key name ''"),
        ("K", "a\nb", "K='a\\nb': a value cannot span lines or end with a backslash"),
        ("K", "end\\", "K='end\\\\': a value cannot span lines or end with a backslash"),
    ],
)
def test_unwritable_entries(key, value, message):
    u = _unit("")
    with pytest.raises(ValueError) as ei:
        u.add("Container", key, value)
    assert str(ei.value) == message
    with pytest.raises(ValueError):
        u.set("Container", key, [value])


def test_set_image_in_the_kinds_group():
    u = parse_unit("[Image]\nImage=docker.io/a/b:1\n", "x.image")
    u.set_image_tag("2")
    assert u.get("Image", "Image") == ["docker.io/a/b:2"]
    assert u.section("Container") is None
    u = parse_unit("", "x.unit")  # no Quadlet kind: [Container]
    u.set_image("docker.io/a/b:3")
    assert u.get("Container", "Image") == ["docker.io/a/b:3"]


def test_set_image_tag_without_image():
    u = parse_unit("[Container]\n", F)
    with pytest.raises(ValueError) as ei:
        u.set_image_tag("1")
    assert str(ei.value) == f"{F}: no Image= to set the tag of"


def test_set_environment_replaces_only_lines_assigning_just_that_name():
    u = _unit("Environment=A=1 B=2\nEnvironment=C=3\nEnvironment=D=4\n")
    u.set_environment("C", "new value")
    assert u.get("Container", "Environment") == ["A=1 B=2", "D=4", '"C=new value"']
    u.set_environment("A", "5")  # A shares its line with B: that line stays
    assert u.get("Container", "Environment") == ["A=1 B=2", "D=4", '"C=new value"', "A=5"]
    v = parse_unit("[Volume]\n", "x.volume")
    v.set_environment("X", "1")
    assert v.get("Volume", "Environment") == ["X=1"]
    w = parse_unit("", "x.unit")
    w.set_environment("X", "1")
    assert w.get("Container", "Environment") == ["X=1"]


def test_added_lines_render_with_their_key():
    u = _unit("")
    u.add("Container", "Exec", "a b")
    assert u.render() == f"[Container]\nImage={IMAGE}\nExec=a b\n"
    assert u.section("Container").entries[-1] == Line(key="Exec", value="a b")
