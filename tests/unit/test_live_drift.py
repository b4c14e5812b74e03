"""What the host prints (remote/read.sh's records) read back exactly, and the drift computed
from it, whole: every kind of record and every kind of difference, compared as full values
so a changed word, field or index shows."""

from __future__ import annotations

import base64

from homelab import push
from homelab.fileset import FileSet, ManagedDir, ManagedFile, ManagedLink
from homelab.push.kinds import Rec
from homelab.push.live import drift_summary

SHA_A, SHA_B = "a" * 64, "b" * 64
LINE = base64.b64encode(b"line one\n").decode()
NOT_UTF8 = base64.b64encode(b"\xff\xfe").decode()


def test_every_record_kind_is_read_back_exactly():
    text = "\n".join(
        [
            f"{Rec.GENERATION}\t20261204T000000Z-1a2b3c4d",
            f"{Rec.FILE}\t/etc/a b.conf\t{SHA_A}\t640\t0\t4\tlink",
            f"{Rec.MISSING}\t/etc/gone",
            f"{Rec.NOT_FILE}\t/etc/dir-here",
            f"{Rec.DIR}\t/var/tank/services/web\t750\t1000\t100",
            f"{Rec.DIR_MISSING}\t/var/tank/services/db",
            f"{Rec.LINK}\t/etc/localtime\t../usr/share/zoneinfo/UTC",
            f"{Rec.LINK_MISSING}\t/etc/other-link",
            f"{Rec.UNIT}\tweb.service\tactive",
            f"{Rec.UNIT}\tdb.service",
            f"{Rec.QUADLET_FILE}\t/etc/containers/systemd/stray.container",
            f"{Rec.PENDING}\tweb.service",
            f"{Rec.ROLLED_BACK}\tGEN-OLD\tGEN-NEW\t2026-12-04 00:00",
            f"{Rec.OLD_UNIT}\told.service",
            f"{Rec.OLD_UNIT}\tweb.service",
            f"{Rec.CONTENT}\t/etc/a b.conf\t{LINE}",
            f"{Rec.CONTENT}\t/etc/not-base64\tabc",  # bad padding
            f"{Rec.CONTENT}\t/etc/not-utf8\t{NOT_UTF8}",
            "unknown\trecord",
        ]
    )
    assert push.parse_live(text) == push.LiveState(
        generation="20261204T000000Z-1a2b3c4d",
        files={
            "/etc/a b.conf": push.LiveFile(SHA_A, 0o640, 0, 4, "link"),
            "/etc/gone": None,
            "/etc/dir-here": None,
        },
        wrong_type={"/etc/dir-here"},
        dirs={"/var/tank/services/web": (0o750, 1000, 100), "/var/tank/services/db": None},
        links={"/etc/localtime": "../usr/share/zoneinfo/UTC", "/etc/other-link": None},
        units={"web.service": "active", "db.service": ""},
        quadlets=["/etc/containers/systemd/stray.container"],
        pending=["web.service"],
        old_units=["old.service", "web.service"],
        texts={"/etc/a b.conf": "line one\n"},  # not text: the plan says only "differs"
        rolled_back=["GEN-OLD", "GEN-NEW", "2026-12-04 00:00"],
    )


def test_a_host_without_a_generation_reads_as_empty():
    assert push.parse_live(f"{Rec.GENERATION}\n") == push.LiveState(generation="")
    assert push.parse_live("") == push.LiveState()


def _fs() -> FileSet:
    return FileSet(
        files=(
            ManagedFile(path="/etc/a.conf", content="a\n", units=("web.service",)),
            ManagedFile(path="/etc/b.conf", content="b\n", mode=0o600, uid=1000, gid=100),
            ManagedFile(path="/etc/dir-here", content="x\n"),
            ManagedFile(path="/etc/gone", content="g\n"),
            ManagedFile(path="/etc/ok", content="ok\n"),
            ManagedFile(path="/etc/homelab/env/web.env", mode=0o600, secret_env=(("P", "p"),)),
        ),
        dirs=(
            ManagedDir(path="/var/tank/services/db", mode=0o750, uid=999, gid=999),
            ManagedDir(path="/var/tank/services/web", mode=0o750, uid=1000, gid=1000),
            ManagedDir(path="/var/tank/services/ok", mode=0o755),
        ),
        links=(
            ManagedLink(path="/etc/localtime", target="../usr/share/zoneinfo/UTC"),
            ManagedLink(path="/etc/other-link", target="/x"),
            ManagedLink(path="/etc/ok-link", target="/ok"),
        ),
        units=("db.service", "web.service", "ok.service"),
        quadlet_dir="/etc/containers/systemd",
    )


def test_every_kind_of_drift_is_named_exactly():
    fs = _fs()
    d = push.Desired.of(fs)
    h = push.desired_hashes(
        d.manifest, push.plain_contents(fs), {"/etc/homelab/env/web.env": "P=1\n"}
    )
    live = push.LiveState(
        files={
            "/etc/a.conf": push.LiveFile(SHA_A, 0o644, 0, 0, "link"),
            "/etc/b.conf": push.LiveFile(h["/etc/b.conf"], 0o644, 0, 0, "plain"),
            "/etc/dir-here": None,
            "/etc/ok": push.LiveFile(h["/etc/ok"], 0o644, 0, 0, "link"),
            "/etc/homelab/env/web.env": push.LiveFile(SHA_B, 0o600, 0, 0, "link"),
        },
        wrong_type={"/etc/dir-here"},
        dirs={
            "/var/tank/services/web": (0o755, 1000, 100),
            "/var/tank/services/ok": (0o755, 0, 0),
        },
        links={
            "/etc/localtime": "/usr/share/zoneinfo/UTC",
            "/etc/ok-link": "/ok",
        },
        units={"web.service": "failed", "ok.service": "active"},
        quadlets=[
            "/etc/containers/systemd/stray.container",
            "/etc/containers/systemd/a.kube",
        ],
        pending=["web.service", "ok.service", "ok.service"],
        rolled_back=["GEN-OLD"],
    )
    want_a = h["/etc/a.conf"][:12]
    assert push.differences(d, h, live) == {
        "/etc/a.conf": f"content differs (live {'a' * 12}, want {want_a})",
        "/etc/b.conf": "mode 0644, want 0600; owner 0:0, want 1000:100; "
        "not linked to /etc/homelab/current/root/etc/b.conf",
        "/etc/dir-here": "not a regular file",
        "/etc/gone": "missing",
        "/etc/homelab/env/web.env": "content differs",  # a secret's hash is never shown
        "/var/tank/services/db": "directory missing",
        "/var/tank/services/web": "directory mode/owner 0755 1000:100, want 0750 1000:1000",
        "/etc/localtime": "symlink -> /usr/share/zoneinfo/UTC, want ../usr/share/zoneinfo/UTC",
        "/etc/other-link": "symlink missing",
        "/etc/containers/systemd/a.kube": "unmanaged Quadlet file",
        "/etc/containers/systemd/stray.container": "unmanaged Quadlet file",
        "unit:db.service": "not active (unknown)",
        "unit:web.service": "not active (failed)",
        "unit:ok.service": "restart pending from an interrupted push",
        "rollback": "`homelab rollback` at ? made GEN-OLD live again in place of ?; "
        "`pulumi up` brings the host back to the stack",
    }
    live.rolled_back = ["GEN-OLD", "GEN-NEW", "12:00"]
    assert push.differences(d, h, live)["rollback"].startswith(
        "`homelab rollback` at 12:00 made GEN-OLD live again in place of GEN-NEW;"
    )


def test_the_drift_summary_lists_every_item_sorted():
    assert drift_summary({}) == "no drift"
    assert drift_summary({"unit:b": "not active (failed)", "/etc/a": "missing"}) == (
        "2 drifted item(s) on the host:\n  /etc/a: missing\n  unit:b: not active (failed)"
    )


def test_the_read_script_asks_for_every_managed_thing():
    fs = _fs()
    d = push.Desired.of(fs)
    script = push.read_script(d, {"/etc/a.conf": SHA_A})
    calls = script.rsplit("\n", 19)[1:]
    assert calls[:6] == [f"file {p}" for p in sorted(f.path for f in fs.files)]
    assert calls[6:] == [
        f"text /etc/a.conf {SHA_A}",
        "dir /var/tank/services/db",
        "dir /var/tank/services/ok",
        "dir /var/tank/services/web",
        "link /etc/localtime",
        "link /etc/ok-link",
        "link /etc/other-link",
        "unit db.service",
        "unit ok.service",
        "unit web.service",
        "quadlets /etc/containers/systemd " + " ".join(d.quadlet_exts),
        "pushed",  # the live generation's manifest: what drift is measured against
        "",
    ]
