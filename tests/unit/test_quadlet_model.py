"""Typed accessors, editing and the best-practice checks of the Quadlet model."""

from __future__ import annotations

from homelab.quadlet import ImageRef, PublishedPort, VolumeMount, best_practices, parse_unit

RUSTFS = """\
[Unit]
Description=RustFS S3-compatible object storage
After=network-online.target zfs-import-tank.service
Wants=network-online.target

[Container]
Image=docker.io/rustfs/rustfs:latest
ContainerName=rustfs
PublishPort=9000:9000
PublishPort=127.0.0.1:9001:9001/udp
Volume=/var/tank/services/rustfs/data:/data:Z
Volume=/var/tank/services/rustfs/logs:/logs
Environment=RUSTFS_ACCESS_KEY=admin
Environment=RUSTFS_SECRET_KEY=changeme
Environment="RUSTFS_CONSOLE_ENABLE=true"
Exec=/data

[Service]
TimeoutStartSec=900
Restart=always

[Install]
WantedBy=multi-user.target
"""
F = "containers/rustfs.container"


def test_typed_accessors():
    u = parse_unit(RUSTFS, F)
    assert (u.kind, u.name, u.group, u.service_name) == (
        ".container",
        "rustfs",
        "Container",
        "rustfs.service",
    )
    img = u.image
    assert img is not None
    assert (img.registry, img.name, img.tag, img.fully_qualified, img.pinned) == (
        "docker.io",
        "rustfs/rustfs",
        "latest",
        True,
        False,
    )
    assert u.container_name == "rustfs"
    p0, p1 = u.ports
    assert (p0.host_ip, p0.host_port, p0.container_port, p0.protocol) == (
        None,
        "9000",
        "9000",
        "tcp",
    )
    assert (p1.host_ip, p1.host_port, p1.protocol) == ("127.0.0.1", "9001", "udp")
    v0, v1 = u.volumes
    assert (v0.source, v0.target, v0.options, v0.relabel) == (
        "/var/tank/services/rustfs/data",
        "/data",
        ("Z",),
        "Z",
    )
    assert v1.relabel is None and v1.bind
    assert u.environment["RUSTFS_CONSOLE_ENABLE"] == "true"
    assert u.exec_args == ["/data"]
    assert u.unit_after == ["network-online.target", "zfs-import-tank.service"]
    assert u.unit_requires == []
    assert u.restart == "always"


def test_image_refs():
    assert not ImageRef.parse("nginx").fully_qualified
    assert not ImageRef.parse("library/nginx:1").fully_qualified
    assert ImageRef.parse("localhost/x").fully_qualified
    assert ImageRef.parse("my.build").fully_qualified
    r = ImageRef.parse("registry:5000/a/b@sha256:" + "0" * 64)
    assert (r.registry, r.name, r.tag, r.pinned) == ("registry:5000", "a/b", None, True)
    assert ImageRef.parse("quay.io/a/b:1.2").with_tag("1.3") == "quay.io/a/b:1.3"


def test_port_and_volume_shapes():
    p = PublishedPort.parse("[::1]:8080:80")
    assert (p.host_ip, p.host_port, p.container_port) == ("::1", "8080", "80")
    assert PublishedPort.parse("80").host_port is None
    assert VolumeMount.parse("named:/x").bind is False
    assert VolumeMount.parse("/tmp").source is None


def test_editing_and_render():
    u = parse_unit(RUSTFS, F)
    u.set_image_tag("1.0.0-alpha.5")
    u.add_environment_file("/etc/homelab/env/rustfs.env")
    u.add_port("9002:9002")
    u.add_volume("/var/tank/services/rustfs/cfg", "/cfg", ("Z", "ro"))
    u.add_environment("GREETING", "hello world")
    u.set("Service", "Restart", ["on-failure"])
    u.set("Service", "MemoryMax", ["1G"])
    text = u.render()
    again = parse_unit(text, F)
    assert again.lookup("Container", "Image") == "docker.io/rustfs/rustfs:1.0.0-alpha.5"
    assert again.line_of("Container", "Image") == 7  # edited in place
    assert again.environment_files == ["/etc/homelab/env/rustfs.env"]
    assert again.get("Container", "PublishPort")[-1] == "9002:9002"
    assert again.volumes[-1].options == ("Z", "ro")
    assert again.environment["GREETING"] == "hello world"
    assert again.restart == "on-failure"
    assert text.index("MemoryMax=1G") < text.index("[Install]")
    assert again.render() == text


def test_new_section_goes_before_install():
    u = parse_unit("[Container]\nImage=docker.io/a/b:1\n\n[Install]\nWantedBy=x\n", F)
    u.add("Service", "Restart", "on-failure")
    assert [s.name for s in u.sections] == ["Container", "Service", "Install"]


def test_best_practices_flags_the_seed_rules():
    u = parse_unit(RUSTFS, F)
    msgs = [str(p) for p in best_practices(u, "zfs-import-tank.service", production=True)]
    joined = "\n".join(msgs)
    assert f"{F}:20: set Restart=on-failure" in joined
    assert "bind mount /var/tank/services/rustfs/logs has no :Z" in joined
    assert "/data" not in joined.split("has no :Z")[0]  # the :Z one is fine
    assert "RUSTFS_ACCESS_KEY" in joined and "RUSTFS_SECRET_KEY" in joined
    assert "not pinned" in joined
    assert "add zfs-import-tank.service to Requires=" in joined


def test_best_practices_clean_unit_and_data_root():
    good = (
        RUSTFS.replace(":latest", ":1.0.0")
        .replace("Restart=always", "Restart=on-failure")
        .replace("/logs:/logs", "/logs:/logs:z")
        .replace(
            "Environment=RUSTFS_ACCESS_KEY=admin\nEnvironment=RUSTFS_SECRET_KEY=changeme\n", ""
        )
        .replace("Wants=network-online.target", "Requires=zfs-import-tank.service")
    )
    u = parse_unit(good, F)
    assert best_practices(u, "zfs-import-tank.service", production=True) == []
    # No data under the pool root: no ZFS ordering needed.
    u.set("Unit", "Requires", [])
    assert best_practices(u, "zfs-import-tank.service", data_root="/srv/pool") == []
    assert best_practices(u, "zfs-import-tank.service", data_root="/var/tank")
    # :latest is fine outside production
    u.set_image_tag("latest")
    assert best_practices(u, None) == []


def test_relabel_rules_and_lines():
    text = (
        "[Container]\nImage=docker.io/a/b:1\n"
        "Volume=/etc/passwd:/etc/passwd:ro\n"  # system path, no relabel: fine
        "Volume=/proc:/host/proc:Z\n"  # relabelling the host's /proc: flagged
        "Volume=/var/tank/x:/x\n"  # data without :Z: flagged, on its own line
        "Volume=named:/n\n"  # named volume: not a bind mount
        "[Service]\nRestart=on-failure\n"
    )
    probs = best_practices(parse_unit(text, F))
    assert [(p.line, p.key) for p in probs] == [(4, "Volume"), (5, "Volume")]
    assert "host system path" in probs[0].message and "no :Z" in probs[1].message


def test_unwritable_values_are_refused_at_edit_time():
    import pytest

    u = parse_unit("[Container]\nImage=docker.io/a/b:1\n", F)
    for bad in ("a\nb", "ends\\"):
        with pytest.raises(ValueError):
            u.add("Container", "Exec", bad)
        with pytest.raises(ValueError):
            u.set("Container", "Exec", [bad])
    u.add_environment("MULTI", "line\nvalue")  # escaped: fine
    assert parse_unit(u.render(), F).environment["MULTI"] == "line\nvalue"


def test_default_container_name_is_the_one_podman_gives():
    """The name podman's real generator passes to `podman run --name`, with systemd's
    specifiers expanded for the service it generates."""
    import re

    from homelab.tools import quadlet_dryrun

    units = {
        "a.container": "[Container]\nImage=docker.io/a/b:1\n",
        "b.container": "[Container]\nImage=docker.io/a/b:1\nServiceName=web-svc\n",
        "t@.container": "[Container]\nImage=docker.io/a/b:1\n",
        "n.container": "[Container]\nImage=docker.io/a/b:1\nContainerName=named\n",
    }
    out = quadlet_dryrun(units)
    names = dict(re.findall(r"^---(.+)---\n(?:.*\n)*?ExecStart=.* --name (\S+)", out, re.M))
    assert len(names) == len(units), out
    for fname, text in units.items():
        u = parse_unit(text, fname)
        stem = u.service_name.removesuffix(".service")
        prefix, _, instance = stem.partition("@")
        want = names[u.service_name].replace("%N", stem).replace("%p", prefix)
        want = want.replace("%i", instance) if instance else want
        assert u.container_name == want, fname
