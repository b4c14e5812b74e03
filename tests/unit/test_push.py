"""Pure parts of the SSH push: manifests, ssh arguments, tar layout, live-state parsing, drift.

The remote read script is also run for real here against files in a temp dir (it is plain
POSIX sh), and both remote scripts are syntax-checked by dash, the POSIX shell.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from homelab import push
from homelab.fileset import FileSet, ManagedDir, ManagedFile, ManagedLink

HK = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPinnedHostKeyForTestsOnlyxxxxxxxxxxxxxxxx"


def fileset(root: str = "") -> FileSet:
    return FileSet(
        files=(
            ManagedFile(
                path=f"{root}/etc/containers/systemd/web.container",
                content="[Container]\nImage=x:1\n",
                units=("web.service",),
            ),
            ManagedFile(
                path=f"{root}/etc/homelab/env/web.env",
                mode=0o600,
                secret_env=(("PW", "pw"),),
                units=("web.service",),
            ),
            ManagedFile(path=f"{root}/etc/motd", content="hi\n", mode=0o640, uid=0, gid=4),
        ),
        dirs=(ManagedDir(path=f"{root}/var/tank/services/web", mode=0o750, uid=1000, gid=1000),),
        links=(ManagedLink(path=f"{root}/etc/localtime", target="/usr/share/zoneinfo/UTC"),),
        units=("web.service",),
        quadlet_dir=f"{root}/etc/containers/systemd",
    )


def parts(fs: FileSet) -> tuple[dict, dict[str, str], dict[str, str], dict[str, str]]:
    m = push.build_manifest(fs)
    c = push.plain_contents(fs)
    s = push.secret_contents(fs, {"pw": "hunter2"})
    return m, c, s, push.desired_hashes(m, c, s)


def test_connection_requires_pinned_host_key() -> None:
    with pytest.raises(push.PushError, match="host_key is required"):
        push.Connection.from_dict({"host": "mouse.lan"})
    c = push.Connection.from_dict({"host": "mouse.lan", "host_key": HK + " comment"})
    assert c.host_key == HK and c.user == "core" and c.use_sudo


def test_ssh_argv_pins_the_key_and_uses_sudo_for_core() -> None:
    c = push.Connection(host="mouse.lan", host_key=HK, port=2222, private_key_path="~/k")
    argv = push.ssh_argv(c, "/tmp/kh", "sh -s")
    joined = " ".join(argv)
    for opt in (
        "StrictHostKeyChecking=yes",
        "UserKnownHostsFile=/tmp/kh",
        "GlobalKnownHostsFile=/dev/null",
        f"HostKeyAlias={c.alias}",
        "BatchMode=yes",
        "IdentitiesOnly=yes",
    ):
        assert opt in argv, opt
    assert argv[-1] == "sudo -n sh -s"
    assert os.path.expanduser("~/k") in argv and "-p 2222" in joined
    assert push.known_hosts_line(c) == f"{c.alias} {HK}\n"
    root = push.Connection(host="h", host_key=HK, user="root")
    argv = push.ssh_argv(root, "/tmp/kh", "sh -s")
    assert argv[-1] == "sh -s" and "-i" not in argv  # agent, no sudo


def test_manifest_has_no_content_and_no_secret_hash() -> None:
    m, _, s, hashes = parts(fileset())
    env = m["files"]["/etc/homelab/env/web.env"]
    assert env["secret"] and env["sha256"] is None
    assert "hunter2" not in repr(m)
    assert s["/etc/homelab/env/web.env"] == "PW=hunter2\n"
    assert hashes["/etc/homelab/env/web.env"] == hashlib.sha256(b"PW=hunter2\n").hexdigest()
    with pytest.raises(push.PushError, match="tab or newline"):
        push.build_manifest(FileSet(files=(ManagedFile(path="/etc/a\tb"),)))


def test_generation_ids_sort_by_time_and_depend_on_content() -> None:
    m, _, _, h = parts(fileset())
    a = push.generation_id(m, h, 1_700_000_000)
    b = push.generation_id(m, h, 1_700_000_001)
    assert a < b and a == push.generation_id(m, h, 1_700_000_000)
    assert (
        a.split("-")[1]
        != push.generation_id(m, {**h, "/etc/motd": "0"}, 1_700_000_000).split("-")[1]
    )


def test_tar_holds_script_manifest_and_every_file() -> None:
    m, c, s, h = parts(fileset())
    data = push.build_tar(m, c, s, "20260101T000000Z-abcdef12", 30, 5)
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        members = {x.name: x for x in t.getmembers()}
        assert members["apply.sh"].mode == 0o700
        env = members["root/etc/homelab/env/web.env"]
        assert env.mode == 0o600 and env.uid == 0
        f = t.extractfile(env)
        assert f is not None and f.read() == b"PW=hunter2\n"
        motd = members["root/etc/motd"]
        assert (motd.mode, motd.gid) == (0o640, 4)
        names = [x.name for x in t.getmembers()]
        assert names[0] == "apply.sh" and names[-1] == "END"  # END last: cut-off detection
        mf = t.extractfile("manifest.tsv")
        assert mf is not None
        rows = mf.read().decode().splitlines()
    assert "I\t20260101T000000Z-abcdef12" in rows
    assert "T\t30\t5" in rows and "U\tweb.service" in rows
    assert (
        f"F\t/etc/containers/systemd/web.container\t644\t0\t0\t"
        f"{h['/etc/containers/systemd/web.container']}\tweb.service"
    ) in rows
    assert "D\t/var/tank/services/web\t750\t1000\t1000" in rows
    assert "L\t/etc/localtime\t/usr/share/zoneinfo/UTC" in rows
    assert "F\t/etc/motd\t640\t0\t4\t" + h["/etc/motd"] + "\t-" in rows


def test_remote_command_is_short_and_script_travels_in_the_tar() -> None:
    assert len(push.APPLY_COMMAND) < 140
    assert "apply.sh" in push.APPLY_COMMAND and "mktemp -d /etc/homelab/.incoming." in (
        push.APPLY_COMMAND
    )


def _dash() -> str:
    dash = shutil.which("dash")
    if not dash:
        pytest.fail("dash (the POSIX shell) is needed: apt-get install dash")
    return dash


@pytest.mark.parametrize("script", ["apply.sh", "read.sh", "day2.sh", "rollback.sh"])
def test_remote_scripts_are_posix_sh(script: str) -> None:
    p = subprocess.run(
        [_dash(), "-n", str(push.REMOTE_DIR / script)], capture_output=True, text=True
    )
    assert p.returncode == 0, p.stderr


def test_read_script_runs_and_drift_names_every_difference(tmp_path: Path) -> None:
    root = str(tmp_path)
    fs = fileset(root)
    m, _c, _s, h = parts(fs)
    q = Path(root, "etc/containers/systemd")
    q.mkdir(parents=True)
    # web.container edited, the env file missing, motd right content but wrong mode,
    # an extra Quadlet file, the data dir missing, localtime pointing elsewhere.
    (q / "web.container").write_text("[Container]\nImage=x:2\n")
    (q / "extra.volume").write_text("[Volume]\n")
    Path(root, "etc/motd").write_text("hi\n")
    Path(root, "etc/motd").chmod(0o600)
    os.symlink("/usr/share/zoneinfo/Europe/Berlin", f"{root}/etc/localtime")
    p = subprocess.run([_dash(), "-s"], input=push.read_script(m), capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    live = push.parse_live(p.stdout)
    drift = push.compute_drift(m, h, live)
    assert drift[f"{root}/etc/containers/systemd/web.container"].startswith("content differs")
    assert drift[f"{root}/etc/homelab/env/web.env"] == "missing"
    assert "mode 0600, want 0640" in drift[f"{root}/etc/motd"]
    assert f"owner {os.getuid()}:{os.getgid()}, want 0:4" in drift[f"{root}/etc/motd"]
    assert "not linked to /etc/homelab/current/root" in drift[f"{root}/etc/motd"]
    assert drift[f"{root}/etc/containers/systemd/extra.volume"] == "unmanaged Quadlet file"
    assert drift[f"{root}/var/tank/services/web"] == "directory missing"
    assert "symlink -> /usr/share/zoneinfo/Europe/Berlin" in drift[f"{root}/etc/localtime"]
    assert drift["unit:web.service"].startswith("not active")
    summary = push.drift_summary(drift)
    assert all(k in summary for k in drift)


def _live(**files: push.LiveFile | None) -> push.LiveState:
    return push.LiveState(generation="g1", files=dict(files))


def test_no_drift_when_everything_matches() -> None:
    m, _, _, h = parts(fileset())
    live = push.LiveState(
        generation="g1",
        files={
            p: push.LiveFile(h[p], f["mode"], f["uid"], f["gid"], "link")
            for p, f in m["files"].items()
        },
        dirs={"/var/tank/services/web": (0o750, 1000, 1000)},
        links={"/etc/localtime": "/usr/share/zoneinfo/UTC"},
        units={"web.service": "active"},
        quadlets=["/etc/containers/systemd/web.container"],
    )
    assert push.compute_drift(m, h, live) == {}
    assert push.drift_summary({}) == "no drift"
    # Secret files: a changed secret says so without any hash.
    live.files["/etc/homelab/env/web.env"] = push.LiveFile("0" * 64, 0o600, 0, 0, "link")
    live.pending = ["web.service"]
    d = push.compute_drift(m, h, live)
    assert d == {
        "/etc/homelab/env/web.env": "content differs",
        "unit:web.service": "restart pending from an interrupted push",
    }


def test_parse_live_records() -> None:
    text = (
        "G\t20260101T000000Z-abcdef12\n"
        "P\tweb.service\n"
        "F\t/a\t" + "1" * 64 + "\t644\t0\t0\tlink\n"
        "M\t/b\nO\t/c\nD\t/d\t755\t1\t2\nDM\t/e\nL\t/f\t/g\nLM\t/h\n"
        "U\tweb.service\tfailed\nQ\t/etc/containers/systemd/x.container\n"
    )
    live = push.parse_live(text)
    assert live.generation == "20260101T000000Z-abcdef12"
    assert live.files["/a"] == push.LiveFile("1" * 64, 0o644, 0, 0, "link")
    assert live.files["/b"] is None and live.files["/c"] is None and "/c" in live.wrong_type
    assert live.dirs == {"/d": (0o755, 1, 2), "/e": None}
    assert live.links == {"/f": "/g", "/h": None}
    assert live.units == {"web.service": "failed"} and live.pending == ["web.service"]


def test_apply_output_parsing() -> None:
    out = "HOMELAB-SWITCHED g2\nHOMELAB-RESTARTED a.service\nHOMELAB-STARTED b.service\n"
    assert push.parse_apply_output(out) is None  # no OK line: not a success
    res = push.parse_apply_output(out + "HOMELAB-STOPPED c.service\nHOMELAB-OK g2\n")
    assert res is not None
    assert (res.generation, res.restarted, res.started, res.stopped) == (
        "g2",
        ["a.service"],
        ["b.service"],
        ["c.service"],
    )


def test_manifest_survives_the_engines_float_numbers() -> None:
    m, _c, _s, h = parts(fileset())
    floaty = {
        **m,
        "files": {p: {**f, "mode": float(f["mode"])} for p, f in m["files"].items()},
        "dirs": {p: {**d, "uid": float(d["uid"])} for p, d in m["dirs"].items()},
    }
    assert push.normalize_manifest(floaty) == m
    tsv = push.manifest_tsv(push.normalize_manifest(floaty), h, "g", 1, 1)
    assert "\t644\t" in tsv and "\t1000\t" in tsv
