"""The host's dataset, image and armed-switch records (remote/read.sh's Z, IM and A), read back
exactly, and what the plan says of each dataset state: missing, no zfs, properties that
differ on a dataset homelab made, or on one it did not (left alone)."""

from __future__ import annotations

from homelab import push
from homelab.fileset import FileSet, ManagedDataset
from homelab.push.kinds import Rec
from homelab.push.live import LiveDataset


def test_dataset_image_and_armed_records_are_read_back_exactly() -> None:
    text = "\n".join(
        [
            f"{Rec.DATASET}\ttank/a\tdataset\tGEN-1\tcompression=off,atime=on=x,junk",
            f"{Rec.DATASET}\ttank/b\tplain",
            f"{Rec.DATASET}\ttank/c\tmissing\t-",
            f"{Rec.DATASET}\ttank/d\tdataset\tGEN-2\t-",
            f"{Rec.DATASET}\ttank/short",  # cut short: ignored
            f"{Rec.IMAGE}\tweb.service\tr.example/web@sha256:1 r.example/web@sha256:2",
            f"{Rec.IMAGE}\tdb.service",
            f"{Rec.ARMED}\tGEN-2\tGEN-1\t1700000000",
        ]
    )
    live = push.parse_live(text)
    assert live.datasets == {
        "tank/a": LiveDataset("dataset", "GEN-1", {"compression": "off", "atime": "on=x"}),
        "tank/b": LiveDataset("plain", "-", {}),
        "tank/c": LiveDataset("missing", "-", {}),
        "tank/d": LiveDataset("dataset", "GEN-2", {}),
    }
    assert live.images == {
        "web.service": ["r.example/web@sha256:1", "r.example/web@sha256:2"],
        "db.service": [],
    }
    assert live.armed == ["GEN-2", "GEN-1", "1700000000"]


def _ds(name: str) -> ManagedDataset:
    return ManagedDataset(
        name=name,
        mountpoint="/var/tank/" + name.split("/")[-1],
        properties=(("atime", "off"), ("compression", "lz4")),
        units=("web.service",),
    )


def test_the_plan_names_each_dataset_state() -> None:
    fs = FileSet(datasets=tuple(_ds(f"tank/{n}") for n in "abcdef"))
    live = push.parse_live(
        "\n".join(
            [
                # made by homelab, two properties changed since: both named, sorted
                f"{Rec.DATASET}\ttank/a\tdataset\tGEN-1\tcompression=off,atime=on",
                # not made by homelab: its properties are the owner's, not drift
                f"{Rec.DATASET}\ttank/b\tdataset\t-\tcompression=off",
                f"{Rec.DATASET}\ttank/c\tmissing\t-",
                f"{Rec.DATASET}\ttank/d\tnozfs",
                # tank/e: no record at all
                f"{Rec.DATASET}\ttank/f\tdataset\tGEN-1\t-",
            ]
        )
    )
    assert push.differences(push.Desired.of(fs), {}, live) == {
        "zfs:tank/a": "atime is on, want off, compression is off, want lz4",
        "zfs:tank/c": "dataset missing",
        "zfs:tank/d": "this host has no zfs command",
        "zfs:tank/e": "dataset missing",
    }


def _pushed(*rows: str) -> str:
    return "\n".join(f"{Rec.PUSHED}\t{r}" for r in rows)


def test_drift_of_pushed_dirs_links_units_and_an_unconfirmed_switch() -> None:
    live = push.parse_live(
        "\n".join(
            [
                _pushed(
                    "D\t/var/a\t750\t1000\t100",
                    "D\t/var/b\t755\t0\t0",
                    "D\t/var/same\t755\t0\t0",
                    "L\t/etc/l1\t../t",
                    "L\t/etc/l2\t../t",
                    "L\t/etc/l3\t../t",
                    "U\tweb.service",
                    "U\tdb.service",
                    "U\tok.service",
                ),
                f"{Rec.DIR}\t/var/a\t700\t1000\t100",
                f"{Rec.DIR_MISSING}\t/var/b",
                f"{Rec.DIR}\t/var/same\t755\t0\t0",
                f"{Rec.LINK}\t/etc/l1\t../other",
                f"{Rec.LINK_MISSING}\t/etc/l2",
                f"{Rec.LINK}\t/etc/l3\t../t",
                f"{Rec.UNIT}\tweb.service\tfailed",
                f"{Rec.UNIT}\tok.service\tactive",
                f"{Rec.ARMED}\tGEN-2\tGEN-1\t1700000000",
            ]
        )
    )
    confirm = (
        "generation GEN-2 was never confirmed: the host goes back to GEN-1 by itself unless a "
        "push confirms it; `pulumi up` does"
    )
    assert push.compute_drift(live) == {
        "/var/a": "directory mode/owner 0700 1000:100, pushed 0750 1000:100",
        "/var/b": "directory missing",
        "/etc/l1": "symlink -> ../other, pushed ../t",
        "/etc/l2": "symlink missing",
        "unit:web.service": "not active (failed)",
        "unit:db.service": "not active (unknown)",
        "confirm": confirm,
    }
    # The plan says the same of the switch; units of the live generation that left the
    # stack are named while they still run (not when inactive, failed or unknown).
    live = push.parse_live(
        "\n".join(
            [
                f"{Rec.OLD_UNIT}\t{u}.service"
                for u in ("running", "inactive", "failed", "unknown", "kept")
            ]
            + [
                f"{Rec.UNIT}\trunning.service\tactivating",
                f"{Rec.UNIT}\tinactive.service\tinactive",
                f"{Rec.UNIT}\tfailed.service\tfailed",
                f"{Rec.UNIT}\tkept.service\tactive",
                f"{Rec.ARMED}\tGEN-2\tGEN-1\t1700000000",
            ]
        )
    )
    desired = push.Desired.of(FileSet(units=("kept.service",)))
    assert push.differences(desired, {}, live) == {
        "unit:running.service": "no longer in the stack",
        "confirm": confirm,
    }


def test_the_host_is_asked_about_each_dataset_with_the_properties_it_must_have() -> None:
    fs = FileSet(
        datasets=(
            _ds("tank/a"),
            ManagedDataset(name="tank/b c", mountpoint="/var/tank/b c"),
        )
    )
    calls = push.read_script(push.Desired.of(fs)).splitlines()
    assert [c for c in calls if c.startswith("dataset ")] == [
        "dataset tank/a /var/tank/a atime=off,compression=lz4",
        "dataset 'tank/b c' '/var/tank/b c' -",
    ]


def test_drift_names_a_pending_restart_a_rollback_and_an_image_without_digest() -> None:
    live = push.parse_live(
        "\n".join(
            [
                _pushed("U\tweb.service", "P\tr.example/db:1@sha256:abc\tdb.service,-\t60"),
                f"{Rec.UNIT}\tweb.service\tactive",
                f"{Rec.PENDING}\tweb.service",
                f"{Rec.PENDING}\tother.service",
                f"{Rec.IMAGE}\tdb.service",
                f"{Rec.ROLLED_BACK}\tGEN-1\tGEN-2\t2026-12-04 10:00",
            ]
        )
    )
    assert live.pushed is not None and live.pushed.images == [
        ("r.example/db:1@sha256:abc", ("db.service",))
    ]
    assert push.compute_drift(live) == {
        "unit:web.service": "restart pending from an interrupted push",
        "unit:other.service": "restart pending from an interrupted push",
        "image:db.service": "runs an image with no digest, the last push pulled sha256:abc",
        "rollback": "`homelab rollback` at 2026-12-04 10:00 made GEN-1 live again in place of "
        "GEN-2; `pulumi up` brings the host back to the stack",
    }


def test_pushed_rows_the_drift_does_not_use_are_skipped() -> None:
    # Every kind of manifest.tsv row comes back; only files, dirs, links, units, secrets
    # and pulls are the last push's facts (a Z row has as many fields as a D row).
    live = push.parse_live(
        _pushed(
            "I\tGEN-1",
            "Q\t/etc/containers/systemd",
            "T\t120\t5\t0",
            "Z\ttank/a\t/var/tank/a\tatime=off\tweb.service",
            "K\tsnapshots\t5",
            "D\t/var/a\t750\t1\t2",
        )
    )
    assert live.pushed is not None
    assert (live.pushed.dirs, live.pushed.images, live.pushed.files) == (
        {"/var/a": (0o750, 1, 2)},
        [],
        {},
    )
