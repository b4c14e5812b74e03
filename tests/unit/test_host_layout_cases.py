"""Host layout decisions a user relies on, each from a small real project through
load_stack_config + layout_host: read-only host paths, the data owner of a `User=` without a
group, dual-stack `[::]`, a private label on a shared data directory, the secret env file."""

from __future__ import annotations

from tests.unit.test_bad_input import good, plan, problems, project

VOL = "Volume=/var/tank/services/web/data:/data:Z\n"


def test_a_host_path_is_mounted_read_only_or_refused(tmp_path):
    rw = good().replace(VOL, VOL + "Volume=/srv/media:/media\n")
    msg = problems(project(tmp_path, {"web": rw}, {"web": {"host_paths": ["/srv/media"]}}))
    assert "host path '/srv/media' must be mounted read-only (:ro)" in msg
    ro = good().replace(VOL, VOL + "Volume=/srv/media:/media:ro\n")
    p = project(tmp_path, {"web": ro}, {"web": {"host_paths": ["/srv/media"]}})
    (c,) = plan(p).containers
    assert "Volume=/srv/media:/media:ro\n" in c.text
    assert c.data_dirs == ("/var/tank/services/web/data",)  # a host path is no data dir


def test_user_without_a_group_owns_its_data_with_its_own_gid(tmp_path):
    text = good().replace("[Container]\n", "[Container]\nUser=1000\n")
    fs = plan(project(tmp_path, {"web": text}, {"web": {}})).fileset
    (d,) = [d for d in fs.dirs if d.path == "/var/tank/services/web/data"]
    assert (d.uid, d.gid, d.mode) == (1000, 1000, 0o750)
    text = good().replace("[Container]\n", "[Container]\nUser=1000:100\n")
    fs = plan(project(tmp_path, {"web": text}, {"web": {}})).fileset
    (d,) = [d for d in fs.dirs if d.path == "/var/tank/services/web/data"]
    assert (d.uid, d.gid) == (1000, 100)
    parent = next(x for x in fs.dirs if x.path == "/var/tank/services/web")
    assert (parent.uid, parent.gid, parent.mode) == (0, 0, 0o755)  # parents stay root's


def test_data_owner_wins_over_user(tmp_path):
    text = good().replace("[Container]\n", "[Container]\nUser=1000\n")
    p = project(tmp_path, {"web": text}, {"web": {"data_owner": "10001:10002"}})
    (d,) = [d for d in plan(p).fileset.dirs if d.path == "/var/tank/services/web/data"]
    assert (d.uid, d.gid) == (10001, 10002)


def _two(tmp_path, a: str, b: str):
    web = good("web").replace("PublishPort=8080:80", f"PublishPort={a}")
    api = good("api").replace("PublishPort=8080:80", f"PublishPort={b}")
    return project(tmp_path, {"web": web, "api": api}, {"web": {}, "api": {}})


def test_ipv6_any_is_dual_stack_and_clashes_with_an_ipv4_bind(tmp_path):
    for a, b in [("[::]:8080:80", "192.168.1.2:8080:80"), ("192.168.1.2:8080:80", "[::]:8080:80")]:
        msg = problems(_two(tmp_path, a, b))
        assert "8080/tcp" in msg and "address already in use" in msg, (a, b)


def test_ipv4_any_does_not_take_an_ipv6_address(tmp_path):
    p = _two(tmp_path, "0.0.0.0:8080:80", "[fd00::1]:8080:80")
    assert len(plan(p).containers) == 2
    p = _two(tmp_path, "192.168.1.2:8080:80", "192.168.1.3:8080:80")
    assert len(plan(p).containers) == 2
    assert "address already in use" in problems(
        _two(tmp_path, "0.0.0.0:8080:80", "10.0.0.1:8080:80")
    )


def _shared(tmp_path, first: str, later: str):
    shared = "/var/tank/services/shared"
    web = good("web").replace(VOL, f"Volume={shared}:/shared:{first}\n")
    api = good("api").replace(VOL.replace("web", "api"), f"Volume={shared}:/shared:{later}\n")
    api = api.replace("PublishPort=8080:80", "PublishPort=8081:80")
    return project(tmp_path, {"web": web, "api": api}, {"web": {}, "api": {}})


def test_a_private_label_on_a_shared_data_dir_is_refused_wherever_it_is(tmp_path):
    for first, later in [("z", "Z"), ("Z", "z"), ("Z", "Z")]:
        msg = problems(_shared(tmp_path, first, later))
        assert msg.count("is also mounted by") == 1, (first, later)
        assert "data directory /var/tank/services/shared is also mounted by" in msg
        assert ":Z gives it a label private to one container: use :z on both" in msg
    assert len(plan(_shared(tmp_path, "z", "z")).containers) == 2


def test_the_secret_env_file_is_root_only(tmp_path):
    p = project(tmp_path, {"web": good()}, {"web": {"secrets": {"WEB_TOKEN": "webToken"}}})
    (env,) = [f for f in plan(p).fileset.files if f.path == "/etc/homelab/env/web.env"]
    assert (env.mode, env.uid, env.gid) == (0o600, 0, 0)
    assert env.secret_env == (("WEB_TOKEN", "webToken"),) and env.units == ("web.service",)


def test_an_ipv4_mapped_address_is_the_ipv4_address(tmp_path):
    for a, b in [("[::ffff:192.168.1.2]:8080:80", "192.168.1.2:8080:80"),
                 ("192.168.1.2:8080:80", "[::ffff:192.168.1.2]:8080:80"),
                 ("127.0.0.1:8080:80", "127.0.0.1:8080:80")]:  # fmt: skip
        assert "address already in use" in problems(_two(tmp_path, a, b)), (a, b)


def test_every_clash_is_reported_not_only_the_first(tmp_path):
    web = good("web").replace("PublishPort=8080:80", "PublishPort=8080:80\nPublishPort=8081:81")
    api = good("api").replace("PublishPort=8080:80", "PublishPort=8080:80\nPublishPort=8081:81")
    api = api.replace(VOL.replace("web", "api"), "Volume=/var/tank/services/api/data:/data:Z\n")
    msg = problems(project(tmp_path, {"web": web, "api": api}, {"web": {}, "api": {}}))
    assert "host port 8080/tcp" in msg and "host port 8081/tcp" in msg, msg
    assert msg.count("address already in use") == 2


def test_the_hosts_ssh_port_is_refused_and_other_protocols_do_not_clash(tmp_path):
    text = good().replace("PublishPort=8080:80", "PublishPort=22:22")
    msg = problems(project(tmp_path, {"web": text}, {"web": {}}))
    assert "host port 22/tcp is the host's SSH port" in msg
    p = _two(tmp_path, "8080:80/udp", "8080:80")
    assert len(plan(p).containers) == 2  # udp and tcp share a port number freely


def test_a_shared_dir_with_two_owners_names_both(tmp_path):
    shared = "/var/tank/services/shared"
    web = good("web").replace(VOL, f"Volume={shared}:/shared:z\n")
    api = good("api").replace(VOL.replace("web", "api"), f"Volume={shared}:/shared:z\n")
    api = api.replace("PublishPort=8080:80", "PublishPort=8081:80")
    p = project(
        tmp_path,
        {"web": web, "api": api},
        {"web": {"data_owner": "1:2"}, "api": {"data_owner": "3:4"}},
    )
    msg = problems(p)
    assert f"data directory {shared} is also mounted by" in msg
    assert ("owned 3:4 there and 1:2 here" in msg) or ("owned 1:2 there and 3:4 here" in msg), msg


KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICjmq1k7aYIOE1js5mF1eA6b8r8ZCXSrsplOdUxF20t4 me@laptop"


def test_the_hosts_own_files_links_and_dirs(tmp_path):
    host = {
        "hostname": "mouse",
        "timezone": "Europe/Berlin",
        "zfs_pool": "tank",
        "ssh_authorized_keys": [KEY],
        "core_uid": 1001,
        "auto_rebase": {"enabled": True, "image": "ghcr.io/ublue-os/ucore:stable"},
    }
    secrets = {"web": {"secrets": {"WEB_TOKEN": "webToken"}}}
    fs = plan(project(tmp_path, {"web": good()}, secrets, host)).fileset
    by = {f.path: f for f in fs.files}
    assert by["/etc/hostname"].content == "mouse\n"
    keys = by["/home/core/.ssh/authorized_keys.d/ignition"]
    assert (keys.content, keys.mode, keys.uid, keys.gid) == (KEY + "\n", 0o600, 1001, 1001)
    helper = by["/etc/homelab/bin/podman-secrets"]
    assert helper.mode == 0o755 and helper.content.startswith("#!")
    unit = by["/etc/containers/systemd/web.container"]
    assert (unit.mode, unit.units) == (0o644, ("web.service",)) and "[Container]" in unit.content
    assert "zpool import" in by["/etc/systemd/system/zfs-import-tank.service"].content
    rebase = [p for p in by if "autorebase" in p]
    assert rebase == [
        "/etc/systemd/system/ucore-signed-autorebase.service",
        "/etc/systemd/system/ucore-unsigned-autorebase.service",
    ]
    assert "ostree-image-signed:docker://ghcr.io/ublue-os/ucore:stable" in by[rebase[0]].content
    assert [(ln.path, ln.target) for ln in fs.links] == [
        ("/etc/localtime", "../usr/share/zoneinfo/Europe/Berlin"),
        *[
            (f"/etc/systemd/system/multi-user.target.wants/ucore-{k}-autorebase.service",
             f"/etc/systemd/system/ucore-{k}-autorebase.service")
            for k in ("signed", "unsigned")
        ],
    ]  # fmt: skip
    # On a pool: the data dirs come after Ignition (the pool is imported later).
    assert [(d.path, d.mode, d.uid, d.in_ignition) for d in fs.dirs] == [
        ("/var/tank/services", 0o755, 0, False),
        ("/var/tank/services/web", 0o755, 0, False),
        ("/var/tank/services/web/data", 0o750, 0, False),
    ]
    assert fs.units == ("web.service",) and fs.secret_names == ("webToken",)


def test_without_a_pool_the_data_dirs_are_in_ignition(tmp_path):
    fs = plan(project(tmp_path, {"web": good()}, {"web": {}}, {"zfs_pool": None})).fileset
    assert [(d.path, d.in_ignition) for d in fs.dirs] == [
        ("/var/tank/services", True),
        ("/var/tank/services/web", True),
        ("/var/tank/services/web/data", True),
    ]
    assert not any("autorebase" in f.path or "zfs-import" in f.path for f in fs.files)
    assert [ln.path for ln in fs.links] == ["/etc/localtime"]


def _named(tmp_path, web_extra: str, api_extra: str):
    """web and api; api is laid out first (names in order), so web's line is reported."""
    web = good("web").replace("ContainerName=web\n", web_extra)
    api = good("api").replace("ContainerName=api\n", api_extra)
    api = api.replace("PublishPort=8080:80", "PublishPort=8081:80")
    return project(tmp_path, {"web": web, "api": api}, {"web": {}, "api": {}}), web


def test_a_name_used_twice_is_reported_where_it_comes_from(tmp_path):
    # From ServiceName= (podman names the container systemd-%N): at that line.
    p, web = _named(tmp_path, "ServiceName=shared\n", "ServiceName=shared\n")
    line = next(i for i, ln in enumerate(web.splitlines(), 1) if ln == "ServiceName=shared")
    assert (
        f"containers/web.container:{line}: ContainerName: container name 'systemd-shared' is "
        "also used by 'api'; names must be unique"
    ) in problems(p)
    # From the file's own name: at its [Container] section.
    p, web = _named(tmp_path, "", "ContainerName=systemd-web\n")
    line = next(i for i, ln in enumerate(web.splitlines(), 1) if ln == "[Container]")
    assert (
        f"containers/web.container:{line}: ContainerName: container name 'systemd-web' is "
        "also used by 'api'; names must be unique"
    ) in problems(p)


def test_the_sim_hosts_import_unit_is_the_one_homelab_writes():
    # scripts/sim-host bakes mouse's import unit into the adopted host; a copy that drifts
    # from homelab's would test a unit mouse never gets.
    from pathlib import Path

    from homelab.host.system import zfs_import_unit

    sim = (Path(__file__).resolve().parents[2] / "scripts" / "sim-host").read_text()
    body = sim.split("zfs-import-tank.service\" <<'EOF2'\n", 1)[1].split("EOF2\n", 1)[0]
    assert body == zfs_import_unit("tank")


def test_the_import_unit_is_active_when_the_pool_was_imported_before_it():
    # From the second boot on, zfs-import-cache.service (zfs-fuse's daemon in the simulation)
    # has imported the pool: the unit must still succeed (active), not be skipped.
    from homelab.host.system import zfs_import_unit

    unit = zfs_import_unit("tank")
    assert "ExecCondition" not in unit
    assert "After=systemd-udev-settle.service zfs-import-cache.service\n" in unit
    assert "zpool list tank >/dev/null 2>&1 || exec /usr/sbin/zpool import tank'" in unit
