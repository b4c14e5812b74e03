"""The host plan of the repository's own stacks, read through podman's real generator."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from homelab.host.layout import HostLayout, layout_host
from homelab.host.stack import StackFiles, load_stack_config
from homelab.tools import check_units

REPO = Path(__file__).resolve().parents[2]


def _layout(project: Path, stack: str) -> HostLayout:
    files = StackFiles(project)
    return layout_host(
        load_stack_config(stack, files[stack].values, project, files), project, files
    )


def _generated(plan: HostLayout) -> dict[str, str]:
    """service -> the systemd unit podman's generator makes of the planned file."""
    return dict(re.findall(r"^---(.+?)---\n(.*?)(?=^---|\Z)", check_units(plan), re.M | re.S))


def test_only_a_host_with_a_pool_waits_for_it():
    # vm-test has no pool: a unit requiring zfs-import-tank.service would never start there.
    vm = _generated(_layout(REPO, "vm-test"))
    assert len(vm) == 5
    assert not [s for s, text in vm.items() if "zfs-import" in text]
    mouse = _layout(REPO, "mouse")
    assert "/etc/systemd/system/zfs-import-tank.service" in {f.path for f in mouse.fileset.files}
    rustfs = _generated(mouse)["rustfs.service"]
    assert re.search(r"^Requires=.*zfs-import-tank\.service", rustfs, re.M)
    assert re.search(r"^After=.*zfs-import-tank\.service", rustfs, re.M)


def test_environment_override_reaches_podman_as_one_value(tmp_path):
    (tmp_path / "containers").mkdir()
    unit = (REPO / "containers" / "netdata.container").read_text()
    (tmp_path / "containers" / "netdata.container").write_text(unit)
    netdata = {"host_paths": ["/etc", "/proc", "/sys", "/var/log"]}
    netdata["environment"] = {"GREETING": "hello world", "QUOTE": 'say "hi"'}
    config = {"homelab:host": {"hostname": "h", "production": False, "zfs_pool": None}}
    config["homelab:containers"] = {"netdata": netdata}
    (tmp_path / "Pulumi.t.yaml").write_text(yaml.safe_dump({"config": config}))
    service = _generated(_layout(tmp_path, "t"))["netdata.service"]
    exec_start = next(ln for ln in service.splitlines() if ln.startswith("ExecStart="))
    assert '--env "GREETING=hello world"' in exec_start
    assert '--env "QUOTE=say \\"hi\\""' in exec_start
