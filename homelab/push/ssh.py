"""The SSH transport: one pinned host key, no trust on first use, one shared connection.

The commands of one `pulumi up` share one SSH connection (OpenSSH connection sharing, see
`ssh_argv`), so the preview's read, the update's read and the push cost one handshake.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from homelab.manifest import sha256
from homelab.push.errors import PushError


@dataclass(frozen=True)
class Connection:
    """`homelab:ssh` as the push uses it: the fields of `homelab.host.config.SshConfig`, which
    checked them once, when the stack was read. HostPush keeps `SshConfig.model_dump()` in
    its inputs; the provider's process reads that back here, without pydantic."""

    host: str
    host_key: str  # "ssh-ed25519 AAAA..." — required: no trust on first use
    port: int = 22
    user: str = "core"
    private_key_path: str | None = None  # None: the ssh-agent; `~` allowed
    sudo: bool | None = None  # default: sudo unless root

    @classmethod
    def from_props(cls, d: Mapping[str, Any]) -> Connection:
        # The engine hands numbers back as floats (protobuf Struct); nothing else to undo.
        return cls(**{**d, "port": int(d["port"])})

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
    return directory / sha256(json.dumps(asdict(conn), sort_keys=True))[:20]


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
    from homelab.push.sshfail import explain_ssh_failure, host_key_problem

    if problem := host_key_problem(conn):
        raise PushError(problem)
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
        raise PushError(explain_ssh_failure(conn, err))
    return p.returncode, out, err
