"""Reading the stack files (homelab.host.stack) and collecting problems (homelab.host.problems),
asserted as users see them: every refusal as its whole `FILE:LINE: key: message` line, a stack
and its base stack, a stack file that is not a stack file's shape, where a key is reported
when it is written in two files or not at all, and the order `build` prints problems in."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from homelab.host.layout import LayoutError, layout_host
from homelab.host.problems import Problems
from homelab.host.stack import (
    ConfigError,
    StackFile,
    StackFiles,
    _problem,
    load_stack_config,
    pick_secrets,
    read_stack_file,
)
from tests.unit.test_bad_input import good

HOST = "config:\n  homelab:host:\n    hostname: mouse\n"  # lines 1-3
RESTART = (
    "Restart: set Restart=on-failure (or always) in [Service] (best practice: restart a "
    "failed container)"
)


def run(
    tmp_path: Path,
    mouse: str,
    vm: str | None = None,
    stack: str = "mouse",
    units: dict[str, str] | None = None,
) -> list[str]:
    """The problems of `stack` (Pulumi.mouse.yaml and Pulumi.vm-test.yaml as given), as
    `build` prints them, through load_stack_config and layout_host; [] when it plans."""
    (tmp_path / "containers").mkdir(exist_ok=True)
    for name, text in (units or {}).items():
        (tmp_path / "containers" / f"{name}.container").write_text(text)
    (tmp_path / "Pulumi.mouse.yaml").write_text(mouse)
    if vm is not None:
        (tmp_path / "Pulumi.vm-test.yaml").write_text(vm)
    files = StackFiles(tmp_path)
    try:
        cfg = load_stack_config(stack, files[stack].values, tmp_path, files)
        layout_host(cfg, tmp_path, files)
    except (ConfigError, LayoutError) as exc:
        assert str(exc) == "\n".join(exc.problems)  # what is printed: one problem a line
        return exc.problems
    return []


# --- a stack file's shape ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        (
            "- a\n- b\n",
            ["Pulumi.mouse.yaml:1: a stack file is a mapping (config: ...), not a list or text"],
        ),
        (
            "encryptionsalt: x\n\nconfig:\n- a\n",
            [
                "Pulumi.mouse.yaml:3: config: must be a mapping of keys such as homelab:host, "
                "not a list or text"
            ],
        ),
        (
            "config: text\n",
            [
                "Pulumi.mouse.yaml:1: config: must be a mapping of keys such as homelab:host, "
                "not a list or text"
            ],
        ),
        (
            "config:\n  a: [\n",
            [
                "Pulumi.mouse.yaml:3: not valid YAML: expected the node content, but found "
                "'<stream end>' (while parsing a flow node opened here, error found at line 3); "
                "fix the syntax"
            ],
        ),
        # No config: at all (or an empty one): the missing key at line 1.
        (
            "encryptionsalt: x\n",
            [
                "Pulumi.mouse.yaml:1: homelab:host: required key is missing; set it with "
                "`pulumi config set`"
            ],
        ),
        (
            "config:\n",
            [
                "Pulumi.mouse.yaml:1: homelab:host: required key is missing; set it with "
                "`pulumi config set`"
            ],
        ),
        # A key missing under one that is written: the line of the one written.
        (
            "config:\n  homelab:host:\n    timezone: UTC\n",
            [
                "Pulumi.mouse.yaml:2: homelab:host.hostname: required key is missing; set it "
                "with `pulumi config set`"
            ],
        ),
    ],
    ids=["list", "config-list", "config-text", "bad-yaml", "no-config", "empty-config", "missing"],
)
def test_a_stack_file_of_the_wrong_shape(tmp_path, text, problems):
    assert run(tmp_path, text) == problems


def test_a_stack_file_that_does_not_exist_has_no_values(tmp_path):
    assert read_stack_file(tmp_path / "Pulumi.none.yaml") == {}
    assert StackFile(tmp_path / "Pulumi.none.yaml").config == {}


def test_a_stack_name_that_is_not_one(tmp_path):
    with pytest.raises(ConfigError) as exc:
        StackFiles(tmp_path)["../x"]
    assert exc.value.problems == [
        "stack name '../x' is not a stack's short name: letters, digits, '-', '_' and '.' only "
        "(up to 100), e.g. mouse"
    ]


# --- values, secrets and keys ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "problems"),
    [
        (
            '    timezone: "a\\tb"\n',
            [
                "Pulumi.mouse.yaml:4: homelab:host.timezone: the value holds a tab at character "
                "2; a value must be one line of plain text (it could otherwise add lines to the "
                "file it is written to)"
            ],
        ),
        # A key that is not one line of text: named by where it is (it cannot be shown).
        (
            '  homelab:containers:\n    web:\n      environment:\n        "A\\tB": x\n',
            [
                "Pulumi.mouse.yaml:6: homelab:containers.web.environment: the key holds a tab at "
                "character 2; a key must be one line of plain text (it could otherwise add lines "
                "to the file it is written to)"
            ],
        ),
        (
            "  homelab:containers:\n  - web\n",
            ["Pulumi.mouse.yaml:4: homelab:containers: Input should be a valid dictionary"],
        ),
        (
            "  homelab:containers:\n    web: x\n",
            [
                "Pulumi.mouse.yaml:5: homelab:containers.web: Input should be a valid dictionary "
                "or instance of ContainerConfig"
            ],
        ),
        (
            "  homelab:containers:\n    web:\n      secrets: [a]\n",
            [
                "Pulumi.mouse.yaml:6: homelab:containers.web.secrets: Input should be a valid "
                "dictionary"
            ],
        ),
        # A secret key that is not text is the model's to refuse; the next one is still read.
        (
            "  homelab:containers:\n    web:\n      secrets:\n        A: 5\n        B: host\n",
            [
                "Pulumi.mouse.yaml:8: homelab:containers.web.secrets.B: secret config key "
                "'host' is also a homelab setting (homelab:host); choose another name"
            ],
        ),
        (
            "  homelab:containers:\n    web:\n      secrets:\n        A: webA\n"
            "  homelab:webA: hunter2\n",
            [
                "Pulumi.mouse.yaml:8: homelab:webA: is a secret (containers.web.secrets.A) but is "
                "set in plain text; remove it and set it with --secret: `pulumi config rm -s "
                "mouse webA && pulumi config set --secret -s mouse webA <value>`"
            ],
        ),
        (
            "  homelab:registries:\n    ghcr.io:\n      usernam: x\n      password: p\n",
            [
                "Pulumi.mouse.yaml:5: homelab:registries.ghcr.io.username: required key is "
                "missing; set it with `pulumi config set`",
                "Pulumi.mouse.yaml:6: homelab:registries.ghcr.io.usernam: unknown key; did you "
                "mean 'username'?",
            ],
        ),
        (
            "  homelab:base_stack: mouse\n",
            [
                "Pulumi.mouse.yaml:4: homelab:base_stack: a stack cannot inherit from itself; "
                "remove base_stack"
            ],
        ),
        (
            "  homelab:base_stack: ../x\n",
            [
                "Pulumi.mouse.yaml:4: homelab:base_stack: stack name '../x' is not a stack's "
                "short name: letters, digits, '-', '_' and '.' only (up to 100), e.g. mouse"
            ],
        ),
        (
            "  homelab:base_stack: nope\n",
            ["Pulumi.mouse.yaml:4: homelab:base_stack: no stack file Pulumi.nope.yaml to inherit"],
        ),
    ],
    ids=[
        "control-char",
        "control-char-key",
        "containers-list",
        "container-text",
        "secrets-list",
        "secret-setting",
        "secret-plain",
        "registry-key",
        "base-self",
        "base-name",
        "base-missing",
    ],
)
def test_a_bad_stack_value(tmp_path, extra, problems):
    assert run(tmp_path, HOST + extra) == problems


def test_an_unreadable_secret_value_at_its_key(tmp_path):
    text = HOST + "  homelab:containers:\n    web:\n      secrets:\n        TOKEN: webToken\n"
    text += "  homelab:webToken:\n    secure: v1:abc\n"  # line 8
    (tmp_path / "Pulumi.mouse.yaml").write_text(text)
    files = StackFiles(tmp_path)
    cfg = load_stack_config("mouse", files["mouse"].values, tmp_path, files)
    with pytest.raises(ConfigError) as exc:
        pick_secrets(cfg, {"webToken": "a\nb"}, files)
    assert exc.value.problems == [
        "Pulumi.mouse.yaml:8: homelab:webToken: the secret holds a newline; a secret must be "
        "one line of plain text (it could otherwise add lines to the file it is written to); "
        "set it again with `pulumi config set --secret -s mouse webToken` (value on stdin: "
        "pulumi drops one final newline)"
    ]


def test_a_union_fields_problem_names_the_field_not_pydantics_branch(tmp_path):
    # pydantic names each branch of a union in the error's location (`int`, `str`,
    # `list[int]`, ...): the key a problem names is the field's, as `pulumi config` spells it.
    class Union(BaseModel):
        a: int | str
        b: bool | list[int]

    (tmp_path / "Pulumi.mouse.yaml").write_text(HOST + "  homelab:a: x\n  homelab:b: x\n")
    files = StackFiles(tmp_path)
    with pytest.raises(ValidationError) as exc:
        Union.model_validate({"a": [1], "b": "x"})
    got = [_problem(files, ["mouse"], err) for err in exc.value.errors()]
    assert got == [
        "Pulumi.mouse.yaml:4: homelab:a: Input should be a valid integer",
        "Pulumi.mouse.yaml:4: homelab:a: Input should be a valid string",
        "Pulumi.mouse.yaml:5: homelab:b: Input should be a valid boolean, unable to interpret "
        "input",
        "Pulumi.mouse.yaml:5: homelab:b: Input should be a valid list",
    ]


# --- a stack and its base stack ---------------------------------------------------------------

VM = "config:\n  homelab:base_stack: mouse\n"  # lines 1-2


def test_an_inherited_value_is_checked_and_reported_in_the_base_stacks_file(tmp_path):
    assert run(tmp_path, HOST + '    timezone: "a\\tb"\n', VM, stack="vm-test") == [
        "Pulumi.mouse.yaml:4: homelab:host.timezone: the value holds a tab at character 2; a "
        "value must be one line of plain text (it could otherwise add lines to the file it is "
        "written to)"
    ]


def test_a_setting_that_replaces_an_inherited_mapping(tmp_path):
    assert run(tmp_path, HOST, VM + "  homelab:host: x\n", stack="vm-test") == [
        "Pulumi.vm-test.yaml:3: homelab:host: Input should be a valid dictionary or instance of "
        "HostConfig"
    ]


SHORT = (
    'specifies the image "web:{v}" which not a fully qualified image name (short names are '
    "resolved by a registry search; name the registry, e.g. docker.io/web:{v})"
)


def test_a_container_setting_is_reported_in_the_file_that_sets_it(tmp_path):
    mouse = HOST + "    production: false\n  homelab:containers:\n    web:\n      image: web:1.0\n"
    # Inherited: in the base stack's file (line 7).
    assert run(tmp_path, mouse, VM, stack="vm-test", units={"web": good()}) == [
        f"Pulumi.mouse.yaml:7: homelab:containers.web.image: {SHORT.format(v='1.0')}"
    ]
    # Set in both: the stack's own (the most specific) file, line 5.
    vm = VM + "  homelab:containers:\n    web:\n      image: web:2.0\n"
    assert run(tmp_path, mouse, vm, stack="vm-test", units={"web": good()}) == [
        f"Pulumi.vm-test.yaml:5: homelab:containers.web.image: {SHORT.format(v='2.0')}"
    ]


def test_where_a_key_is_when_it_is_written_nowhere_or_only_in_part(tmp_path):
    (tmp_path / "Pulumi.base.yaml").write_text(
        "a: 1\n\nconfig:\n  homelab:ssh:\n    host: h\n  homelab:l:\n  - x\n"
    )
    (tmp_path / "Pulumi.noconf.yaml").write_text("a: 1\n")
    files = StackFiles(tmp_path)
    # Not written anywhere: the stack's own file (line 1 when it does not exist), not the
    # base stack's config: line.
    assert files.locate(["nope", "base"], ("host",)) == "Pulumi.nope.yaml:1"
    assert files.locate(["base"], ("host",)) == "Pulumi.base.yaml:3"
    assert files.locate(["noconf"], ()) == "Pulumi.noconf.yaml:1"
    assert files.locate(["nope"], ()) == "Pulumi.nope.yaml:1"
    # Written in part: the deepest key written, past a scalar or the end of a list.
    assert files.locate(["base"], ("ssh", "host", "x")) == "Pulumi.base.yaml:5"
    assert files.locate(["base"], ("ssh", "host", 0)) == "Pulumi.base.yaml:5"
    assert files.locate(["base"], ("l", 1)) == "Pulumi.base.yaml:6"
    assert files.locate(["base"], ("l", 0)) == "Pulumi.base.yaml:7"


# --- collected problems, in the order they are printed ---------------------------------------


def test_a_files_problems_in_line_order_the_stacks_after_them(tmp_path):
    # Found in this order: the stack's image (a stack key), the file's port (line 8), the
    # file's Restart= (line 12), the missing pool import (the [Unit] header, line 1).
    text = (
        good()
        .replace("PublishPort=8080:80", "PublishPort=localhost:8080:80")
        .replace("Restart=on-failure", "Restart=no")
        .replace("Requires=zfs-import-tank.service\n", "")
    )
    mouse = HOST + "  homelab:containers:\n    web:\n      image: web:1.0\n"
    assert run(tmp_path, mouse, units={"web": text}) == [
        "containers/web.container:1: Requires: data lives on the ZFS pool: add "
        "zfs-import-tank.service to Requires= in [Unit]",
        "containers/web.container:8: PublishPort: host address 'localhost' is not an IP "
        "address; write e.g. 127.0.0.1:8080:80",
        f"containers/web.container:12: {RESTART}",
        f"Pulumi.mouse.yaml:6: homelab:containers.web.image: {SHORT.format(v='1.0')}",
    ]


def test_problems_as_recorded():
    problems = Problems()
    problems.unit("x.container", None, "Key", "no line")
    problems.unit("x.container", 3, "", "no key")
    problems.add("y.container:2: as given", line=2)
    assert len(problems) == 3
    assert problems.lines == [
        "x.container:0: Key: no line",
        "x.container:3: no key",
        "y.container:2: as given",
    ]
    problems.sort_from(1)
    assert problems.lines == [
        "x.container:0: Key: no line",
        "y.container:2: as given",
        "x.container:3: no key",
    ]
    with pytest.raises(AssertionError) as exc:
        problems.stack(("host",), "x")
    assert str(exc.value) == "a stack value without the stack files"
