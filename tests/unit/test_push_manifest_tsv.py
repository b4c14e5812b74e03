"""The generation's manifest.tsv as the host's scripts read it (remote/images.sh, datasets.sh,
apply.sh): images with their units and pull timeout, datasets with their properties and
units, the snapshots to keep; and that build_tar carries the push settings into it (the
retention setting was once dropped on the way: a38bd00)."""

from __future__ import annotations

import io
import tarfile

from homelab import push
from homelab.fileset import FileSet, ManagedDataset, ManagedImage

FS = FileSet(
    datasets=(
        ManagedDataset(
            name="tank/a",
            mountpoint="/var/tank/a",
            properties=(("compression", "lz4"), ("atime", "off")),
            units=("a.service", "b.service"),
        ),
        ManagedDataset(name="tank/b", mountpoint="/var/tank/b"),
    ),
    images=(
        ManagedImage(ref="r.example/x:1@sha256:abc", units=("a.service", "b.service")),
        ManagedImage(ref="r.example/y:1@sha256:def"),
    ),
)


def _tsv(**settings: int) -> str:
    tar = push.build_tar(push.Desired.of(FS), {}, {}, "GEN", 120, 5, **settings)
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        member = tf.extractfile("manifest.tsv")
        assert member is not None
        return member.read().decode()


def test_images_datasets_and_retention_rows() -> None:
    assert _tsv(confirm=30, pull_timeout=42, snapshots_keep=3) == (
        "I\tGEN\n"
        "Q\t/etc/containers/systemd\n"
        "T\t120\t5\t30\n"
        "P\tr.example/x:1@sha256:abc\ta.service,b.service\t42\n"
        "P\tr.example/y:1@sha256:def\t-\t42\n"
        "Z\ttank/a\t/var/tank/a\tatime=off,compression=lz4\ta.service,b.service\n"
        "Z\ttank/b\t/var/tank/b\t-\t-\n"
        "K\tsnapshots\t3\n"
    )


def test_defaults_five_snapshots_and_the_pull_timeout() -> None:
    rows = _tsv().splitlines()
    assert rows[-1] == "K\tsnapshots\t5"
    assert (
        rows[3] == f"P\tr.example/x:1@sha256:abc\ta.service,b.service\t{push.desired.PULL_TIMEOUT}"
    )
