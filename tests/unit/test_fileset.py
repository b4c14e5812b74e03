"""The file set's own functions (homelab/fileset.py): the contents it hands to Ignition and the
push, the manifest it shows and stores, the rendered secret files, and its path rule."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from pydantic import ValidationError

from homelab.fileset import (
    FileSet,
    ManagedDataset,
    ManagedDir,
    ManagedFile,
    ManagedLink,
    file_contents,
    manifest,
    render_auth_file,
    render_env_file,
    render_secret_files,
    sha256,
)
from homelab.manifest import datasets as manifest_datasets
from homelab.manifest import dirs as manifest_dirs
from homelab.manifest import files as manifest_files
from homelab.manifest import links as manifest_links
from homelab.manifest import mode, owner

SECRETS = {"db": "s3cret", "reg": "pw:with:colons"}

FS = FileSet(
    files=(
        ManagedFile(
            path="/etc/a.conf",
            content="A\n",
            mode=0o600,
            uid=1000,
            gid=1001,
            units=("a.service", "b.service"),
        ),
        ManagedFile(path="/etc/empty", units=()),
        ManagedFile(path="/etc/app.env", secret_env=(("DB_PASS", "db"), ("ALSO", "db"))),
        ManagedFile(path="/etc/auth.json", secret_auth=(("r.example", "me", "reg"),), mode=0o400),
    ),
    dirs=(ManagedDir(path="/var/data", mode=0o750, uid=5, gid=6), ManagedDir(path="/srv")),
    links=(ManagedLink(path="/etc/localtime", target="../usr/share/zoneinfo/UTC"),),
    datasets=(
        ManagedDataset(
            name="tank/services/app",
            mountpoint="/var/data/app",
            properties=(("compression", "lz4"), ("atime", "off")),
            units=("a.service",),
        ),
    ),
)

AUTH = base64.b64encode(b"me:pw:with:colons").decode()


def test_file_contents_without_secrets_holds_only_plain_files() -> None:
    assert file_contents(FS) == {"/etc/a.conf": "A\n", "/etc/empty": ""}


def test_file_contents_with_secrets_renders_the_secret_files() -> None:
    got = file_contents(FS, SECRETS)
    assert got == {
        "/etc/a.conf": "A\n",
        "/etc/empty": "",
        "/etc/app.env": "DB_PASS=s3cret\nALSO=s3cret\n",
        "/etc/auth.json": json.dumps({"auths": {"r.example": {"auth": AUTH}}}, indent=2) + "\n",
    }
    # An empty secrets mapping still renders (and fails on the missing name), unlike None.
    with pytest.raises(KeyError):
        file_contents(FS, {})


def test_manifest_describes_every_kind_without_content() -> None:
    assert manifest(FS) == {
        "/etc/a.conf": {
            "mode": "0600",
            "owner": "1000:1001",
            "sha256": sha256("A\n"),
            "secret": False,
            "units": ["a.service", "b.service"],
        },
        "/etc/empty": {
            "mode": "0644",
            "owner": "0:0",
            "sha256": sha256(""),
            "secret": False,
            "units": [],
        },
        "/etc/app.env": {
            "mode": "0644",
            "owner": "0:0",
            "sha256": None,
            "secret": True,
            "units": [],
        },
        "/etc/auth.json": {
            "mode": "0400",
            "owner": "0:0",
            "sha256": None,
            "secret": True,
            "units": [],
        },
        "/var/data/": {"mode": "0750", "owner": "5:6", "dir": True},
        "/srv/": {"mode": "0755", "owner": "0:0", "dir": True},
        "/etc/localtime": {"link": "../usr/share/zoneinfo/UTC"},
        "zfs:tank/services/app": {
            "dataset": "tank/services/app",
            "mountpoint": "/var/data/app",
            "properties": {"compression": "lz4", "atime": "off"},
            "units": ["a.service"],
        },
    }
    assert sha256("A\n") == hashlib.sha256(b"A\n").hexdigest()
    assert "s3cret" not in json.dumps(manifest(FS))


def test_render_secret_files_keys_only_the_secret_files() -> None:
    assert render_secret_files(FS, SECRETS) == {
        "/etc/app.env": "DB_PASS=s3cret\nALSO=s3cret\n",
        "/etc/auth.json": json.dumps({"auths": {"r.example": {"auth": AUTH}}}, indent=2) + "\n",
    }


def test_auth_file_is_sorted_json_of_every_registry() -> None:
    text = render_auth_file((("z.example", "u", "db"), ("a.example", "v", "reg")), SECRETS)
    assert text.endswith("}\n")
    assert text.index("a.example") < text.index("z.example")
    assert json.loads(text) == {
        "auths": {
            "z.example": {"auth": base64.b64encode(b"u:s3cret").decode()},
            "a.example": {"auth": base64.b64encode(b"v:pw:with:colons").decode()},
        }
    }
    assert '\n  "auths": {\n    "a.example": {\n      "auth": ' in text


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\0b"])
def test_env_file_refuses_a_value_that_would_add_a_line(bad: str) -> None:
    with pytest.raises(ValueError, match="secret 'x' contains a newline or NUL"):
        render_env_file((("V", "x"),), {"x": bad})


def test_env_file_with_no_pairs_is_one_newline() -> None:
    assert render_env_file((), {}) == "\n"


@pytest.mark.parametrize("path", ["relative", "/a/../b", "/a/./b", "/a//b", "/a/", ""])
def test_a_managed_path_is_absolute_and_normalised(path: str) -> None:
    with pytest.raises(ValidationError, match="managed path must be absolute and normalised"):
        ManagedFile(path=path)


def test_the_manifest_reads_back_by_kind_sorted() -> None:
    m = manifest(FS)
    assert list(manifest_files(m)) == [
        (p, m[p]) for p in ("/etc/a.conf", "/etc/app.env", "/etc/auth.json", "/etc/empty")
    ]
    assert list(manifest_dirs(m)) == [("/srv", m["/srv/"]), ("/var/data", m["/var/data/"])]
    assert list(manifest_links(m)) == [("/etc/localtime", "../usr/share/zoneinfo/UTC")]
    two = {**m, "zfs:tank/a": {**m["zfs:tank/services/app"], "dataset": "tank/a"}}
    assert [e["dataset"] for e in manifest_datasets(two)] == ["tank/a", "tank/services/app"]
    assert [(mode(e), owner(e)) for _, e in manifest_files(m)] == [
        (0o600, (1000, 1001)),
        (0o644, (0, 0)),
        (0o400, (0, 0)),
        (0o644, (0, 0)),
    ]
    assert [(mode(e), owner(e)) for _, e in manifest_dirs(m)] == [(0o755, (0, 0)), (0o750, (5, 6))]
