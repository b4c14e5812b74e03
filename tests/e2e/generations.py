"""What the push leaves on a host, read from the host itself: generations, leftovers, locks.

Shared by the fault tests (a killed client, a power cut): after any of them the host must
hold one complete generation behind `current`, one generation per content, and nothing a
push writes only while it runs (staging dirs, temporary links, `pending`, a held lock).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.e2e import vmlab
from tests.e2e.pulumi_cli import Stack
from tests.e2e.simhost import SimHost

# The sim host's root fs as this machine sees it (scripts/sim-host: $HOMELAB_SIM_STATE/root):
# watching it costs no SSH round trip, so a test can act within milliseconds of a change.
MACHINE = Path(os.environ.get("HOMELAB_SIM_STATE", "/var/lib/homelab-sim")) / "root"
HOMELAB = MACHINE / "etc" / "homelab"

# Every check of `current` against its own manifest: each file there with its hash and mode.
_COMPLETE = r"""
c=$(readlink /etc/homelab/current) || { echo "BAD: no current"; exit 0; }
[ -f "$c/manifest.tsv" ] || { echo "BAD: $c has no manifest"; exit 0; }
T=$(printf '\t')
awk -F'\t' '$1 == "F"' "$c/manifest.tsv" | while IFS="$T" read -r _ p mode uid gid sha _; do
    f=$c/root$p
    if [ ! -f "$f" ]; then echo "BAD: $p missing from $c"; continue; fi
    [ "$(sha256sum <"$f" | cut -c1-64)" = "$sha" ] || echo "BAD: $p differs from $c's manifest"
    [ "$(stat -c %a:%u:%g "$f")" = "$mode:$uid:$gid" ] || echo "BAD: $p mode/owner in $c"
done
"""

_LEFTOVERS = r"""
cd /etc/homelab
for x in .incoming.* .pending.tmp pending; do [ -e "$x" ] && echo "/etc/homelab/$x"; done
find /etc /var/tank -name '.*.homelab-tmp' 2>/dev/null
flock -n /etc/homelab/.lock true || echo "/etc/homelab/.lock is held"
"""


def pushing() -> list[int]:
    """Processes of a push in flight on the host (the remote command, tar, apply.sh all name
    the staging dir), seen from this machine: the host's processes are ours too."""
    nspawn = int((MACHINE.parent / "nspawn.pid").read_text())
    out = []
    for pid in vmlab.process_tree(nspawn):
        try:
            if b"/etc/homelab/.incoming" in Path(f"/proc/{pid}/cmdline").read_bytes():
                out.append(pid)
        except OSError:
            continue
    return out


def settle(host: SimHost, timeout: float = 180) -> float:
    """Wait until no push runs on the host (a killed client's apply.sh goes on by design:
    it ignores the dropped connection). Returns the seconds waited."""
    t0 = time.monotonic()
    quiet = 0
    while quiet < 2:
        quiet = 0 if pushing() else quiet + 1
        assert time.monotonic() - t0 < timeout, "a push kept running on the host"
        time.sleep(0.3)
    return time.monotonic() - t0


def incomplete(host: SimHost) -> list[str]:
    """Why `current` is not a complete generation (empty: it is)."""
    return host.sh(_COMPLETE).splitlines()


def generations(host: SimHost) -> list[str]:
    return host.sh("ls -1 /etc/homelab/generations").split()


def duplicates(gens: list[str]) -> list[str]:
    """Generations holding the same content as another one (ids end in a content digest;
    a retry within one second adds `-rPID`; rolled-back ones end in `.failed`)."""
    seen: dict[str, str] = {}
    dup = []
    for g in gens:
        if g.endswith(".failed") or "-" not in g or g.startswith("000000"):
            continue
        digest = g.split("-")[1]
        if digest in seen:
            dup.append(f"{seen[digest]} = {g}")
        seen[digest] = g
    return dup


def leftovers(host: SimHost, state: Path) -> list[str]:
    """Anything only a running push may hold: staging dirs, temporary links, `pending`, the
    host's push lock, the file backend's stack lock."""
    left = host.sh(_LEFTOVERS).split("\n")
    locks = state / ".pulumi" / "locks"
    left += [str(p) for p in locks.rglob("*") if p.is_file()] if locks.exists() else []
    return [x for x in left if x]


def recover(st: Stack, state: Path) -> list[str]:
    """README's steps after an interrupted `pulumi up`: run it again; when the engine says the
    stack is locked, `pulumi cancel` and `pulumi up`. Returns the steps that were needed."""
    steps = ["up"]
    r = st.up(check=False)
    text = r.stdout + r.stderr
    if "failed to load checkpoint" in text:
        assert vmlab.repair_truncated_attrs(state), text
        steps.append("repair .attrs")
        r = st.up(check=False)
        text = r.stdout + r.stderr
    if r.returncode != 0:
        assert "pulumi cancel" in text, text  # the engine names the step itself
        st.run("cancel", "--yes")
        steps += ["cancel", "up"]
        st.up()
    return steps
