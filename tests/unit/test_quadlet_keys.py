"""The key tables against podman's real 5.4.2 generator: every key we accept for 5.4 is one
it accepts, and every key we mark as newer is one it refuses (scripts/install-tools)."""

from __future__ import annotations

import re

from homelab.quadlet.keys import (
    KIND_GROUP,
    KINDS_NEWER_THAN_5_4,
    NEWER_THAN_5_4,
    QUADLET_KEYS,
    SUPPORTED_KEYS,
)
from homelab.tools import quadlet_generate


def _unsupported(units: dict[str, str]) -> dict[str, str]:
    """Run the generator over `units`; file name -> the key it calls unsupported."""
    out = {}
    for msg in quadlet_generate(units).messages:
        m = re.search(r"converting \"([^\"]+)\": unsupported key '(\w+)'", msg)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def test_key_tables_match_podman_5_4():
    units, expect_refused = {}, set()
    for kind, group in KIND_GROUP.items():
        if kind in KINDS_NEWER_THAN_5_4:
            continue
        keys = [(group, k) for k in sorted(SUPPORTED_KEYS[group])]
        keys += [("Quadlet", k) for k in sorted(QUADLET_KEYS)]
        for i, (g, key) in enumerate(keys):
            name = f"k{i}-{key.lower()}{kind}"
            # Only the key under test is unusual; the value may be refused later, which is
            # not what this test looks at.
            # podman 5.4 checks ImageTag= of a .build before its keys.
            base = "ImageTag=localhost/x\n" if group == "Build" and key != "ImageTag" else ""
            units[name] = f"[{group}]\n{base}" + (f"[{g}]\n" if g != group else "") + f"{key}=1\n"
            if (g, key) in NEWER_THAN_5_4:
                expect_refused.add(name)
    refused = _unsupported(units)
    assert len(units) > 200
    wrongly_accepted = sorted(n for n in units if n in refused and n not in expect_refused)
    not_refused = sorted(n for n in expect_refused if n not in refused)
    assert wrongly_accepted == [], f"5.4.2 refuses keys our table accepts: {wrongly_accepted}"
    assert not_refused == [], f"5.4.2 accepts keys we call newer: {not_refused}"


def test_a_made_up_key_is_refused_by_podman_too():
    refused = _unsupported({"x.container": "[Container]\nImgae=1\n"})
    assert refused == {"x.container": "Imgae"}
