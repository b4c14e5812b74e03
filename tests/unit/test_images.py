"""images.lock: the file, pinning `Image=` from it, the production refusal at FILE:LINE, the
version order of tags, the tag rewrite of `images update`, and the P rows of the push."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from homelab import push
from homelab.cli.images import retag
from homelab.fileset import manifest, render_secret_files
from homelab.host.images import ImageLock, LockEntry, LockError, newer_tags, version_key
from tests.unit.test_bad_input import good, line_of, plan, problems, project

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
real_lock = pytest.mark.real_images_lock


def write_lock(p: Path, *entries: LockEntry) -> None:
    (p / "images.lock").write_text(ImageLock({e.ref: e for e in entries}).render())


def test_lock_file_is_sorted_readable_and_reads_back() -> None:
    lock = ImageLock(
        {
            "docker.io/b/b:2": LockEntry("docker.io/b/b:2", D2),
            "docker.io/a/a:1": LockEntry("docker.io/a/a:1", D1),
        }
    )
    text = lock.render()
    rows = [ln for ln in text.splitlines() if not ln.startswith("#")]
    assert rows == [f"docker.io/a/a:1 {D1} linux/amd64", f"docker.io/b/b:2 {D2} linux/amd64"]
    assert ImageLock.parse(text) == lock


def test_a_malformed_lock_line_is_named_with_the_fix() -> None:
    with pytest.raises(LockError) as e:
        ImageLock.parse(f"# x\ndocker.io/a/a:1 {D1} linux/amd64\ndocker.io/a/a {D1} linux/amd64\n")
    assert e.value.problems[0].startswith("images.lock:3: expected")
    assert "homelab images lock" in e.value.problems[0]


@real_lock
def test_production_refuses_an_unlocked_image_at_its_line(tmp_path: Path) -> None:
    p = project(tmp_path, {"web": good()}, {"web": {}})
    n = line_of(good(), "Image=")
    msg = problems(p)
    assert f"containers/web.container:{n}: Image: image docker.io/library/web:1.0 is not " in msg
    assert "there is no images.lock" in msg and "run `homelab images lock`" in msg
    # An entry for another tag (the tag was bumped, the lock was not).
    write_lock(p, LockEntry("docker.io/library/web:0.9", D1))
    msg = problems(p)
    assert f"containers/web.container:{n}: Image:" in msg
    assert "images.lock has docker.io/library/web:0.9 (another tag)" in msg


@real_lock
def test_a_locked_image_is_rendered_with_its_digest(tmp_path: Path) -> None:
    p = project(tmp_path, {"web": good()}, {"web": {}})
    write_lock(p, LockEntry("docker.io/library/web:1.0", D1))
    hp = plan(p)
    ref = f"docker.io/library/web:1.0@{D1}"
    unit = next(f for f in hp.fileset.files if f.path.endswith("web.container"))
    assert f"\nImage={ref}\n" in unit.content
    assert [(i.ref, i.units) for i in hp.fileset.images] == [(ref, ("web.service",))]
    # The push carries it as a P row: the image, its units, the pull's time limit.
    hashes = dict.fromkeys((f.path for f in hp.fileset.files), "h")
    desired = push.Desired.of(hp.fileset)
    rows = push.manifest_tsv(desired, hashes, "g", 30, 5, pull_timeout=77).splitlines()
    assert f"P\t{ref}\tweb.service\t77" in rows


@real_lock
def test_a_stack_tag_override_is_refused_at_its_stack_key(tmp_path: Path) -> None:
    p = project(tmp_path, {"web": good()}, {"web": {"image_tag": "1.1"}})
    write_lock(p, LockEntry("docker.io/library/web:1.0", D1))
    msg = problems(p)
    assert "Pulumi.mouse.yaml:" in msg and "homelab:containers.web.image_tag" in msg
    assert "docker.io/library/web:1.1 is not locked" in msg


@real_lock
def test_outside_production_an_unlocked_image_keeps_its_tag(tmp_path: Path) -> None:
    p = project(tmp_path, {"web": good()}, {"web": {}}, {"production": False})
    assert plan(p).containers[0].image == "docker.io/library/web:1.0"


@real_lock
def test_autoupdate_registry_is_refused_next_to_a_locked_digest(tmp_path: Path) -> None:
    text = good().replace("[Service]", "AutoUpdate=registry\n\n[Service]")
    text = text.replace("AutoUpdate=registry\n\n[Service]", "[Service]").replace(
        "Image=docker.io/library/web:1.0\n",
        "Image=docker.io/library/web:1.0\nAutoUpdate=registry\n",
    )
    p = project(tmp_path, {"web": text}, {"web": {}})
    write_lock(p, LockEntry("docker.io/library/web:1.0", D1))
    msg = problems(p)
    assert f"containers/web.container:{line_of(text, 'AutoUpdate')}: AutoUpdate:" in msg


def test_tags_compare_as_versions() -> None:
    assert version_key("v2.10.0") > version_key("v2.9.1")  # type: ignore[operator]
    assert version_key("1.0.0-alpha.70") > version_key("1.0.0-alpha.69")  # type: ignore[operator]
    assert version_key("1.0.0") > version_key("1.0.0-alpha.70")  # type: ignore[operator]
    assert version_key("latest") is None
    tags = ["v2.7.1", "v2.10.0", "v2.8.0-rc1", "v2.9.0", "latest", "2.11.0", "v2.7.0"]
    assert newer_tags("v2.7.1", tags) == ["v2.9.0", "v2.10.0"]
    assert newer_tags("1.0.0-alpha.69", ["1.0.0-alpha.7", "1.0.0-alpha.70", "1.0.0"]) == [
        "1.0.0-alpha.70",
        "1.0.0",
    ]


def test_update_rewrites_only_the_tag() -> None:
    text = "# c\n[Container]\nImage=docker.io/a/b:1.0  \nExec=x\n\n[Service]\nRestart=on-failure"
    assert retag(text, "1.1") == text.replace("b:1.0", "b:1.1")


def test_drift_when_a_container_runs_other_bytes_than_the_lock() -> None:
    ref = f"docker.io/library/web:1.0@{D1}"
    desired = push.Desired({}, ("web.service",), "/q", (), ((ref, ("web.service",)),))
    assert "image web" in push.read_script(desired)
    same = push.parse_live(
        f"IM\tweb.service\tdocker.io/library/web@{D2} docker.io/library/web@{D1}\n"
    )
    # What `up` changes (the plan) compares with the stack's lock...
    assert push.differences(desired, {}, same) == {"unit:web.service": "not active (unknown)"}
    other = push.parse_live(
        f"U\tweb.service\tactive\nIM\tweb.service\tdocker.io/library/web@{D2}\n"
    )
    assert push.differences(desired, {}, other) == {
        "image:web.service": f"runs {D2}, images.lock has {D1}"
    }
    # ...drift with what the last push pulled (its manifest's P rows, sent as W rows).
    pushed = f"W\tP\t{ref}\tweb.service\t300\nW\tU\tweb.service\n"
    assert push.compute_drift(push.parse_live(pushed + "U\tweb.service\tactive\n")) == {}
    assert push.compute_drift(
        push.parse_live(
            pushed + f"U\tweb.service\tactive\nIM\tweb.service\tdocker.io/library/web@{D2}\n"
        )
    ) == {"image:web.service": f"runs {D2}, the last push pulled {D1}"}


def test_registry_credentials_land_in_one_secret_auth_file(tmp_path: Path) -> None:
    p = project(tmp_path, {"web": good()}, {"web": {}})
    stack = p / "Pulumi.mouse.yaml"
    stack.write_text(
        stack.read_text() + "  homelab:registries:\n    ghcr.io:\n      username: me\n"
        "      password: ghcrToken\n"
    )
    hp = plan(p)
    assert "ghcrToken" in hp.fileset.secret_names
    (auth,) = [f for f in hp.fileset.files if f.path == "/etc/homelab/images/auth.json"]
    assert auth.secret and auth.mode == 0o600 and (auth.uid, auth.gid) == (0, 0)
    assert not auth.in_ignition  # mouse keeps secrets out of Ignition
    text = render_secret_files(hp.fileset, {"ghcrToken": "s3cret"})[auth.path]
    assert json.loads(text) == {"auths": {"ghcr.io": {"auth": "bWU6czNjcmV0"}}}  # me:s3cret
    assert "s3cret" not in json.dumps(manifest(hp.fileset))
