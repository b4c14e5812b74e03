"""Hostile input, table-driven: each case is a stack file, a container file or a command-line
argument that must be refused with one exact `FILE:LINE: what, how to fix` message, a
non-zero exit, no traceback, and nothing written or touched.

Each case runs through what users run:
- `python -m homelab build e2e-mouse --out DIR` (mouse's stack file as a test stack; a real
  subprocess, the real pulumi CLI for the secrets) on a copy of the project with that one
  input changed;
- the program (`__main__.py` of that copy) under the mocks, with the config the real pulumi
  CLI reads from that stack file (`pulumi config --json`): the same message, raised before
  any resource is registered; where pulumi itself refuses the stack file first, its message;
- for the cases marked `preview`, the real `pulumi preview` of the program on a file backend:
  the message, and no Python traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import runpy
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pytest

from homelab.host.layout import layout_host
from homelab.host.stack import StackFiles, load_stack_config
from homelab.quadlet import check, split_words
from homelab.tools import quadlet_generate
from tests.e2e.pulumi_cli import REPO, Stack, new_stack, project_copy, require_tools

Edit = Callable[[Path], None]
SECRETS = ("rustfsAccessKey", "rustfsSecretKey")
MOUSE = "e2e-mouse"  # Pulumi.mouse.yaml as a test stack
HEADER = f"homelab build {MOUSE}: nothing written:"


@dataclass
class Case:
    id: str
    edit: Edit
    where: tuple[str, str | int]  # (file, a needle on the line, or the line number)
    message: str  # what follows `FILE:LINE: `
    # The program: "same" message; "pulumi: TEXT", pulumi refuses the stack file itself
    # (TEXT is in its message); None: a command-line case, no program involved.
    program: str | None = "same"
    preview: bool = False  # also through the real `pulumi preview`
    args: Callable[[Path, Path], list[str]] | None = None  # build arguments (project, out)
    cli: list[str] | None = None  # a whole other command instead of build: argv after -m homelab
    more: tuple[str, ...] = ()  # further problem lines, exactly as printed
    status: int = 1
    # The first line of stderr; None: the problems go to stdout; "": stderr, no header.
    header: str | None = HEADER
    stack: str = MOUSE  # the stack built (and previewed)
    secret: dict[str, str] = field(default_factory=dict)  # secrets set (stdin) before the run


# --- edits ----------------------------------------------------------------------------------


def text_edit(rel: str, old: str | bytes, new: str | bytes, count: int = 1) -> Edit:
    def edit(project: Path) -> None:
        path = project / rel
        data = path.read_bytes()
        o = old.encode() if isinstance(old, str) else old
        n = new.encode() if isinstance(new, str) else new
        assert o in data, f"{o!r} not in {rel}"
        path.write_bytes(data.replace(o, n, count))

    return edit


def unit(name: str, old: str | bytes, new: str | bytes) -> Edit:
    return text_edit(f"containers/{name}.container", old, new)


def stack(old: str | bytes, new: str | bytes) -> Edit:
    return text_edit(S, old, new)


def plain_secret(key: str) -> Edit:
    """The secret `key` written as plain config where `pulumi config set --secret` had put it."""

    def edit(project: Path) -> None:
        path = project / S
        text, n = re.subn(
            rf"  homelab:{key}:\n    secure: \S+\n", f"  homelab:{key}: value\n", path.read_text()
        )
        assert n == 1
        path.write_text(text)

    return edit


def both(*edits: Edit) -> Edit:
    def edit(project: Path) -> None:
        for e in edits:
            e(project)

    return edit


def replace_with(rel: str, make: Callable[[Path], None]) -> Edit:
    def edit(project: Path) -> None:
        (project / rel).unlink()
        make(project / rel)

    return edit


def evil_elsewhere(project: Path) -> Path:
    evil = project.parent / "elsewhere" / "rustfs.container"
    evil.parent.mkdir(exist_ok=True)
    text = (REPO / "containers/rustfs.container").read_text()
    evil.write_text(text.replace("Exec=/data", "Exec=/data\nPodmanArgs=--privileged"))
    return evil


def symlink_unit(project: Path) -> None:
    path = project / "containers/rustfs.container"
    path.unlink()
    path.symlink_to(evil_elsewhere(project))


def symlink_containers_dir(project: Path) -> None:
    d = project / "containers"
    shutil.move(d, project.parent / "elsewhere-containers")
    d.symlink_to(project.parent / "elsewhere-containers")


def big_comment(rel: str, size: int) -> Edit:
    def edit(project: Path) -> None:
        path = project / rel
        with path.open("a") as fh:
            for _ in range(size // (1 << 20)):
                fh.write("# " + "x" * ((1 << 20) - 3) + "\n")

    return edit


def _laughs(n: int) -> str:
    """The billion laughs: each level nine aliases of the one before (9**n strings)."""
    lines = []
    for i in range(n):
        items = ", ".join(["lol"] * 9 if i == 0 else [f"*l{i - 1}"] * 9)
        lines.append(f"        L{i}: &l{i} [{items}]\n")
    return "".join(lines)


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


# --- the cases ------------------------------------------------------------------------------

R = "containers/rustfs.container"
N = "containers/netdata.container"
S = f"Pulumi.{MOUSE}.yaml"
FIX_CR = "save the file with LF (Unix) line endings"
CR = (
    "a carriage return (CR): systemd and YAML read a lone CR as a line break, so what follows "
    "it would become a line of its own"
)
ROOT_FIX = (
    "homelab chowns the volume root and every data directory under it, so it must be a "
    "directory of its own, e.g. /var/tank/services or /srv/homelab"
)
INJECTED = "Description=RustFS\r[Service]\rExecStartPre=/usr/bin/touch /tmp/pwned"
ONE_LINE = (
    "must be one line of plain text (it could otherwise add lines to the file it is written to)"
)
NUMBER = (
    "is read as a number or a date, differently by different YAML readers (octal, hex, digit "
    "groups, more than 18 digits, dates); write a plain decimal, or quote it if it is text"
)

CASES = [
    # --- the container file: bytes ---
    Case(
        "unit-lone-cr-injection",
        unit("rustfs", "Description=RustFS S3-compatible object storage", INJECTED),
        (R, "Description=RustFS"),
        f"{CR} at column 19; {FIX_CR}",
        preview=True,
    ),
    Case(
        "unit-crlf-line-endings",
        lambda p: (p / R).write_bytes((p / R).read_bytes().replace(b"\n", b"\r\n")),
        (R, 1),
        f"lines end in CR LF (Windows line endings); run `homelab quadlet fmt -w {R}` (it "
        "rewrites them as LF)",
    ),
    Case(
        "unit-nul-in-value",
        unit("rustfs", "Description=RustFS", "Description=Rust\0FS"),
        (R, "Description=Rust"),
        "a NUL byte at column 17; remove it",
    ),
    Case(
        "unit-not-utf8",
        unit("rustfs", "Description=RustFS", b"Description=Rust\xffFS"),
        (R, "Description=Rust"),
        "byte 0xff at column 17 is not valid UTF-8; save the file as UTF-8",
        preview=True,
    ),
    Case(
        "unit-overlong-utf8",
        unit("rustfs", "Description=RustFS", b"Description=Rust\xc0\xafFS"),
        (R, "Description=Rust"),
        "byte 0xc0 at column 17 is not valid UTF-8; save the file as UTF-8",
    ),
    Case(
        "unit-vertical-tab",
        unit("rustfs", "Description=RustFS", "Description=Rust\vFS"),
        (R, "Description=Rust"),
        "the control character U+000B at column 17; remove it",
    ),
    Case(
        "unit-form-feed",
        unit("rustfs", "Exec=/data", "Exec=/data\f--address=0.0.0.0"),
        (R, "Exec=/data"),
        "the control character U+000C at column 11; remove it",
    ),
    Case(
        "unit-escape-sequence",
        unit("rustfs", "Description=RustFS", "Description=\x1b[2J\x1b[1mRustFS"),
        (R, "Description="),
        "the control character U+001B at column 13; remove it",
    ),
    Case(
        "unit-delete-char",
        unit("rustfs", "ContainerName=rustfs", "ContainerName=rust\x7ffs"),
        (R, "ContainerName="),
        "the control character U+007F at column 19; remove it",
    ),
    Case(
        "unit-next-line-u0085",
        unit("rustfs", "Description=RustFS", "Description=Rust\u0085[Service]"),
        (R, "Description=Rust"),
        "the C1 control character U+0085 (Python and Go read U+0085 as a line break) at "
        "column 17; remove it",
    ),
    Case(
        "unit-line-separator-u2028",
        unit("rustfs", "Description=RustFS", "Description=Rust\u2028ExecStartPre=/bin/sh"),
        (R, "Description=Rust"),
        "the Unicode line separator U+2028 (a line break to Python and Go, not systemd) at "
        "column 17; remove it",
    ),
    Case(
        "unit-bidi-override",
        unit("rustfs", "PublishPort=9001:9001", "PublishPort=9001:9001 # \u202e1009:0"),
        (R, "PublishPort=9001"),
        "the bidirectional control U+202E (it changes what the line appears to say) at "
        "column 25; remove it",
    ),
    Case(
        "unit-noncharacter",
        unit("rustfs", "Description=RustFS", "Description=Rust\ufffeFS"),
        (R, "Description=Rust"),
        "the Unicode noncharacter U+FFFE (systemd refuses it as invalid UTF-8) at column 17; "
        "remove it",
    ),
    Case(
        "unit-byte-order-mark",
        lambda p: (p / R).write_bytes(b"\xef\xbb\xbf" + (p / R).read_bytes()),
        (R, 1),
        "the file starts with a byte order mark; save it without one",
    ),
    # --- the container file: sizes ---
    Case(
        "unit-60mb-comment",
        big_comment(R, 60 << 20),
        (R, 26),
        "the file is larger than 256 KiB, the limit for this kind of file (it passes the limit "
        "on this line); shorten it",
    ),
    Case(
        "unit-20mb-environment-value",
        unit("rustfs", "Exec=/data", "Environment=JUNK=" + "x" * (20 << 20) + "\nExec=/data"),
        (R, "Environment=JUNK="),
        "the file is larger than 256 KiB, the limit for this kind of file (it passes the limit "
        "on this line); shorten it",
    ),
    Case(
        "unit-40kib-environment-value",
        unit("rustfs", "Exec=/data", "Environment=JUNK=" + "x" * (40 << 10) + "\nExec=/data"),
        (R, "Environment=JUNK="),
        "this line is 40 KiB long (continuations joined); the limit is 32 KiB: shorten it, or "
        "move large data into a file the container mounts",
    ),
    Case(
        "unit-long-line-by-continuations",
        unit("rustfs", "Exec=/data", "Environment=JUNK=" + ("y" * 1000 + "\\\n") * 40 + "z"),
        (R, "Environment=JUNK="),
        "this line is 39 KiB long (continuations joined); the limit is 32 KiB: shorten it, or "
        "move large data into a file the container mounts",
    ),
    # --- the container file: what it is, and where ---
    Case(
        "unit-symlink-outside-project",
        symlink_unit,
        (R, 1),
        "is a symbolic link (to {elsewhere}/rustfs.container); it must be a regular file: copy "
        "the file here instead of linking it",
        preview=True,
    ),
    Case(
        "unit-containers-dir-symlink",
        symlink_containers_dir,
        (N, 1),
        "containers/ is a symbolic link; container files must be in the project's own "
        "containers/ directory: make it a directory",
        more=(
            f"{R}:1: containers/ is a symbolic link; container files must be in the project's "
            "own containers/ directory: make it a directory",
        ),
    ),
    Case(
        "unit-is-a-directory",
        replace_with(R, lambda p: p.mkdir()),
        (R, 1),
        "is a directory; give a regular file",
    ),
    Case(
        "unit-is-a-fifo",
        replace_with(R, lambda p: os.mkfifo(p)),
        (R, 1),
        "is not a regular file; give a regular file",
    ),
    # --- the container file: values the host would misread ---
    Case(
        "unit-servicename-path-traversal",
        unit("rustfs", "ContainerName=rustfs", "ContainerName=rustfs\nServiceName=../../evil"),
        (R, "ServiceName="),
        "ServiceName=../../evil does not make a valid systemd unit name (letters, "
        "digits, ':', '-', '_', '.', '\\', one '@'; up to 255 characters): podman's generator "
        "would write that name as a file path; rename it",
        preview=True,
    ),
    Case(
        "unit-port-clash-wildcard-vs-loopback",
        unit("netdata", "PublishPort=19999:19999", "PublishPort=127.0.0.1:9000:19999"),
        (R, "PublishPort=9000:9000"),
        "PublishPort: host port 9000/tcp on every address clashes with 9000/tcp on 127.0.0.1, "
        "published by 'netdata' at containers/netdata.container:14; the later one would fail "
        "to start (address already in use): change one of them",
        preview=True,
    ),
    Case(
        "unit-port-clash-range-and-v6-wildcard",
        unit("netdata", "PublishPort=19999:19999", "PublishPort=[::]:8995-9000:8995-9000"),
        (R, "PublishPort=9000:9000"),
        "PublishPort: host port 9000/tcp on every address clashes with 9000/tcp on ::, "
        "published by 'netdata' at containers/netdata.container:14; the later one would fail "
        "to start (address already in use): change one of them",
    ),
    Case(
        # The partner of the case above that reaches the dual-stack rule itself: [::] against
        # one IPv4 address (not podman's every-address bind, which clashes with anything).
        "unit-port-clash-v6-wildcard-vs-v4-address",
        both(
            unit("netdata", "PublishPort=19999:19999", "PublishPort=[::]:8995-9000:8995-9000"),
            unit("rustfs", "PublishPort=9000:9000", "PublishPort=127.0.0.1:9000:9000"),
        ),
        (R, "PublishPort=127.0.0.1:9000"),
        "PublishPort: host port 9000/tcp on 127.0.0.1 clashes with 9000/tcp on ::, "
        "published by 'netdata' at containers/netdata.container:14; the later one would fail "
        "to start (address already in use): change one of them",
    ),
    Case(
        "unit-port-clash-same-container",
        unit("rustfs", "PublishPort=9001:9001", "PublishPort=0.0.0.0:9000:9001"),
        (R, "PublishPort=0.0.0.0"),
        "PublishPort: host port 9000/tcp on 0.0.0.0 clashes with 9000/tcp on every address, "
        "published by this container at containers/rustfs.container:13; the later one would "
        "fail to start (address already in use): change one of them",
    ),
    Case(
        "unit-publishes-ssh-port",
        both(
            stack("port: 1", "port: 22"),
            unit("netdata", "PublishPort=19999:19999", "PublishPort=127.0.0.1:22:19999"),
        ),
        (N, "PublishPort="),
        "PublishPort: host port 22/tcp is the host's SSH port; a container there would take SSH "
        "away from the host, or fail to start: choose another port",
    ),
    Case(
        "unit-port-host-not-an-ip",
        unit("rustfs", "PublishPort=9001:9001", "PublishPort=localhost:9001:9001"),
        (R, "PublishPort=localhost"),
        "PublishPort: host address 'localhost' is not an IP address; write e.g. 127.0.0.1:8080:80",
    ),
    Case(
        "unit-volume-is-the-root",
        unit("rustfs", "/var/tank/services/rustfs/data:/data:Z", "/var/tank/services:/data:Z"),
        (R, "Volume="),
        "Volume: volume source '/var/tank/services' is the volume root itself; mount a "
        "directory of its own under it, e.g. /var/tank/services/rustfs/data",
    ),
    Case(
        "unit-volume-specifier",
        unit("rustfs", "/var/tank/services/rustfs/data:", "/var/tank/services/%N/data:"),
        (R, "Volume="),
        "Volume: volume source '/var/tank/services/%N/data' holds '%', a systemd specifier; "
        "homelab creates the data directories, so use a path without it",
    ),
    Case(
        "unit-user-uid-out-of-range",
        unit("netdata", "ContainerName=netdata", "ContainerName=netdata\nUser=99999999999"),
        (N, "User="),
        "User: uid and gid must be at most 4294967294",
    ),
    Case(
        "unit-shared-data-two-owners",
        unit(
            "netdata",
            "Volume=/var/tank/services/netdata/cache:/var/cache/netdata:Z",
            "Volume=/var/tank/services/rustfs/data:/var/cache/netdata:Z",
        ),
        (R, "Volume="),
        "Volume: data directory /var/tank/services/rustfs/data is also mounted by 'netdata', "
        "owned 0:0 there and 10001:10001 here; give both the same data_owner, or use a "
        "directory each",
    ),
    # --- the stack file: bytes and YAML ---
    Case(
        "stack-not-utf8",
        stack("hostname: mouse", b"hostname: mous\xe9"),
        (S, "hostname: mous"),
        "byte 0xe9 at column 19 is not valid UTF-8; save the file as UTF-8",
        program="pulumi: UTF-8 octet",
    ),
    Case(
        "stack-lone-cr",
        stack("timezone: UTC", "timezone: UTC\r    zfs_pool: x"),
        (S, "timezone: UTC"),
        f"{CR} at column 18; {FIX_CR}",
        program='pulumi: mapping key "zfs_pool" already defined at line 6',
    ),
    Case(
        "stack-unclosed-bracket",
        stack("timezone: UTC", "timezone: [UTC"),
        (S, "timezone: [UTC"),
        "not valid YAML: expected ',' or ']', but got ':' (while parsing a flow sequence opened "
        "here, error found at line 6); fix the syntax",
        program="pulumi: did not find expected ',' or ']'",
    ),
    Case(
        "stack-config-is-a-list",
        lambda p: (p / S).write_text("config:\n- homelab:host\n- hostname: mouse\n"),
        (S, "config:"),
        "config: must be a mapping of keys such as homelab:host, not a list or text",
        program="pulumi: cannot unmarshal !!seq into map[string]config.Value",
    ),
    Case(
        "stack-duplicate-key",
        stack("    netdata:\n", "    rustfs:\n      enabled: false\n    netdata:\n"),
        (S, ("rustfs:", 2)),
        "duplicate key 'rustfs' (first at line {first}); YAML keeps only the last one: merge "
        "the two into one",
        program='pulumi: mapping key "rustfs" already defined',
    ),
    Case(
        "stack-anchor-and-alias",
        stack("    netdata:\n", "    extra: &a {enabled: false}\n    more: *a\n    netdata:\n"),
        (S, "extra: &a"),
        "YAML anchors (&a) are not allowed; write the value out",
        preview=True,
    ),
    Case(
        "stack-billion-laughs",
        stack(
            "    netdata:\n",
            "    lol:\n      enabled: false\n      environment:\n" + _laughs(10) + "    netdata:\n",
        ),
        (S, "L0: &l0"),
        "YAML anchors (&l0) are not allowed; write the value out",
        program="pulumi: excessive aliasing",
    ),
    Case(
        "stack-python-tag",
        stack("timezone: UTC", "timezone: !!python/object/apply:os.system [touch /tmp/pwned]"),
        (S, "timezone: !!python"),
        "YAML tags (tag:yaml.org,2002:python/object/apply:os.system) are not allowed (pulumi "
        "ignores them); remove it, and quote the value if it is text",
    ),
    Case(
        "stack-octal-looking-key",
        stack("    netdata:\n", "    010:\n      enabled: false\n    netdata:\n"),
        (S, "010:"),
        f"010 {NUMBER}",
    ),
    Case(
        "stack-hex-number",
        stack("settle: 5", "settle: 0x10"),
        (S, "settle: 0x10"),
        f"0x10 {NUMBER}",
    ),
    Case(
        "stack-date-as-memory",
        stack("memory_max: 1G", "memory_max: 2001-12-14"),
        (S, "memory_max: 2001"),
        f"2001-12-14 {NUMBER}",
    ),
    Case(
        "stack-huge-integer",
        stack("settle: 5", "settle: " + "9" * 5000),
        (S, "settle: 999"),
        f"{'9' * 40}... {NUMBER}",
        preview=True,
    ),
    Case(
        "stack-deep-nesting",
        stack("memory_max: 1G", "memory_max: 1G\n      ports: " + deep(100_000)),
        (S, "ports: [[["),
        "nested deeper than 32 levels; flatten it",
        program="pulumi: exceeded max depth of 10000",
    ),
    Case(
        "stack-over-1mib",
        big_comment(S, 2 << 20),
        (S, ("# xxx", 1)),
        "the file is larger than 1024 KiB, the limit for this kind of file (it passes the limit "
        "on this line); shorten it",
    ),
    Case(
        "stack-is-a-fifo",
        replace_with(S, lambda p: os.mkfifo(p)),
        (S, 1),
        "is not a regular file; give a regular file",
        program=None,  # pulumi itself blocks reading a FIFO
    ),
    Case(
        "stack-symlink-to-dev-zero",
        replace_with(S, lambda p: p.symlink_to("/dev/zero")),
        (S, 1),
        "is not a regular file; give a regular file",
        program=None,  # pulumi itself would read /dev/zero until memory runs out
    ),
    Case(
        "stack-ssh-user-option",
        stack("user: core", "user: -oProxyCommand=x"),
        (S, "user: -o"),
        "homelab:ssh.user: ssh user '-oProxyCommand=x' must be a plain user name",
    ),
    # --- the stack file: values ---
    Case(
        "stack-40kib-environment-value",
        stack(
            "      memory_max: 2G\n",
            "      memory_max: 2G\n      environment: {JUNK: " + "x" * (40 << 10) + "}\n",
        ),
        (S, "environment: {JUNK"),
        "homelab:containers.rustfs.environment.JUNK: the value is 40 KiB long; the limit is 32 KiB",
    ),
    Case(
        "stack-tab-in-value",
        stack("      memory_max: 2G\n", '      memory_max: 2G\n      environment: {A: "x\\ty"}\n'),
        (S, "environment: {A"),
        f"homelab:containers.rustfs.environment.A: the value holds a tab at character 2; a value "
        f"{ONE_LINE}",
    ),
    Case(
        "stack-escaped-cr-in-value",
        stack(
            "      memory_max: 2G\n",
            '      memory_max: 2G\n      environment: {A: "x\\r[Service]"}\n',
        ),
        (S, "environment: {A"),
        f"homelab:containers.rustfs.environment.A: the value holds {CR} at character 2; a "
        f"value {ONE_LINE}",
        preview=True,
    ),
    Case(
        "stack-line-separator-in-hostname",
        stack("hostname: mouse", 'hostname: "mouse\\u2028x"'),
        (S, "hostname:"),
        "homelab:host.hostname: the value holds the Unicode line separator U+2028 (a line break "
        f"to Python and Go, not systemd) at character 6; a value {ONE_LINE}",
    ),
    Case(
        "stack-secret-as-plain-config",
        plain_secret("rustfsSecretKey"),
        (S, "homelab:rustfsSecretKey"),
        "homelab:rustfsSecretKey: is a secret (containers.rustfs.secrets.RUSTFS_SECRET_KEY) "
        "but is set in plain text; remove it and set it with --secret: `pulumi config rm -s "
        f"{MOUSE} rustfsSecretKey && pulumi config set --secret -s {MOUSE} rustfsSecretKey "
        "<value>`",
        preview=True,
    ),
    Case(
        "stack-secret-key-named-like-a-setting",
        stack("RUSTFS_SECRET_KEY: rustfsSecretKey", "RUSTFS_SECRET_KEY: host"),
        (S, "RUSTFS_SECRET_KEY: host"),
        "homelab:containers.rustfs.secrets.RUSTFS_SECRET_KEY: secret config key 'host' is also "
        "a homelab setting (homelab:host); choose another name",
    ),
    Case(
        "stack-secret-with-newline",
        lambda p: None,
        (S, "homelab:rustfsSecretKey"),
        f"homelab:rustfsSecretKey: the secret holds a newline; a secret {ONE_LINE}; set it again "
        f"with `pulumi config set --secret -s {MOUSE} rustfsSecretKey` (value on stdin: pulumi "
        "drops one final newline)",
        secret={"rustfsSecretKey": "first-line\nEVIL=1\n"},
        preview=True,
        # mouse's build reads its secrets only when asked to write them.
        args=lambda p, out: [
            "build",
            MOUSE,
            "--out",
            str(out),
            "--project",
            str(p),
            "--with-secrets",
        ],
    ),
    Case(
        "stack-volume-root-home-lockout",
        both(
            stack("volume_root: /var/tank/services", "volume_root: /var/home"),
            stack(
                "      memory_max: 1G\n",
                "      memory_max: 1G\n      volumes: ['/var/home/core/.ssh:/keys:Z']\n",
            ),
        ),
        (S, "volume_root:"),
        f"homelab:host.volume_root: '/var/home' is or lies in the home directory /var/home: "
        f"{ROOT_FIX}",
        preview=True,
    ),
    Case(
        "stack-volume-root-slash",
        stack("volume_root: /var/tank/services", "volume_root: /"),
        (S, "volume_root:"),
        f"homelab:host.volume_root: '/' cannot be the volume root: {ROOT_FIX}",
    ),
    Case(
        "stack-volume-root-contains-homes",
        stack("volume_root: /var/tank/services", "volume_root: /var//"),
        (S, "volume_root:"),
        f"homelab:host.volume_root: '/var' contains the home directory /var/home: {ROOT_FIX}",
    ),
    Case(
        "stack-volume-root-in-etc",
        stack("volume_root: /var/tank/services", "volume_root: /etc/homelab"),
        (S, "volume_root:"),
        f"homelab:host.volume_root: '/etc/homelab' is or lies in the system directory /etc: "
        f"{ROOT_FIX}",
    ),
    Case(
        "stack-zfs-pool-shell-injection",
        stack("zfs_pool: tank", "zfs_pool: 'tank; touch /tmp/pwned'"),
        (S, "zfs_pool:"),
        "homelab:host.zfs_pool: zfs_pool 'tank; touch /tmp/pwned' must be a ZFS pool name: a "
        "letter, then letters, digits, '_', '.' or '-' (it goes into a unit name and a shell "
        "command); not mirror, raidz, draid, spare, log or c0...c9",
        preview=True,
    ),
    Case(
        "stack-ssh-host-option-injection",
        stack("host: 127.0.0.1", "host: -oProxyCommand=touch /tmp/pwned"),
        (S, "host: -o"),
        "homelab:ssh.host: ssh host '-oProxyCommand=touch /tmp/pwned' must be a host name or "
        "an IP address (it is an argument of ssh)",
        preview=True,
    ),
    Case(
        "stack-image-with-specifier",
        stack("      memory_max: 2G\n", "      memory_max: 2G\n      image: docker.io/x/y:%n\n"),
        (S, "image: docker"),
        "homelab:containers.rustfs.image: 'docker.io/x/y:%n' is not an image reference such as "
        "docker.io/library/nginx:1.27",
    ),
    Case(
        "stack-rebase-image-extra-argument",
        stack(
            "      enabled: false\n  homelab:ssh",
            "      enabled: false\n      image: 'ghcr.io/x/y:1 --bypass'\n  homelab:ssh",
        ),
        (S, "image: 'ghcr"),
        "homelab:host.auto_rebase.image: 'ghcr.io/x/y:1 --bypass' is not an image reference "
        "such as docker.io/library/nginx:1.27",
    ),
    Case(
        "stack-host-path-specifier",
        stack("        - /etc/passwd", "        - /etc/%H"),
        (S, "- /etc/%H"),
        "homelab:containers.netdata.host_paths[0]: '/etc/%H' holds '%' (a systemd specifier) "
        "or ':' (it separates a volume's parts); use a path without them",
    ),
    Case(
        "inherited-host-path-points-at-the-base-stack",
        stack("        - /etc/passwd", "        - /etc/%H"),
        (S, "- /etc/%H"),
        "homelab:containers.netdata.host_paths[0]: '/etc/%H' holds '%' (a systemd specifier) "
        "or ':' (it separates a volume's parts); use a path without them",
        stack="e2e-vm-test",
        header="homelab build e2e-vm-test: nothing written:",
    ),
    Case(
        "stack-timezone-traversal",
        stack("timezone: UTC", "timezone: ../../../etc/shadow"),
        (S, "timezone:"),
        "homelab:host.timezone: '../../../etc/shadow' is not a timezone name such as "
        "'Europe/Berlin' or 'UTC'",
    ),
    Case(
        "stack-secret-name-traversal",
        stack("RUSTFS_SECRET_KEY: rustfsSecretKey", "RUSTFS_SECRET_KEY: ../../etc/x"),
        (S, "secrets:"),
        "homelab:containers.rustfs.secrets: secret config key '../../etc/x' for "
        "RUSTFS_SECRET_KEY is not a valid key name",
    ),
    Case(
        "stack-environment-name-injection",
        stack(
            "      memory_max: 2G\n",
            "      memory_max: 2G\n      environment: {'A=1 --privileged B': x}\n",
        ),
        (S, "environment: {'A=1"),
        "homelab:containers.rustfs.environment: 'A=1 --privileged B' is not a valid environment "
        "variable name",
    ),
    Case(
        "stack-data-owner-out-of-range",
        stack("data_owner: 10001:10001", "data_owner: '9999999999:0'"),
        (S, "data_owner: '999"),
        "homelab:containers.rustfs.data_owner: data_owner '9999999999:0': uid and gid must be "
        "at most 4294967294",
    ),
    Case(
        "stack-base-stack-traversal",
        stack("  homelab:push:", "  homelab:base_stack: ../../etc/x\n  homelab:push:"),
        (S, "homelab:base_stack"),
        "homelab:base_stack: stack name '../../etc/x' is not a stack's short name: letters, "
        "digits, '-', '_' and '.' only (up to 100), e.g. mouse",
    ),
    Case(
        "stack-base-stack-itself",
        stack("  homelab:push:", f"  homelab:base_stack: {MOUSE}\n  homelab:push:"),
        (S, "homelab:base_stack"),
        "homelab:base_stack: a stack cannot inherit from itself; remove base_stack",
    ),
    Case(
        "stack-port-override-clash",
        stack("      memory_max: 1G\n", "      memory_max: 1G\n      ports: ['9001:19999']\n"),
        (R, "PublishPort=9001"),
        "PublishPort: host port 9001/tcp on every address clashes with 9001/tcp on every "
        f"address, published by 'netdata' at {S}:{{ports}}; the later one would "
        "fail to start (address already in use): change one of them",
    ),
]


CLI_CASES = [
    Case(
        "cli-stack-name-traversal",
        lambda p: None,
        ("", 0),
        "stack name '../../etc/passwd' is not a stack's short name: letters, digits, '-', '_' "
        "and '.' only (up to 100), e.g. mouse",
        program=None,
        args=lambda p, out: ["build", "../../etc/passwd", "--out", str(out)],
        header="homelab build ../../etc/passwd: nothing written:",
    ),
    Case(
        "cli-out-holds-user-files",
        lambda p: (p.parent / "out").mkdir() or (p.parent / "out" / "thesis.tex").write_text("!"),
        ("", 0),
        "--out {out}: refusing to write there: it is neither empty nor the output of an "
        "earlier `homelab build` (no .homelab-build.json); it holds thesis.tex. Nothing was "
        "changed. Choose a new or empty folder, e.g. --out out/STACK",
        program=None,
    ),
    Case(
        "cli-out-is-the-project",
        lambda p: None,
        ("", 0),
        "--out {project} holds the project itself; give a new or empty directory",
        program=None,
        args=lambda p, out: ["build", MOUSE, "--out", str(p)],
    ),
    Case(
        "cli-out-not-utf8",
        lambda p: None,
        ("", 0),
        "--out '{parent}/out\\udcff' is not valid UTF-8; use a plain name",
        program=None,
        args=lambda p, out: ["build", MOUSE, "--out", str(out) + os.fsdecode(b"\xff")],
    ),
    Case(
        "cli-secrets-stack-name",
        lambda p: None,
        ("", 0),
        "stack name 'mouse;id' is not a stack's short name: letters, digits, '-', '_' and '.' "
        "only (up to 100), e.g. mouse",
        program=None,
        cli=["secrets", "mouse;id"],
        header="",
    ),
    Case(
        "cli-quadlet-check-lone-cr",
        unit("rustfs", "Description=RustFS S3-compatible object storage", INJECTED),
        (R, "Description=RustFS"),
        f"{CR} at column 19; {FIX_CR}",
        program=None,
        cli=["quadlet", "check", R],
        header=None,
    ),
    Case(
        "cli-quadlet-fmt-nul",
        unit("rustfs", "Description=RustFS", "Description=Rust\0FS"),
        (R, "Description=Rust"),
        "a NUL byte at column 17; remove it",
        program=None,
        cli=["quadlet", "fmt", R],
        header="",
    ),
    Case(
        "cli-quadlet-check-fifo",
        lambda p: os.mkfifo(p / "containers" / "x.container"),
        ("containers/x.container", 1),
        "is not a regular file; give a regular file",
        program=None,
        cli=["quadlet", "check", "--no-generator", "containers/x.container"],
        header=None,
    ),
]


# --- the harness ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A project copy with the stacks e2e-mouse and e2e-vm-test (mouse's and vm-test's files)
    on a file backend (its secrets set), pushing to
    a closed port on loopback should anything ever get that far."""
    require_tools()
    root = tmp_path_factory.mktemp("hostile")
    project = project_copy(root / "project")
    mouse, vm = project / "Pulumi.mouse.yaml", project / "Pulumi.vm-test.yaml"
    (project / S).write_text(
        mouse.read_text()
        .replace("host: mouse.lan", "host: 127.0.0.1")
        .replace("port: 22", "port: 1")
    )
    (project / "Pulumi.e2e-vm-test.yaml").write_text(
        vm.read_text().replace("homelab:base_stack: mouse", f"homelab:base_stack: {MOUSE}")
    )
    mouse.unlink()
    vm.unlink()
    st = new_stack(project, root / "state", MOUSE)
    for key in SECRETS:
        st.set_secret(key, f"value-of-{key}")
    new_stack(project, root / "state", "e2e-vm-test")
    return project, root / "state", st.env


def _snapshot(root: Path) -> dict[str, str]:
    """Every path under `root` -> what it is (content hash, link target, fifo, dir)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath, n)
            if p.is_symlink():
                out[str(p)] = "-> " + os.readlink(p)
            elif p.is_fifo():
                out[str(p)] = "fifo"
            elif p.is_file():
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                out[str(p)] = "dir"
    return out


def _case_project(base_project: Path, tmp: Path, case: Case) -> Path:
    project = tmp / "project"
    shutil.copytree(base_project, project, symlinks=True)
    case.edit(project)
    return project


def _where(project: Path, case: Case) -> str:
    rel, needle = case.where
    if not rel:
        return ""
    if isinstance(needle, int):
        return f"{rel}:{needle}:"
    nth = 1
    if isinstance(needle, tuple):
        needle, nth = needle
    data = (project / rel).read_bytes().decode("utf-8", "replace")
    hits = [i for i, ln in enumerate(data.split("\n"), 1) if needle in ln]
    return f"{rel}:{hits[nth - 1]}:"


def _expected(project: Path, case: Case) -> str:
    sf = project / S
    data = sf.read_bytes().decode("utf-8", "replace").split("\n") if sf.is_file() else []
    rustfs = [i for i, ln in enumerate(data, 1) if ln.strip() == "rustfs:"]
    ports = [i for i, ln in enumerate(data, 1) if "ports: ['9001" in ln]
    msg = case.message.format(
        elsewhere=project.parent / "elsewhere",
        first=rustfs[0] if rustfs else 0,
        ports=ports[0] if ports else 0,
        out=project.parent / "out",
        project=project,
        parent=project.parent,
    )
    where = _where(project, case)
    return f"{where} {msg}" if where else msg


def _homelab(argv: list[str], cwd: Path, env: dict[str, str]):
    return subprocess.run(
        [sys.executable, "-m", "homelab", *argv],
        cwd=cwd,
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        timeout=120,
        check=False,
    )


def _set_secrets(project: Path, state: Path, env: dict[str, str], secrets: dict[str, str]):
    for key, value in secrets.items():
        st = Stack(project, MOUSE, {**env, "PULUMI_BACKEND_URL": f"file://{state}"})
        st.run("config", "set", "--secret", key, stdin=value)


def _run_case(base, tmp_path, case: Case):
    base_project, base_state, env = base
    project = _case_project(base_project, tmp_path, case)
    state = tmp_path / "state"
    shutil.copytree(base_state, state)
    env = {**env, "PULUMI_BACKEND_URL": f"file://{state}"}
    _set_secrets(project, state, env, case.secret)
    return project, state, env


@pytest.mark.parametrize("case", CASES + CLI_CASES, ids=lambda c: c.id)
def test_refused_by_build(base, tmp_path, case):
    project, _state, env = _run_case(base, tmp_path, case)
    out = tmp_path / "out"
    before = _snapshot(tmp_path)
    if case.cli is not None:
        proc = _homelab(case.cli, project, env)
    else:
        argv = (
            case.args(project, out)
            if case.args
            else ["build", case.stack, "--out", str(out), "--project", str(project)]
        )
        if "--project" not in argv:
            argv += ["--project", str(project)]
        proc = _homelab(argv, REPO, env)
    stdout, stderr = proc.stdout.decode(), proc.stderr.decode()
    assert "Traceback" not in stdout + stderr, stderr
    assert proc.returncode == case.status, stdout + stderr
    expected = _expected(project, case)
    if case.header is None:
        assert stdout == expected + "\n"
    else:
        head = [case.header] if case.header else []
        assert stderr == "\n".join([*head, expected, *case.more]) + "\n"
        assert stdout == ""
    # Nothing written, nothing touched: not the output, not the project, not its neighbours.
    assert _snapshot(tmp_path) == before


def _program(project: Path, stack: str, env: dict[str, str], mocks, monkeypatch):
    """The copy's __main__.py under the mocks, with the config the real pulumi CLI reads from
    the copy's stack file. (Recorder, the RunError) or (None, pulumi's own refusal)."""
    proc = subprocess.run(
        ["pulumi", "config", "--json", "--show-secrets", "--stack", stack],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        return None, proc.stderr
    given = json.loads(proc.stdout)
    config = {k: v["value"] for k, v in given.items() if "value" in v}
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config))
    monkeypatch.setenv(
        "PULUMI_CONFIG_SECRET_KEYS", json.dumps([k for k, v in given.items() if v["secret"]])
    )
    rec = mocks(stack=stack, preview=True)
    with pytest.raises(pulumi.RunError) as e:
        rec.run(lambda: runpy.run_path(str(project / "__main__.py"), run_name="homelab_program"))
    return rec, str(e.value)


@pytest.mark.parametrize("case", [c for c in CASES if c.program], ids=lambda c: c.id)
def test_refused_by_the_program(base, tmp_path, case, mocks, monkeypatch):
    project, _state, env = _run_case(base, tmp_path, case)
    before = _snapshot(tmp_path)
    rec, msg = _program(project, case.stack, env, mocks, monkeypatch)
    if case.program.startswith("pulumi:"):
        assert rec is None, f"pulumi read the stack file; the program said: {msg}"
        assert case.program.removeprefix("pulumi:").strip() in msg
    else:
        assert rec is not None, f"pulumi refused the stack file: {msg}"
        lines = [_expected(project, case), *case.more]
        head = f"homelab: stack {case.stack!r} was not deployed:"
        assert msg == "\n".join([head, *lines])
        assert rec.resources == []  # refused before any resource is registered
    assert "Traceback" not in msg
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("case", [c for c in CASES if c.preview], ids=lambda c: c.id)
def test_refused_by_pulumi_preview(base, tmp_path, case):
    project, _state, env = _run_case(base, tmp_path, case)
    before = _snapshot(project)
    st = Stack(project, case.stack, env)
    proc = st.run("preview", check=False, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Traceback" not in output, output
    lines = [ln.strip() for ln in output.splitlines()]
    assert f"homelab: stack {case.stack!r} was not deployed:" in " ".join(lines), output
    assert _expected(project, case) in lines, output
    # Only the stack itself was ever planned: no Host, no command, no push.
    planned = set(re.findall(r"^\s*[+~-]\s+(\w[\w-]*:\S*:\S+)\s", proc.stdout, re.M))
    assert planned <= {"pulumi:pulumi:Stack"}, planned
    assert _snapshot(project) == before


# --- what the host itself makes of such input ------------------------------------------------


def _generated(units: dict[str, str], name: str) -> str:
    """The systemd unit podman's real quadlet generator makes of `units` for service `name`."""
    run = quadlet_generate(units)
    body = run.stdout.split(f"---{name}---\n", 1)[1]
    return re.split(r"^---.+---$", body, maxsplit=1, flags=re.M)[0]


def _systemd_reading(unit_text: str, name: str, tmp: Path) -> dict[str, list[list[str]]]:
    """How systemd reads a unit: `systemd-analyze verify` (this machine's systemd, offline)
    dumps the loaded unit; each command as argv, by kind (ExecStart, ...), and Description."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.fail("systemd-analyze not found: apt-get install systemd")
    path = tmp / name
    path.write_text(unit_text)
    proc = subprocess.run(
        [tool, "verify", "--man=no", "--generators=no", str(path)],
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "debug"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    out: dict[str, list[list[str]]] = {}
    kind = None
    for line in proc.stderr.splitlines() + proc.stdout.splitlines():
        s = line.strip()
        if m := re.fullmatch(r"-> (Exec\w+):", s):
            kind = m.group(1)
        elif s.startswith("Command Line: ") and kind:
            # Printed shell-style: C escapes, plus \$ and \` that systemd's own syntax lacks.
            cmd = re.sub(r"\\(.)", _unshell, s.removeprefix("Command Line: "))
            out.setdefault(kind, []).append(split_words(cmd))
        elif s.startswith("Description: "):
            out["Description"] = [[s.removeprefix("Description: ")]]
    assert "ExecStart" in out, proc.stdout + proc.stderr
    return out


def _unshell(m: re.Match[str]) -> str:
    return m.group(1) if m.group(1) in "$`" else m.group(0)


def _envs(argv: list[str]) -> dict[str, str]:
    return dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--env")


def test_a_lone_cr_is_a_line_break_to_the_host_and_is_refused(tmp_path):
    """Without the edge check, podman copies the CR into the unit and systemd reads the text
    after it as a line of its own: a command to run as root. homelab refuses the file."""
    require_tools("quadlet")
    rel = "containers/rustfs.container"
    text = (
        (REPO / rel)
        .read_text()
        .replace("Description=RustFS S3-compatible object storage", INJECTED)
    )
    reading = _systemd_reading(
        _generated({"rustfs.container": text}, "rustfs.service"), "rustfs.service", tmp_path
    )
    assert ["/usr/bin/touch", "/tmp/pwned"] in reading["ExecStartPre"]
    assert reading["Description"] == [["RustFS"]]
    line = next(i for i, ln in enumerate(text.split("\n"), 1) if ln.startswith("Description="))
    assert [str(p) for p in check(text, rel)] == [f"{rel}:{line}: {CR} at column 19; {FIX_CR}"]


def test_accepted_odd_values_reach_the_host_exactly(tmp_path):
    """What the edge lets through arrives as written: stack values with '%', quotes,
    backslashes, '$', unicode; a tab and C escapes in the unit file. The only commands
    systemd would run are podman's and the secrets helper."""
    require_tools("quadlet")
    project = project_copy(tmp_path / "project")
    odd = {
        "PCT": "100% of %n and %%",
        "QUOTES": "say \"hi\" 'there'",
        "BACKSLASH": "C:\\path\\n\\x41",
        "DOLLAR": "$HOME ${X} `id`",
        "UNICODE": "café ☕ ß",
        "SPACES": "  a  b  ",
        "SEMI": "x; touch /tmp/pwned",
    }
    sf = project / "Pulumi.mouse.yaml"
    doc = sf.read_text().replace(
        "      memory_max: 2G\n",
        "      memory_max: 2G\n      environment:\n"
        + "".join(f"        {k}: {json.dumps(v)}\n" for k, v in odd.items()),
    )
    sf.write_text(doc)
    unit_path = project / "containers/rustfs.container"
    unit_path.write_text(
        unit_path.read_text().replace(
            "Environment=RUSTFS_CONSOLE_ENABLE=true",
            'Environment=RUSTFS_CONSOLE_ENABLE=true "TABBED=a\tb" ESCAPED=c\\td\\x21',
        )
    )
    files = StackFiles(project)
    cfg = load_stack_config("mouse", files["mouse"].values, project, files)
    plan = layout_host(cfg, project, files)
    units = {c.unit_path.rsplit("/", 1)[1]: c.text for c in plan.containers}
    reading = _systemd_reading(_generated(units, "rustfs.service"), "rustfs.service", tmp_path)
    (run,) = reading["ExecStart"]
    assert _envs(run) == {
        **odd,
        "RUSTFS_CONSOLE_ENABLE": "true",
        "TABBED": "a\tb",
        "ESCAPED": "c\td!",
    }
    assert set(reading) == {"Description", "ExecStartPre", "ExecStart", "ExecStop", "ExecStopPost"}
    assert reading["ExecStartPre"] == [["/etc/homelab/bin/podman-secrets", "rustfs"]]
    assert reading["Description"] == [["RustFS S3-compatible object storage"]]


# Plain scalars a YAML 1.1 reader (PyYAML) and pulumi's Go YAML could read differently, but
# which the stack reader accepts: it must read each exactly as pulumi does.
ACCEPTED_SCALARS = [
    "yes", "no", "on", "off", "y", "n", "Yes", "OFF", "1:30", "190:20:30", "true", "False",
    "~", "null", "", "42", "-7", "0", "-0", "3.25", "-0.5", "1.2.3", "2G", "10001:10001",
    "v2.7.1", "150%", "café", "a b c", "/var/tank", "'010'", '"0x10"', "'2001-12-14'",
    "ssh-ed25519 AAAA x@y", "0.0.0.0", "::1", "'[::1]:80'", "9000:9000/udp",
]  # fmt: skip
# Those that are text to both: keys must be text.
TEXT_KEYS = [
    "yes", "no", "on", "off", "y", "n", "Yes", "OFF", "1:30", "190:20:30", "1.2.3", "2G",
    "10001:10001", "v2.7.1", "150%", "café", "a b c", "/var/tank", "'010'", '"0x10"',
    "ssh-ed25519 AAAA x@y", "0.0.0.0", "9000:9000/udp",
]  # fmt: skip


def test_stack_values_read_as_pulumi_reads_them(base, tmp_path):
    """Each accepted scalar, as a value and as a key, gives the program (pulumi's reading,
    `pulumi config --json`) and `build` (homelab's reader) the same data."""
    base_project, base_state, env = base
    project = tmp_path / "project"
    shutil.copytree(base_project, project, symlinks=True)
    state = tmp_path / "state"
    shutil.copytree(base_state, state)
    env = {**env, "PULUMI_BACKEND_URL": f"file://{state}"}
    values = "".join(f"    k{i}: {v}\n" for i, v in enumerate(ACCEPTED_SCALARS))
    keys = "".join(f"    {v}: {i}\n" for i, v in enumerate(TEXT_KEYS))
    sf = project / S
    sf.write_text(
        sf.read_text().replace(
            "  homelab:push:", f"  homelab:probe:\n{values}  homelab:keys:\n{keys}  homelab:push:"
        )
    )
    proc = subprocess.run(
        ["pulumi", "config", "--json", "--stack", MOUSE],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    theirs = json.loads(proc.stdout)
    ours = StackFiles(project)[MOUSE].values
    for key in ("probe", "keys"):
        assert ours[key] == theirs[f"homelab:{key}"]["objectValue"], key
    # What the program gets: the same JSON, parsed as the program parses it.
    assert json.loads(theirs["homelab:probe"]["value"]) == ours["probe"]
