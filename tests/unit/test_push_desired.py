"""What the push sends, checked as the host reads it: generation ids, manifest.tsv rows, the
tar's members (names, types, modes, owners, dates, format), and apply.sh's output read back."""

from __future__ import annotations

import io
import re
import tarfile

import pytest

from homelab import manifest, push
from homelab.fileset import FileSet, ManagedDir, ManagedFile
from homelab.push.apply import parse_apply_output, remote_errors

ENV = "/etc/homelab/env/web.env"


def _fs() -> FileSet:
    return FileSet(
        files=(
            ManagedFile(
                path="/etc/containers/systemd/web.container",
                content="[Container]\n",
                units=("web.service", "api.service"),
            ),
            ManagedFile(path="/etc/motd", content="hi\n", mode=0o640, uid=0, gid=4),
            ManagedFile(path=ENV, mode=0o600, secret_env=(("PW", "pw"),), units=("web.service",)),
        ),
        dirs=(ManagedDir(path="/var/tank/services/web", mode=0o750, uid=1000, gid=100),),
        units=("web.service",),
        quadlet_dir="/etc/containers/systemd",
    )


def _parts():
    fs = _fs()
    d = push.Desired.of(fs)
    c, s = push.plain_contents(fs), push.secret_contents(fs, {"pw": "hunter2"})
    return d, c, s, push.desired_hashes(d.manifest, c, s)


def test_the_generation_id_is_time_then_content():
    d, _c, _s, h = _parts()
    gen = push.generation_id(d, h, 0)
    assert re.fullmatch(r"19700101T000000Z-[0-9a-f]{8}", gen), gen
    assert push.generation_id(d, h, 86399).startswith("19700101T235959Z-")
    # The manifest's key order is not content: the same set gives the same id.
    shuffled = push.Desired(
        dict(reversed(list(d.manifest.items()))), d.units, d.quadlet_dir, d.quadlet_exts
    )
    assert push.generation_id(shuffled, h, 0) == gen
    other = dict(h, **{"/etc/motd": "0" * 64})
    assert push.generation_id(d, other, 0) != gen


def test_manifest_tsv_rows_are_what_apply_sh_reads():
    d, _c, _s, h = _parts()
    rows = push.manifest_tsv(d, h, "GEN", 120, 5).splitlines()
    assert rows[:3] == ["I\tGEN", "Q\t/etc/containers/systemd", "T\t120\t5\t0"]
    assert rows[3:] == [
        f"F\t/etc/containers/systemd/web.container\t644\t0\t0\t"
        f"{h['/etc/containers/systemd/web.container']}\tweb.service,api.service",
        f"F\t{ENV}\t600\t0\t0\t{h[ENV]}\tweb.service",
        f"F\t/etc/motd\t640\t0\t4\t{h['/etc/motd']}\t-",
        "D\t/var/tank/services/web\t750\t1000\t100",
        "U\tweb.service",
        f"S\t{ENV}",
        "K\tsnapshots\t5",  # homelab snapshots kept per dataset (none here)
    ]


def test_the_tar_holds_each_file_as_the_host_must_have_it():
    d, c, s, _h = _parts()
    data = push.build_tar(d, c, s, "GEN", 120, 5)
    assert data[257:265] == b"ustar  \x00"  # GNU format, what apply.sh's tar reads
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
        got = [(m.name, m.type, m.mode, m.uid, m.gid, m.mtime) for m in members]
        motd = tar.extractfile("root/etc/motd")
        assert motd is not None and motd.read() == b"hi\n"
        env = tar.extractfile("root" + ENV)
        assert env is not None and env.read() == b"PW=hunter2\n"
        end = tar.extractfile("END")
        assert end is not None and end.read() == b"GEN"
    dirtype, reg = tarfile.DIRTYPE, tarfile.REGTYPE
    assert got == [
        ("apply.sh", reg, 0o700, 0, 0, 0),
        ("revert.sh", reg, 0o700, 0, 0, 0),
        ("images.sh", reg, 0o600, 0, 0, 0),
        ("datasets.sh", reg, 0o600, 0, 0, 0),
        ("manifest.tsv", reg, 0o644, 0, 0, 0),
        ("root", dirtype, 0o755, 0, 0, 0),
        ("root/etc", dirtype, 0o755, 0, 0, 0),
        ("root/etc/containers", dirtype, 0o755, 0, 0, 0),
        ("root/etc/containers/systemd", dirtype, 0o755, 0, 0, 0),
        ("root/etc/containers/systemd/web.container", reg, 0o644, 0, 0, 0),
        ("root/etc/homelab", dirtype, 0o755, 0, 0, 0),
        ("root/etc/homelab/env", dirtype, 0o755, 0, 0, 0),
        ("root/etc/homelab/env/web.env", reg, 0o600, 0, 0, 0),
        ("root/etc/motd", reg, 0o640, 0, 4, 0),
        ("END", reg, 0o644, 0, 0, 0),
    ]


def test_a_file_without_content_and_a_path_with_a_tab_are_refused():
    d, c, s, _h = _parts()
    with pytest.raises(push.PushError, match=r"^no content for managed file /etc/motd$"):
        push.desired_hashes(d.manifest, {k: v for k, v in c.items() if k != "/etc/motd"}, s)
    tab = FileSet(files=(ManagedFile(path="/etc/a\tb"),), quadlet_dir="/etc/containers/systemd")
    with pytest.raises(push.PushError, match="managed path contains a tab or newline"):
        push.Desired.of(tab)
    ok = FileSet(files=(ManagedFile(path="/etc/XX.conf"),), quadlet_dir="/q")
    assert "/etc/XX.conf" in push.Desired.of(ok).manifest


def test_apply_output_read_back():
    out = "unpacking\nHOMELAB-STOPPED old.service\nHOMELAB-OK GEN\n"
    res = parse_apply_output(out)
    assert res is not None and (res.generation, res.stopped, res.log) == (
        "GEN",
        ["old.service"],
        out,
    )
    errs = "HOMELAB-RESTARTED web.service\nHOMELAB-ERROR: one\nplain two\n"
    assert remote_errors(errs, "ssh said") == "one\nplain two"
    assert remote_errors("HOMELAB-RESTARTED web.service\n", " ssh said \n") == "ssh said"


def test_manifest_reads_back_by_kind_sorted():
    m = {
        "/b/": {"mode": "0755", "owner": "0:0", "dir": True},
        "/a/": {"mode": "0700", "owner": "1:2", "dir": True},
        "/c": {"link": "/x"},
    }
    assert [p for p, _ in manifest.dirs(m)] == ["/a", "/b"]
    assert manifest.owner(m["/a/"]) == (1, 2) and manifest.mode(m["/a/"]) == 0o700
    assert (
        manifest.sha256(b"x")
        == manifest.sha256("x")
        == ("2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881")
    )
