"""PublishPort as the host planner holds it (`rules.fixed_host_port`): fixed, numeric, in
range, one canonical spelling (images and volumes: test_quadlet_model)."""

import pytest

from homelab.quadlet.rules import fixed_host_port as parse_port


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
