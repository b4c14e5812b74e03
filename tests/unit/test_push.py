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

import pytest
from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct
from pydantic import ValidationError

from components.push import HostPushProvider, files_sha256, ssh_line
from homelab import push
from homelab.fileset import FileSet, ManagedDir, ManagedFile, ManagedLink
from homelab.host.config import SshConfig
from homelab.manifest import datasets as manifest_datasets
from homelab.manifest import dirs, files, links, mode, owner, sha256
from homelab.push.live import LiveDataset
from homelab.push.plan import PLAN_HEAD

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
    assert "T\t30\t5\t0" in rows and "U\tweb.service" in rows
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
    (remote / "revert.sh").write_text("exit 1\n")
    (remote / "images.sh").write_text("# sourced by apply.sh\n")
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


@pytest.mark.parametrize(
    "script",
    ["apply.sh", "images.sh", "datasets.sh", "read.sh", "day2.sh", "rollback.sh", "revert.sh"],
)
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
    assert live.pushed is None  # no generation: nothing pushed, so nothing drifted
    assert push.compute_drift(live) == {}
    drift = push.differences(m, h, live)
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
    assert push.differences(m, h, live) == {}
    assert push.drift_summary({}) == "no drift"
    # Secret files: a changed secret says so without any hash.
    live.files["/etc/homelab/env/web.env"] = push.LiveFile("0" * 64, 0o600, 0, 0, "link")
    live.pending = ["web.service"]
    d = push.differences(m, h, live)
    assert d == {
        "/etc/homelab/env/web.env": "content differs",
        "unit:web.service": "restart pending from an interrupted push",
    }


def _variant(fs: FileSet, path_end: str, content: str) -> FileSet:
    """`fs` with the file ending in `path_end` holding `content` (the stack's pending change)."""
    return fs.model_copy(
        update={
            "files": tuple(
                f.model_copy(update={"content": content}) if f.path.endswith(path_end) else f
                for f in fs.files
            )
        }
    )


def pushed_of(d: push.Desired, h: dict[str, str]) -> push.Pushed:
    """What apply.sh's manifest.tsv records for a push of `d` (as read.sh sends it back)."""
    m = d.manifest
    return push.Pushed(
        files={p: (mode(f), *owner(f), h[p]) for p, f in files(m)},
        dirs={p: (mode(x), *owner(x)) for p, x in dirs(m)},
        links=dict(links(m)),
        units=list(d.units),
        secret={p for p, f in files(m) if f["secret"]},
    )


def host_after_push(fs: FileSet, edits: dict[str, str] | None = None) -> push.LiveState:
    """The live state of a host that got `fs` pushed, then `edits` (path -> content) by hand."""
    d, c, s, h = parts(fs)
    content = {**c, **s, **(edits or {})}
    m = d.manifest
    return push.LiveState(
        generation="g1",
        files={
            p: push.LiveFile(sha256(content[p]), mode(f), *owner(f), "link") for p, f in files(m)
        },
        dirs={p: (mode(x), *owner(x)) for p, x in dirs(m)},
        links=dict(links(m)),
        units=dict.fromkeys(d.units, "active"),
        quadlets=[p for p, _ in files(m) if p.endswith(".container")],
        old_units=list(d.units),
        pushed=pushed_of(d, h),
    )


WEB = "/etc/containers/systemd/web.container"


@pytest.mark.parametrize(
    ("hand_edit", "pending_change", "drifted", "different"),
    [
        (False, False, set(), set()),  # neither
        (True, False, {WEB}, {WEB}),  # only drift: the host differs from the last push
        (False, True, set(), {"/etc/motd"}),  # only the stack's own change: never drift
        (True, True, {WEB}, {WEB, "/etc/motd"}),  # both
    ],
)
def test_drift_is_the_host_against_the_last_push_not_the_stack(
    hand_edit: bool, pending_change: bool, drifted: set[str], different: set[str]
) -> None:
    pushed_fs = fileset()
    live = host_after_push(pushed_fs, {WEB: "[Container]\nImage=x:9\n"} if hand_edit else None)
    stack = _variant(pushed_fs, "motd", "hello\n") if pending_change else pushed_fs
    d, _c, _s, h = parts(stack)
    drift = push.compute_drift(live)
    assert set(drift) == drifted
    if hand_edit:
        assert drift[WEB].startswith("content differs (live ")
    assert set(push.differences(d, h, live)) == different


def test_drift_names_a_stopped_unit_a_loosened_mode_and_a_stray_unit() -> None:
    fs = fileset()
    live = host_after_push(fs)
    live.units["web.service"] = "failed"
    env = "/etc/homelab/env/web.env"
    f = live.files[env]
    assert f is not None
    live.files[env] = dataclasses.replace(f, mode=0o666, sha256="0" * 64)
    live.quadlets.append("/etc/containers/systemd/stray.container")
    assert push.compute_drift(live) == {
        "unit:web.service": "not active (failed)",
        env: "content differs; mode 0666, pushed 0600",  # a secret: no hashes
        "/etc/containers/systemd/stray.container": "unmanaged Quadlet file",
    }


def test_a_container_the_stack_drops_is_a_difference_not_drift() -> None:
    fs = fileset()
    live = host_after_push(fs)
    dropped = fs.model_copy(
        update={"files": tuple(f for f in fs.files if "web" not in f.path), "units": ()}
    )
    d, _c, _s, h = parts(dropped)
    assert push.compute_drift(live) == {}
    diff = push.differences(d, h, live)
    assert diff[WEB] == "no longer in the stack"
    assert diff["unit:web.service"] == "no longer in the stack"


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
    assert live.pushed is None
    pushed = push.parse_live(
        "W\tF\t/a\t640\t0\t4\t" + "2" * 64 + "\tweb.service\nW\tD\t/d\t750\t1\t2\n"
        "W\tL\t/f\t/g\nW\tU\tweb.service\nW\tS\t/a\n"
    ).pushed
    assert pushed == push.Pushed(
        files={"/a": (0o640, 0, 4, "2" * 64)},
        dirs={"/d": (0o750, 1, 2)},
        links={"/f": "/g"},
        units=["web.service"],
        secret={"/a"},
    )


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
    (path -> content), with every unit active, that records each apply (and, like apply.sh,
    what it pushed: drift is measured against that)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, files: dict[str, str]) -> None:
        self.files = dict(files)
        self.applied: list[push.Desired] = []
        self.pushed: push.Pushed | None = None
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
            pushed=self.pushed,
            # Its datasets, made by homelab (a host with its pool in place).
            datasets={
                ds["dataset"]: LiveDataset("dataset", "g-live") for ds in manifest_datasets(m)
            },
            texts={
                p: self.files[p]
                for p, h in (texts_unless or {}).items()
                if p in self.files and sha256(self.files[p]) != h
            },
        )

    def apply(
        self, conn: push.Connection, desired: push.Desired, contents, secrets, *timing, **kw
    ) -> push.ApplyResult:
        self.applied.append(desired)
        self.files = {**contents, **secrets}
        self.pushed = pushed_of(desired, push.desired_hashes(desired.manifest, contents, secrets))
        return push.ApplyResult("g-new", ["web.service"], [], [], "HOMELAB-OK g-new\n")


def provider_inputs(fs: FileSet, secrets: dict[str, str] | None = None) -> dict:
    """HostPush's inputs for `fs`, as the program registers them (secrets resolved)."""
    d = push.Desired.of(fs)
    ssh = SshConfig(host="mouse.lan", host_key=HK)
    contents = push.plain_contents(fs)
    return {
        "ssh": ssh_line(ssh.model_dump()),
        "files_sha256": files_sha256(d.manifest, contents),
        "desired": {
            "connection": ssh.model_dump(),
            "manifest": d.manifest,
            "units": list(d.units),
            "quadlet_dir": d.quadlet_dir,
            "quadlet_exts": list(d.quadlet_exts),
            "contents": contents,
        },
        "secret_contents": push.secret_contents(fs, secrets or {"pw": "hunter2"}),
        "health_timeout": 30,
        "settle": 1,
    }


def up_check(p: HostPushProvider, olds: dict, inputs: dict) -> dict:
    """The checked inputs of a real `up` (not a preview)."""
    return p.check(olds, {**inputs, "preview": False}).inputs


def test_provider_diff_is_the_host_against_the_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    fs = fileset()
    inputs = provider_inputs(fs)
    host = FakeHost(monkeypatch, {**inputs["desired"]["contents"], **inputs["secret_contents"]})
    p = HostPushProvider()
    olds = p.create(inputs).outs
    same = p.check(olds, inputs).inputs
    assert same["drift"] == {} and same["in_sync"] and not p.diff("id", olds, same).changes
    assert same["plan"] == PLAN_HEAD
    # Only drift: a hand edit.
    host.files["/etc/motd"] = "edited by hand\n"
    drifted = p.check(olds, inputs).inputs
    assert list(drifted["drift"]) == ["/etc/motd"] and not drifted["in_sync"]
    assert p.diff("id", olds, drifted).changes
    assert p.diff("id", olds, {**same, "settle": 9}).changes  # a setting changed
    # Only the stack's own change: the plan, never drift.
    host.files["/etc/motd"] = "hi\n"
    changed = provider_inputs(_variant(fs, "motd", "hello\n"))
    assert changed["files_sha256"] != inputs["files_sha256"]
    news = p.check(olds, changed).inputs
    assert news["drift"] == {} and not news["in_sync"] and p.diff("id", olds, news).changes
    assert "+hello" in news["plan"] and "-hi" in news["plan"]
    # Both.
    host.files[WEB] = "[Container]\nImage=x:9\n"
    news = p.check(olds, changed).inputs
    assert list(news["drift"]) == [WEB] and p.diff("id", olds, news).changes


def test_provider_update_applies_and_records_no_drift(monkeypatch: pytest.MonkeyPatch) -> None:
    fs = fileset()
    inputs = provider_inputs(fs)
    host = FakeHost(monkeypatch, {})
    p = HostPushProvider()
    olds = p.create(inputs).outs
    assert len(host.applied) == 1 and olds["generation"] == "g-new"  # the first push applies
    assert olds["seconds"] >= 0 and olds["restarted"] == ["web.service"]
    host.files["/etc/motd"] = "edited by hand\n"
    assert list(p.check(olds, inputs).inputs["drift"]) == ["/etc/motd"]  # preview shows it
    # The up's own check stores neither drift nor plan: the next preview shows only its own.
    news = up_check(p, olds, inputs)
    assert news["drift"] == {} and news["plan"] == PLAN_HEAD and not news["in_sync"]
    assert p.diff("id", olds, news).changes
    outs = p.update("id", olds, news).outs
    assert len(host.applied) == 2 and host.applied[-1] == push.Desired.of(fs)
    assert host.files["/etc/motd"] == "hi\n"
    assert outs["drift"] == {} and outs["generation"] == "g-new"
    # A settings-only update pushes nothing.
    outs = p.update("id", outs, {**up_check(p, outs, inputs), "settle": 9}).outs
    assert len(host.applied) == 2 and outs["drift"] == {}


def test_refresh_records_drift_and_forgets_it_once_healed(monkeypatch: pytest.MonkeyPatch) -> None:
    fs = fileset()
    inputs = provider_inputs(fs)
    host = FakeHost(monkeypatch, {})
    p = HostPushProvider()
    outs = p.create(inputs).outs
    assert p.read("id", outs).outs["drift"] == {}
    host.files[WEB] = "[Container]\nImage=x:9\n"
    refreshed = p.read("id", outs).outs
    assert list(refreshed["drift"]) == [WEB]
    healed = p.update("id", refreshed, up_check(p, refreshed, inputs)).outs
    assert healed["drift"] == {} and p.read("id", healed).outs["drift"] == {}


def test_provider_state_from_before_the_one_manifest_form(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # State pushed by an older homelab ({files, dirs, links, units, quadlet_dir}): one
    # update rewrites it and applies nothing when the host has no drift; a refresh first
    # says what to do.
    fs = fileset()
    inputs = provider_inputs(fs)
    host = FakeHost(monkeypatch, {**inputs["desired"]["contents"], **inputs["secret_contents"]})
    p = HostPushProvider()
    old_manifest = {"files": {}, "dirs": {}, "links": {}, "units": [], "quadlet_dir": "/q"}
    flat = {k: v for k, v in inputs.items() if k != "desired"}
    olds = {
        **flat,
        **{k: v for k, v in inputs["desired"].items() if k not in ("units", "quadlet_dir")},
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
    assert outs["desired"] == inputs["desired"]
    assert not p.diff("id", outs, p.check(outs, inputs).inputs).changes
    assert p.read("id", outs).outs["drift"] == {}


def test_a_remote_run_without_its_ok_line_is_one_line_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # apply.sh exited 0 but never said HOMELAB-OK: a one-line PushError, not an
    # AttributeError on a missing result.
    monkeypatch.setattr(
        push.transport_mod, "run_ssh", lambda *a, **k: (0, "HOMELAB-SWITCHED g\n", "")
    )
    d, c, s, _ = parts(fileset())
    with pytest.raises(push.PushError, match="without its final HOMELAB-OK line"):
        push.apply(push.Connection(host="mouse.lan", host_key=HK), d, c, s, 30, 5)


def test_apply_output_names_the_armed_revert() -> None:
    res = push.parse_apply_output(
        "HOMELAB-SWITCHED 20260101T000000Z-abcdef12\n"
        "HOMELAB-ARMED 20260101T000000Z-abcdef12 20251231T000000Z-12345678 60\n"
        "HOMELAB-OK 20260101T000000Z-abcdef12\n"
    )
    assert res is not None and res.armed == push.Armed(
        "20260101T000000Z-abcdef12", "20251231T000000Z-12345678", 60
    )


ARMED = push.Armed("20260101T000000Z-abcdef12", "20251231T000000Z-12345678", 30)


def _confirm_with(monkeypatch: pytest.MonkeyPatch, answers: list) -> list[str]:
    """confirm_generation against scripted answers (an exception: ssh could not connect);
    returns the commands it sent. A fake clock: each try takes 10 s."""
    sent: list[str] = []
    now = [0.0]

    def fake(conn, remote, stdin, timeout, share=True, connect_timeout=15):  # type: ignore[no-untyped-def]
        assert share is False, "the confirmation must not use the shared connection"
        sent.append(remote)
        now[0] += 10
        a = answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return a

    monkeypatch.setattr(push.transport_mod, "run_ssh", fake)
    push.confirm_generation(
        push.Connection(host="mouse.lan", host_key=HK), ARMED, 30,
        sleep=lambda _s: None, clock=lambda: now[0],
    )  # fmt: skip
    return sent


def test_confirmation_retries_new_connections_until_the_host_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    down = push.PushError("cannot reach mouse.lan port 22: no answer")
    ok = (0, f"HOMELAB-CONFIRMED {ARMED.generation}\n", "")
    sent = _confirm_with(monkeypatch, [down, down, ok])
    assert len(sent) == 3 and all(s.endswith(f" {ARMED.generation}") for s in sent)


def test_a_host_that_reverted_is_reported_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    reverted = (3, f"HOMELAB-REVERTED {ARMED.previous}\tno answer\n", "")
    with pytest.raises(push.PushError) as exc:
        _confirm_with(monkeypatch, [reverted])
    assert str(exc.value) == (
        f"the host did not hear back within 30 s; it rolled itself back to {ARMED.previous}"
    )


def test_a_host_never_reached_again_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    down = push.PushError("cannot reach mouse.lan port 22: no answer")
    answers = [down] * 20
    with pytest.raises(push.PushError, match=r"still unreachable .*rolls itself back to"):
        _confirm_with(monkeypatch, answers)
    # 30 s, then as long again to learn what the host did: 6 tries of 10 s, no more.
    assert len(answers) == 20 - 6


def test_a_failed_push_is_one_homelab_message_without_traceback() -> None:
    # What the dynamic provider's host prints for an exception: traceback.format_exc().
    import traceback

    from components.push import PushFailed, _fail

    try:
        try:
            raise push.PushError("netdata.service did not stay active; host back on G")
        except push.PushError as exc:
            raise _fail(exc) from None
    except PushFailed:
        shown = traceback.format_exc()
    finally:
        import sys

        del sys.tracebacklimit  # _fail set it for the (short-lived) provider process
    assert shown == "homelab: netdata.service did not stay active; host back on G\n"


def _judge(
    tmp_path: Path,
    looks: list[str],
    health: str = "",
    inv: str | None = None,
    start_timeout: str = "1min 30s",
) -> str:
    """Run apply.sh's health gate on one unit, `u.service`, with systemd and podman scripted:
    each `systemctl show` returns the next of `looks` ("ActiveState SubState Result NRestarts
    InvocationID"; the last repeats). Returns what the gate decided ($unhealthy: $why)."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (tmp_path / "looks").write_text("\n".join(looks) + "\n")
    (bin_ / "systemctl").write_text(
        "#!/bin/sh\n"
        f'case "$*" in *TimeoutStartUSec*) echo "{start_timeout}"; exit 0 ;; esac\n'
        f'n=$(cat "{tmp_path}/n" 2>/dev/null || echo 1)\n'
        f'l=$(sed -n "${{n}}p" "{tmp_path}/looks")\n'
        f'[ -n "$l" ] || l=$(tail -n 1 "{tmp_path}/looks")\n'
        f'echo $((n + 1)) > "{tmp_path}/n"\n'
        "set -- $l\n"
        'printf "ActiveState=%s\\nSubState=%s\\nResult=%s\\nNRestarts=%s\\nInvocationID=%s\\n" '
        '"$1" "$2" "$3" "$4" "$5"\n'
    )
    (bin_ / "podman").write_text(
        f'#!/bin/sh\ncase "$1" in ps) echo c1 ;; inspect) echo "{health}" ;; esac\n'
    )
    for f in bin_.iterdir():
        f.chmod(0o755)
    d = tmp_path / "gen"
    (d / "gate").mkdir(parents=True)
    (d / "units").write_text("u.service\n")
    if inv is not None:
        (d / "gate" / "u.service.inv").write_text(inv + "\n")
    return _gate_verdict(d, bin_, 'gstart=$(date +%s); deadline=$((gstart + 4)); gate "$d/units"')


def _gate_verdict(d: Path, bin_: Path, call: str) -> str:
    """apply.sh's library sourced for generation dir `d` under dash, the scripted systemd
    and podman of `bin_` first on PATH; `call` runs, then "$unhealthy: $why" is returned."""
    script = (
        f'HOMELAB_APPLY_LIB=1; set -- "{d}"; . "{push.REMOTE_DIR}/apply.sh"; exec 1>&3; '
        f'unhealthy=""; why=""; {call}; echo "${{unhealthy:-ok}}: $why"'
    )
    p = subprocess.run(
        [_dash(), "-c", script], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PATH": f"{bin_}:{os.environ['PATH']}"},
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def test_gate_passes_a_slow_but_healthy_start(tmp_path: Path) -> None:
    looks = ["activating start - 0 a"] * 4 + ["active running success 0 b"]
    assert _judge(tmp_path, looks, inv="a") == "ok:"


def test_gate_fails_fast_on_a_crash_loop(tmp_path: Path) -> None:
    # Exited, restarted, exited again: no wait for the deadline.
    looks = [
        "activating start - 0 a",
        "activating auto-restart exit-code 0 a",
        "activating start exit-code 1 b",
        "activating auto-restart exit-code 1 b",
    ]
    out = _judge(tmp_path, looks, inv="x")
    assert out.startswith("u.service: crash-looping"), out


def test_gate_fails_at_once_on_failed_and_waits_for_a_pending_restart(tmp_path: Path) -> None:
    assert _judge(tmp_path, ["failed failed exit-code 0 a"]).startswith("u.service: failed")
    # Still the old invocation: the restart job has not run; the deadline (4 s) ends it.
    (tmp_path / "x").mkdir()
    out = _judge(tmp_path / "x", ["active running success 0 old"], inv="old")
    assert out == "u.service: not active within 4 s", out


def test_gate_counts_unhealthy_as_failed_and_waits_while_starting(tmp_path: Path) -> None:
    out = _judge(tmp_path, ["active running success 0 b"], health="unhealthy", inv="a")
    assert out == "u.service: unhealthy (podman healthcheck)", out
    (tmp_path / "y").mkdir()
    # Still starting at the gate's 4 s: it waits up to the unit's own TimeoutStartSec= (6 s).
    out = _judge(
        tmp_path / "y", ["active running success 0 b"], health="starting", inv="a",
        start_timeout="6s",
    )  # fmt: skip
    assert out == "u.service: not active within 6 s", out


def test_one_byte_in_any_managed_file_of_mouse_is_an_update(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The bulk is out of the displayed diff (secret inputs and one hash), never out of the
    # comparison: one changed byte in any of mouse's files is an update, and the one visible
    # hash changes with every non-secret file.
    from homelab.cli.build import load
    from homelab.host.stack import StackFiles

    plan = load("mouse", REPO, StackFiles(REPO))
    fs = plan.fileset
    inputs = provider_inputs(fs, dict.fromkeys(plan.config.secret_names(), "s3cr3t-value"))
    plain, secret = inputs["desired"]["contents"], inputs["secret_contents"]
    FakeHost(monkeypatch, {**plain, **secret})
    p = HostPushProvider()
    olds = p.create(inputs).outs
    assert not p.diff("id", olds, p.check(olds, inputs).inputs).changes
    assert len([*plain, *secret]) >= 7
    for path in [*plain, *secret]:
        text = {**plain, **secret}[path]
        edited = text[:-1] + chr(ord(text[-1]) ^ 1)
        if path in plain:
            desired = {**inputs["desired"], "contents": {**plain, path: edited}}
            news = {**inputs, "desired": desired}
            news["files_sha256"] = files_sha256(desired["manifest"], desired["contents"])
            assert news["files_sha256"] != inputs["files_sha256"], path
        else:
            news = {**inputs, "secret_contents": {**secret, path: edited}}
        assert p.diff("id", olds, p.check(olds, news).inputs).changes, path


def _settle(tmp_path: Path, looks: list[str], settle: int = 1) -> str:
    """Run apply.sh's settle check on `u.service` with systemd scripted: each look is
    "ActiveState SubState NRestarts"; every ActiveState query moves to the next look (the
    last repeats), the other properties read the current one. Returns $unhealthy: $why."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (tmp_path / "looks").write_text("\n".join(looks) + "\n")
    (bin_ / "systemctl").write_text(
        "#!/bin/sh\n"
        f'n=$(cat "{tmp_path}/n" 2>/dev/null || echo 0)\n'
        f'if [ "$3" = ActiveState ]; then n=$((n + 1)); echo "$n" > "{tmp_path}/n"; fi\n'
        '[ "$n" -ge 1 ] || n=1\n'
        f'l=$(sed -n "${{n}}p" "{tmp_path}/looks")\n'
        f'[ -n "$l" ] || l=$(tail -n 1 "{tmp_path}/looks")\n'
        "set -- $3 $l\n"
        'case $1 in ActiveState) echo "$2" ;; SubState) echo "$3" ;; NRestarts) echo "$4" ;; esac\n'
    )
    (bin_ / "systemctl").chmod(0o755)
    d = tmp_path / "gen"
    d.mkdir()
    (d / "judged").write_text("u.service\n")
    return _gate_verdict(d, bin_, f'settle={settle}; settle_gate "$d/judged"')


CRASH_IN_SETTLE = (
    "u.service: crash-looping (it stopped and systemd restarts it, within the 1 s settle time)"
)


@pytest.mark.parametrize(
    "looks",
    [
        # Seen while podman's ExecStopPost runs, then waiting to restart: one meaning, whichever
        # moment the look came (the e2e crash showed both words before).
        ["active running 0", "deactivating stop-post 0", "deactivating stop-post 0",
         "activating auto-restart 0"],
        ["active running 0", "activating auto-restart 0"],
        # Restarted between two looks: active again, one restart more.
        ["active running 0", "active running 1"],
    ],
)  # fmt: skip
def test_settle_names_a_crash_a_crash_loop_whenever_it_looks(
    tmp_path: Path, looks: list[str]
) -> None:
    assert _settle(tmp_path, looks) == CRASH_IN_SETTLE


def test_settle_passes_a_unit_that_stays_up_and_names_a_plain_stop(tmp_path: Path) -> None:
    assert _settle(tmp_path, ["active running 0"]) == "ok:"
    (tmp_path / "x").mkdir()
    out = _settle(tmp_path / "x", ["active running 0", "deactivating stop 0", "inactive dead 0"])
    assert out == "u.service: stopped within the 1 s settle time", out
