"""Pure parts of the SSH push: manifests, ssh arguments, tar layout, live-state parsing, drift.

The remote read script is also run for real here against files in a temp dir (it is plain
POSIX sh), and both remote scripts are syntax-checked by dash, the POSIX shell.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from unittest.mock import ANY

import pytest
from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct
from pydantic import ValidationError

from components.push import HostPushProvider
from homelab import push
from homelab.fileset import FileSet, ManagedDir, ManagedFile, ManagedLink
from homelab.host.config import SshConfig
from homelab.manifest import dirs, files, links, mode, owner, sha256

REPO = Path(__file__).resolve().parents[2]
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


def parts(fs: FileSet) -> tuple[push.Desired, dict[str, str], dict[str, str], dict[str, str]]:
    d = push.Desired.of(fs)
    c = push.plain_contents(fs)
    s = push.secret_contents(fs, {"pw": "hunter2"})
    return d, c, s, push.desired_hashes(d.manifest, c, s)


def test_ssh_settings_pass_through_as_checked() -> None:
    # One shape: what the stack's homelab:ssh checked is what the provider connects with,
    # after the engine's Struct (numbers as floats) — no second check, nothing renamed.
    ssh = SshConfig(host="mouse.lan", port=2222, host_key=HK + " comment", sudo=False)
    struct = Struct()
    struct.update({"connection": ssh.model_dump()})
    conn = push.Connection.from_props(json_format.MessageToDict(struct)["connection"])
    assert dataclasses.asdict(conn) == ssh.model_dump()
    assert conn == push.Connection("mouse.lan", HK, 2222, "core", None, False)
    assert isinstance(conn.port, int)  # "-p 2222.0" would not connect
    assert {f.name for f in dataclasses.fields(push.Connection)} == set(SshConfig.model_fields)
    with pytest.raises(ValidationError, match="host_key"):
        SshConfig(host="mouse.lan")  # type: ignore[call-arg]


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
    d, _, s, hashes = parts(fileset())
    env = d.manifest["/etc/homelab/env/web.env"]
    assert env["secret"] and env["sha256"] is None
    assert "hunter2" not in repr(d)
    assert s["/etc/homelab/env/web.env"] == "PW=hunter2\n"
    assert hashes["/etc/homelab/env/web.env"] == hashlib.sha256(b"PW=hunter2\n").hexdigest()
    with pytest.raises(push.PushError, match="tab or newline"):
        push.Desired.of(FileSet(files=(ManagedFile(path="/etc/a\tb"),)))


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
    # Secret files are named, so apply.sh can keep them out of every generation but the live one.
    assert [r for r in rows if r.startswith("S\t")] == ["S\t/etc/homelab/env/web.env"]
    assert (
        f"F\t/etc/containers/systemd/web.container\t644\t0\t0\t"
        f"{h['/etc/containers/systemd/web.container']}\tweb.service"
    ) in rows
    assert "D\t/var/tank/services/web\t750\t1000\t1000" in rows
    assert "L\t/etc/localtime\t/usr/share/zoneinfo/UTC" in rows
    assert "F\t/etc/motd\t640\t0\t4\t" + h["/etc/motd"] + "\t-" in rows


def test_apply_command_unpacks_the_tar_and_runs_the_script_it_carries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # sudo logs the remote command: it must be the same short line for every push, with the
    # script and the files in the tar on stdin. Run it for real, rooted in tmp_path.
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "apply.sh").write_text('echo "ran $0 in $1"; ls "$1/root/etc"; cat "$1/END"\n')
    (remote / "datasets.sh").write_text("")
    monkeypatch.setattr(push.desired, "REMOTE_DIR", remote)
    d, c, s, _ = parts(fileset())
    data = push.build_tar(d, c, s, "20260101T000000Z-abcdef12", 30, 5)
    base = tmp_path / "etc-homelab"
    cmd = push.APPLY_COMMAND.replace("/etc/homelab", str(base))
    assert cmd.count(str(base)) == 2  # never touch this machine's /etc/homelab
    p = subprocess.run(["sh", "-c", cmd], input=data, capture_output=True, check=False)
    assert p.returncode == 0, p.stderr
    (incoming,) = base.glob(".incoming.*")
    assert p.stdout.decode().split("\n") == [
        f"ran {incoming}/apply.sh in {incoming}",
        "containers",
        "homelab",
        "motd",
        "20260101T000000Z-abcdef12",
    ]
    conn = push.Connection(host="mouse.lan", host_key=HK)
    logged = push.ssh_argv(conn, "/tmp/kh", push.APPLY_COMMAND)[-1]
    assert logged == f"sudo -n {push.APPLY_COMMAND}" and "\n" not in logged
    script = (push.REMOTE_DIR / "apply.sh").read_text()
    assert not any(line.strip() in logged for line in script.splitlines() if len(line) > 20)


def _dash() -> str:
    dash = shutil.which("dash")
    if not dash:
        pytest.fail("dash (the POSIX shell) is needed: apt-get install dash")
    return dash


@pytest.mark.parametrize("script", ["apply.sh", "read.sh", "day2.sh", "rollback.sh", "datasets.sh"])
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
    # extra Quadlet files (every kind podman reads, .artifact too; not a README), the data
    # dir missing, localtime pointing elsewhere.
    (q / "web.container").write_text("[Container]\nImage=x:2\n")
    (q / "extra.volume").write_text("[Volume]\n")
    (q / "sub").mkdir()
    (q / "sub" / "models.artifact").write_text("[Artifact]\n")
    (q / "README").write_text("not a unit\n")
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
    unmanaged = {k for k, v in drift.items() if v == "unmanaged Quadlet file"}
    assert unmanaged == {f"{q}/extra.volume", f"{q}/sub/models.artifact"}
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
            "/etc/containers/systemd/web.container": push.LiveFile(
                h["/etc/containers/systemd/web.container"], 0o644, 0, 0, "link"
            ),
            "/etc/homelab/env/web.env": push.LiveFile(
                h["/etc/homelab/env/web.env"], 0o600, 0, 0, "link"
            ),
            "/etc/motd": push.LiveFile(h["/etc/motd"], 0o640, 0, 4, "link"),
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


def test_manifest_survives_the_engines_struct() -> None:
    # The engine hands inputs back through a protobuf Struct: every number as a float, every
    # list as a list. The manifest holds no numbers, so the push reads back what it wrote.
    d, _c, _s, h = parts(fileset())
    struct = Struct()
    struct.update({"manifest": d.manifest})
    back = dataclasses.replace(d, manifest=json_format.MessageToDict(struct)["manifest"])
    assert back == d
    assert json.dumps(back.manifest, sort_keys=True) == json.dumps(d.manifest, sort_keys=True)
    assert push.manifest_tsv(back, h, "g", 1, 1) == push.manifest_tsv(d, h, "g", 1, 1)
    assert "D\t/var/tank/services/web\t750\t1000\t1000" in push.manifest_tsv(back, h, "g", 1, 1)


def test_the_providers_imports_stay_light() -> None:
    # The engine's provider process imports components.push on every preview; pydantic
    # (and so homelab.fileset) costs ~0.3 s there and the provider never needs it.
    code = (
        "import sys, components.push; "
        "print(sorted(m for m in sys.modules if m in {'pydantic', 'homelab.fileset'}))"
    )
    p = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert p.stdout.strip() == "[]"


# HostPushProvider (components/push.py) on its own, the host behind homelab.push's read_live
# and apply replaced: what the engine's check/diff/create/update/read get from it.


class FakeHost:
    """`read_live` and `apply` at the homelab.push boundary: a host holding `files`
    (path -> content), with every unit active, that records each apply."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, files: dict[str, str]) -> None:
        self.files = dict(files)
        self.applied: list[push.Desired] = []
        monkeypatch.setattr(push, "read_live", self.read_live)
        monkeypatch.setattr(push, "apply", self.apply)

    def read_live(
        self,
        conn: push.Connection,
        desired: push.Desired,
        texts_unless: dict[str, str] | None = None,
    ) -> push.LiveState:
        m = desired.manifest
        return push.LiveState(
            generation="g-live",
            files={
                p: push.LiveFile(sha256(self.files[p]), mode(f), *owner(f), "link")
                if p in self.files
                else None
                for p, f in files(m)
            },
            dirs={p: (mode(d), *owner(d)) for p, d in dirs(m)},
            links=dict(links(m)),
            units=dict.fromkeys(desired.units, "active"),
        )

    def apply(
        self, conn: push.Connection, desired: push.Desired, contents, secrets, *timing, **kw
    ) -> push.ApplyResult:
        self.applied.append(desired)
        self.files = {**contents, **secrets}
        return push.ApplyResult("g-new", ["web.service"], [], [], "HOMELAB-OK g-new\n")


def provider_inputs(fs: FileSet) -> dict:
    """HostPush's inputs for `fs`, as the program registers them (secrets resolved)."""
    d = push.Desired.of(fs)
    ssh = SshConfig(host="mouse.lan", host_key=HK)
    return {
        "connection": ssh.model_dump(),
        "manifest": d.manifest,
        "units": list(d.units),
        "quadlet_dir": d.quadlet_dir,
        "quadlet_exts": list(d.quadlet_exts),
        "contents": push.plain_contents(fs),
        "secret_contents": push.secret_contents(fs, {"pw": "hunter2"}),
        "health_timeout": 30,
        "settle": 1,
    }


def test_provider_diff_is_the_drift(monkeypatch: pytest.MonkeyPatch) -> None:
    fs = fileset()
    inputs = provider_inputs(fs)
    host = FakeHost(monkeypatch, {**inputs["contents"], **inputs["secret_contents"]})
    p = HostPushProvider()
    olds = p.create(inputs).outs
    same = p.check(olds, inputs).inputs
    assert same["drift"] == {} and not p.diff("id", olds, same).changes
    host.files["/etc/motd"] = "edited by hand\n"
    drifted = p.check(olds, inputs).inputs
    assert list(drifted["drift"]) == ["/etc/motd"]
    assert p.diff("id", olds, drifted).changes
    assert p.diff("id", olds, {**same, "settle": 9}).changes  # a setting changed


def test_provider_update_applies_and_clears_the_drift(monkeypatch: pytest.MonkeyPatch) -> None:
    fs = fileset()
    inputs = provider_inputs(fs)
    host = FakeHost(monkeypatch, {})
    p = HostPushProvider()
    olds = p.create(inputs).outs
    assert len(host.applied) == 1 and olds["generation"] == "g-new"  # the first push applies
    host.files["/etc/motd"] = "edited by hand\n"
    news = p.check(olds, inputs).inputs
    outs = p.update("id", olds, news).outs
    assert len(host.applied) == 2 and host.applied[-1] == push.Desired.of(fs)
    assert host.files["/etc/motd"] == "hi\n"
    assert outs["drift"] == {} and outs["healed"] == news["drift"] == {"/etc/motd": ANY}
    assert outs["generation"] == "g-new" and outs["restarted"] == ["web.service"]
    # A settings-only update pushes nothing.
    outs = p.update("id", outs, {**p.check(outs, inputs).inputs, "settle": 9}).outs
    assert len(host.applied) == 2 and outs["drift"] == {} and outs["healed"] == {}


def test_provider_state_from_before_the_one_manifest_form(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # State pushed by an older homelab ({files, dirs, links, units, quadlet_dir}): one
    # update rewrites it and applies nothing when the host has no drift; a refresh first
    # says what to do.
    fs = fileset()
    inputs = provider_inputs(fs)
    host = FakeHost(monkeypatch, {**inputs["contents"], **inputs["secret_contents"]})
    p = HostPushProvider()
    old_manifest = {"files": {}, "dirs": {}, "links": {}, "units": [], "quadlet_dir": "/q"}
    olds = {
        **{k: v for k, v in inputs.items() if k not in ("units", "quadlet_dir", "quadlet_exts")},
        "manifest": old_manifest,
        "generation": "g-old",
        "drift": {},
    }
    with pytest.raises(push.PushError, match="run `pulumi up` once"):
        p.read("id", olds)
    news = p.check(olds, inputs).inputs
    assert news["drift"] == {} and p.diff("id", olds, news).changes
    outs = p.update("id", olds, news).outs
    assert host.applied == [] and outs["generation"] == "g-old"
    assert outs["manifest"] == inputs["manifest"]
    assert not p.diff("id", outs, p.check(outs, inputs).inputs).changes
    assert p.read("id", outs).outs["drift"] == {}
