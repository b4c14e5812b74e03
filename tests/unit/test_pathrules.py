"""The one set of host-path rules (homelab.pathrules) and the one uid/gid rule
(homelab.host.ids), and that every user of them agrees: the file set, the stack config,
container placement and the VM config."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from homelab import pathrules
from homelab.fileset import ManagedFile
from homelab.host.config import ContainerConfig, HostConfig
from homelab.host.ids import MAX_ID, numeric_ids, out_of_range
from homelab.quadlet import rules
from homelab.vm.config import VmConfig

VM = {"base_image": "https://example.org/fcos.qcow2.xz", "base_image_sha256": "ab" * 32}


def test_under_is_by_component_not_by_prefix():
    assert pathrules.under("/var/tank/x", "/var/tank")
    assert pathrules.under("/var/tank", "/var/tank/")
    assert not pathrules.under("/var/tankx", "/var/tank")
    assert not pathrules.under("/var", "/var/tank")


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("/a/b", None),
        ("/", None),
        ("a/b", "is relative"),
        ("", "is relative"),
        ("/a/./b", "contains '.' or '..'"),
        ("/a/../b", "contains '.' or '..'"),
        ("/a/b/..", "contains '.' or '..'"),
        ("/a/..b", None),  # a name that starts with dots is a name
    ],
)
def test_absolute_problem(path, problem):
    assert pathrules.absolute_problem(path) == problem


def test_normal_form_is_one_spelling():
    assert pathrules.normalise("//a///b/") == "/a/b"
    assert pathrules.normalise("///") == "/"
    assert pathrules.is_normal("/a/b") and pathrules.is_normal("/")
    for p in ("/a/b/", "/a//b", "a/b", "/a/./b"):
        assert not pathrules.is_normal(p), p


@pytest.mark.parametrize(
    ("path", "found"),
    [
        ("/etc", ("system directory", "/etc", True)),
        ("/etc/homelab", ("system directory", "/etc", True)),
        ("/var/home/core", ("home directory", "/var/home", True)),
        ("/var", ("home directory", "/var/home", False)),
        ("/var/lib", ("system directory", "/var/lib/containers", False)),
        ("/", ("home directory", "/home", False)),
        ("/var/tank/services", None),
        ("/etcetera", None),
        ("/srv/homelab", None),
    ],
)
def test_system_dir(path, found):
    assert pathrules.system_dir(path) == found


def test_own_dir_problem():
    assert pathrules.own_dir_problem("/") == "is '/'"
    assert pathrules.own_dir_problem("/var/log/x") == "is or lies in the system directory /var/log"
    assert pathrules.own_dir_problem("/var") == "contains the home directory /var/home"
    assert pathrules.own_dir_problem("/srv/") == "is the shared directory /srv"
    assert pathrules.own_dir_problem("/var/lib/libvirt/images") == (
        "is the shared directory /var/lib/libvirt/images"
    )
    assert pathrules.own_dir_problem("/srv/homelab") is None
    assert pathrules.own_dir_problem("/var/lib/libvirt/images/homelab") is None


def test_unprintable():
    assert pathrules.unprintable("/a b") and pathrules.unprintable("/a\tb")
    assert pathrules.unprintable("/a\x7f") and not pathrules.unprintable("/a-b_c.d")


# --- every user agrees --------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/a/./b", "/a/../b", "/a//b", "/a/", "a/b"])
def test_a_managed_path_is_in_normal_form(path):
    with pytest.raises(ValidationError, match="managed path must be absolute and normalised"):
        ManagedFile(path=path)


def test_dot_components_are_refused_by_every_user():
    """`/a/./b` once passed the file set and the VM config and failed the stack config."""
    with pytest.raises(ValidationError, match=re.escape("must not contain '.' or '..' components")):
        HostConfig(hostname="m", volume_root="/srv/./homelab")
    with pytest.raises(ValidationError, match=re.escape("without '..', '.' or spaces")):
        VmConfig(**VM, pool_path="/srv/./pool")
    with pytest.raises(ValidationError, match=re.escape("without '..' or spaces")):
        VmConfig(**VM, cache_dir="~/./cache")
    assert pathrules.absolute_problem("/srv/./x") is not None  # volume sources: containers


def test_typed_paths_are_normalised_alike():
    assert HostConfig(hostname="m", volume_root="//srv//homelab/").volume_root == "/srv/homelab"
    assert VmConfig(**VM, pool_path="//srv//pool/").pool_path == "/srv/pool"


@pytest.mark.parametrize("path", ["/etc/pool", "/var", "/home/core/pool", "/srv", "/"])
def test_the_vm_pool_is_a_folder_of_its_own(path):
    with pytest.raises(ValidationError, match="is a system folder"):
        VmConfig(**VM, pool_path=path)


@pytest.mark.parametrize("root", ["/etc/homelab", "/var", "/var/home/core/data", "/srv"])
def test_the_volume_root_is_a_folder_of_its_own(root):
    with pytest.raises(ValidationError, match="homelab chowns the volume root"):
        HostConfig(hostname="m", volume_root=root)


def test_relabelling_is_refused_in_and_above_every_system_directory():
    for src in ("/etc/x", "/var", "/var/home/core/x", "/var/lib/containers/x", "/"):
        assert rules.system_path(src), src
    assert not rules.system_path("/var/tank/services/x")


# --- ids ----------------------------------------------------------------------------------


def test_numeric_ids():
    assert numeric_ids("1000") == (1000, 1000)  # no group: the uid's own
    assert numeric_ids("1000:100") == (1000, 100)
    assert numeric_ids("0:0") == (0, 0)
    for text in ("core", "1000:wheel", "", ":1000", "1000:", "-1"):
        assert numeric_ids(text) is None, text


def test_id_range_is_chowns():
    assert not out_of_range((MAX_ID, MAX_ID))
    assert out_of_range((MAX_ID + 1, 0)) and out_of_range((0, MAX_ID + 1))
    with pytest.raises(ValidationError, match=f"uid and gid must be at most {MAX_ID}"):
        ContainerConfig(data_owner=f"1:{MAX_ID + 1}")
    assert ContainerConfig(data_owner=f"{MAX_ID}:0").data_owner == f"{MAX_ID}:0"


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("etc/x", "'etc/x' must be an absolute path"),
        ("/etc/a:b", "'/etc/a:b' holds '%' (a systemd specifier) or ':' (it separates"),
        ("/etc/%H", "'/etc/%H' holds '%' (a systemd specifier) or ':' (it separates"),
    ],
)
def test_a_stack_path_says_what_is_wrong(value, said):
    with pytest.raises(ValidationError, match=re.escape(said)):
        ContainerConfig(host_paths=[value])


def test_a_model_built_directly_still_takes_one_line_values_only():
    """The stack reader checks every value first; the models hold to it on their own too."""
    with pytest.raises(ValidationError, match="the value holds a newline at character 2"):
        ContainerConfig(environment={"A": "x\ny"})


def test_a_trailing_capital_x_is_part_of_the_name():
    """Only '/' is stripped from the end (a stripped character set would eat more)."""
    assert not pathrules.under("/srv/boX", "/srv/bo") and not pathrules.under("/srv/bo", "/srv/boX")
    assert pathrules.normalise("/srv/boX/") == "/srv/boX"


def test_an_env_file_is_one_line_per_secret():
    from homelab.fileset import render_env_file

    pairs = (("A", "a"), ("B", "b"))
    assert render_env_file(pairs, {"a": "one", "b": "X two X"}) == "A=one\nB=X two X\n"
    for bad in ("x\ny", "x\ry", "x\0y"):
        with pytest.raises(ValueError, match=r"^secret 'a' contains a newline or NUL"):
            render_env_file(pairs, {"a": bad, "b": "fine"})
