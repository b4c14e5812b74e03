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
