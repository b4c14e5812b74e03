"""The plan's `data:` part (homelab/push/plan.py data_plan) word for word, as the preview shows
it: created datasets, properties set or left alone, plain directories, a host without zfs,
snapshots before (re)starts; and nothing when nothing happens to the data."""

from __future__ import annotations

import pytest

from homelab import push
from homelab.fileset import FileSet, ManagedDataset
from homelab.push.kinds import Rec
from homelab.push.plan import data_plan


def _ds(name: str, *props: tuple[str, str], units: tuple[str, ...] = ()) -> ManagedDataset:
    return ManagedDataset(name=name, mountpoint="/var/" + name, properties=props, units=units)


LZ4 = ("compression", "lz4")
ATIME = ("atime", "off")


@pytest.mark.parametrize(
    ("sets", "records", "starting", "lines"),
    [
        # Nothing created or set, nothing starts: no data part at all.
        ([_ds("t/a", LZ4)], [f"{Rec.DATASET}\tt/a\tplain"], {}, []),
        ([_ds("t/a", LZ4)], [f"{Rec.DATASET}\tt/a\tdataset\tG\t-"], {}, []),
        (
            [_ds("t/a")],
            [],
            {},
            ["data:\n", "  create t/a at /var/t/a (default properties)\n"],
        ),
        # Datasets come sorted by name.
        (
            [_ds("t/n", LZ4), _ds("t/p"), _ds("t/z", LZ4, ATIME)],
            [f"{Rec.DATASET}\tt/n\tnozfs", f"{Rec.DATASET}\tt/p\tplain"],
            {},
            [
                "data:\n",
                "  t/n: this host has no zfs command: the push will fail\n",
                "  /var/t/p is a plain directory with data: used as it is, no snapshots\n",
                "  create t/z at /var/t/z (atime=off,compression=lz4)\n",
            ],
        ),
        # Properties: set on a dataset homelab made, reported on one it did not.
        (
            [_ds("t/a", LZ4, ATIME), _ds("t/b", LZ4)],
            [
                f"{Rec.DATASET}\tt/a\tdataset\tG\tcompression=off,atime=on",
                f"{Rec.DATASET}\tt/b\tdataset\t-\tcompression=off",
            ],
            {},
            [
                "data:\n",
                "  set atime=off on t/a (now on)\n",
                "  set compression=lz4 on t/a (now off)\n",
                "  t/b: compression is off, the stack says lz4; not changed (homelab did not "
                "create it)\n",
            ],
        ),
        # Only reported, nothing starts: nothing happens to the data.
        ([_ds("t/b", LZ4)], [f"{Rec.DATASET}\tt/b\tdataset\t-\tcompression=off"], {}, []),
        # Snapshots before each (re)start of the dataset's units, in the set's order
        (
            [_ds("t/a", units=("w.service", "x.service", "y.service"))],
            [f"{Rec.DATASET}\tt/a\tdataset\tG\t-"],
            {"y.service": "start", "w.service": "restart"},
            [
                "data:\n",
                "  snapshot t/a@homelab-<new generation> before w.service restarts, "
                "y.service starts\n",
            ],
        ),
    ],
)
def test_data_plan(
    sets: list[ManagedDataset], records: list[str], starting: dict[str, str], lines: list[str]
) -> None:
    desired = push.Desired.of(FileSet(datasets=tuple(sets)))
    assert data_plan(desired, push.parse_live("\n".join(records)), starting) == lines


def test_the_plan_lists_what_else_changes_after_a_dataset() -> None:
    # differences() names datasets before Quadlet files, images and notes: the `also:` part
    # skips the dataset and lists everything after it.
    from homelab.fileset import ManagedFile
    from homelab.push.plan import render_plan

    fs = FileSet(
        files=(ManagedFile(path="/etc/a.conf", content="x\n", mode=0o600, uid=1),),
        datasets=(_ds("t/a"),),
    )
    desired = push.Desired.of(fs)
    sha = push.desired_hashes(desired.manifest, {"/etc/a.conf": "x\n"}, {})["/etc/a.conf"]
    live = push.parse_live(
        "\n".join(
            [
                f"{Rec.FILE}\t/etc/a.conf\t{sha}\t644\t0\t0\tplain",
                f"{Rec.DATASET}\tt/a\tmissing",
                f"{Rec.QUADLET_FILE}\t/etc/containers/systemd/stray.container",
                f"{Rec.ROLLED_BACK}\tGEN-1\tGEN-2\tthen",
            ]
        )
    )
    plan = render_plan(desired, {"/etc/a.conf": "x\n"}, {"/etc/a.conf": sha}, live)
    also = plan[plan.index("also:\n") :].split("\n\n")[0].splitlines()
    assert also[:3] == [
        "also:",
        "  /etc/a.conf: mode 0644, want 0600; owner 0:0, want 1:0",
        "  /etc/containers/systemd/stray.container: unmanaged Quadlet file",
    ]
    assert any(ln.startswith("  rollback: `homelab rollback` at then") for ln in also)
