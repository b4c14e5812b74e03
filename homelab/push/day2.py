"""Day-2 operations on a pushed host over the same pinned SSH transport as the push:
status, kept generations, a unit's journal, rollback. Host side: remote/day2.sh (read-only
queries, `sh -s`) and remote/rollback.sh, which hands an old generation to apply.sh so a
rollback switches, restarts and health-checks exactly as a push does."""

from __future__ import annotations

import io
import re
import shlex
import tarfile
from dataclasses import dataclass, field

from homelab.push.apply import ApplyResult, parse_apply_output, remote_errors, staged_command
from homelab.push.errors import PushError
from homelab.push.kinds import Rec
from homelab.push.places import REMOTE_DIR
from homelab.push.ssh import Connection
from homelab.push.transport import run_ssh

GENERATION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.-]{0,80}")
UNIT = re.compile(r"[A-Za-z0-9][A-Za-z0-9@._-]{0,200}")
ROLLBACK_COMMAND = staged_command("rollback.sh", with_arg=True)


@dataclass
class UnitStatus:
    unit: str
    active: str
    sub: str
    restarts: str
    image: str  # the unit file's Image= (REF:TAG@DIGEST when locked)
    running: tuple[str, ...] = ()  # REPO@DIGEST of the image its container runs

    @property
    def runs_locked(self) -> bool | None:
        """Whether the running image is the locked digest; None when unknown."""
        _, _, want = self.image.partition("@")
        if not want or not self.running:
            return None
        return any(r.endswith("@" + want) for r in self.running)


@dataclass
class HostStatus:
    generation: str
    units: list[UnitStatus] = field(default_factory=list)
    rolled_back: str = ""  # "GEN\tREPLACED\tTIME" while a rollback is live
    pending: list[str] = field(default_factory=list)


@dataclass
class Generation:
    name: str
    mtime: int
    rollback_of: str  # the generation this one copies, for a rollback
    current: bool


def _query(conn: Connection, call: str, timeout: float = 60) -> str:
    script = (REMOTE_DIR / "day2.sh").read_text() + call + "\n"
    rc, out, err = run_ssh(conn, "sh -s", script.encode(), timeout)
    if rc != 0:
        why = " / ".join(ln.strip() for ln in err.splitlines() if ln.strip())
        raise PushError(f"{conn.host} port {conn.port}: `{call}` failed (exit {rc}): {why}")
    return out


def status(conn: Connection) -> HostStatus:
    st = HostStatus("")
    for line in _query(conn, "status").splitlines():
        rec = line.split("\t")
        if rec[0] == Rec.GENERATION:
            st.generation = rec[1]
        elif rec[0] == Rec.ROLLED_BACK:
            st.rolled_back = "\t".join(rec[1:])
        elif rec[0] == Rec.PENDING:
            st.pending.append(rec[1])
        elif rec[0] == Rec.UNIT and len(rec) >= 6:
            running = tuple(rec[6].split()) if len(rec) > 6 else ()
            st.units.append(UnitStatus(rec[1], rec[2], rec[3], rec[4], rec[5], running))
    return st


def generations(conn: Connection) -> list[Generation]:
    cur, gens = "", []
    for line in _query(conn, "generations").splitlines():
        rec = line.split("\t")
        if rec[0] == Rec.GENERATION:
            cur = rec[1]
        elif rec[0] == Rec.KEPT:
            gens.append(Generation(rec[1], int(rec[2]), rec[3], False))
    for g in gens:
        g.current = g.name == cur
    return gens


def logs(conn: Connection, unit: str, lines: int) -> str:
    if not UNIT.fullmatch(unit):
        raise PushError(f"not a unit name: {unit!r}")
    out = _query(conn, f"logs {shlex.quote(unit)} {int(lines)}")
    if out.startswith("X\tno-unit\n"):
        managed = [ln.split("\t", 1)[1] for ln in out.splitlines() if ln.startswith("U\t")]
        raise PushError(
            f"no unit {unit} on {conn.host}; the managed units: {', '.join(managed) or 'none'}"
        )
    return out


@dataclass
class Snapshot:
    dataset: str
    generation: str
    units: str
    used: str
    created: str


def snapshots(conn: Connection) -> tuple[list[Snapshot], str]:
    """homelab's snapshots of the live datasets (oldest first), or why there are none."""
    out, why = [], ""
    for line in _query(conn, "snapshots").splitlines():
        rec = line.split("\t")
        if rec[0] == "S" and len(rec) >= 6:
            out.append(Snapshot(*rec[1:6]))
        elif rec[0] == "X":
            why = rec[1]
    return out, why


# `homelab rollback --with-data` / `--force-data`: the datasets go back too (datasets.sh).
DATA_MODES = ("", "data", "data-force")


def data_lines(out: str, word: str) -> list[str]:
    """What rollback.sh said about the datasets: its HOMELAB-DATA-<word> lines."""
    pre = f"HOMELAB-DATA-{word} "
    return [ln.removeprefix(pre) for ln in out.splitlines() if ln.startswith(pre)]


def rollback_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in ("apply.sh", "images.sh", "datasets.sh", "rollback.sh"):
            data = (REMOTE_DIR / name).read_bytes()
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), 0o700, 0
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def rollback(
    conn: Connection, generation: str = "", timeout: float = 900, data: str = ""
) -> ApplyResult:
    """Make `generation` (default: the one before the current) live again, as a push would;
    `data` (DATA_MODES): its datasets go back to the snapshots taken when it was replaced."""
    if generation and not GENERATION.fullmatch(generation):
        raise PushError(f"not a generation id: {generation!r}")
    if data not in DATA_MODES:
        raise PushError(f"not a data mode: {data!r}")
    # The generation travels as $0 of the `sh -c` (quoted), never inside the script text;
    # the data mode rides on it after a "+", which no generation id holds.
    arg = f"{generation}+{data}" if data else generation
    remote = f"{ROLLBACK_COMMAND} {shlex.quote(arg)}"
    rc, out, err = run_ssh(conn, remote, rollback_tar(), timeout)
    res = parse_apply_output(out)
    if rc != 0 or res is None:
        refused = data_lines(out, "REFUSED")
        detail = "\n".join([*refused, remote_errors(out, err)])
        raise PushError(f"rollback on {conn.host} port {conn.port} failed (exit {rc}): {detail}")
    return res
