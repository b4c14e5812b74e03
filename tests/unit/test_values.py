"""PublishPort, Volume and Image syntax as the host planner reads them."""

import pytest

from homelab.hostplan import parse_image, parse_port, parse_volume, with_tag


@pytest.mark.parametrize(
    ("spec", "canonical"),
    [
        ("9000:9000", "9000:9000/tcp"),
        ("22000:22000/udp", "22000:22000/udp"),
        ("127.0.0.1:8080:80", "127.0.0.1:8080:80/tcp"),
        ("[::1]:8080:80/tcp", "[::1]:8080:80/tcp"),
        ("8000-8002:9000-9002", "8000-8002:9000-9002/tcp"),
    ],
)
def test_ports(spec, canonical):
    assert parse_port(spec).canonical() == canonical


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("0:80", "outside 1-65535"),
        ("70000:80", "outside 1-65535"),
        ("http:80", "not a number"),
        ("80", "no fixed host port"),
        (":80", "random host port"),
        ("80:80/icmp", "protocol"),
        ("8000-8001:80", "differ in length"),
    ],
)
def test_bad_ports(spec, needle):
    with pytest.raises(ValueError, match=needle):
        parse_port(spec)


def test_volumes():
    v = parse_volume("/var/tank/services/rustfs/data:/data:Z")
    assert (v.source, v.target, v.options, v.is_bind) == (
        "/var/tank/services/rustfs/data",
        "/data",
        ("Z",),
        True,
    )
    assert parse_volume("/music:/music:ro,Z").read_only
    assert parse_volume("cache:/var/cache").source == "cache"
    assert parse_volume("/data").source == ""


@pytest.mark.parametrize(
    ("ref", "registry", "tag", "qualified", "pinned"),
    [
        ("docker.io/rustfs/rustfs:1.0", "docker.io", "1.0", True, True),
        ("docker.io/rustfs/rustfs:latest", "docker.io", "latest", True, False),
        ("docker.io/rustfs/rustfs", "docker.io", None, True, False),
        ("rustfs/rustfs:1.0", "", "1.0", False, True),
        ("localhost:5000/x:2", "localhost:5000", "2", True, True),
        ("quay.io/a/b@sha256:" + "0" * 64, "quay.io", None, True, True),
    ],
)
def test_images(ref, registry, tag, qualified, pinned):
    img = parse_image(ref)
    assert (img.registry, img.tag, img.fully_qualified, img.pinned) == (
        registry,
        tag,
        qualified,
        pinned,
    )


def test_with_tag():
    assert with_tag("docker.io/rustfs/rustfs:latest", "1.2") == "docker.io/rustfs/rustfs:1.2"
    assert with_tag("localhost:5000/x", "3") == "localhost:5000/x:3"
