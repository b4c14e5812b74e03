"""What is on the host now (one `sh -s` over SSH running remote/read.sh), and the two
comparisons made from it (pure):

- `compute_drift`: DRIFT, the host differs from what homelab last pushed (the live
  generation's manifest, read from the host): a hand edit, a stopped unit, a loosened mode;
- `differences`: what `pulumi up` would change, the host against the stack's desired state
  (drift and the stack's own pending change alike). The plan shows it; drift never does."""

from __future__ import annotations

import base64
import binascii
import contextlib
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from homelab.manifest import DATASET_KEY, datasets, dirs, files, links, mode, owner
from homelab.push.desired import Desired
from homelab.push.kinds import Rec, Row
from homelab.push.places import CURRENT, REMOTE_DIR

READ_COMMAND = "sh -s"


@dataclass
class LiveFile:
    sha256: str
    mode: int
    uid: int
    gid: int
    linked: str  # link | plain | other


@dataclass
class Pushed:
    """What homelab last pushed: the live generation's manifest.tsv (sent by read.sh as W
    rows). `files`: path -> (mode, uid, gid, sha256)."""

    files: dict[str, tuple[int, int, int, str]] = field(default_factory=dict)
    dirs: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    units: list[str] = field(default_factory=list)
    secret: set[str] = field(default_factory=set)
    images: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # (ref, units)


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
    armed: list[str] = field(default_factory=list)  # GEN, PREV, DEADLINE: not yet confirmed
    pushed: Pushed | None = None  # None: homelab never pushed to this host
    # unit -> REPO@DIGEST names of the image its running container runs
    images: dict[str, list[str]] = field(default_factory=dict)
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
    calls += [f"image {q(u)}" for u in sorted({u for ref, us in desired.images for u in us})]
    for ds in datasets(m):
        props = ",".join(f"{k}={v}" for k, v in sorted(ds["properties"].items())) or "-"
        calls.append(f"dataset {q(ds['dataset'])} {q(ds['mountpoint'])} {q(props)}")
    calls.append(" ".join(["quadlets", *map(q, (desired.quadlet_dir, *desired.quadlet_exts))]))
    calls.append("pushed")
    return (REMOTE_DIR / "read.sh").read_text() + "\n".join(calls) + "\n"


def parse_live(text: str) -> LiveState:
    live = LiveState()
    for line in text.splitlines():
        rec = line.split("\t")
        kind = rec[0]
        if kind == Rec.GENERATION:
            live.generation = rec[1] if len(rec) > 1 else ""
        elif kind == Rec.FILE:
            _, p, sha, mode, uid, gid, linked = rec
            live.files[p] = LiveFile(sha, int(mode, 8), int(uid), int(gid), linked)
        elif kind == Rec.MISSING:
            live.files[rec[1]] = None
        elif kind == Rec.NOT_FILE:
            live.files[rec[1]] = None
            live.wrong_type.add(rec[1])
        elif kind == Rec.DIR:
            live.dirs[rec[1]] = (int(rec[2], 8), int(rec[3]), int(rec[4]))
        elif kind == Rec.DIR_MISSING:
            live.dirs[rec[1]] = None
        elif kind == Rec.LINK:
            live.links[rec[1]] = rec[2]
        elif kind == Rec.LINK_MISSING:
            live.links[rec[1]] = None
        elif kind == Rec.UNIT:
            live.units[rec[1]] = rec[2] if len(rec) > 2 else ""
        elif kind == Rec.QUADLET_FILE:
            live.quadlets.append(rec[1])
        elif kind == Rec.PENDING:
            live.pending.append(rec[1])
        elif kind == Rec.ROLLED_BACK:
            live.rolled_back = rec[1:]
        elif kind == Rec.ARMED:
            live.armed = rec[1:]
        elif kind == Rec.IMAGE:
            live.images[rec[1]] = rec[2].split() if len(rec) > 2 else []
        elif kind == Rec.DATASET and len(rec) >= 3:
            diffs = (
                dict(kv.split("=", 1) for kv in rec[4].split(",") if "=" in kv)
                if len(rec) > 4
                else {}
            )
            live.datasets[rec[1]] = LiveDataset(rec[2], rec[3] if len(rec) > 3 else "-", diffs)
        elif kind == Rec.OLD_UNIT:
            live.old_units.append(rec[1])
        elif kind == Rec.PUSHED:
            _pushed_row(live, rec[1:])
        elif kind == Rec.CONTENT:
            # Not text: the plan then says only that it differs.
            with contextlib.suppress(binascii.Error, UnicodeDecodeError):
                live.texts[rec[1]] = base64.b64decode(rec[2]).decode()
    return live


def _pushed_row(live: LiveState, rec: list[str]) -> None:
    """One row of the live generation's manifest.tsv (apply.sh's kinds)."""
    pushed = live.pushed = live.pushed or Pushed()
    kind = rec[0]
    if kind == Row.FILE and len(rec) >= 6:
        pushed.files[rec[1]] = (int(rec[2], 8), int(rec[3]), int(rec[4]), rec[5])
    elif kind == Row.DIR and len(rec) >= 5:
        pushed.dirs[rec[1]] = (int(rec[2], 8), int(rec[3]), int(rec[4]))
    elif kind == Row.LINK and len(rec) >= 3:
        pushed.links[rec[1]] = rec[2]
    elif kind == Row.UNIT and len(rec) >= 2:
        pushed.units.append(rec[1])
    elif kind == Row.SECRET and len(rec) >= 2:
        pushed.secret.add(rec[1])
    elif kind == Row.PULL and len(rec) >= 3:
        pushed.images.append((rec[1], tuple(u for u in rec[2].split(",") if u != "-")))


def _file_gap(
    live: LiveState, path: str, want: tuple[int, int, int, str], secret: bool, word: str
) -> str:
    """How the live file at `path` differs from `want` (mode, uid, gid, sha256), "" when it
    does not; `word` says against what ("want": the stack, "pushed": the last push). One rule
    for the plan and for drift. A secret's hash is never shown."""
    fmode, uid, gid, sha = want
    lf = live.files.get(path)
    if path in live.wrong_type:
        return "not a regular file"
    if lf is None:
        return "missing"
    why = []
    if lf.sha256 != sha:
        if secret:
            why.append("content differs")
        else:
            why.append(f"content differs (live {lf.sha256[:12]}, {word} {sha[:12]})")
    if lf.mode != fmode:
        why.append(f"mode {lf.mode:04o}, {word} {fmode:04o}")
    if (lf.uid, lf.gid) != (uid, gid):
        why.append(f"owner {lf.uid}:{lf.gid}, {word} {uid}:{gid}")
    if lf.linked != "link":
        why.append(f"not linked to {CURRENT}/root{path}")
    return "; ".join(why)


def _dir_gap(live: LiveState, path: str, want: tuple[int, int, int], word: str) -> str:
    ld = live.dirs.get(path)
    if ld is None:
        return "directory missing"
    if ld != want:
        return (
            f"directory mode/owner {ld[0]:04o} {ld[1]}:{ld[2]}, "
            f"{word} {want[0]:04o} {want[1]}:{want[2]}"
        )
    return ""


def _link_gap(live: LiveState, path: str, target: str, word: str) -> str:
    lt = live.links.get(path)
    if lt == target:
        return ""
    return "symlink missing" if lt is None else f"symlink -> {lt}, {word} {target}"


def differences(desired: Desired, hashes: Mapping[str, str], live: LiveState) -> dict[str, str]:
    """What `pulumi up` changes: each item where the host differs from the stack -> how.
    Keys are host paths, or `unit:NAME`. Empty: the host is the stack, nothing to push.

    Secret files never show hashes (they would leak a digest of the secret into the output).
    """
    out: dict[str, str] = {}
    m = desired.manifest
    for path, f in files(m):
        gap = _file_gap(live, path, (mode(f), *owner(f), hashes[path]), f["secret"], "want")
        if gap:
            out[path] = gap
    for path, d in dirs(m):
        if gap := _dir_gap(live, path, (mode(d), *owner(d)), "want"):
            out[path] = gap
    for path, target in links(m):
        if gap := _link_gap(live, path, target, "want"):
            out[path] = gap
    for ds in datasets(m):
        lds = live.datasets.get(ds["dataset"])
        key = DATASET_KEY + ds["dataset"]
        if lds is None or lds.state == "missing":
            out[key] = "dataset missing"
        elif lds.state == "nozfs":
            out[key] = "this host has no zfs command"
        elif lds.state == "dataset" and lds.ours and lds.diffs:
            out[key] = ", ".join(
                f"{k} is {v}, want {ds['properties'][k]}" for k, v in sorted(lds.diffs.items())
            )
    managed = {p for p, _ in files(m)}
    was = set(live.pushed.files) if live.pushed is not None else set()
    for q in sorted(live.quadlets):
        if q not in managed and q not in was:
            out[q] = "unmanaged Quadlet file"
    if live.pushed is not None:
        for path in sorted(set(live.pushed.files) - managed):
            if live.files.get(path) is not None:
                out.setdefault(path, "no longer in the stack")
    for u in desired.units:
        state = live.units.get(u, "")
        if state != "active":
            out[f"unit:{u}"] = f"not active ({state or 'unknown'})"
    for u in sorted(set(live.old_units) - set(desired.units)):
        if live.units.get(u, "") not in ("inactive", "failed", ""):
            out[f"unit:{u}"] = "no longer in the stack"
    for u in sorted(set(live.pending)):
        out.setdefault(f"unit:{u}", "restart pending from an interrupted push")
    out.update(_image_differences(desired.images, live, "images.lock has"))
    if live.rolled_back:
        out["rollback"] = _rollback_note(live.rolled_back)
    if live.armed:
        out["confirm"] = _armed_note(live.armed)
    return out


def compute_drift(live: LiveState) -> dict[str, str]:
    """DRIFT: each item where the host differs from what homelab last pushed -> how (keys as
    in `differences`). The stack's own pending change is not drift: it is the plan. Before
    the first push nothing was pushed, so nothing has drifted."""
    drift: dict[str, str] = {}
    pushed = live.pushed
    if pushed is not None:
        for path, facts in sorted(pushed.files.items()):
            if gap := _file_gap(live, path, facts, path in pushed.secret, "pushed"):
                drift[path] = gap
        for path, dfacts in sorted(pushed.dirs.items()):
            if gap := _dir_gap(live, path, dfacts, "pushed"):
                drift[path] = gap
        for path, target in sorted(pushed.links.items()):
            if gap := _link_gap(live, path, target, "pushed"):
                drift[path] = gap
        for q in sorted(live.quadlets):
            if q not in pushed.files:
                drift[q] = "unmanaged Quadlet file"
        for u in sorted(set(pushed.units)):
            state = live.units.get(u, "")
            if state != "active":
                drift[f"unit:{u}"] = f"not active ({state or 'unknown'})"
        drift.update(_image_differences(pushed.images, live, "the last push pulled"))
    for u in sorted(set(live.pending)):
        drift.setdefault(f"unit:{u}", "restart pending from an interrupted push")
    if live.rolled_back:
        drift["rollback"] = _rollback_note(live.rolled_back)
    if live.armed:
        drift["confirm"] = _armed_note(live.armed)
    return drift


def _image_differences(
    images: Iterable[tuple[str, tuple[str, ...]]], live: LiveState, against: str
) -> dict[str, str]:
    """`image:UNIT` -> how, for each unit whose running container runs another image than the
    digest `images` pin (the stack's, for the plan; the last push's, for drift)."""
    out: dict[str, str] = {}
    for ref, units in images:
        want = ref.partition("@")[2]
        for u in units:
            runs = live.images.get(u)
            if want and runs is not None and not any(r.endswith("@" + want) for r in runs):
                shown = runs[0].rpartition("@")[2] if runs else "an image with no digest"
                out[f"image:{u}"] = f"runs {shown}, {against} {want}"
    return out


def _rollback_note(rolled_back: list[str]) -> str:
    gen, replaced, when = [*rolled_back, "?", "?", "?"][:3]
    return (
        f"`homelab rollback` at {when} made {gen} live again in place of {replaced}; "
        "`pulumi up` brings the host back to the stack"
    )


def _armed_note(armed: list[str]) -> str:
    gen, prev, _ = [*armed, "?", "?", "?"][:3]
    return (
        f"generation {gen} was never confirmed: the host goes back to {prev} by itself "
        "unless a push confirms it; `pulumi up` does"
    )


def drift_summary(drift: Mapping[str, str]) -> str:
    if not drift:
        return "no drift"
    lines = [f"{len(drift)} drifted item(s) on the host:"]
    lines += [f"  {k}: {v}" for k, v in sorted(drift.items())]
    return "\n".join(lines)
