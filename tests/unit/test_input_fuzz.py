"""No input leads to a traceback: the real stack and container files, mutated at random
(seeded, so a failure reproduces) with the bytes hostile input is made of, either plan or
are refused with `FILE:LINE: ...` problems. Nothing else may escape."""

from __future__ import annotations

import random
import re
import shutil

import pytest

from homelab.cli.build import BuildError, load
from homelab.host.problems import LayoutError
from homelab.host.stack import ConfigError, StackFiles
from tests.e2e.pulumi_cli import project_copy

TARGETS = (
    "Pulumi.mouse.yaml",
    "Pulumi.vm-test.yaml",
    "containers/rustfs.container",
    "containers/netdata.container",
)
PIECES = [
    b"\x00", b"\r", b"\n", b"\t", b"\x0b", b" ", b":", b"-", b"[", b"]", b"{", b"}", b"&a ",
    b"*a", b"!!str ", b"%", b"\\", b'"', b"'", b"#", b"=", b"\xff", b"\xc3", b"\xe2\x80\xa8",
    b"9" * 30, b"..", b"/", b"@", b",", b"?", b"|", b">", b"<<: ", b"010", b"\xef\xbb\xbf",
]  # fmt: skip
# FILE:LINE: what (every problem line; a file name has no spaces or colons here).
PROBLEM = re.compile(r"[^\s:]+:\d+: \S")


def _mutate(rnd: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        i = rnd.randrange(len(out) + 1)
        op = rnd.random()
        if op < 0.4:
            out[i:i] = rnd.choice(PIECES)
        elif op < 0.7:
            del out[i : i + rnd.randint(1, 8)]
        elif op < 0.9 and out:
            j = rnd.randrange(len(out))
            out[i:i] = out[j : j + rnd.randint(1, 40)]
        else:
            del out[i:]
    return bytes(out)


@pytest.mark.parametrize("seed", range(4))
def test_mutated_inputs_plan_or_are_refused(tmp_path, seed):
    base = project_copy(tmp_path / "base", images_lock=False)
    rnd = random.Random(seed)
    outcomes = {"planned": 0, "refused": 0}
    for n in range(100):
        project = tmp_path / f"case{n}"
        shutil.copytree(base, project, symlinks=True)
        target = project / rnd.choice(TARGETS)
        target.write_bytes(_mutate(rnd, target.read_bytes()))
        stack = rnd.choice(["mouse", "vm-test"])
        try:
            load(stack, project, StackFiles(project))
            outcomes["planned"] += 1
        except (ConfigError, LayoutError, BuildError) as exc:
            outcomes["refused"] += 1
            lines = str(exc).splitlines()
            bad = [ln for ln in lines if not PROBLEM.match(ln)]
            assert lines and not bad, f"case {n} ({target.name}): {bad}"
        shutil.rmtree(project)
    # Both outcomes occur: the mutations are neither all harmless nor all fatal.
    assert outcomes["planned"] and outcomes["refused"], outcomes
