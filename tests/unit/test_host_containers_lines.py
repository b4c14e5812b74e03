"""One container laid out (homelab.host.containers), asserted as users see it: every refusal
as its whole `FILE:LINE: key: message` line, the lines in the order `build` prints them, and
the unit file the host gets, whole. Small projects through load_stack_config + layout_host
(test_bad_input's helpers), a few ms each; the hostile-input table covers the e2e side.

The stack file the helper writes is `yaml.safe_dump` of {config: {homelab:host: {hostname,
production, ...}, homelab:containers: {NAME: {...}}}}: `config:` is line 1, `homelab:host:`
line 2, and with the two host keys the first container's name is line 6, its first key
line 7, and the items of its first list start on line 8."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from homelab.host.config import ContainerConfig, HostConfig
from homelab.host.containers import check_unit
from homelab.host.layout import layout_host
from homelab.host.problems import Problems
from homelab.host.stack import StackFiles, load_stack_config
from tests.unit.test_bad_input import good, line_of, plan, problems, project

VOL = "Volume=/var/tank/services/web/data:/data:Z\n"
POOL_DEPS = (
    "After=network-online.target zfs-import-tank.service\nRequires=zfs-import-tank.service\n"
)
F = "containers/web.container"
S = "Pulumi.mouse.yaml"
DIGEST = "sha256:6bafc07b9d639f3759bc2d5a61c6d83441696e8d6ed7bd22601608ab7c9cf3ae"  # conftest's
UNPINNED = "is not pinned: production rejects :latest or no tag; pin a version tag or a digest"


def at(text: str, needle: str) -> str:
    """`containers/web.container:LINE` of the first line of `text` holding `needle`."""
    return f"{F}:{line_of(text, needle)}"


def lines(tmp_path: Path, units: dict[str, str], containers: dict, host: dict | None = None):
    return problems(project(tmp_path, units, containers, host)).splitlines()


def text_of(tmp_path: Path, units: dict[str, str], containers: dict, host: dict | None = None):
    (c, *_) = plan(project(tmp_path, units, containers, host)).containers
    return c.text


def web(old: str = "", new: str = "") -> str:
    return good().replace(old, new) if old else good()


# --- refusals in the unit file, each at its line ---------------------------------------------


def test_a_user_out_of_range_is_refused_at_its_line(tmp_path):
    text = web("[Container]\n", "[Container]\nUser=4294967295:1\n")
    assert lines(tmp_path, {"web": text}, {"web": {}}) == [
        f"{at(text, 'User=')}: User: uid and gid must be at most 4294967294"
    ]


def test_a_dependency_on_a_unit_not_deployed_beside_it(tmp_path):
    # The host's podman sees the enabled containers only: db.container is not among them.
    text = web("[Unit]\n", "[Unit]\nAfter=db.container\n")
    assert lines(tmp_path, {"web": text, "db": good("db", 9090)}, {"web": {}}) == [
        f"{at(text, 'After=db')}: unable to translate dependency for db.container: "
        "no such Quadlet unit beside this one"
    ]
    # Enabled beside it: fine.
    p = project(tmp_path, {"web": text, "db": good("db", 9090)}, {"web": {}, "db": {}})
    assert [c.name for c in plan(p).containers] == ["db", "web"]


def test_an_unpinned_image_in_the_file_on_production(tmp_path):
    text = web("web:1.0", "web:latest")
    assert lines(tmp_path, {"web": text}, {"web": {}}) == [
        f"{at(text, 'Image=')}: Image: image docker.io/library/web:latest {UNPINNED}"
    ]


def test_restart_missing_is_reported_at_the_service_section(tmp_path):
    text = web("Restart=on-failure\n")
    assert lines(tmp_path, {"web": text}, {"web": {}}) == [
        f"{at(text, '[Service]')}: Restart: set Restart=on-failure (or always) in [Service] "
        "(best practice: restart a failed container)"
    ]


def test_data_on_the_pool_needs_the_import_before_it(tmp_path):
    neither = web(POOL_DEPS)
    assert lines(tmp_path, {"web": neither}, {"web": {}}) == [
        f"{F}:1: After/Requires: data lives on the ZFS pool: add zfs-import-tank.service to "
        "After= and Requires= in [Unit]"
    ]
    # Only Requires= missing: where to add it is the [Unit] header, not After='s line.
    after_only = "# web\n" + web("Requires=zfs-import-tank.service\n")
    assert lines(tmp_path, {"web": after_only}, {"web": {}}) == [
        f"{F}:2: Requires: data lives on the ZFS pool: add zfs-import-tank.service to "
        "Requires= in [Unit]"
    ]
    # Requires= there, After= set without the pool: reported at After='s line.
    text = web("After=network-online.target zfs-import-tank.service", "After=network-online.target")
    text = text.replace("[Unit]\n", "[Unit]\nWants=x.service\n")
    assert lines(tmp_path, {"web": text}, {"web": {}}) == [
        f"{at(text, 'After=')}: After: data lives on the ZFS pool: add zfs-import-tank.service "
        "to After= in [Unit]"
    ]


def test_no_pool_ordering_needed_without_data_on_the_pool(tmp_path):
    text = web(POOL_DEPS).replace(VOL, "")
    assert text_of(tmp_path, {"web": text}, {"web": {}}) == (
        "[Unit]\nDescription=web\n\n[Container]\n"
        f"Image=docker.io/library/web:1.0@{DIGEST}\nContainerName=web\nPublishPort=8080:80\n\n"
        "[Service]\nRestart=on-failure\n\n[Install]\nWantedBy=multi-user.target\n"
    )


def test_autoupdate_registry_next_to_a_locked_digest(tmp_path):
    text = web("[Container]\n", "[Container]\nAutoUpdate=registry\n")
    assert lines(tmp_path, {"web": text}, {"web": {}}) == [
        f"{at(text, 'AutoUpdate=')}: AutoUpdate: AutoUpdate=registry would replace the image "
        "images.lock pins; remove it and update with `homelab images outdated` / "
        "`homelab images update NAME`"
    ]


def test_every_bad_published_port_of_the_file_at_its_line(tmp_path):
    text = web(
        "PublishPort=8080:80",
        "PublishPort=localhost:8080:80\nPublishPort=[fe80::1%eth0]:8081:80",
    )
    assert lines(tmp_path, {"web": text}, {"web": {}}) == [
        f"{at(text, 'localhost')}: PublishPort: host address 'localhost' is not an IP address; "
        "write e.g. 127.0.0.1:8080:80",
        f"{at(text, 'fe80')}: PublishPort: host address 'fe80::1%eth0' has a zone (%eth0), "
        "which systemd would read as a specifier; publish on an address without one",
    ]


def test_every_bad_volume_of_the_file_at_its_line(tmp_path):
    vols = (
        "Volume=data/x:/a:Z\nVolume=%h/data:/b:Z\nVolume=/var/tank/services/%i:/c:Z\n"
        "Volume=/var/tank/../etc:/d:Z\nVolume=/var/tank/services:/e:Z\nVolume=/srv/media:/f\n"
    )
    text = web(VOL, vols)
    root = "/var/tank/services"
    assert lines(tmp_path, {"web": text}, {"web": {}}) == [
        f"{at(text, 'data/x')}: Volume: volume source 'data/x' is relative; use an absolute "
        f"path under {root}",
        f"{at(text, '%h')}: Volume: volume source '%h/data' starts with a systemd specifier; "
        f"homelab creates the data directories, so write the path out under {root}",
        f"{at(text, '%i')}: Volume: volume source '/var/tank/services/%i' holds '%', a systemd "
        "specifier; homelab creates the data directories, so use a path without it",
        f"{at(text, '..')}: Volume: volume source '/var/tank/../etc' contains '..' or '.'; "
        "write the plain absolute path",
        f"{at(text, ':/e')}: Volume: volume source '{root}' is the volume root itself; mount a "
        f"directory of its own under it, e.g. {root}/web/data",
        f"{at(text, '/srv/media')}: Volume: volume source '/srv/media' lies outside the volume "
        f"root {root}; move the data under it, or allow it read-only with "
        "homelab:containers.web.host_paths",
    ]


def test_volumes_under_another_volume_root(tmp_path):
    text = web(VOL, "Volume=data/x:/a:Z\nVolume=%h/data:/b:Z\nVolume=/srv/data:/e:Z\n")
    got = lines(
        tmp_path,
        {"web": text},
        {"web": {"volumes": ["/srv/data/web/ok:/ok:Z", "/srv/data:/root:Z"]}},
        {"volume_root": "/srv/data"},
    )
    assert got == [
        f"{at(text, 'data/x')}: Volume: volume source 'data/x' is relative; use an absolute "
        "path under /srv/data",
        f"{at(text, '%h')}: Volume: volume source '%h/data' starts with a systemd specifier; "
        "homelab creates the data directories, so write the path out under /srv/data",
        f"{at(text, ':/e')}: Volume: volume source '/srv/data' is the volume root itself; "
        "mount a directory of its own under it, e.g. /srv/data/web/data",
        # three host keys: web: is line 7, volumes: 8, its items 9 and 10
        f"{S}:10: homelab:containers.web.volumes[1]: volume source '/srv/data' is the volume "
        "root itself; mount a directory of its own under it, e.g. /srv/data/web/data",
    ]


def test_problems_of_one_file_in_line_order_files_in_the_stacks_order(tmp_path):
    # Containers in name order (api, web), each file's problems in line order: podman's own
    # error (an unknown key, line 9) before the house rule (Restart=no, line 14) in web's,
    # api's line 13 first all the same.
    web_text = web("ContainerName=web\n", "ContainerName=web\nFoo=bar\n")
    web_text = web_text.replace("Restart=on-failure", "Restart=no")
    api_text = good("api", 9090).replace("Restart=on-failure", "Restart=no")
    got = lines(tmp_path, {"web": web_text, "api": api_text}, {"web": {}, "api": {}})
    restart = (
        "Restart: set Restart=on-failure (or always) in [Service] (best practice: restart a "
        "failed container)"
    )
    assert got == [
        f"containers/api.container:13: {restart}",
        f"{at(web_text, 'Foo=')}: unknown key 'Foo' in [Container]",
        f"{at(web_text, 'Restart=')}: {restart}",
    ]


def test_a_refused_container_is_left_out_of_the_cross_checks(tmp_path):
    # web is refused (Restart=no): its port is not also reported as clashing with api's.
    web_text = web("Restart=on-failure", "Restart=no")
    got = lines(tmp_path, {"web": web_text, "api": good("api")}, {"web": {}, "api": {}})
    assert got == [
        f"{at(web_text, 'Restart=')}: Restart: set Restart=on-failure (or always) in [Service] "
        "(best practice: restart a failed container)"
    ]


# --- refusals of a stack value, at its key ----------------------------------------------------


def test_a_short_image_override(tmp_path):
    assert lines(tmp_path, {"web": good()}, {"web": {"image": "web:1.0"}}) == [
        f'{S}:7: homelab:containers.web.image: specifies the image "web:1.0" which not a fully '
        "qualified image name (short names are resolved by a registry search; name the "
        "registry, e.g. docker.io/web:1.0)"
    ]


def test_an_unpinned_override_is_refused_at_the_key_that_sets_it(tmp_path):
    image = {"image": "docker.io/library/web:latest"}
    assert lines(tmp_path, {"web": good()}, {"web": image}) == [
        f"{S}:7: homelab:containers.web.image: image docker.io/library/web:latest {UNPINNED}"
    ]
    assert lines(tmp_path, {"web": good()}, {"web": {"image_tag": "latest"}}) == [
        f"{S}:7: homelab:containers.web.image_tag: image docker.io/library/web:latest {UNPINNED}"
    ]


def test_a_file_image_is_linted_once(tmp_path):
    # The file's own short name is podman's (lint) to report, not reported twice.
    text = web("docker.io/library/web:1.0", "web:1.0")
    assert lines(tmp_path, {"web": text}, {"web": {}}) == [
        f'{at(text, "Image=")}: specifies the image "web:1.0" which not a fully '
        "qualified image name (short names are resolved by a registry search; name the "
        "registry, e.g. docker.io/web:1.0)"
    ]


def test_every_bad_published_port_of_the_stack_at_its_item(tmp_path):
    ports = ["localhost:8080:80", "[fe80::1%eth0]:8081:80", "9000"]
    assert lines(tmp_path, {"web": good()}, {"web": {"ports": ports}}) == [
        f"{S}:8: homelab:containers.web.ports[0]: host address 'localhost' is not an IP "
        "address; write e.g. 127.0.0.1:8080:80",
        f"{S}:9: homelab:containers.web.ports[1]: host address 'fe80::1%eth0' has a zone "
        "(%eth0), which systemd would read as a specifier; publish on an address without one",
        f"{S}:10: homelab:containers.web.ports[2]: '9000' publishes no fixed host port; write "
        "HOST:CONTAINER, e.g. 8080:80",
    ]


def test_a_clash_names_where_the_other_port_is_published(tmp_path):
    units = {"web": good(), "api": good("api", 9090)}
    # web's stack port clashes with api's file port: reported at web's key, api's line named.
    assert lines(tmp_path, units, {"web": {"ports": ["9090:80"]}, "api": {}}) == [
        f"{S}:8: homelab:containers.web.ports[0]: host port 9090/tcp on every address clashes "
        "with 9090/tcp on every address, published by 'api' at containers/api.container:9; the "
        "later one would fail to start (address already in use): change one of them"
    ]
    # api's stack port (api: line 8, ports: 9, its item 10... under web: {} on line 6)
    got = lines(tmp_path, units, {"web": {}, "api": {"ports": ["8080:80"]}})
    assert got == [
        f"{F}:9: PublishPort: host port 8080/tcp on every address clashes with 8080/tcp on "
        f"every address, published by 'api' at {S}:9; the later one would fail to start "
        "(address already in use): change one of them"
    ]


def test_an_inline_secret_in_the_stacks_environment(tmp_path):
    env = {"environment": {"DB_PASSWORD": "hunter2"}}
    assert lines(tmp_path, {"web": good()}, {"web": env}) == [
        f"{S}:8: homelab:containers.web.environment.DB_PASSWORD: DB_PASSWORD=... looks like a "
        "secret written inline; remove it, add it to homelab:containers.web.secrets in the "
        "stack file (DB_PASSWORD: webDbPassword) and set the value with `pulumi config set "
        "--secret webDbPassword` (it prompts for it): the container then gets it as a podman "
        "secret, kept out of podman's stored container config"
    ]


@pytest.mark.real_images_lock
def test_an_unlocked_override_is_refused_at_the_key_that_sets_it(tmp_path):
    fix = (
        "there is no images.lock; run `homelab images lock` (it asks the registry) and commit "
        "images.lock"
    )
    assert lines(tmp_path, {"web": good()}, {"web": {"image": "quay.io/x/web:2.0"}}) == [
        f"{S}:7: homelab:containers.web.image: image quay.io/x/web:2.0 is not locked: {fix}"
    ]
    assert lines(tmp_path, {"web": good()}, {"web": {"image_tag": "2.0"}}) == [
        f"{S}:7: homelab:containers.web.image_tag: image docker.io/library/web:2.0 is not "
        f"locked: {fix}"
    ]


# --- the file itself --------------------------------------------------------------------------


def test_an_enabled_container_without_its_file(tmp_path):
    # web: {} is line 6, api: {} line 7
    assert lines(tmp_path, {"web": good()}, {"web": {}, "api": {}}) == [
        f"{S}:7: homelab:containers.api: container 'api' is enabled but "
        "containers/api.container does not exist; add the Quadlet file or set enabled: false"
    ]


def test_a_symlinked_containers_directory(tmp_path):
    p = project(tmp_path, {"web": good()}, {"web": {}})
    os.rename(p / "containers", p / "real")
    os.symlink("real", p / "containers")
    assert problems(p).splitlines() == [
        f"{F}:1: containers/ is a symbolic link; container files must be in the project's own "
        "containers/ directory: make it a directory"
    ]


def test_a_symlinked_container_file(tmp_path):
    p = project(tmp_path, {"web": good()}, {"web": {}})
    os.rename(p / F, p / "web.txt")
    os.symlink("../web.txt", p / F)
    assert problems(p).splitlines() == [
        f"{F}:1: is a symbolic link (to ../web.txt); it must be a regular file: copy the file "
        "here instead of linking it"
    ]


def test_a_line_too_long_and_crlf_line_ends(tmp_path):
    text = web("Description=web", "Description=" + "w" * (40 * 1024))
    assert lines(tmp_path, {"web": text}, {"web": {}}) == [
        f"{F}:2: this line is 40 KiB long (continuations joined); the limit is 32 KiB: "
        "shorten it, or move large data into a file the container mounts"
    ]
    assert lines(tmp_path, {"web": good().replace("\n", "\r\n")}, {"web": {}}) == [
        f"{F}:1: lines end in CR LF (Windows line endings); run `homelab quadlet fmt -w "
        f"{F}` (it rewrites them as LF)"
    ]


# --- the unit the host gets -------------------------------------------------------------------


def test_the_stacks_settings_in_the_unit_the_host_gets(tmp_path):
    cfg = {
        "image": "quay.io/x/web:2.0",
        "environment": {"A": "50%", "B": "x"},
        "memory_max": "1G",
        "cpu_quota": "50%",
        "secrets": {"TOKEN": "webToken", "API_KEY": "webApiKey"},
        "ports": ["127.0.0.1:9090:80"],
    }
    text = text_of(tmp_path, {"web": good()}, {"web": cfg})
    digest = "sha256:c0f26ec1dccc6566ef94f4cadef063ad9091e687b9db31f943ad966dfeeed124"
    assert text == (
        "[Unit]\nDescription=web\n" + POOL_DEPS + "\n[Container]\n"
        f"Image=quay.io/x/web:2.0@{digest}\nContainerName=web\n"
        "PublishPort=127.0.0.1:9090:80\nVolume=/var/tank/services/web/data:/data:Z\n"
        "Environment=A=50%%\nEnvironment=B=x\n"
        "Secret=web-API_KEY,type=env,target=API_KEY\nSecret=web-TOKEN,type=env,target=TOKEN\n"
        "\n[Service]\nRestart=on-failure\nMemoryMax=1G\nCPUQuota=50%\n"
        "ExecStartPre=/etc/homelab/bin/podman-secrets web\n"
        "\n[Install]\nWantedBy=multi-user.target\n"
    )


def test_volumes_rebased_to_another_root_named_ones_kept(tmp_path):
    vols = VOL + "Volume=data:/cache\nVolume=/srv/x:/x:ro\nVolume=/var/tank/services/web/b:/b:z\n"
    text = text_of(
        tmp_path,
        {"web": web(VOL, vols)},
        {"web": {"host_paths": ["/srv/x"], "volumes": ["/var/tank/services/web/conf:/conf:Z"]}},
        {"volume_root": "/srv/data"},
    )
    assert text == (
        "[Unit]\nDescription=web\n" + POOL_DEPS + "\n[Container]\n"
        f"Image=docker.io/library/web:1.0@{DIGEST}\nContainerName=web\nPublishPort=8080:80\n"
        "Volume=/srv/data/web/data:/data:Z\nVolume=data:/cache\nVolume=/srv/x:/x:ro\n"
        "Volume=/srv/data/web/b:/b:z\nVolume=/srv/data/web/conf:/conf:Z\n"
        "\n[Service]\nRestart=on-failure\n\n[Install]\nWantedBy=multi-user.target\n"
    )


def test_a_named_volume_first_keeps_the_rest(tmp_path):
    text = text_of(tmp_path, {"web": web(VOL, "Volume=cache:/cache\n" + VOL)}, {"web": {}})
    assert "Volume=cache:/cache\nVolume=/var/tank/services/web/data:/data:Z\n\n" in text
    p = project(tmp_path, {"web": web(VOL, "Volume=cache:/cache\n" + VOL)}, {"web": {}})
    (c,) = plan(p).containers
    assert c.data_dirs == ("/var/tank/services/web/data",)


def test_without_a_pool_its_dependencies_are_dropped_with_one_they_stay(tmp_path):
    text = text_of(tmp_path, {"web": good()}, {"web": {}}, {"zfs_pool": None})
    assert text.startswith("[Unit]\nDescription=web\nAfter=network-online.target\n\n[Container]\n")
    text = text_of(tmp_path, {"web": good()}, {"web": {}})
    assert text.startswith("[Unit]\nDescription=web\n" + POOL_DEPS + "\n[Container]\n")


def test_no_secrets_no_helper_no_env_file(tmp_path):
    p = project(tmp_path, {"web": good()}, {"web": {}})
    (c,) = plan(p).containers
    assert (c.env_file, c.secrets) == (None, {})
    assert "ExecStartPre" not in c.text and "Secret=" not in c.text


@pytest.mark.parametrize("production", [False, True])
def test_an_unpinned_image_off_production_runs_as_written(tmp_path, production):
    for image in ("docker.io/library/web:latest", "docker.io/library/web"):
        units = {"web": web("docker.io/library/web:1.0", image)}
        if production:
            assert lines(tmp_path, units, {"web": {}}) == [
                f"{F}:7: Image: image {image} {UNPINNED}"
            ]
        else:
            text = text_of(tmp_path, units, {"web": {}}, {"production": False})
            assert f"\nImage={image}\n" in text


def test_the_images_as_written_for_homelab_images_lock(tmp_path):
    p = project(tmp_path, {"web": good()}, {"web": {}})
    files = StackFiles(p)
    cfg = load_stack_config("mouse", files["mouse"].values, p, files)
    (c,) = layout_host(cfg, p, files, pin=False).containers
    assert c.image == "docker.io/library/web:1.0"


def test_data_dirs_are_roots_without_a_numeric_user(tmp_path):
    fs = plan(project(tmp_path, {"web": good()}, {"web": {}})).fileset
    (d,) = [d for d in fs.dirs if d.path == "/var/tank/services/web/data"]
    assert (d.uid, d.gid) == (0, 0)
    text = web("[Container]\n", "[Container]\nUser=1000:100\n")
    p = project(tmp_path, {"web": text}, {"web": {"data_owner": "2000:2001"}})
    (d,) = [d for d in plan(p).fileset.dirs if d.path == "/var/tank/services/web/data"]
    assert (d.uid, d.gid) == (2000, 2001)


# --- check_unit alone (`homelab quadlet check`) -----------------------------------------------


def test_check_unit_sorts_only_its_own_files_problems():
    problems_ = Problems()
    problems_.add("earlier.container:99: from another file", line=99)
    vol = "[Volume]\nFoo=1\nBar=2\n"
    assert check_unit(problems_, vol, "x.volume") is None
    assert problems_.lines == [
        "earlier.container:99: from another file",
        "x.volume:2: unknown key 'Foo' in [Volume]",
        "x.volume:3: unknown key 'Bar' in [Volume]",
    ]
    text = good().replace("Restart=on-failure", "Restart=no")
    checked = check_unit(
        problems_, text, "y.container", HostConfig(hostname="h"), ContainerConfig()
    )
    assert checked is not None
    assert problems_.lines[3:] == [
        "y.container:13: Restart: set Restart=on-failure (or always) in [Service] (best "
        "practice: restart a failed container)"
    ]
    assert problems_.lines[0] == "earlier.container:99: from another file"


def test_the_owners_problem_is_printed_in_line_order_with_the_files(tmp_path):
    # _owner runs after check_unit sorted the file's problems: its line still takes its place.
    text = web("[Container]\n", "[Container]\nUser=4294967295:1\n") + "Restart=unless-stopped\n"
    got = lines(tmp_path, {"web": text}, {"web": {}})
    assert len(got) == 2 and got[0].startswith(f"{at(text, 'User=')}: User: "), got
    assert got[1].startswith(f"{at(text, 'Restart=unless')}: "), got
