"""The SSH transport: one pinned host key, no trust on first use, one shared connection.

The commands of one `pulumi up` share one SSH connection (OpenSSH connection sharing, see
`ssh_argv`), so the preview's read, the update's read and the push cost one handshake.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from homelab.manifest import sha256


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


def private_dir(st: os.stat_result, uid: int) -> bool:
    """A directory only `uid` can use (the check on the shared connections' socket dir):
    a real directory, not a symlink, owned by `uid`, no access for group or others."""
    return stat.S_ISDIR(st.st_mode) and st.st_uid == uid and not st.st_mode & 0o077


def control_path(conn: Connection, directory: Path) -> Path:
    """One socket per (host, port, user, pinned key, private key): a connection verified
    against one pinned key is never reused for another."""
    return directory / sha256(json.dumps(asdict(conn), sort_keys=True))[:20]


def ssh_argv(
    conn: Connection,
    known_hosts: str,
    remote: str,
    control: Path | None = None,
    connect_timeout: int = 15,
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
        "-o", f"ConnectTimeout={connect_timeout}",
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
