"""Exact words and edge cases of the house rules (quadlet.rules), the typed values
(quadlet.values) and the canonical layout (quadlet.render)."""

from __future__ import annotations

import pytest

from homelab.quadlet import ImageRef, PublishedPort, VolumeMount, parse_unit, rules
from homelab.quadlet.render import Line, Section, render, render_line
from homelab.quadlet.values import port_range

# --- rules: messages ----------------------------------------------------------------------


def test_image_messages():
    assert rules.short_name(ImageRef.parse("nginx:1")) == (
        'specifies the image "nginx:1" which not a fully qualified image name (short names are '
        "resolved by a registry search; name the registry, e.g. docker.io/nginx:1)"
    )
    assert rules.unpinned(ImageRef.parse("docker.io/a/b:latest")) == (
        "image docker.io/a/b:latest is not pinned: production rejects :latest or no tag; "
        "pin a version tag or a digest"
    )


def test_relabel_messages():
    assert rules.relabel(VolumeMount.parse("/etc/x:/x:Z")) == (
        "bind mount /etc/x is a host system path: :Z would relabel the host's own files; drop it"
    )
    assert rules.relabel(VolumeMount.parse("/var/tank/a:/a")) == (
        "bind mount /var/tank/a has no :Z (or :z) option: SELinux will deny the container "
        "access; add :Z (private) or :z (shared)"
    )


def test_inline_secret_message_names_the_key_and_never_the_value():
    msg = rules.inline_secret("DB_PASSWORD", "hunter2", "my-app")
    assert msg == (
        "DB_PASSWORD=... looks like a secret written inline; remove it, add it to "
        "homelab:containers.my-app.secrets in the stack file (DB_PASSWORD: myAppDbPassword) and "
        "set the value with `pulumi config set --secret myAppDbPassword` (it prompts for it): "
        "the container then gets it as a podman secret, kept out of podman's stored container "
        "config"
    )
    assert rules.inline_secret("DB_PASSWORD", "", "my-app") is None


@pytest.mark.parametrize(
    ("container", "var", "key"),
    [
        ("rustfs", "RUSTFS_SECRET_KEY", "rustfsSecretKey"),
        ("my-app", "MY_APP_DB_PASSWORD", "myAppDbPassword"),
        ("Web_UI", "web_ui_token", "webUiToken"),
        ("db", "POSTGRES_PASSWORD", "dbPostgresPassword"),
        ("1app", "TOKEN", "c1appToken"),
        ("a1", "TOKEN", "a1Token"),
        ("app", "APP__KEY", "appKey"),
    ],
)
def test_secret_key_name(container, var, key):
    assert rules.secret_key_name(container, var) == key


def test_unknown_restart_message():
    u = parse_unit("[Service]\nRestart=unless-stopped\n", "x.container")
    assert rules.unknown_restart(u) == (
        "Restart=unless-stopped is not a value systemd knows (no, on-success, on-failure, "
        "on-abnormal, on-watchdog, on-abort, always): systemd ignores the line and the "
        "container is never restarted; set Restart=on-failure (or always)"
    )


def test_pool_ordering_message():
    u = parse_unit("[Unit]\nDescription=x\n", "x.container")
    assert rules.pool_ordering(u, "zfs-import-tank.service") == (
        ["After", "Requires"],
        "data lives on the ZFS pool: add zfs-import-tank.service to After= and Requires= in [Unit]",
    )


def test_drop_pool_dependencies_from_every_dependency_key():
    u = parse_unit(
        "[Unit]\nAfter=a.service zfs-import-tank.service b.service\n"
        "Wants=zfs-import-tank.service c.service\nBindsTo=zfs-import-tank.service\n"
        "Requires=zfs-import-tank.service\n",
        "x.container",
    )
    rules.drop_pool_dependencies(u)
    assert [(e.key, e.value) for e in u.section("Unit").entries] == [
        ("After", "a.service b.service"),
        ("Wants", "c.service"),
    ]


@pytest.mark.parametrize(
    ("text", "seconds"), [("0", 0.0), ("+0", 0.0), ("-0", 0.0), ("1m30s", 90.0)]
)
def test_go_duration_zero_with_a_sign(text, seconds):
    # Go's time.ParseDuration: a sign, then "0" alone needs no unit
    assert rules.go_duration(text) == seconds


def test_health_start_period_unreadable_is_not_judged():
    u = parse_unit(
        "[Container]\nNotify=healthy\nHealthCmd=true\nHealthStartPeriod=soon\n", "x.container"
    )
    assert rules.health_start_period(u) is None


# --- values -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "registry", "name", "tag"),
    [
        ("nginx", None, "nginx", None),
        ("localhost:5000/a/b:1", "localhost:5000", "a/b", "1"),
        ("docker.io/a/ns:x/img", "docker.io", "a/ns:x/img", None),  # a tag is after the last /
    ],
)
def test_image_ref_parse(raw, registry, name, tag):
    ref = ImageRef.parse(raw)
    assert (ref.registry, ref.name, ref.tag) == (registry, name, tag)


def test_with_tag():
    assert ImageRef.parse("nginx:1").with_tag("2") == "nginx:2"
    assert ImageRef.parse("quay.io/a/b@sha256:" + "0" * 64).with_tag("3") == "quay.io/a/b:3"


def test_port_range_bounds():
    assert port_range("1", "host") == (1, 1)
    assert port_range("65535", "host") == (65535, 65535)
    assert port_range("2-2", "host") == (2, 2)
    for bad, msg in [
        ("0", "host port 0 is outside 1-65535"),
        ("65536", "host port 65536 is outside 1-65535"),
        ("9-8", "host port range '9-8' is reversed"),
    ]:
        with pytest.raises(ValueError) as ei:
            port_range(bad, "host")
        assert str(ei.value) == msg


def test_published_port_shapes():
    p = PublishedPort.parse("[::1]:8080:80/udp")
    assert (p.host_ip, p.host_port, p.container_port, p.protocol) == ("::1", "8080", "80", "udp")
    p = PublishedPort.parse("80/udp")
    assert (p.host_ip, p.host_port, p.container_port, p.protocol) == (None, None, "80", "udp")
    p = PublishedPort.parse("::1:8080:80")
    assert (p.host_ip, p.host_port, p.container_port) == ("::1", "8080", "80")
    assert PublishedPort.parse("80").canonical() == ":80/tcp"
    assert PublishedPort.parse("[::1]:08080:80").canonical() == "[::1]:8080:80/tcp"


def test_volume_mount_split_in_three():
    v = VolumeMount.parse("/src:/dst:ro:z")
    assert (v.source, v.target, v.options) == ("/src", "/dst", ("ro:z",))
    v = VolumeMount.parse("/src:/dst:ro,Z,")
    assert v.options == ("ro", "Z")


def test_volume_with_source():
    assert VolumeMount.parse("/a:/b:Z,ro").with_source("/c") == "/c:/b:Z,ro"
    assert VolumeMount.parse("/a:/b").with_source("/c") == "/c:/b"


# --- render -------------------------------------------------------------------------------


def test_blank_after_an_empty_value_is_kept():
    s = Section(
        name="A", entries=[Line(key="K", value=""), Line(value=""), Line(key="B", value="1")]
    )
    assert render([s]) == "[A]\nK=\n\nB=1\n"


def test_comments_after_a_sections_last_key_move_to_the_next_header():
    a = Section(name="X-A", entries=[Line(value="# 1"), Line(value="# 2"), Line(value="# 3")])
    b = Section(name="X-B", entries=[Line(key="K", value="v")])
    text = render([a, b])
    assert text == "[X-A]\n\n# 1\n# 2\n# 3\n[X-B]\nK=v\n"
    assert parse_unit(text, "x.unit").render() == text


def test_nothing_renders_as_nothing():
    assert render([]) == ""


@pytest.mark.parametrize("value", ["a\nb", "end\\"])
def test_unwritable_value(value):
    with pytest.raises(ValueError) as ei:
        render_line(Line(key="K", value=value))
    assert str(ei.value) == f"K={value!r}: value cannot be written on one line"


def test_folded_pieces_of_another_value_are_not_used():
    ln = Line(key="Exec", value="changed", folded=("Exec=a ", "# c", "b"))
    assert render_line(ln) == "Exec=changed"
    ln = Line(key="Exec", value="a b", folded=("Exec=a ", "# c", "b"))
    assert render_line(ln) == "Exec=a \\\n  # c\n  b"
