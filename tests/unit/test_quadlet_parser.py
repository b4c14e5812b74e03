"""Parser and lint error messages: file, line, key, suggestion."""

from __future__ import annotations

import pytest

from homelab.quadlet import QuadletError, check, parse_unit, split_words
from homelab.quadlet.split import RETAIN_ESCAPE, UNQUOTE, escape_word

F = "containers/x.container"


def _err(text: str) -> QuadletError:
    with pytest.raises(QuadletError) as ei:
        parse_unit(text, F)
    return ei.value


def test_malformed_line():
    e = _err("[Container]\nImage=docker.io/a/b:1\nthis is not a key\n")
    assert (e.file, e.line, e.key) == (F, 3, "")
    assert "not a key=value pair" in e.message
    assert str(e).startswith(f"{F}:3: ")


def test_key_before_any_section():
    e = _err("# c\nImage=docker.io/a/b:1\n[Container]\n")
    assert (e.line, e.key) == (2, "Image")


def test_unterminated_quote_in_split_value():
    e = _err('[Container]\nImage=docker.io/a/b:1\nExec=sh -c "echo hi\n')
    assert (e.line, e.key) == (3, "Exec")
    assert "unterminated quote" in e.message
    assert str(e) == f"{F}:3: Exec: {e.message}"


def test_unterminated_quote_is_fine_where_podman_does_not_split():
    unit = parse_unit('[Container]\nImage=docker.io/a/b:1\nHostName="a\n', F)
    assert unit.get("Container", "HostName") == ['"a']


def test_continuation_at_end_of_file():
    e = _err("[Container]\nImage=docker.io/a/b:1\nExec=/bin/true \\\n")
    assert (e.line, e.key) == (3, "Exec")
    assert "continuation at end of file" in e.message


def test_continuation_swallowing_only_comments_to_end_of_file():
    e = _err("[Container]\nExec=/bin/true \\\n\n# nothing follows\n")
    assert (e.line, e.key, e.message) == (2, "Exec", "line continuation at end of file")


def test_unknown_section_with_suggestion():
    e = _err("[Container]\nImage=docker.io/a/b:1\n\n[Servcie]\nRestart=always\n")
    assert e.line == 4
    assert "unknown section [Servcie]" in e.message and "did you mean [Service]?" in e.message


def test_extension_sections_are_allowed():
    unit = parse_unit("[Container]\nImage=docker.io/a/b:1\n[X-Mine]\nA=b\n", F)
    assert unit.get("X-Mine", "A") == ["b"]


def test_continuation_joins_and_keeps_start_line():
    unit = parse_unit("[Unit]\n\n[Container]\nExec=a \\\n# c\n  b \\\n c\nImage=x\n", F)
    (e,) = unit.entries("Container", "Exec")
    assert (e.value, e.line) == ("a b c", 4)
    assert unit.line_of("Container", "Image") == 8


def test_repeated_keys_order_and_empty_reset():
    unit = parse_unit("[Container]\nVolume=/a:/a\nVolume=\nVolume=/b:/b\nVolume=/c:/c\n", F)
    assert unit.get("Container", "Volume") == ["/b:/b", "/c:/c"]
    assert unit.get_raw("Container", "Volume") == ["/a:/a", "", "/b:/b", "/c:/c"]


def test_repeated_sections_merge():
    unit = parse_unit("[Container]\nA=1\n[Service]\nB=2\n[Container]\nA=3\n", F)
    assert [s.name for s in unit.sections] == ["Container", "Service"]
    assert unit.get("Container", "A") == ["1", "3"]


def test_check_reports_unknown_key_with_suggestion():
    problems = check("[Container]\nImage=docker.io/a/b:1\n\n\n\n\nImgae=x\n", F)
    (p,) = problems
    assert (p.file, p.line, p.key) == (F, 7, "Imgae")
    assert str(p) == f"{F}:7: unknown key 'Imgae' in [Container]; did you mean 'Image'?"


def test_check_reports_missing_image():
    (p,) = check("[Unit]\nDescription=x\n\n[Container]\nExec=/bin/true\n", F)
    assert (p.line, p.key) == (4, "Image")
    assert "no Image or Rootfs key specified" in p.message


def test_check_reports_parse_problems_and_lint_problems_together():
    problems = check("[Container]\nExec=/bin/true \\\n", F)
    assert [p.key for p in problems] == ["Exec", "Image"]


def test_check_reads_a_path(tmp_path):
    f = tmp_path / "web.container"
    f.write_text("[Container]\nImage=nginx\nPod=missing.pod\n")
    msgs = [str(p) for p in check(f)]
    assert any("not a fully qualified image name" in m for m in msgs), msgs
    assert any("quadlet pod unit missing.pod does not exist" in m for m in msgs), msgs
    assert all(m.startswith(f"{f}:") for m in msgs)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('a "b c" d', ["a", "b c", "d"]),
        ("a 'b \"c' d", ["a", 'b "c', "d"]),
        (r"a\tb c\x41", ["a\tb", "cA"]),
        (r'x"y z"w', ["xy zw"]),
        ('a "" b', ["a"]),  # podman stops at an empty word (systemd would not)
    ],
)
def test_split_words_like_podman(text, words):
    assert split_words(text) == words


def test_strv_keeps_escapes():
    assert split_words(r'a\b "c d"', UNQUOTE | RETAIN_ESCAPE) == [r"a\b", "c d"]


@pytest.mark.parametrize("word", ["plain", "with space", 'q"uote', "back\\slash", "tab\tx", "x'y"])
def test_escape_word_round_trips(word):
    assert split_words(escape_word(word) + " end") == [word, "end"]


def test_unquoted_label_value_with_spaces_is_reported():
    text = "[Container]\nImage=docker.io/a/b:1\nLabel=rule=Host(`x`) && PathPrefix(`/y`)\n"
    (p,) = check(text, F)
    assert (p.line, p.key, p.severity) == (3, "Label", "warning")
    assert "'&&' has no '='" in p.message
    assert check(text.replace("Label=rule", 'Label="rule').rstrip() + '"\n', F) == []
