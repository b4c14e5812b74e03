"""SSH push of a FileSet to a running host: manifests, remote scripts, live state, drift.

No Pulumi here: `components.push` wraps these functions in a dynamic provider. The host side
is POSIX sh (homelab/remote/*.sh) because Fedora CoreOS has no python. See docs/PUSH.md.

Each step runs one SSH command: `check` reads the live state (`read_live`), an update sends the
whole new generation as a single tar stream with the apply script inside it (`apply`). The
commands of one `pulumi up` share one SSH connection (OpenSSH connection sharing, see
`ssh_argv`), so the preview's read, the update's read and the push cost one handshake.

This module is imported by the dynamic provider's process on every preview, so it stays light
(no pydantic): FileSet helpers import `homelab.fileset` when called.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shlex
import stat
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from homelab.fileset import FileSet

BASE = "/etc/homelab"
CURRENT = f"{BASE}/current"
REMOTE_DIR = Path(__file__).resolve().parent / "remote"
QUADLET_EXTS = (".container", ".volume", ".network", ".pod", ".kube", ".image", ".build")
# The remote command stays short because sudo logs it; the apply script travels in the tar.
APPLY_COMMAND = (
    "sh -c 'mkdir -p /etc/homelab && d=$(mktemp -d /etc/homelab/.incoming.XXXXXX) && "
    'tar -x -C "$d" && exec sh "$d/apply.sh" "$d"\''
)
READ_COMMAND = "sh -s"


class PushError(RuntimeError):
    """The push failed; the message is meant for the person running `pulumi up`."""


# ---------------------------------------------------------------------------------------------
# Connection


@dataclass(frozen=True)
class Connection:
    host: str
    host_key: str  # "ssh-ed25519 AAAA..." — required: no trust on first use
    port: int = 22
    user: str = "core"
    private_key_path: str | None = None  # None: the ssh-agent
    sudo: bool | None = None  # default: sudo unless root

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Connection:
        key = d.get("host_key") or ""
        if len(str(key).split()) < 2:
            raise PushError("ssh.host_key is required, e.g. 'ssh-ed25519 AAAA...'")
        return cls(
            host=str(d["host"]),
            host_key=" ".join(str(key).split()[:2]),
            port=int(d.get("port") or 22),
            user=str(d.get("user") or "core"),
            private_key_path=d.get("private_key_path") or None,
            sudo=d.get("sudo"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "host_key": self.host_key,
            "port": self.port,
            "user": self.user,
            "private_key_path": self.private_key_path,
            "sudo": self.sudo,
        }

    @property
    def use_sudo(self) -> bool:
        return self.user != "root" if self.sudo is None else self.sudo

    @property
    def alias(self) -> str:
        # The pinned key is looked up under this name only, never under the real host name.
        return f"homelab-push.{self.host}.{self.port}"


def known_hosts_line(conn: Connection) -> str:
    return f"{conn.alias} {conn.host_key}\n"


# How long a shared SSH connection outlives its last command: long enough to carry a preview's
# read into the update that follows it (`pulumi up`, confirmed by a person), short enough not to
# linger. OpenSSH's own master process ends it; nothing of ours stays running.
SHARE_SECONDS = 60


def mux_dir() -> Path | None:
    """A private directory for the shared connections' sockets, or None (then no sharing).

    Anyone who could reach a socket could run commands as the pushing user on the host, so
    the directory must be ours alone: owned by this user, mode 0700, not a symlink.
    """
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    d = base / f"homelab-ssh-mux-{os.getuid()}"
    try:
        d.mkdir(mode=0o700, exist_ok=True)
        st = os.lstat(d)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    return d


def control_path(conn: Connection, directory: Path) -> Path:
    """One socket per (host, port, user, pinned key, private key): a connection verified
    against one pinned key is never reused for another."""
    digest = hashlib.sha256(json.dumps(conn.to_dict(), sort_keys=True).encode()).hexdigest()
    return directory / digest[:20]


def ssh_argv(
    conn: Connection, known_hosts: str, remote: str, control: Path | None = None
) -> list[str]:
    argv = [
        "ssh",
        "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={known_hosts}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", f"HostKeyAlias={conn.alias}",
        "-o", "CheckHostIP=no",
        "-o", "UpdateHostKeys=no",
        "-o", "ConnectTimeout=15",
        "-o", "ServerAliveInterval=15",
        "-o", "LogLevel=ERROR",
        "-p", str(conn.port),
    ]  # fmt: skip
    if control is not None:
        # The first command opens the connection (after the pinned-key check) and leaves it
        # to a master process; the next ones within SHARE_SECONDS run over it.
        argv += [
            "-o", "ControlMaster=auto",
            "-o", f"ControlPath={control}",
            "-o", f"ControlPersist={SHARE_SECONDS}",
        ]  # fmt: skip
    else:
        argv += ["-o", "ControlMaster=no", "-o", "ControlPath=none"]
    if conn.private_key_path:
        argv += ["-i", os.path.expanduser(conn.private_key_path), "-o", "IdentitiesOnly=yes"]
    argv += ["-l", conn.user, conn.host, "--"]
    argv.append(f"sudo -n {remote}" if conn.use_sudo else remote)
    return argv


def close_shared(conn: Connection) -> None:
    """End the shared connection to `conn`, if any (the next command opens a new one)."""
    d = mux_dir()
    if d is None or not control_path(conn, d).exists():
        return
    subprocess.run(
        ["ssh", "-o", f"ControlPath={control_path(conn, d)}", "-O", "exit", "-p", str(conn.port),
         "-l", conn.user, conn.host],
        capture_output=True, check=False, timeout=30,
    )  # fmt: skip


def run_ssh(
    conn: Connection, remote: str, stdin: bytes, timeout: float, share: bool = True
) -> tuple[int, str, str]:
    """One SSH command (over the shared connection when `share`). Returns (exit code, stdout,
    stderr); 255 is ssh's own failure."""
    with tempfile.TemporaryDirectory(prefix="homelab-ssh-") as tmp:
        kh = Path(tmp, "known_hosts")
        kh.write_text(known_hosts_line(conn))
        kh.chmod(0o600)
        d = mux_dir() if share else None
        try:
            p = subprocess.run(
                ssh_argv(conn, str(kh), remote, control_path(conn, d) if d else None),
                input=stdin,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            raise PushError("OpenSSH client not found: apt-get install openssh-client") from exc
        except subprocess.TimeoutExpired as exc:
            raise PushError(f"ssh {conn.user}@{conn.host}:{conn.port} timed out") from exc
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    if p.returncode == 255 and not out:
        why = err.strip() or "the connection closed before the remote command finished"
        if "host key" in err.lower() or "REMOTE HOST IDENTIFICATION" in err:
            why = f"host key verification failed (pinned: {conn.host_key}): {why}"
        raise PushError(f"ssh {conn.user}@{conn.host}:{conn.port}: {why}")
    return p.returncode, out, err


# ---------------------------------------------------------------------------------------------
# Desired state


def _check_path(p: str) -> str:
    if any(c in p for c in "\t\n\r"):
        raise PushError(f"managed path contains a tab or newline: {p!r}")
    return p


def build_manifest(fs: FileSet) -> dict[str, Any]:
    """JSON-able description of `fs` without any content (safe for state and logs).

    Secret files carry no hash here: it is computed from the secret input at push time.
    """
    files = {}
    for f in fs.files:
        files[_check_path(f.path)] = {
            "sha256": None if f.secret else _sha(f.content.encode()),
            "mode": f.mode,
            "uid": f.uid,
            "gid": f.gid,
            "units": list(f.units),
            "secret": f.secret,
        }
    return {
        "files": files,
        "dirs": {
            _check_path(d.path): {"mode": d.mode, "uid": d.uid, "gid": d.gid} for d in fs.dirs
        },
        "links": {_check_path(lk.path): lk.target for lk in fs.links},
        "units": sorted(set(fs.units)),
        "quadlet_dir": fs.quadlet_dir,
    }


def normalize_manifest(m: Mapping[str, Any]) -> dict[str, Any]:
    """Numbers come back from the Pulumi engine as floats (protobuf Struct): make them ints."""

    def ints(d: Mapping[str, Any]) -> dict[str, Any]:
        return {k: int(v) if k in ("mode", "uid", "gid") else v for k, v in d.items()}

    return {
        "files": {p: dict(ints(f), units=list(f["units"])) for p, f in m["files"].items()},
        "dirs": {p: ints(d) for p, d in m["dirs"].items()},
        "links": dict(m["links"]),
        "units": list(m["units"]),
        "quadlet_dir": m["quadlet_dir"],
    }


def plain_contents(fs: FileSet) -> dict[str, str]:
    return {f.path: f.content for f in fs.files if not f.secret}


def secret_contents(fs: FileSet, secrets: Mapping[str, str]) -> dict[str, str]:
    from homelab.fileset import render_secret_files

    return render_secret_files(fs, secrets)


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def desired_hashes(
    manifest: Mapping[str, Any], contents: Mapping[str, str], secrets: Mapping[str, str]
) -> dict[str, str]:
    """path -> sha256 of the exact bytes the host must have."""
    out = {}
    for path, f in manifest["files"].items():
        src = secrets if f["secret"] else contents
        if path not in src:
            raise PushError(f"no content for managed file {path}")
        out[path] = _sha(src[path].encode())
    return out


def generation_id(manifest: Mapping[str, Any], hashes: Mapping[str, str], now: float) -> str:
    """Sortable by time, unique per content: 20261128T201500Z-1a2b3c4d."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    digest = _sha(json.dumps([manifest, hashes], sort_keys=True).encode())[:8]
    return f"{stamp}-{digest}"


# ---------------------------------------------------------------------------------------------
# Live state and drift


@dataclass
class LiveFile:
    sha256: str
    mode: int
    uid: int
    gid: int
    linked: str  # link | plain | other


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


def read_script(manifest: Mapping[str, Any]) -> str:
    q = shlex.quote
    calls = [f"file {q(p)}" for p in sorted(manifest["files"])]
    calls += [f"dir {q(p)}" for p in sorted(manifest["dirs"])]
    calls += [f"link {q(p)}" for p in sorted(manifest["links"])]
    calls += [f"unit {q(u)}" for u in manifest["units"]]
    calls.append(f"quadlets {q(manifest['quadlet_dir'])}")
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
    return live


def read_live(
    conn: Connection, manifest: Mapping[str, Any], timeout: float = 120, share: bool = True
) -> LiveState:
    """One SSH command: the live state of everything in `manifest`."""
    rc, out, err = run_ssh(conn, READ_COMMAND, read_script(manifest).encode(), timeout, share)
    if rc != 0:
        raise PushError(f"reading the host's state failed (exit {rc}): {err.strip()}")
    return parse_live(out)


def compute_drift(
    manifest: Mapping[str, Any], hashes: Mapping[str, str], live: LiveState
) -> dict[str, str]:
    """Each drifted item -> what differs. Keys are host paths, or `unit:NAME`.

    Secret files never show hashes (they would leak a digest of the secret into the output).
    """
    drift: dict[str, str] = {}
    for path, f in sorted(manifest["files"].items()):
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
        if lf.mode != f["mode"]:
            why.append(f"mode {lf.mode:04o}, want {f['mode']:04o}")
        if (lf.uid, lf.gid) != (f["uid"], f["gid"]):
            why.append(f"owner {lf.uid}:{lf.gid}, want {f['uid']}:{f['gid']}")
        if lf.linked != "link":
            why.append(f"not linked to {CURRENT}/root{path}")
        if why:
            drift[path] = "; ".join(why)
    for path, d in sorted(manifest["dirs"].items()):
        ld = live.dirs.get(path)
        if ld is None:
            drift[path] = "directory missing"
        elif ld != (d["mode"], d["uid"], d["gid"]):
            drift[path] = (
                f"directory mode/owner {ld[0]:04o} {ld[1]}:{ld[2]}, "
                f"want {d['mode']:04o} {d['uid']}:{d['gid']}"
            )
    for path, target in sorted(manifest["links"].items()):
        lt = live.links.get(path)
        if lt != target:
            drift[path] = "symlink missing" if lt is None else f"symlink -> {lt}, want {target}"
    for q in sorted(live.quadlets):
        if q not in manifest["files"]:
            drift[q] = "unmanaged Quadlet file"
    for u in manifest["units"]:
        state = live.units.get(u, "")
        if state != "active":
            drift[f"unit:{u}"] = f"not active ({state or 'unknown'})"
    for u in sorted(set(live.pending)):
        drift.setdefault(f"unit:{u}", "restart pending from an interrupted push")
    return drift


def drift_summary(drift: Mapping[str, str]) -> str:
    if not drift:
        return "no drift"
    lines = [f"{len(drift)} drifted item(s) on the host:"]
    lines += [f"  {k}: {v}" for k, v in sorted(drift.items())]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Apply


def manifest_tsv(
    manifest: Mapping[str, Any],
    hashes: Mapping[str, str],
    gen_id: str,
    health_timeout: int,
    settle: int,
) -> str:
    rows = [f"I\t{gen_id}", f"Q\t{manifest['quadlet_dir']}", f"T\t{health_timeout}\t{settle}"]
    for path, f in sorted(manifest["files"].items()):
        units = ",".join(f["units"]) or "-"
        rows.append(f"F\t{path}\t{f['mode']:o}\t{f['uid']}\t{f['gid']}\t{hashes[path]}\t{units}")
    for path, d in sorted(manifest["dirs"].items()):
        rows.append(f"D\t{path}\t{d['mode']:o}\t{d['uid']}\t{d['gid']}")
    for path, target in sorted(manifest["links"].items()):
        rows.append(f"L\t{path}\t{target}")
    rows += [f"U\t{u}" for u in manifest["units"]]
    return "\n".join(rows) + "\n"


def build_tar(
    manifest: Mapping[str, Any],
    contents: Mapping[str, str],
    secrets: Mapping[str, str],
    gen_id: str,
    health_timeout: int,
    settle: int,
) -> bytes:
    """The whole generation as one tar: apply.sh, manifest.tsv and root/<path> for each file."""
    hashes = desired_hashes(manifest, contents, secrets)
    buf = io.BytesIO()
    seen_dirs: set[str] = set()

    def add(name: str, data: bytes, mode: int, uid: int = 0, gid: int = 0) -> None:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dn = "/".join(parts[:i])
            if dn not in seen_dirs:
                seen_dirs.add(dn)
                ti = tarfile.TarInfo(dn)
                ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 0
                tar.addfile(ti)
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode, ti.uid, ti.gid, ti.mtime = len(data), mode, uid, gid, 0
        tar.addfile(ti, io.BytesIO(data))

    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        add("apply.sh", (REMOTE_DIR / "apply.sh").read_bytes(), 0o700)
        tsv = manifest_tsv(manifest, hashes, gen_id, health_timeout, settle)
        add("manifest.tsv", tsv.encode(), 0o644)
        for path, f in sorted(manifest["files"].items()):
            data = (secrets if f["secret"] else contents)[path].encode()
            add("root" + path, data, f["mode"], f["uid"], f["gid"])
        add("END", gen_id.encode(), 0o644)  # last member: apply.sh refuses a cut-off stream
    return buf.getvalue()


@dataclass
class ApplyResult:
    generation: str
    restarted: list[str]
    started: list[str]
    stopped: list[str]
    log: str


def parse_apply_output(out: str) -> ApplyResult | None:
    res = ApplyResult("", [], [], [], out)
    for line in out.splitlines():
        word, _, rest = line.partition(" ")
        if word == "HOMELAB-OK":
            res.generation = rest.strip()
        elif word == "HOMELAB-RESTARTED":
            res.restarted.append(rest.strip())
        elif word == "HOMELAB-STARTED":
            res.started.append(rest.strip())
        elif word == "HOMELAB-STOPPED":
            res.stopped.append(rest.strip())
    return res if res.generation else None


def apply(
    conn: Connection,
    manifest: Mapping[str, Any],
    contents: Mapping[str, str],
    secrets: Mapping[str, str],
    health_timeout: int,
    settle: int,
    now: float | None = None,
) -> ApplyResult:
    """One SSH connection: send the new generation and apply it (validate, switch, restart)."""
    hashes = desired_hashes(manifest, contents, secrets)
    gen = generation_id(manifest, hashes, time.time() if now is None else now)
    data = build_tar(manifest, contents, secrets, gen, health_timeout, settle)
    budget = 120 + health_timeout + settle + 30 * max(1, len(manifest["units"]))
    rc, out, err = run_ssh(conn, APPLY_COMMAND, data, budget)
    res = parse_apply_output(out)
    if rc != 0 and "HOMELAB-ERROR" not in out:
        raise PushError(
            f"push to {conn.host} died (exit {rc}) before it finished; the host keeps the old "
            f"or the new generation. Remote output:\n{out.strip()}\n{err.strip()}"
        )
    if rc != 0 or res is None:
        msgs = [ln.removeprefix("HOMELAB-ERROR: ") for ln in out.splitlines()]
        detail = "\n".join(m for m in msgs if not m.startswith("HOMELAB-")) or err.strip()
        raise PushError(f"push to {conn.host} failed (exit {rc}):\n{detail}")
    return res
