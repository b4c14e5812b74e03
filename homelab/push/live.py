"""What is on the host now (one `sh -s` over SSH running remote/read.sh) and the drift
between that and the desired manifest."""

from __future__ import annotations

import base64
import binascii
import contextlib
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from homelab.manifest import DATASET_KEY, datasets, dirs, files, links, mode, owner
from homelab.push.desired import Desired
from homelab.push.errors import CURRENT, REMOTE_DIR, PushError
from homelab.push.ssh import Connection, run_ssh

READ_COMMAND = "sh -s"


@dataclass
class LiveFile:
    sha256: str
    mode: int
    uid: int
    gid: int
    linked: str  # link | plain | other


@dataclass
class LiveDataset:
    state: str  # dataset | plain | missing | nozfs
    creator: str = "-"  # the generation that created it; "-": not homelab
    diffs: dict[str, str] = field(default_factory=dict)  # property -> live value, where it differs

    @property
    def ours(self) -> bool:
        return self.creator not in ("-", "")


@dataclass
class LiveState:
    generation: str = ""
    files: dict[str, LiveFile | None] = field(default_factory=dict)  # None: missing
    wrong_type: set[str] = field(default_factory=set)
    dirs: dict[str, tuple[int, int, int] | None] = field(default_factory=dict)
    links: dict[str, str | None] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    quadlets: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    old_units: list[str] = field(default_factory=list)  # units of the live generation
    texts: dict[str, str] = field(default_factory=dict)  # changed non-secret files' content
    rolled_back: list[str] = field(default_factory=list)  # GEN, REPLACED, TIME of a rollback
    datasets: dict[str, LiveDataset] = field(default_factory=dict)


def read_script(desired: Desired, texts_unless: Mapping[str, str] | None = None) -> str:
    """`texts_unless`: path -> sha256; the host also sends the content of each such file whose
    live content has another hash (never pass secret files)."""
    q = shlex.quote
    m = desired.manifest
    calls = [f"file {q(p)}" for p, _ in files(m)]
    calls += [f"text {q(p)} {q(h)}" for p, h in sorted((texts_unless or {}).items())]
    calls += [f"dir {q(p)}" for p, _ in dirs(m)]
    calls += [f"link {q(p)}" for p, _ in links(m)]
    calls += [f"unit {q(u)}" for u in desired.units]
    for ds in datasets(m):
        props = ",".join(f"{k}={v}" for k, v in sorted(ds["properties"].items())) or "-"
        calls.append(f"dataset {q(ds['dataset'])} {q(ds['mountpoint'])} {q(props)}")
    calls.append(" ".join(["quadlets", *map(q, (desired.quadlet_dir, *desired.quadlet_exts))]))
    return (REMOTE_DIR / "read.sh").read_text() + "\n".join(calls) + "\n"


def parse_live(text: str) -> LiveState:
    live = LiveState()
    for line in text.splitlines():
        rec = line.split("\t")
        kind = rec[0]
        if kind == "G":
            live.generation = rec[1] if len(rec) > 1 else ""
        elif kind == "F":
            _, p, sha, mode, uid, gid, linked = rec
            live.files[p] = LiveFile(sha, int(mode, 8), int(uid), int(gid), linked)
        elif kind == "M":
            live.files[rec[1]] = None
        elif kind == "O":
            live.files[rec[1]] = None
            live.wrong_type.add(rec[1])
        elif kind == "D":
            live.dirs[rec[1]] = (int(rec[2], 8), int(rec[3]), int(rec[4]))
        elif kind == "DM":
            live.dirs[rec[1]] = None
        elif kind == "L":
            live.links[rec[1]] = rec[2]
        elif kind == "LM":
            live.links[rec[1]] = None
        elif kind == "U":
            live.units[rec[1]] = rec[2] if len(rec) > 2 else ""
        elif kind == "Q":
            live.quadlets.append(rec[1])
        elif kind == "P":
            live.pending.append(rec[1])
        elif kind == "R":
            live.rolled_back = rec[1:]
        elif kind == "Z" and len(rec) >= 3:
            diffs = (
                dict(kv.split("=", 1) for kv in rec[4].split(",") if "=" in kv)
                if len(rec) > 4
                else {}
            )
            live.datasets[rec[1]] = LiveDataset(rec[2], rec[3] if len(rec) > 3 else "-", diffs)
        elif kind == "OU":
            live.old_units.append(rec[1])
        elif kind == "C":
            # Not text: the plan then says only that it differs.
            with contextlib.suppress(binascii.Error, UnicodeDecodeError):
                live.texts[rec[1]] = base64.b64decode(rec[2]).decode()
    return live


def read_live(
    conn: Connection,
    desired: Desired,
    timeout: float = 120,
    share: bool = True,
    texts_unless: Mapping[str, str] | None = None,
) -> LiveState:
    """One SSH command: the live state of everything in `desired`."""
    script = read_script(desired, texts_unless).encode()
    rc, out, err = run_ssh(conn, READ_COMMAND, script, timeout, share)
    if rc != 0:
        why = " / ".join(ln.strip() for ln in err.splitlines() if ln.strip())
        raise PushError(
            f"reading the state of {conn.host} port {conn.port} failed (exit {rc}): {why}"
        )
    return parse_live(out)


def compute_drift(desired: Desired, hashes: Mapping[str, str], live: LiveState) -> dict[str, str]:
    """Each drifted item -> what differs. Keys are host paths, or `unit:NAME`.

    Secret files never show hashes (they would leak a digest of the secret into the output).
    """
    drift: dict[str, str] = {}
    m = desired.manifest
    for path, f in files(m):
        lf = live.files.get(path)
        if path in live.wrong_type:
            drift[path] = "not a regular file"
            continue
        if lf is None:
            drift[path] = "missing"
            continue
        why = []
        if lf.sha256 != hashes[path]:
            if f["secret"]:
                why.append("content differs")
            else:
                why.append(f"content differs (live {lf.sha256[:12]}, want {hashes[path][:12]})")
        if lf.mode != mode(f):
            why.append(f"mode {lf.mode:04o}, want {mode(f):04o}")
        if (lf.uid, lf.gid) != owner(f):
            why.append(f"owner {lf.uid}:{lf.gid}, want {f['owner']}")
        if lf.linked != "link":
            why.append(f"not linked to {CURRENT}/root{path}")
        if why:
            drift[path] = "; ".join(why)
    for path, d in dirs(m):
        ld = live.dirs.get(path)
        if ld is None:
            drift[path] = "directory missing"
        elif ld != (mode(d), *owner(d)):
            drift[path] = (
                f"directory mode/owner {ld[0]:04o} {ld[1]}:{ld[2]}, want {mode(d):04o} {d['owner']}"
            )
    for path, target in links(m):
        lt = live.links.get(path)
        if lt != target:
            drift[path] = "symlink missing" if lt is None else f"symlink -> {lt}, want {target}"
    for ds in datasets(m):
        lds = live.datasets.get(ds["dataset"])
        key = DATASET_KEY + ds["dataset"]
        if lds is None or lds.state == "missing":
            drift[key] = "dataset missing"
        elif lds.state == "nozfs":
            drift[key] = "this host has no zfs command"
        elif lds.state == "dataset" and lds.ours and lds.diffs:
            drift[key] = ", ".join(
                f"{k} is {v}, want {ds['properties'][k]}" for k, v in sorted(lds.diffs.items())
            )
    managed = {p for p, _ in files(m)}
    for q in sorted(live.quadlets):
        if q not in managed:
            drift[q] = "unmanaged Quadlet file"
    for u in desired.units:
        state = live.units.get(u, "")
        if state != "active":
            drift[f"unit:{u}"] = f"not active ({state or 'unknown'})"
    for u in sorted(set(live.pending)):
        drift.setdefault(f"unit:{u}", "restart pending from an interrupted push")
    if live.rolled_back:
        gen, replaced, when = [*live.rolled_back, "?", "?", "?"][:3]
        drift["rollback"] = (
            f"`homelab rollback` at {when} made {gen} live again in place of {replaced}; "
            "`pulumi up` brings the host back to the stack"
        )
    return drift


def drift_summary(drift: Mapping[str, str]) -> str:
    if not drift:
        return "no drift"
    lines = [f"{len(drift)} drifted item(s) on the host:"]
    lines += [f"  {k}: {v}" for k, v in sorted(drift.items())]
    return "\n".join(lines)
