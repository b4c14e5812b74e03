"""The owner-lockout rule's words (homelab/host/access.py), exactly as the user reads them,
with fixed keys (no ssh-keygen): which file, which key, which fix, which moment."""

from __future__ import annotations

import pytest

from homelab.fileset import FileSet, ManagedFile
from homelab.host.access import (
    ConnectingKeys,
    PublicKey,
    is_placeholder,
    key_lines,
    keys_file_of,
    lockout_problem,
    parse_keys,
    parse_public_key,
)
from homelab.host.system import CORE_KEYS_FILE

A = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
B = "AAAAC3NzaC1lZDI1NTE5AAAAIKQ9BfXn8F3cGmYpS6Kc3LjAqC8rdVtIS3ywWEJzOqYr"
KA = PublicKey("ssh-ed25519", A, "owner@laptop")
KB = PublicKey("ssh-ed25519", B, "")
ROOT_KEYS = "/root/.ssh/authorized_keys.d/ignition"


def _set(*paths: str, content: str = f"ssh-ed25519 {B} other\n") -> FileSet:
    return FileSet(files=tuple(ManagedFile(path=p, content=content) for p in paths))


def _msg(when: str, names: str, source: str, add: str, line: str) -> str:
    return (
        f"the push connects as core with {names} ({source}), and {when}: the next SSH "
        "connection would be refused (only the console would be left). Nothing was changed; "
        f"{add} (`{line}`), or point homelab:ssh.private_key_path at a key that is listed there"
    )


CORE_FIX = "add it to homelab:host.ssh_authorized_keys"
OTHER_FIX = "add it to the keys homelab writes there"


@pytest.mark.parametrize(
    ("fs", "keys", "reinstall", "expected"),
    [
        (
            _set(CORE_KEYS_FILE),
            (KA,),
            False,
            _msg(
                f"after it {CORE_KEYS_FILE} would no longer hold that key",
                f"ssh-ed25519 {KA.fingerprint} (owner@laptop)",
                "S",
                CORE_FIX,
                f"ssh-ed25519 {A} owner@laptop",
            ),
        ),
        (
            _set(CORE_KEYS_FILE),
            (KA,),
            True,
            _msg(
                f"on a host installed from this Ignition {CORE_KEYS_FILE} would not hold that key",
                f"ssh-ed25519 {KA.fingerprint} (owner@laptop)",
                "S",
                CORE_FIX,
                f"ssh-ed25519 {A} owner@laptop",
            ),
        ),
        # Two files written, neither Ignition's: the other fix; two agent keys: "one of them".
        (
            _set(
                "/home/core/.ssh/authorized_keys", "/home/core/.ssh/authorized_keys.d/x", content=""
            ),
            (KA, PublicKey("ssh-ed25519", B[:-4] + "AAAA", "")),
            False,
            _msg(
                "after it /home/core/.ssh/authorized_keys and /home/core/.ssh/authorized_keys.d/x"
                " would no longer hold that key",
                f"ssh-ed25519 {KA.fingerprint} (owner@laptop), ssh-ed25519 "
                f"{PublicKey('ssh-ed25519', B[:-4] + 'AAAA').fingerprint}",
                "S",
                OTHER_FIX,
                "one of them",
            ),
        ),
        # The key without a comment is named and shown without one.
        (
            _set(CORE_KEYS_FILE, content=f"ssh-ed25519 {A}\n"),
            (KB,),
            False,
            _msg(
                f"after it {CORE_KEYS_FILE} would no longer hold that key",
                f"ssh-ed25519 {KB.fingerprint}",
                "S",
                CORE_FIX,
                f"ssh-ed25519 {B}",
            ),
        ),
        (_set(CORE_KEYS_FILE), (KB,), False, None),  # the key is there (its comment differs)
        (_set(CORE_KEYS_FILE), (), False, None),  # no key to connect with: nothing to lose
        (_set(ROOT_KEYS), (KA,), False, None),  # root's file does not concern core
        (FileSet(), (KA,), False, None),  # nothing written: the host keeps its keys
    ],
)
def test_lockout_message(fs: FileSet, keys: tuple, reinstall: bool, expected: str | None) -> None:
    assert lockout_problem(fs, "core", ConnectingKeys(keys, "S"), reinstall) == expected
    if reinstall is False:  # the default is "after a push"
        assert lockout_problem(fs, "core", ConnectingKeys(keys, "S")) == expected


@pytest.mark.parametrize(
    ("line", "key"),
    [
        (f"ssh-ed25519 {A} a b  c", PublicKey("ssh-ed25519", A, "a b c")),
        (f'no-pty,command="x y" ssh-ed25519 {A}', PublicKey("ssh-ed25519", A, "")),
        (f"ssh-ed25519 {A}", PublicKey("ssh-ed25519", A, "")),
        (f"x y ssh-ed25519 {A}", PublicKey("ssh-ed25519", A, "")),
        ("ssh-ed25519", None),
        (f"ssh-ed25519 {A[:-1]}", None),  # not whole base64
        ("ssh-ed25519 AAAA*AAAA", None),  # decodes only when the * is skipped
        (f"ssh-foo {A}", None),
        ("", None),
    ],
)
def test_parse_public_key(line: str, key: PublicKey | None) -> None:
    assert parse_public_key(line) == key


def test_keys_round_trip_and_are_named_by_type_fingerprint_comment() -> None:
    text = key_lines([KA, KB])
    assert text == f"ssh-ed25519 {A} owner@laptop\nssh-ed25519 {B}\n"
    assert parse_keys("# c\n\n" + text) == [KA, KB]
    assert KA.describe() == f"ssh-ed25519 {KA.fingerprint} (owner@laptop)"
    assert KB.describe() == f"ssh-ed25519 {KB.fingerprint}"
    assert KA.fingerprint.startswith("SHA256:") and not KA.fingerprint.endswith("=")


@pytest.mark.parametrize(
    ("key", "placeholder"),
    [
        (PublicKey("ssh-ed25519", A, "me"), False),
        (PublicKey("ssh-ed25519", A, "replace-with-your-key@x"), True),
        (
            PublicKey(
                "ssh-ed25519",
                "AAAAC3NzaC1lZDI1NTE5AAAAICjmq1k7aYIOE1js5mF1eA6b8r8ZCXSrsplOdUxF20t4",
                "me",
            ),
            True,
        ),
    ],
)
def test_placeholder(key: PublicKey, placeholder: bool) -> None:
    assert is_placeholder(key) is placeholder


@pytest.mark.parametrize(
    ("user", "path", "read"),
    [
        ("core", "/home/core/.ssh/authorized_keys.d/a/b", False),
        ("core", "/home/core/.ssh/authorized_keys.d/", False),
        ("core", "/home/core/.ssh/authorized_keys2", False),
        ("root", "/root/.ssh/authorized_keys", True),
        ("al", "/home/al/.ssh/authorized_keys.d/x.y", True),
    ],
)
def test_keys_file_of(user: str, path: str, read: bool) -> None:
    assert keys_file_of(user, path) is read
