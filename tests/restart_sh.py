"""tests/restart_cases.tsv through apply.sh's own restart decision (its `decide_units`, step 3),
one shell script per case: run by dash and bash --posix here with a stand-in `systemctl`
(tests/unit/test_restart_cases_sh.py) and as root on the simulated host with real systemd
(tests/e2e/test_restart_cases.py).

The generation is the tar the push ships (`push.build_tar`: the real apply.sh and manifest),
with the case's one managed file at LIVE_DIR/web.container (a scratch dir: the function reads
the path from the manifest, so nothing of the host's own /etc is touched). The script sources
apply.sh the way revert.sh does (HOMELAB_APPLY_LIB=1), points $B (the host's /etc/homelab) at
a scratch dir holding the case's `pending` and a current generation with the same units (so
nothing is removed), and prints what decide_units wrote to $d/restart, $d/start, $d/removed.
"""

from __future__ import annotations

import csv
import shlex
from pathlib import Path

from homelab import push
from homelab.fileset import FileSet, ManagedFile

TABLE = Path(__file__).resolve().parent / "restart_cases.tsv"
NEW = "new\n"
STACK_UNITS = ("api.service", "web.service")


def cases() -> list[dict[str, str]]:
    lines = [ln for ln in TABLE.read_text().splitlines() if ln and not ln.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t"))


def cell(value: str, prefix: str = "") -> list[str]:
    """A table cell as sorted unit names ("-": none), each with `prefix` (the sim host's
    transient units must not share names with the stack's)."""
    return [] if value == "-" else sorted(prefix + u for u in value.split(","))


def generation_tar(case: dict[str, str], live_dir: str, prefix: str = "") -> bytes:
    units = tuple(cell(case["units"], prefix))
    fs = FileSet(
        files=(ManagedFile(path=f"{live_dir}/web.container", content=NEW, units=units),),
        units=tuple(prefix + u for u in STACK_UNITS),
        quadlet_dir="/etc/containers/systemd",
    )
    return push.build_tar(push.Desired.of(fs), push.plain_contents(fs), {}, "000001-rcase", 30, 1)


LIVE_FILE = {
    "same": 'printf \'new\\n\' >"$p"; chmod 0644 "$p"',
    "mode": 'printf \'new\\n\' >"$p"; chmod 0600 "$p"',  # same bytes, other mode
    "changed": 'printf \'old\\n\' >"$p"; chmod 0644 "$p"',
    "missing": ":",
}


def script(case: dict[str, str], work: str, prefix: str = "") -> str:
    """The case as `sh -c` text: WORK holds gen.tar (generation_tar with live_dir WORK/live)."""
    pending = "".join(u + "\n" for u in cell(case["pending"], prefix))
    return f"""set -eu
w={shlex.quote(work)}
rm -rf "$w/stage" "$w/base" "$w/live"
mkdir -p "$w/stage" "$w/base/generations/000000-old" "$w/live"
tar -xf "$w/gen.tar" -C "$w/stage"
# The current generation has the same units and paths: nothing is removed.
cp "$w/stage/manifest.tsv" "$w/base/generations/000000-old/manifest.tsv"
ln -s "$w/base/generations/000000-old" "$w/base/current"
printf %s {shlex.quote(pending)} >"$w/base/pending"
[ -s "$w/base/pending" ] || rm -f "$w/base/pending"
HOMELAB_APPLY_LIB=1
set -- "$w/stage"
. "$w/stage/apply.sh"
B=$w/base
# What apply.sh's main part reads from the manifest before step 3.
lines F "$M" >"$d/files"
lines U "$M" | cut -f2 | sort -u >"$d/units"
p=$(cut -f2 "$d/files")
{LIVE_FILE[case["live"]]}
decide_units
for f in restart start removed; do
    printf '%s=%s\\n' "$f" "$(paste -sd, "$d/$f")" >&3
done
"""


def parse(out: str) -> dict[str, list[str]]:
    """restart=a,b lines -> {"restart": ["a", "b"], ...}."""
    got = dict(ln.split("=", 1) for ln in out.splitlines() if "=" in ln)
    return {k: [u for u in v.split(",") if u] for k, v in got.items()}


def expected(case: dict[str, str], prefix: str = "") -> dict[str, list[str]]:
    return {
        "restart": cell(case["restart"], prefix),
        "start": cell(case["start"], prefix),
        "removed": [],
    }
