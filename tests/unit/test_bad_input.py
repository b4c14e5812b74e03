"""Every kind of bad input is stopped by the host plan with file, line, key and a fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from homelab.host.layout import LayoutError, layout_host
from homelab.host.stack import ConfigError, StackFiles, load_stack_config, pick_secrets
from homelab.program import program_config

REPO = Path(__file__).resolve().parents[2]

GOOD = """[Unit]
Description=web
After=network-online.target zfs-import-tank.service
Requires=zfs-import-tank.service

[Container]
Image=docker.io/library/web:1.0
ContainerName={name}
PublishPort={port}:80
Volume=/var/tank/services/{name}/data:/data:Z

[Service]
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""


def project(tmp_path: Path, units: dict[str, str], containers: dict, host: dict | None = None):
    (tmp_path / "containers").mkdir(exist_ok=True)
    for name, text in units.items():
        (tmp_path / "containers" / f"{name}.container").write_text(text)
    cfg = {
        "homelab:host": {"hostname": "mouse", "production": True, **(host or {})},
        "homelab:containers": containers,
    }
    (tmp_path / "Pulumi.mouse.yaml").write_text(yaml.safe_dump({"config": cfg}, sort_keys=False))
    return tmp_path


def plan(p: Path):
    files = StackFiles(p)
    cfg = load_stack_config("mouse", files["mouse"].values, p, files)
    return layout_host(cfg, p, files)


def problems(p: Path) -> str:
    with pytest.raises((LayoutError, ConfigError)) as e:
        plan(p)
    return str(e.value)


def good(name: str = "web", port: int = 8080) -> str:
    return GOOD.format(name=name, port=port)


def line_of(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if needle in ln)


def test_good_project_plans(tmp_path):
    p = project(tmp_path, {"web": good()}, {"web": {}})
    fs = plan(p).fileset
    (unit_file,) = [f for f in fs.files if f.path == "/etc/containers/systemd/web.container"]
    assert unit_file.units == ("web.service",)
    assert [d.path for d in fs.dirs] == [
        "/var/tank/services",
        "/var/tank/services/web",
        "/var/tank/services/web/data",
    ]


def test_no_image(tmp_path):
    text = good().replace("Image=docker.io/library/web:1.0\n", "")
    msg = problems(project(tmp_path, {"web": text}, {"web": {}}))
    assert "containers/web.container:" in msg and "Image" in msg


def test_unknown_key_with_suggestion(tmp_path):
    text = good().replace("Image=", "Imagee=")
    msg = problems(project(tmp_path, {"web": text}, {"web": {}}))
    assert f"containers/web.container:{line_of(text, 'Imagee=')}:" in msg
    assert "Imagee" in msg and "Image" in msg


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (
            lambda t: t.replace("[Service]\n", "[Service]\nthis is not a key value line\n"),
            "this is",
        ),
        (lambda t: t.replace("ContainerName=web", 'Exec="/bin/sh -c'), 'Exec="'),
        (lambda t: t + "Restart=on-failure \\\n", "Restart=on-failure \\"),
    ],
    ids=["malformed-line", "unterminated-quote", "continuation-at-eof"],
)
def test_syntax_errors_have_file_and_line(tmp_path, mutate, needle):
    text = mutate(good())
    msg = problems(project(tmp_path, {"web": text}, {"web": {}}))
    assert "containers/web.container:" in msg
    assert f":{line_of(text, needle)}:" in msg


def test_duplicate_host_port(tmp_path):
    p = project(tmp_path, {"a": good("a", 8080), "b": good("b", 8080)}, {"a": {}, "b": {}})
    msg = problems(p)
    assert (
        f"containers/b.container:{line_of(good('b'), 'PublishPort=')}: PublishPort: host port "
        "8080/tcp on every address clashes with 8080/tcp on every address, published by 'a' at "
        f"containers/a.container:{line_of(good('a'), 'PublishPort=')}" in msg
    )


def test_duplicate_container_name(tmp_path):
    b = good("b", 9090).replace("ContainerName=b", "ContainerName=a")
    msg = problems(project(tmp_path, {"a": good("a", 8080), "b": b}, {"a": {}, "b": {}}))
    assert "container name 'a' is also used" in msg
    assert f"containers/b.container:{line_of(b, 'ContainerName=')}:" in msg


def test_duplicate_default_container_name(tmp_path):
    # b names no container, so podman calls it systemd-%N: its service's name, web.
    a = good("a", 8080).replace("ContainerName=a", "ContainerName=systemd-web")
    b = good("b", 9090).replace("ContainerName=b", "ServiceName=web")
    msg = problems(project(tmp_path, {"a": a, "b": b}, {"a": {}, "b": {}}))
    assert "container name 'systemd-web' is also used by 'a'" in msg


@pytest.mark.parametrize(
    ("port", "needle"), [("70000:80", "outside 1-65535"), ("web:80", "not a number")]
)
def test_bad_port_override(tmp_path, port, needle):
    msg = problems(project(tmp_path, {"web": good()}, {"web": {"ports": [port]}}))
    assert needle in msg and "homelab:containers.web.ports[0]" in msg


@pytest.mark.parametrize(
    ("vol", "needle"),
    [
        ("data/x:/x:Z", "is relative"),
        ("/var/tank/services/../etc:/x:Z", "contains '..'"),
        ("/srv/elsewhere:/x:Z", "outside the volume root"),
        ("/var/tank/services/web/more:/more", "has no :Z"),
    ],
)
def test_bad_volumes(tmp_path, vol, needle):
    msg = problems(project(tmp_path, {"web": good()}, {"web": {"volumes": [vol]}}))
    assert needle in msg and "homelab:containers.web.volumes[0]" in msg


def test_short_image_name(tmp_path):
    text = good().replace("docker.io/library/web:1.0", "web:1.0")
    msg = problems(project(tmp_path, {"web": text}, {"web": {}}))
    assert "short name" in msg and f"web.container:{line_of(text, 'Image=')}:" in msg


def test_latest_rejected_on_production_only(tmp_path):
    p = project(tmp_path, {"web": good()}, {"web": {"image_tag": "latest"}})
    msg = problems(p)
    assert "not pinned" in msg and "homelab:containers.web.image_tag" in msg
    p = project(tmp_path, {"web": good()}, {"web": {"image_tag": "latest"}}, {"production": False})
    assert plan(p).containers[0].image.split("@")[0].endswith(":latest")


def test_inline_secret_rejected(tmp_path):
    text = good().replace("[Service]", "Environment=API_TOKEN=hunter2\n\n[Service]")
    msg = problems(project(tmp_path, {"web": text}, {"web": {}}))
    assert (
        f"web.container:{line_of(text, 'API_TOKEN')}: Environment: API_TOKEN=... looks like a "
        "secret" in msg
    )
    assert "hunter2" not in msg  # the error must not print the secret itself
    msg = problems(
        project(tmp_path, {"web": good()}, {"web": {"environment": {"DB_PASSWORD": "x"}}})
    )
    assert "homelab:containers.web.environment.DB_PASSWORD" in msg


def test_enabled_container_without_file(tmp_path):
    msg = problems(project(tmp_path, {}, {"ghost": {}}))
    assert "containers/ghost.container does not exist" in msg and "enabled: false" in msg


def test_newline_injection_through_override(tmp_path):
    p = project(tmp_path, {"web": good()}, {"web": {"image_tag": "1.0\nExecStartPre=/bin/evil"}})
    msg = problems(p)
    assert "homelab:containers.web.image_tag" in msg and "newline" in msg


def _program_config(p: Path, values: dict, secrets: dict[str, str]):
    """program_config as __main__.py calls it: the language host's PULUMI_CONFIG map."""
    config = {f"homelab:{k}": json.dumps(v) for k, v in values.items()}
    config.update({f"homelab:{k}": v for k, v in secrets.items()})
    secret_keys = [f"homelab:{k}" for k in secrets]
    return program_config("mouse", p, config, secret_keys, StackFiles(p))


def test_missing_secret_names_the_command(tmp_path):
    p = project(tmp_path, {"web": good()}, {"web": {"secrets": {"API_TOKEN": "webToken"}}})
    cfg, given = _program_config(p, StackFiles(p)["mouse"].values, {})
    with pytest.raises(ConfigError) as e:
        pick_secrets(cfg, given)
    (msg,) = e.value.problems
    assert msg.startswith("Pulumi.mouse.yaml: homelab:webToken: required secret is not set")
    assert "`pulumi config set --secret -s mouse webToken` (it prompts" in msg
    cfg, given = _program_config(p, StackFiles(p)["mouse"].values, {"webToken": "s3cr3t"})
    assert pick_secrets(cfg, given) == {"webToken": "s3cr3t"}


def test_plain_value_for_secret_key_refused(tmp_path):
    p = project(tmp_path, {"web": good()}, {"web": {"secrets": {"API_TOKEN": "webToken"}}})
    values = {**StackFiles(p)["mouse"].values, "webToken": "plain"}
    with pytest.raises(ConfigError, match="set in plain text"):
        _program_config(p, values, {})


def test_repo_containers_plan_for_both_stacks():
    for stack in ("mouse", "vm-test"):
        files = StackFiles(REPO)
        cfg = load_stack_config(stack, files[stack].values, REPO, files)
        hp = layout_host(cfg, REPO, files)
        assert {c.name for c in hp.containers} == set(cfg.enabled)


def test_file_volume_without_z(tmp_path):
    text = good().replace("/data:Z", "/data")
    msg = problems(project(tmp_path, {"web": text}, {"web": {}}))
    assert f"web.container:{line_of(text, 'Volume=')}:" in msg and ":Z" in msg


def test_every_container_reports_at_once(tmp_path):
    a = good("a", 8080).replace("Image=", "Imagee=")
    b = good("b", 8081).replace("/data:Z", "/data")
    msg = problems(project(tmp_path, {"a": a, "b": b}, {"a": {}, "b": {}}))
    assert "containers/a.container:" in msg and "containers/b.container:" in msg


def test_problems_are_at_the_offending_line_not_the_first_of_its_key(tmp_path):
    text = (
        good()
        .replace("PublishPort=8080:80\n", "PublishPort=8080:80\nPublishPort=70000:80\n")
        .replace(
            "Volume=/var/tank/services/web/data:/data:Z\n",
            "Volume=/var/tank/services/web/data:/data:Z\nVolume=/var/tank/services/web/b:/b\n",
        )
    )
    msg = problems(project(tmp_path, {"web": text}, {"web": {}}))
    port, vol = line_of(text, "70000"), line_of(text, "web/b:")
    assert (port, vol) == (10, 12)
    assert f"containers/web.container:{port}: PublishPort: host port 70000" in msg
    assert f"containers/web.container:{vol}: Volume: bind mount /var/tank/services/web/b" in msg
    assert len(msg.splitlines()) == 2


def test_every_parse_error_of_a_file_at_once(tmp_path):
    text = (
        good()
        .replace("[Service]\n", "[Service]\nnot a line\n")
        .replace("[Install]\n", "[Install]\nnor this one\n")
    )
    msg = problems(project(tmp_path, {"web": text}, {"web": {}}))
    assert f"web.container:{line_of(text, 'not a line')}: line 'not a line' is not" in msg
    assert f"web.container:{line_of(text, 'nor this')}: line 'nor this one' is not" in msg
