"""Containers' ZFS datasets in the pure parts: the stack's `dataset`, the file set and manifest
(Z rows), the plan's `data:` section and drift. The host side (remote/datasets.sh) runs on the
real zfs-fuse pool in tests/e2e/test_zfs_data.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from homelab import push
from homelab.fileset import FileSet, ManagedDataset, ManagedFile
from homelab.host.config import ContainerConfig
from homelab.push.live import LiveDataset, LiveState
from homelab.push.plan import NO_DATASETS, data_plan
from tests.unit.test_host_layout import REPO
from tests.unit.test_host_layout import _layout as _plan

DS = "tank/services/web"


def test_mouse_gives_rustfs_its_dataset_and_vm_test_has_none() -> None:
    mouse = _plan(REPO, "mouse").fileset
    assert mouse.datasets == (
        ManagedDataset(
            name="tank/services/rustfs",
            mountpoint="/var/tank/services/rustfs",
            properties=(("atime", "off"), ("compression", "on")),
            units=("rustfs.service",),
        ),
    )
    # vm-test inherits rustfs's `dataset` but has no pool: snapshots are off there.
    assert _plan(REPO, "vm-test").fileset.datasets == ()


def test_only_properties_both_openzfs_and_zfs_fuse_take_are_accepted() -> None:
    assert ContainerConfig(dataset={"recordsize": "128K"}).dataset == {"recordsize": "128K"}
    with pytest.raises(ValidationError, match="'mountpoint' is not one homelab sets"):
        ContainerConfig(dataset={"mountpoint": "none"})
    with pytest.raises(ValidationError, match="not a ZFS property value"):
        ContainerConfig(dataset={"compression": "on; rm -rf /"})


def _desired(props: tuple[tuple[str, str], ...] = (("compression", "on"),)) -> push.Desired:
    fs = FileSet(
        files=(ManagedFile(path="/etc/containers/systemd/web.container", units=("web.service",)),),
        units=("web.service",),
        datasets=(ManagedDataset(name=DS, mountpoint="/var/tank/services/web", properties=props,
                                 units=("web.service",)),),
    )  # fmt: skip
    return push.Desired.of(fs)


def test_manifest_rows_carry_each_dataset_and_the_retention() -> None:
    d = _desired()
    h = push.desired_hashes(d.manifest, {"/etc/containers/systemd/web.container": ""}, {})
    tsv = push.manifest_tsv(d, h, "g1", 90, 5, snapshots_keep=3).splitlines()
    assert f"Z\t{DS}\t/var/tank/services/web\tcompression=on\tweb.service" in tsv
    assert "K\tsnapshots\t3" in tsv
    # Not a file: nothing to hash or link.
    assert list(h) == ["/etc/containers/systemd/web.container"]


@pytest.mark.parametrize(
    ("live", "plan", "drift"),
    [
        (None, f"  create {DS} at /var/tank/services/web (compression=on)\n", "dataset missing"),
        (LiveDataset("plain"), "  /var/tank/services/web is a plain directory with data", None),
        (LiveDataset("dataset", "g0", {"compression": "off"}),
         f"  set compression=on on {DS} (now off)\n", "compression is off, want on"),
        (LiveDataset("dataset", "-", {"compression": "off"}),
         f"  {DS}: compression is off, the stack says on; not changed (homelab did not", None),
        (LiveDataset("nozfs"), "no zfs command", "this host has no zfs command"),
    ],
)  # fmt: skip
def test_plan_and_drift_of_a_dataset(
    live: LiveDataset | None, plan: str, drift: str | None
) -> None:
    d = _desired()
    state = LiveState(datasets={DS: live} if live else {})
    text = "".join(data_plan(d, state, {"web.service": "restart"}))
    assert plan in text
    assert f"  snapshot {DS}@homelab-<new generation> before web.service restarts\n" in text or (
        live is not None and live.state in ("plain", "nozfs")
    )
    h = {"/etc/containers/systemd/web.container": ""}
    assert push.differences(d, h, state).get(f"zfs:{DS}") == drift


def test_plan_says_nothing_when_no_unit_restarts_and_no_dataset_changes() -> None:
    state = LiveState(datasets={DS: LiveDataset("dataset", "g0")})
    assert data_plan(_desired(), state, {}) == []
    empty = push.Desired.of(FileSet(units=("web.service",)))
    assert data_plan(empty, LiveState(), {}) == []
    assert data_plan(empty, LiveState(), {"web.service": "restart"}) == [NO_DATASETS]


def test_remote_datasets_sh_is_shipped_in_the_tar(tmp_path: Path) -> None:
    import io
    import tarfile

    d = _desired()
    data = push.build_tar(d, {"/etc/containers/systemd/web.container": ""}, {}, "g1", 90, 5)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
    assert "datasets.sh" in names and "apply.sh" in names


def test_vm_test_says_in_one_line_that_snapshots_are_off() -> None:
    from homelab.host.stack import StackFiles, load_stack_config
    from homelab.program import snapshots_notice

    files = StackFiles(REPO)
    vm = load_stack_config("vm-test", files["vm-test"].values, REPO, files)
    assert snapshots_notice(vm) == (
        "snapshots are off on stack 'vm-test': no host.zfs_pool, so the `dataset` of rustfs "
        "is ignored and their data is a plain directory"
    )
    mouse = load_stack_config("mouse", files["mouse"].values, REPO, files)
    assert snapshots_notice(mouse) is None


def test_plan_has_no_data_section_when_no_dataset_is_touched() -> None:
    state = LiveState(datasets={DS: LiveDataset("dataset", "g0")})
    assert data_plan(_desired(), state, {"other.service": "restart"}) == []
