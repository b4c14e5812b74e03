"""The host layout's own checks and files (homelab.host.layout), asserted as users see them:
each refusal as its whole `FILE:LINE: key: message` line (ports two containers or the host's
SSH fight over, data directories two containers share, a dataset that holds no data), and
the files and directories the host gets, whole. Small projects through load_stack_config +
layout_host (test_bad_input's helpers)."""

from __future__ import annotations

import pytest

from homelab.host.layout import LayoutError, layout_host
from homelab.host.stack import StackFiles, load_stack_config
from homelab.host.system import CORE_KEYS_FILE, zfs_import_unit
from tests.unit.test_bad_input import good, plan, problems, project

VOL = "Volume=/var/tank/services/web/data:/data:Z\n"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICjmq1k7aYIOE1js5mF1eA6b8r8ZCXSrsplOdUxF20t4"
IN_USE = "the later one would fail to start (address already in use): change one of them"


def unit(name: str, port: str = "8080:80", vols: str | None = None, extra: str = "") -> str:
    text = good(name).replace("PublishPort=8080:80", f"PublishPort={port}")
    if vols is not None:
        text = text.replace(f"Volume=/var/tank/services/{name}/data:/data:Z\n", vols)
    return text.replace("[Container]\n", "[Container]\n" + extra)


def lines(tmp_path, units: dict[str, str], containers: dict | None = None, host=None):
    containers = containers if containers is not None else {n: {} for n in units}
    return problems(project(tmp_path, units, containers, host)).splitlines()


# --- ports ------------------------------------------------------------------------------------


def test_the_hosts_ssh_port(tmp_path):
    assert lines(tmp_path, {"web": unit("web", "22:80")}) == [
        "containers/web.container:9: PublishPort: host port 22/tcp is the host's SSH port; a "
        "container there would take SSH away from the host, or fail to start: choose another "
        "port"
    ]


def test_the_ssh_port_the_stack_sets(tmp_path):
    p = project(tmp_path, {"web": unit("web", "2222:80")}, {"web": {}})
    text = (p / "Pulumi.mouse.yaml").read_text()
    ssh = f"  homelab:ssh:\n    host: mouse.lan\n    port: 2222\n    host_key: {KEY}\n"
    (p / "Pulumi.mouse.yaml").write_text(text + ssh)
    assert problems(p).splitlines() == [
        "containers/web.container:9: PublishPort: host port 2222/tcp is the host's SSH port; a "
        "container there would take SSH away from the host, or fail to start: choose another "
        "port"
    ]
    # Port 22 is then a container's to use.
    (p / "containers" / "web.container").write_text(unit("web", "22:80"))
    assert [c.ports for c in plan(p).containers] == [("22:80/tcp",)]


def test_a_port_published_twice_by_one_container(tmp_path):
    text = unit("web", "127.0.0.1:8080:80\nPublishPort=127.0.0.1:8080:81")
    assert lines(tmp_path, {"web": text}) == [
        "containers/web.container:10: PublishPort: host port 8080/tcp on 127.0.0.1 clashes "
        "with 8080/tcp on 127.0.0.1, published by this container at "
        f"containers/web.container:9; {IN_USE}"
    ]


def test_every_address_clashes_with_one_address(tmp_path):
    units = {"api": unit("api", "127.0.0.1:8080:80"), "web": unit("web")}
    assert lines(tmp_path, units) == [
        "containers/web.container:9: PublishPort: host port 8080/tcp on every address clashes "
        "with 8080/tcp on 127.0.0.1, published by 'api' at containers/api.container:9; "
        f"{IN_USE}"
    ]


def test_a_bind_of_the_other_protocol_does_not_hide_a_later_clash(tmp_path):
    # api: 8080/udp; db: 8080/tcp; web: 8080/tcp clashes with db's (not api's).
    units = {
        "api": unit("api", "8080:80/udp"),
        "db": unit("db", "8080:80"),
        "web": unit("web", "8080:80"),
    }
    assert lines(tmp_path, units) == [
        "containers/web.container:9: PublishPort: host port 8080/tcp on every address clashes "
        f"with 8080/tcp on every address, published by 'db' at containers/db.container:9; "
        f"{IN_USE}"
    ]


def test_a_bind_on_another_address_does_not_hide_a_later_clash(tmp_path):
    # api: 127.0.0.1; db: 127.0.0.2; web: 127.0.0.2 clashes with db's (not api's).
    units = {
        "api": unit("api", "127.0.0.1:8080:80"),
        "db": unit("db", "127.0.0.2:8080:80"),
        "web": unit("web", "127.0.0.2:8080:80"),
    }
    assert lines(tmp_path, units) == [
        "containers/web.container:9: PublishPort: host port 8080/tcp on 127.0.0.2 clashes with "
        f"8080/tcp on 127.0.0.2, published by 'db' at containers/db.container:9; {IN_USE}"
    ]


# --- shared data directories -----------------------------------------------------------------


def test_a_shared_directory_two_owners_or_a_private_label(tmp_path):
    shared = "/var/tank/services/shared"
    # api mounts its own data first, then the shared one; web mounts the shared one (another
    # owner) and a second shared one with :Z.
    api_vols = f"Volume=/var/tank/services/api/data:/data:Z\nVolume={shared}:/s:z\n"
    api = unit("api", "9090:80", vols=api_vols + f"Volume={shared}2:/t:Z\n")
    web_vols = f"Volume={shared}2:/t:Z\nVolume={shared}:/s:z\n"
    web = unit("web", vols=web_vols)
    web_owned = unit("web", vols=web_vols, extra="User=1000\n")
    # Same owner (root): only the private label on shared2 is refused.
    assert lines(tmp_path, {"api": api, "web": web}) == [
        f"containers/web.container:10: Volume: data directory {shared}2 is also mounted by "
        "'api'; :Z gives it a label private to one container: use :z on both"
    ]
    # Another owner: both directories, each at its line.
    assert lines(tmp_path, {"api": api, "web": web_owned}) == [
        f"containers/web.container:11: Volume: data directory {shared}2 is also mounted by "
        "'api', owned 0:0 there and 1000:1000 here; give both the same data_owner, or use a "
        "directory each",
        f"containers/web.container:12: Volume: data directory {shared} is also mounted by "
        "'api', owned 0:0 there and 1000:1000 here; give both the same data_owner, or use a "
        "directory each",
    ]


def test_a_shared_directory_fine_then_one_that_is_not(tmp_path):
    shared = "/var/tank/services/shared"
    api = unit("api", "9090:80", vols=f"Volume={shared}:/s:z\nVolume={shared}2:/t:z\n")
    web = unit("web", vols=f"Volume={shared}:/s:z\nVolume={shared}2:/t:Z\n")
    assert lines(tmp_path, {"api": api, "web": web}) == [
        f"containers/web.container:11: Volume: data directory {shared}2 is also mounted by "
        "'api'; :Z gives it a label private to one container: use :z on both"
    ]


# --- datasets ---------------------------------------------------------------------------------


def test_a_dataset_that_holds_none_of_the_containers_data(tmp_path):
    units = {
        "api": unit("api", "9090:80", vols=""),
        "web": unit(
            "web",
            vols="Volume=/var/tank/services/shared/web:/data:Z\n"
            "Volume=/var/tank/services/shared/web2:/data2:Z\n",
        ),
    }
    containers = {"api": {"dataset": {}}, "web": {"dataset": {"compression": "lz4"}}}
    # api: line 6, its dataset: 7; web: 8, its dataset: 9
    assert lines(tmp_path, units, containers) == [
        "Pulumi.mouse.yaml:7: homelab:containers.api.dataset: 'api' has a dataset at "
        "/var/tank/services/api but mounts no data directory under it (its data: none); remove "
        "`dataset` or mount its data there",
        "Pulumi.mouse.yaml:9: homelab:containers.web.dataset: 'web' has a dataset at "
        "/var/tank/services/web but mounts no data directory under it (its data: "
        "/var/tank/services/shared/web, /var/tank/services/shared/web2); remove `dataset` or "
        "mount its data there",
    ]


def test_the_stack_files_are_read_again_when_not_given(tmp_path):
    units = {"api": unit("api", vols="")}
    p = project(tmp_path, units, {"api": {"dataset": {}}})
    files = StackFiles(p)
    cfg = load_stack_config("mouse", files["mouse"].values, p, files)
    with pytest.raises(LayoutError) as exc:
        layout_host(cfg, p)
    assert exc.value.problems == [
        "Pulumi.mouse.yaml:7: homelab:containers.api.dataset: 'api' has a dataset at "
        "/var/tank/services/api but mounts no data directory under it (its data: none); remove "
        "`dataset` or mount its data there"
    ]


@pytest.mark.real_images_lock
def test_a_malformed_images_lock(tmp_path):
    p = project(tmp_path, {"web": good()}, {"web": {}})
    (p / "images.lock").write_text("not a lock line\n")
    assert problems(p).splitlines() == [
        "images.lock:1: expected `REGISTRY/PATH:TAG sha256:HEX OS/ARCH`, got 'not a lock line'; "
        "run `homelab images lock` (it asks the registry) and commit images.lock"
    ]


# --- what the host gets -----------------------------------------------------------------------


def test_nested_data_directories_and_their_parents(tmp_path):
    vols = "Volume=/var/tank/services/web/a/b/c:/c:Z\nVolume=/var/tank/services/web/d:/d:Z\n"
    fs = plan(project(tmp_path, {"web": unit("web", vols=vols)}, {"web": {}})).fileset
    assert [(d.path, d.mode, d.uid, d.gid, d.in_ignition) for d in fs.dirs] == [
        ("/var/tank/services", 0o755, 0, 0, False),
        ("/var/tank/services/web", 0o755, 0, 0, False),
        ("/var/tank/services/web/a", 0o755, 0, 0, False),
        ("/var/tank/services/web/a/b", 0o755, 0, 0, False),
        ("/var/tank/services/web/a/b/c", 0o750, 0, 0, False),
        ("/var/tank/services/web/d", 0o750, 0, 0, False),
    ]


@pytest.mark.parametrize("in_ignition", [False, True])
def test_the_hosts_files(tmp_path, in_ignition):
    host = {"ssh_authorized_keys": [KEY + " a@x", KEY + " b@y"], "secrets_in_ignition": in_ignition}
    p = project(tmp_path, {"web": good()}, {"web": {"secrets": {"TOKEN": "webToken"}}}, host)
    files = {f.path: f for f in plan(p).fileset.files}
    assert files[CORE_KEYS_FILE].content == f"{KEY} a@x\n{KEY} b@y\n"
    env = files["/etc/homelab/env/web.env"]
    assert (env.mode, env.in_ignition, env.secret_env) == (
        0o600,
        in_ignition,
        (("TOKEN", "webToken"),),
    )
    assert files["/etc/systemd/system/zfs-import-tank.service"].content == zfs_import_unit("tank")
    assert "tank" in zfs_import_unit("tank") and zfs_import_unit("tank") != zfs_import_unit("x")
