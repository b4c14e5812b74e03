"""One line for a failed SSH connection: which host and port, what went wrong, what to check.

OpenSSH's own stderr is many lines (the host key warning is a dozen); a person running
`pulumi preview` or `homelab status` needs the gist and the setting to look at.
"""

from __future__ import annotations

import re
from typing import Protocol


class Connection(Protocol):
    """What a message needs of homelab.push.ssh.Connection (not imported: ssh imports us)."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def user(self) -> str: ...
    @property
    def host_key(self) -> str: ...


_FINGERPRINT = re.compile(r"key sent by the remote host is\s+(SHA256:\S+?)\.?\s*$", re.M)
_NOT_ACCESSIBLE = re.compile(r"Identity file (.+) not accessible")


# Words in the key data of the placeholders shipped in stack files (Pulumi.mouse.yaml's
# `...AAAAIReplaceWithMouseHostKeyFromSshKeyscanXXXXXX`): 11 chosen letters never occur in a
# real key's random base64 by chance (64^-11).
PLACEHOLDER_WORDS = ("replacewith", "placeholder")


def host_key_problem(conn: Connection) -> str | None:
    """Why the pinned host_key is no host's key (a placeholder), or None. Checked before
    connecting: such a key could only ever look like "another host key", and the advice for
    that (a reinstalled host) would mislead."""
    data = conn.host_key.partition(" ")[2]
    if not any(w in data.lower() for w in PLACEHOLDER_WORDS):
        return None
    return (
        f"homelab:ssh host_key is the placeholder {conn.host_key[:44]}..., not {conn.host}'s "
        f"key; nothing was sent. Put the host's own key there: `ssh-keyscan -p {conn.port} "
        f"-t ed25519 {conn.host}` (or /etc/ssh/ssh_host_ed25519_key.pub on the host)"
    )


def explain_ssh_failure(conn: Connection, err: str) -> str:
    where = f"{conn.host} port {conn.port}"
    low = err.lower()
    if "host key verification failed" in low or "remote host identification" in low:
        fp = _FINGERPRINT.search(err)
        sent = f" (it sent {fp.group(1)})" if fp else ""
        return (
            f"{where} presented a host key other than the pinned homelab:ssh host_key{sent}; "
            f"nothing was run on it. Check the host's key with "
            f"`ssh-keyscan -p {conn.port} -t ed25519 {conn.host}` and, only if the host was "
            "reinstalled, put it in homelab:ssh host_key"
        )
    if "connection refused" in low:
        return (
            f"cannot reach {where}: connection refused; check that the host is up and sshd "
            "listens on that port (homelab:ssh host, port)"
        )
    if "could not resolve hostname" in low or "name or service not known" in low:
        return f"cannot reach {where}: the name does not resolve; check homelab:ssh host"
    if "timed out" in low or "no route to host" in low or "network is unreachable" in low:
        return (
            f"cannot reach {where}: no answer ({_last(err)}); check that the host is up and on "
            "the network and that homelab:ssh host, port are right"
        )
    if "permission denied" in low:
        missing = _NOT_ACCESSIBLE.search(err)
        key = (
            f"private_key_path {missing.group(1)} is not readable"
            if missing
            else "check homelab:ssh user and private_key_path (or the ssh-agent's keys)"
        )
        return f"{conn.user}@{where} refused our key (permission denied); {key}"
    return (
        f"ssh {conn.user}@{where} failed: {_last(err) or 'the connection closed'}; "
        "check homelab:ssh (host, port, user, private_key_path)"
    )


def _last(err: str) -> str:
    lines = [ln.strip() for ln in err.splitlines() if ln.strip()]
    return lines[-1].removeprefix("ssh: ") if lines else ""
