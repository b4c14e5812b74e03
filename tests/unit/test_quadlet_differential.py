"""Differential test against podman's real generator on generated tricky units.

Seeded random units mix continuation lines (split at random spaces, with comments and blank
lines inside), quotes, escapes, comments, repeated keys and repeated sections. For each, the
generator must produce the same systemd unit from our canonical text as from the original.
"""

from __future__ import annotations

import random

from homelab.quadlet import parse_unit
from homelab.tools import quadlet_generate

N = 60
VALUES = {
    "Exec": [
        '/bin/sh -c "echo hello world; sleep 1"',
        "/bin/echo 'single quoted' plain\\ttab",
        '/usr/bin/env A="x y" B=\\x41 /bin/true',
    ],
    "PodmanArgs": ["--log-level=debug --tz=UTC", '"--annotation=a=b c"'],
    "Environment": ['"GREETING=hello world" PLAIN=x', "A=1 B=2", "'Q=it''s'"],
    "Volume": ["/var/tank/a:/a:Z", "/srv/b:/b:z,ro", "named:/n"],
    "PublishPort": ["127.0.0.1:8080:80/tcp", "9000:9000", ""],
    "AddDevice": ["/dev/fuse", '"/dev/null:/dev/null:rw"'],
}
UNIT_VALUES = {"After": ["network-online.target zfs-import-tank.service"], "Description": ["a b"]}
SERVICE_VALUES = {"Restart": ["on-failure"], "ExecStartPre": ['/bin/sh -c "echo pre"']}


def _split(rng: random.Random, line: str) -> list[str]:
    """Break a key=value line at spaces into continuation lines, maybe with comments."""
    parts = line.split(" ")
    out, cur = [], parts[0]
    for p in parts[1:]:
        if rng.random() < 0.4:
            out.append(cur + " \\")
            if rng.random() < 0.3:
                out.append(rng.choice(["# inside a continuation", "; also inside", ""]))
            cur = "  " + p
        else:
            cur += " " + p
    out.append(cur + rng.choice(["", " ", "\t"]))
    return out


def _section(rng: random.Random, name: str, table: dict[str, list[str]]) -> list[str]:
    lines = [f"[{name}]"]
    for _ in range(rng.randint(1, 5)):
        key = rng.choice(sorted(table))
        lines += _split(rng, f"{key}={rng.choice(table[key])}")
        if rng.random() < 0.3:
            lines.append(rng.choice(["", "# a comment", "; semicolon", "", ""]))
    return lines


def _unit(seed: int) -> str:
    rng = random.Random(seed)
    lines = ["# header"] if rng.random() < 0.5 else []
    lines += [*_section(rng, "Unit", UNIT_VALUES), ""]
    lines += ["[Container]", "Image=docker.io/library/busybox:1.36"]
    lines += _section(rng, "Container", VALUES)[1:]
    lines += [""] * rng.randint(0, 2) + _section(rng, "Service", SERVICE_VALUES)
    if rng.random() < 0.5:  # a repeated section, merged by podman
        lines += ["", *_section(rng, "Container", VALUES)]
    return "\n".join(lines) + "\n"


def _generate(units: dict[str, str]) -> dict[str, str]:
    run = quadlet_generate(units)
    assert run.returncode == 0 and not run.messages, run.messages
    return run.units()


def test_canonical_text_generates_the_same_units():
    originals = {f"fuzz{i}.container": _unit(i) for i in range(N)}
    canonical = {n: parse_unit(t, n).render() for n, t in originals.items()}
    for n, t in canonical.items():
        assert parse_unit(t, n).render() == t, n  # idempotent
    want = _generate(originals)
    got = _generate(canonical)
    assert len(want) == N
    assert sorted(got) == sorted(want)
    differ = [n for n in want if got[n] != want[n]]
    assert differ == [], (
        differ[:3],
        [originals[n.replace(".service", ".container")] for n in differ[:1]],
    )
