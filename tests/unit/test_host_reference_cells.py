"""The README's option reference (homelab.host.reference), cell by cell: the type a union, a
nullable or an unknown annotation is shown as, a limit with only an upper bound, a cell that
holds `|` or a line break, a key without a description, and where the section is replaced."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from homelab.host import reference
from homelab.host.reference import BEGIN, END, _cell, _limits, _rows, _type, options_markdown


class Sample(BaseModel):
    """A sample model."""

    capped: int = Field(1, le=5, description="At most five.")
    bare: int = 2


def test_union_types_are_each_kind_then_null():
    assert _type(int | str) == "integer or string"
    assert _type(int | str | None) == "integer or string or null"
    assert _type(bool | None) == "boolean or null"


def test_a_type_the_reference_does_not_know_is_named_as_it_is():
    assert "float" in _type(float)


def test_a_limit_with_only_an_upper_bound():
    assert _limits(Sample.model_fields["capped"]) == " (<= 5)"


def test_a_cell_keeps_the_table_whole():
    assert _cell("a|b\nc") == "a\\|b c"


def test_a_key_without_a_description_has_an_empty_cell():
    assert _rows(Sample, "x.") == [
        "| `x.capped` | integer (<= 5) | `1` | At most five. |",
        "| `x.bare` | integer | `2` |  |",
    ]


def test_undocumented_keys_are_listed(monkeypatch):
    assert reference.undocumented() == []
    monkeypatch.setattr(reference, "TABLES", (("s", Sample, ""),))
    assert reference.undocumented() == ["Sample.bare"]


def test_the_first_section_is_replaced_text_around_it_kept():
    md = options_markdown()
    assert reference.with_reference(f"{BEGIN}old{END}tail") == md + "tail"
    assert reference.with_reference(f"a\n{BEGIN}old{END}mid{END}") == f"a\n{md}mid{END}"
    assert reference.with_reference(f"a\n{BEGIN}x{BEGIN}y{END}z") == f"a\n{md}z"
    with pytest.raises(ValueError) as exc:
        reference.with_reference(f"{END} then {BEGIN}")
    assert str(exc.value) == f"README has no {BEGIN!r} ... {END!r} section"
