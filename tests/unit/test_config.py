"""Stack config: typed, validated once, with errors that name file, line and key."""

from pathlib import Path

import pytest
import yaml

from homelab.host.stack import ConfigError, load_stack_config, read_stack_file

REPO = Path(__file__).resolve().parents[2]


def _project(tmp_path: Path, mouse: dict, vm: dict | None = None) -> Path:
    (tmp_path / "containers").mkdir()
    (tmp_path / "Pulumi.mouse.yaml").write_text(yaml.safe_dump({"config": mouse}))
    if vm is not None:
        (tmp_path / "Pulumi.vm-test.yaml").write_text(yaml.safe_dump({"config": vm}))
    return tmp_path


def _load(project: Path, stack: str):
    return load_stack_config(stack, read_stack_file(project / f"Pulumi.{stack}.yaml"), project)


def test_repo_stacks_load():
    mouse = _load(REPO, "mouse")
    vm = _load(REPO, "vm-test")
    assert mouse.mode == "push" and mouse.host.production
    assert mouse.enabled == ["netdata", "rustfs"]
    assert vm.mode == "vm" and not vm.host.production
    assert vm.host.zfs_pool is None and vm.host.zfs_unit is None
    # vm-test mirrors mouse: same containers' settings, plus the planned ones enabled.
    assert vm.containers["rustfs"].secrets == mouse.containers["rustfs"].secrets
    assert vm.enabled == ["navidrome", "netdata", "rustfs", "syncthing", "tailscale"]
    assert vm.ssh is None and vm.host.ssh_authorized_keys == mouse.host.ssh_authorized_keys


def test_unknown_key_points_at_file_line_and_suggests(tmp_path):
    p = _project(
        tmp_path,
        {
            "homelab:host": {"hostname": "mouse"},
            "homelab:containers": {"rustfs": {"imagetag": "1"}},
        },
    )
    with pytest.raises(ConfigError) as e:
        _load(p, "mouse")
    msg = str(e.value)
    lines = (p / "Pulumi.mouse.yaml").read_text().splitlines()
    line_no = next(i for i, ln in enumerate(lines, 1) if "imagetag" in ln)
    assert f"Pulumi.mouse.yaml:{line_no}: homelab:containers.rustfs.imagetag" in msg
    assert "did you mean 'image_tag'?" in msg


@pytest.mark.parametrize(
    ("bad", "what"),
    [
        ("mouse\nExecStartPre=/bin/evil", "a newline"),
        ("tab\there", "a tab"),
        ("nul\0", "a NUL byte"),
    ],
)
def test_control_characters_rejected(tmp_path, bad, what):
    p = _project(
        tmp_path,
        {
            "homelab:host": {"hostname": "mouse"},
            "homelab:containers": {"rustfs": {"environment": {"A": bad}}},
        },
    )
    with pytest.raises(ConfigError) as e:
        _load(p, "mouse")
    assert "homelab:containers.rustfs.environment.A: the value holds " + what in str(e.value)
    assert "must be one line of plain text" in str(e.value)


def test_missing_required_key(tmp_path):
    p = _project(tmp_path, {"homelab:host": {"production": True}})
    with pytest.raises(ConfigError) as e:
        _load(p, "mouse")
    assert "homelab:host.hostname: required key is missing" in str(e.value)


def test_base_stack_inherits_host_not_target(tmp_path):
    mouse = {
        "homelab:host": {"hostname": "mouse", "timezone": "Europe/Berlin"},
        "homelab:ssh": {"host": "h", "host_key": "ssh-ed25519 AAAA"},
        "homelab:containers": {"rustfs": {"image_tag": "1.2"}},
    }
    vm = {
        "homelab:base_stack": "mouse",
        "homelab:host": {"hostname": "mouse-vm"},
        "homelab:containers": {"rustfs": {"memory_max": "1G"}},
    }
    p = _project(tmp_path, mouse, vm)
    cfg = _load(p, "vm-test")
    assert cfg.host.hostname == "mouse-vm" and cfg.host.timezone == "Europe/Berlin"
    assert cfg.containers["rustfs"].image_tag == "1.2"
    assert cfg.containers["rustfs"].memory_max == "1G"
    assert cfg.ssh is None


def test_base_stack_passes_on_push_settings(tmp_path):
    mouse = {
        "homelab:host": {"hostname": "mouse"},
        "homelab:push": {"health_timeout": 120, "confirm_timeout": 30},
    }
    child = {
        "homelab:base_stack": "mouse",
        "homelab:host": {"hostname": "mouse2"},
        "homelab:ssh": {"host": "h", "host_key": "ssh-ed25519 AAAA"},
        "homelab:push": {"settle": 9},
    }
    cfg = _load(_project(tmp_path, mouse, child), "vm-test")
    assert (cfg.push.health_timeout, cfg.push.settle, cfg.push.confirm_timeout) == (120, 9, 30)


def test_base_stack_blocks_inherited_exactly(tmp_path):
    # Every homelab: block is either inherited or not, by name; a new block must choose.
    from homelab.host.config import StackConfig
    from homelab.host.stack import INHERITED, NOT_INHERITED

    assert set(INHERITED) | set(NOT_INHERITED) == set(StackConfig.model_fields) - {"stack"}
    mouse = {
        "homelab:host": {"hostname": "mouse"},
        "homelab:ssh": {"host": "h", "host_key": "ssh-ed25519 AAAA"},
        "homelab:push": {"health_timeout": 120, "settle": 7},
        "homelab:vm": {"memory_mib": 2048},
    }
    child = {"homelab:base_stack": "mouse", "homelab:push": {"settle": 2}}
    cfg = _load(_project(tmp_path, mouse, child), "vm-test")
    assert (cfg.push.health_timeout, cfg.push.settle) == (120, 2)
    assert cfg.ssh is None and cfg.vm is None and cfg.base_stack == "mouse"


def test_missing_base_stack(tmp_path):
    p = _project(tmp_path, {"homelab:host": {"hostname": "m"}}, {"homelab:base_stack": "nope"})
    with pytest.raises(ConfigError, match=r"no stack file Pulumi\.nope\.yaml"):
        _load(p, "vm-test")


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("data_owner", "root", "numeric 'uid:gid'"),
        ("memory_max", "lots", "memory_max"),
        ("cpu_quota", "2 cores", "percentage"),
        ("image_tag", "bad tag", "not a valid image tag"),
    ],
)
def test_container_field_validation(tmp_path, field, value, needle):
    p = _project(
        tmp_path,
        {"homelab:host": {"hostname": "mouse"}, "homelab:containers": {"x": {field: value}}},
    )
    with pytest.raises(ConfigError) as e:
        _load(p, "mouse")
    assert needle in str(e.value) and f"homelab:containers.x.{field}" in str(e.value)


def test_host_key_must_be_pinned_shape(tmp_path):
    p = _project(
        tmp_path,
        {"homelab:host": {"hostname": "m"}, "homelab:ssh": {"host": "h", "host_key": "nokey"}},
    )
    with pytest.raises(ConfigError, match="ssh-keyscan"):
        _load(p, "mouse")


VM_OK = {
    "base_image": "https://example.org/fcos.qcow2.xz",
    "base_image_sha256": "ab" * 32,
}


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("network_cidr", "192.168.127.5/24", "has host bits set"),
        ("network_cidr", "10.0.0.0/30", "prefix from /8 to /29"),
        ("network_cidr", "8.8.8.0/24", "a private IPv4 network"),
        ("network_cidr", "fd00::/64", "must be an IPv4 network"),
        ("pool_path", "relative/pool", "must be an absolute path"),
        ("pool_path", "/var/lib/../../etc", "without '..'"),
        ("pool_path", "/etc", "is a system folder"),
        ("pool_path", "/var/lib/libvirt/images/", "is a system folder"),
        ("cache_dir", "cache", "must be an absolute path or start with '~/'"),
        ("cache_dir", "~/a b", "without '..' or spaces"),
        ("pool", "my pool;rm", "must be a libvirt pool name"),
    ],
)
def test_vm_values_reaching_libvirt_are_checked(tmp_path, field, value, needle):
    p = _project(
        tmp_path,
        {"homelab:host": {"hostname": "m"}},
        {"homelab:host": {"hostname": "v"}, "homelab:vm": {**VM_OK, field: value}},
    )
    with pytest.raises(ConfigError) as e:
        _load(p, "vm-test")
    lines = (p / "Pulumi.vm-test.yaml").read_text().splitlines()
    line_no = next(i for i, ln in enumerate(lines, 1) if ln.strip().startswith(f"{field}:"))
    assert f"Pulumi.vm-test.yaml:{line_no}: homelab:vm.{field}" in str(e.value)
    assert needle in str(e.value)


def test_vm_values_in_shape_are_kept(tmp_path):
    vm = {**VM_OK, "network_cidr": "10.42.0.0/24", "pool_path": "/srv/vm/pool/"}
    p = _project(tmp_path, {"homelab:host": {"hostname": "m"}},
                 {"homelab:host": {"hostname": "v"}, "homelab:vm": vm})  # fmt: skip
    cfg = _load(p, "vm-test").vm
    assert cfg is not None
    assert (cfg.network_cidr, cfg.pool_path, cfg.cache_dir) == (
        "10.42.0.0/24",
        "/srv/vm/pool",
        "~/.cache/homelab/images",
    )


def test_own_pool_is_refused_when_the_ignition_carries_secrets(tmp_path):
    vm = {
        "homelab:base_stack": "mouse",
        "homelab:host": {"hostname": "v", "secrets_in_ignition": True},
        "homelab:vm": {**VM_OK, "pool": "default"},
    }
    mouse = {
        "homelab:host": {"hostname": "m"},
        "homelab:containers": {"web": {"secrets": {"PW": "webPassword"}}},
    }
    p = _project(tmp_path, mouse, vm)
    (p / "containers" / "web.container").write_text("[Container]\nImage=x\n")
    with pytest.raises(ConfigError) as e:
        _load(p, "vm-test")
    lines = (p / "Pulumi.vm-test.yaml").read_text().splitlines()
    line_no = next(i for i, ln in enumerate(lines, 1) if ln.startswith("  homelab:vm:"))
    assert (
        f"Pulumi.vm-test.yaml:{line_no}: homelab:vm: pool 'default' with host.secrets_in_ignition"
        in str(e.value)
    )
    vm["homelab:host"]["secrets_in_ignition"] = False
    (tmp_path / "ok").mkdir()
    p = _project(tmp_path / "ok", mouse, vm)
    assert _load(p, "vm-test").vm.pool == "default"  # type: ignore[union-attr]
