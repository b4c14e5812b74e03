"""Typed accessors and editing of the Quadlet model, and the house rules (quadlet.rules)."""

from __future__ import annotations

from homelab.quadlet import ImageRef, PublishedPort, VolumeMount, parse_unit, rules
from homelab.quadlet.model import QuadletUnit, keyvals

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


def _env(u: QuadletUnit) -> dict[str, str | None]:
    return {k: v for value in u.get("Container", "Environment") for k, v in keyvals(value).items()}


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
    p0, p1 = (PublishedPort.parse(v) for v in u.get("Container", "PublishPort"))
    assert (p0.host_ip, p0.host_port, p0.container_port, p0.protocol) == (
        None,
        "9000",
        "9000",
        "tcp",
    )
    assert (p1.host_ip, p1.host_port, p1.protocol) == ("127.0.0.1", "9001", "udp")
    v0, v1 = (VolumeMount.parse(v) for v in u.get("Container", "Volume"))
    assert (v0.source, v0.target, v0.options, v0.relabel) == (
        "/var/tank/services/rustfs/data",
        "/data",
        ("Z",),
        "Z",
    )
    assert v1.relabel is None and v1.bind
    assert _env(u)["RUSTFS_CONSOLE_ENABLE"] == "true"
    assert u.unit_deps("After") == ["network-online.target", "zfs-import-tank.service"]
    assert u.unit_deps("Requires") == []
    assert u.restart == "always"
    assert u.user is None


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
    u.set_environment("RUSTFS_ACCESS_KEY", "with space")  # replaces the file's line
    u.add("Container", "PublishPort", "9002:9002")
    u.set("Service", "Restart", ["on-failure"])
    u.set("Service", "MemoryMax", ["1G"])
    text = u.render()
    again = parse_unit(text, F)
    assert again.lookup("Container", "Image") == "docker.io/rustfs/rustfs:1.0.0-alpha.5"
    assert again.line_of("Container", "Image") == 7  # edited in place
    assert again.get("Container", "PublishPort")[-1] == "9002:9002"
    assert _env(again)["RUSTFS_ACCESS_KEY"] == "with space"
    assert again.get("Container", "Environment")[-1] == '"RUSTFS_ACCESS_KEY=with space"'
    assert sum("RUSTFS_ACCESS_KEY" in v for v in again.get("Container", "Environment")) == 1
    assert again.restart == "on-failure"
    assert text.index("MemoryMax=1G") < text.index("[Install]")
    assert again.render() == text


def test_new_section_goes_before_install():
    u = parse_unit("[Container]\nImage=docker.io/a/b:1\n\n[Install]\nWantedBy=x\n", F)
    u.add("Service", "Restart", "on-failure")
    assert [s.name for s in u.sections] == ["Container", "Service", "Install"]


def test_rules_on_the_seed_unit():
    u = parse_unit(RUSTFS, F)
    # Restart=always restarts a failed container as on-failure does (issue 20: was refused).
    assert u.restart == "always" and rules.restart(u) is None
    u.set("Service", "Restart", ["no"])
    assert "Restart=on-failure (or always)" in (rules.restart(u) or "")
    img = u.image
    assert img is not None and "not pinned" in (rules.unpinned(img) or "")
    assert rules.short_name(img) is None
    missing = rules.pool_ordering(u, "zfs-import-tank.service")
    assert missing is not None and missing[0] == ["Requires"]
    assert "add zfs-import-tank.service to Requires=" in missing[1]
    secretish = [v for v, val in _env(u).items() if rules.inline_secret(v, val, "rustfs")]
    assert secretish == ["RUSTFS_ACCESS_KEY", "RUSTFS_SECRET_KEY"]
    msg = rules.inline_secret("RUSTFS_SECRET_KEY", "changeme", "rustfs") or ""
    assert "changeme" not in msg and "homelab:containers.rustfs.secrets" in msg
    data, logs = (VolumeMount.parse(v) for v in u.get("Container", "Volume"))
    assert rules.relabel(data) is None
    assert "has no :Z" in (rules.relabel(logs) or "")


def test_rules_pass_a_good_unit():
    good = (
        RUSTFS.replace(":latest", ":1.0.0")
        .replace("Restart=always", "Restart=on-failure")
        .replace("Wants=network-online.target", "Requires=zfs-import-tank.service")
    )
    u = parse_unit(good, F)
    assert rules.restart(u) is None
    assert u.image is not None and rules.unpinned(u.image) is None
    assert rules.pool_ordering(u, "zfs-import-tank.service") is None
    assert rules.unpinned(ImageRef.parse("app.image")) is None  # built by a Quadlet unit


def test_relabel_rules():
    assert rules.relabel(VolumeMount.parse("/etc/passwd:/etc/passwd:ro")) is None
    assert "host system path" in (rules.relabel(VolumeMount.parse("/proc:/host/proc:Z")) or "")
    assert rules.relabel(VolumeMount.parse("/var/tank/x:/x")) is not None
    assert rules.relabel(VolumeMount.parse("named:/n")) is None  # not a bind mount
    # With a data root, only what lies under it is data.
    assert rules.relabel(VolumeMount.parse("/srv/other:/o"), "/var/tank") is None
    assert rules.relabel(VolumeMount.parse("/var/tank/x:/x"), "/var/tank/") is not None


def test_under():
    assert rules.under("/var/tank", "/var/tank") and rules.under("/var/tank/a", "/var/tank/")
    assert not rules.under("/var/tanker", "/var/tank")
    assert rules.system_path("/") and rules.system_path("/etc") and not rules.system_path("/etcx")


def test_drop_pool_dependencies():
    u = parse_unit(RUSTFS.replace("[Unit]\n", "[Unit]\nRequires=zfs-import-tank.service\n"), F)
    rules.drop_pool_dependencies(u)
    text = u.render()
    assert "zfs-import" not in text
    assert "After=network-online.target\n" in text and "Requires=" not in text


def test_unwritable_values_are_refused_at_edit_time():
    import pytest

    u = parse_unit("[Container]\nImage=docker.io/a/b:1\n", F)
    for bad in ("a\nb", "ends\\"):
        with pytest.raises(ValueError):
            u.add("Container", "Exec", bad)
        with pytest.raises(ValueError):
            u.set("Container", "Exec", [bad])
    u.set_environment("MULTI", "line\nvalue")  # escaped: fine
    assert _env(parse_unit(u.render(), F))["MULTI"] == "line\nvalue"


def test_default_container_name_is_the_one_podman_gives():
    """The name podman's real generator passes to `podman run --name`, with systemd's
    specifiers expanded for the service it generates."""
    import re

    from homelab.tools import quadlet_generate

    units = {
        "a.container": "[Container]\nImage=docker.io/a/b:1\n",
        "b.container": "[Container]\nImage=docker.io/a/b:1\nServiceName=web-svc\n",
        "t@.container": "[Container]\nImage=docker.io/a/b:1\n",
        "n.container": "[Container]\nImage=docker.io/a/b:1\nContainerName=named\n",
    }
    out = quadlet_generate(units).stdout
    names = dict(re.findall(r"^---(.+)---\n(?:.*\n)*?ExecStart=.* --name (\S+)", out, re.M))
    assert len(names) == len(units), out
    for fname, text in units.items():
        u = parse_unit(text, fname)
        stem = u.service_name.removesuffix(".service")
        prefix, _, instance = stem.partition("@")
        want = names[u.service_name].replace("%N", stem).replace("%p", prefix)
        want = want.replace("%i", instance) if instance else want
        assert u.container_name == want, fname
