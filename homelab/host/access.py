"""Never lock the owner out: the key a push connects with must still let it in afterwards.

Pure: the public keys come in as text (`homelab.tools.connecting_keys` derives them, at the
edge, with `ssh-keygen -y` or from the `.pub` beside the private key, or asks the ssh-agent).

The rule. sshd on Fedora CoreOS reads a user's keys from `~/.ssh/authorized_keys` and, through
ssh-key-dir (`AuthorizedKeysCommand`), from every file in `~/.ssh/authorized_keys.d/`; Ignition
writes core's only into `authorized_keys.d/ignition`. When the host's file set writes one of
the connecting user's key files, the key the push connects with must be in what it writes:
otherwise the next SSH connection (the next `up`, `homelab status`, the owner's own shell) is
refused and only the console is left. The repository's placeholder key is refused outright in
every stack that pushes, at its line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from homelab.fileset import FileSet
from homelab.host.config import StackConfig
from homelab.host.stack import StackFiles, chain
from homelab.host.system import CORE_KEYS_FILE

# The key Pulumi.mouse.yaml ships with (its comment says to replace it): nobody holds its
# private half, so a host given only this key lets nobody in.
PLACEHOLDER_BLOBS = frozenset(
    {"AAAAC3NzaC1lZDI1NTE5AAAAICjmq1k7aYIOE1js5mF1eA6b8r8ZCXSrsplOdUxF20t4"}
)
PLACEHOLDER_COMMENT = "replace-with-your-key"
KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-dss",
)


@dataclass(frozen=True)
class PublicKey:
    """One public key: its type, its base64 blob (the identity) and its comment."""

    type: str
    blob: str
    comment: str = ""

    @property
    def fingerprint(self) -> str:
        """As `ssh-keygen -l` prints it: SHA256 of the decoded blob, base64 without padding."""
        digest = hashlib.sha256(base64.b64decode(self.blob)).digest()
        return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")

    def describe(self) -> str:
        """`ssh-ed25519 SHA256:... (comment)`: how messages name a key."""
        return f"{self.type} {self.fingerprint}" + (f" ({self.comment})" if self.comment else "")

    @property
    def line(self) -> str:
        return f"{self.type} {self.blob}" + (f" {self.comment}" if self.comment else "")


def parse_public_key(line: str) -> PublicKey | None:
    """A public key line (`.pub`, `ssh-keygen -y`, `ssh-add -L`, or an authorized_keys line
    with options in front); None for comments, blank lines and anything unreadable."""
    words = line.strip().split()
    for i, word in enumerate(words[:-1]):
        if word in KEY_TYPES:
            blob = words[i + 1]
            try:
                base64.b64decode(blob, validate=True)
            except (binascii.Error, ValueError):
                return None
            return PublicKey(word, blob, " ".join(words[i + 2 :]))
    return None


def parse_keys(text: str) -> list[PublicKey]:
    return [k for k in map(parse_public_key, text.splitlines()) if k is not None]


def is_placeholder(key: PublicKey) -> bool:
    return key.blob in PLACEHOLDER_BLOBS or PLACEHOLDER_COMMENT in key.comment


def home_of(user: str) -> str:
    return "/root" if user == "root" else f"/home/{user}"


def keys_file_of(user: str, path: str) -> bool:
    """`path` is a file sshd reads `user`'s keys from, as Fedora CoreOS configures it."""
    ssh = home_of(user) + "/.ssh/"
    if path == ssh + "authorized_keys":
        return True
    rest = path.removeprefix(ssh + "authorized_keys.d/")
    return rest != path and "/" not in rest and not rest.startswith(".") and bool(rest)


@dataclass(frozen=True)
class ConnectingKeys:
    """The keys a push can log in with: one (a private key file), or the agent's (any one of
    them gets in). `source` says where they came from, for messages."""

    keys: tuple[PublicKey, ...]
    source: str


def lockout_problem(
    fileset: FileSet, user: str, connecting: ConnectingKeys, reinstall: bool = False
) -> str | None:
    """What is wrong when the file set would leave `user` without the connecting key, else
    None. Only files the set writes count: files it leaves alone keep what they hold.
    `reinstall`: said of a host installed from the set's Ignition (`homelab build`)."""
    written = [f for f in fileset.files if keys_file_of(user, f.path)]
    if not written or not connecting.keys:
        return None
    blobs = {k.blob for f in written for k in parse_keys(f.content)}
    if any(k.blob in blobs for k in connecting.keys):
        return None
    names = ", ".join(k.describe() for k in connecting.keys)
    where = " and ".join(f.path for f in written)
    add = (
        "add it to homelab:host.ssh_authorized_keys"
        if any(f.path == CORE_KEYS_FILE for f in written)
        else "add it to the keys homelab writes there"
    )
    line = connecting.keys[0].line if len(connecting.keys) == 1 else "one of them"
    when = (
        f"on a host installed from this Ignition {where} would not hold that key"
        if reinstall
        else f"after it {where} would no longer hold that key"
    )
    return (
        f"the push connects as {user} with {names} ({connecting.source}), and {when}: the "
        "next SSH connection would be refused (only the console would be left). Nothing was "
        f"changed; {add} (`{line}`), or point homelab:ssh.private_key_path at a key that is "
        "listed there"
    )


def placeholder_problems(cfg: StackConfig, files: StackFiles | None) -> list[str]:
    """The repository's placeholder key in a stack that pushes (or whose Ignition someone
    will boot with), each at its line."""
    out = []
    for i, line in enumerate(cfg.host.ssh_authorized_keys):
        key = parse_public_key(line)
        if key is None or not is_placeholder(key):
            continue
        msg = (
            f"is the repository's placeholder key ({key.describe()}): nobody holds its "
            "private half, so the host would let nobody in; replace it with your own public "
            "key (`cat ~/.ssh/id_ed25519.pub`)"
        )
        keys = ("host", "ssh_authorized_keys", i)
        out.append(
            files.problem(chain(cfg), keys, msg)
            if files is not None
            else f"homelab:host.ssh_authorized_keys[{i}]: {msg}"
        )
    return out


def access_problems(
    cfg: StackConfig,
    fileset: FileSet,
    connecting: ConnectingKeys | None,
    files: StackFiles | None = None,
    user: str | None = None,
    reinstall: bool = False,
) -> list[str]:
    """Every reason the owner would be locked out: placeholder keys (at their lines), and the
    connecting key missing from what the push writes. `user`: who connects (default: the
    stack's homelab:ssh user, else core, the user a reinstalled host has)."""
    problems = placeholder_problems(cfg, files)
    if connecting is not None:
        who = user or (cfg.ssh.user if cfg.ssh is not None else "core")
        msg = lockout_problem(fileset, who, connecting, reinstall)
        if msg:
            loc = files.locate(chain(cfg), ("host", "ssh_authorized_keys")) if files else ""
            problems.append(f"{loc}: {msg}" if loc else msg)
    return problems


def key_lines(keys: Iterable[PublicKey]) -> str:
    return "".join(k.line + "\n" for k in keys)
