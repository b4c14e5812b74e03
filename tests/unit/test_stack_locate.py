"""Where a stack problem is reported (homelab/host/stack.py): the file and line that set the
key, across a stack and its base stack (the repository's vm-test on mouse), the key as
`pulumi config set --path` names it, and the suggestion for a misspelt key, word for word."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from homelab.host.stack import ConfigError, StackFiles, load_stack_config, pick_secrets

REPO = Path(__file__).resolve().parents[2]


def _problems(
    tmp: Path,
    vm_extra: str = "",
    mouse: tuple[str, str] | None = None,
    secrets: dict[str, str] | None = None,
) -> list[str]:
    shutil.copytree(REPO / "containers", tmp / "containers")
    text = (REPO / "Pulumi.mouse.yaml").read_text()
    if mouse is not None:
        assert mouse[0] in text
        text = text.replace(*mouse)
    (tmp / "Pulumi.mouse.yaml").write_text(text)
    (tmp / "Pulumi.vm-test.yaml").write_text((REPO / "Pulumi.vm-test.yaml").read_text() + vm_extra)
    files = StackFiles(tmp)
    try:
        cfg = load_stack_config("vm-test", files["vm-test"].values, tmp, files)
        if secrets is not None:
            pick_secrets(cfg, secrets, files)
    except ConfigError as exc:
        return exc.problems
    return []


SECRETS = {"rustfsAccessKey": "a", "rustfsSecretKey": "b", "tailscaleAuthKey": "c"}
LAST_VM_LINE = len((REPO / "Pulumi.vm-test.yaml").read_text().splitlines())


@pytest.mark.parametrize(
    ("vm_extra", "mouse", "problems"),
    [
        ("", None, []),
        # A misspelt top key, in the stack itself: its line, the closest name.
        (
            "  homelab:hots: {}\n",
            None,
            [
                f"Pulumi.vm-test.yaml:{LAST_VM_LINE + 1}: homelab:hots: unknown key; "
                "did you mean 'host'?"
            ],
        ),
        # In the base stack: the base stack's file and line.
        (
            None,
            ("    timezone: UTC\n", "    timezone: UTC\n    hostnam: x\n"),
            ["Pulumi.mouse.yaml:10: homelab:host.hostnam: unknown key; did you mean 'hostname'?"],
        ),
        # Two levels down: the names of that model (auto_rebase's), not of the host's.
        (
            None,
            ("      enabled: false\n", "      enabled: false\n      imag: x\n"),
            [
                "Pulumi.mouse.yaml:17: homelab:host.auto_rebase.imag: unknown key; did you mean "
                "'image'?"
            ],
        ),
        # Nothing close: every valid key of that model.
        (
            None,
            ("      enabled: false\n", "      enabled: false\n      zzzzzz: x\n"),
            [
                "Pulumi.mouse.yaml:17: homelab:host.auto_rebase.zzzzzz: unknown key; valid keys: "
                "enabled, image"
            ],
        ),
        # A list item: its own line.
        (None, ("    health_timeout: 120\n", "    health_timeout: [1, 2]\n"), None),
    ],
)
def test_a_problem_is_reported_where_the_key_is_written(
    tmp_path: Path, vm_extra: str | None, mouse: tuple[str, str] | None, problems: list[str] | None
) -> None:
    got = _problems(tmp_path, vm_extra or "", mouse)
    if problems is None:  # only where it is: the line of the value
        assert len(got) == 1 and got[0].startswith(
            "Pulumi.mouse.yaml:25: homelab:push.health_timeout: "
        ), got
    else:
        assert got == problems


def test_a_missing_or_unusable_secret_names_the_command_that_sets_it(tmp_path: Path) -> None:
    fix = "(it prompts for the value, which so stays out of your shell history)"
    got = _problems(tmp_path, secrets={**SECRETS, "rustfsSecretKey": "a\nb"})
    assert got == [
        "Pulumi.vm-test.yaml:5: homelab:rustfsSecretKey: the secret holds a newline; a secret "
        "must be one line of plain text (it could otherwise add lines to the file it is written "
        "to); set it again with `pulumi config set --secret -s vm-test rustfsSecretKey` (value on "
        "stdin: pulumi drops one final newline)"
    ]
    got = _problems(tmp_path / "2", secrets={"rustfsSecretKey": "b"})
    assert got == [
        f"Pulumi.vm-test.yaml:5: homelab:{n}: required secret is not set; set it with "
        f"`pulumi config set --secret -s vm-test {n}` {fix}"
        for n in ("rustfsAccessKey", "tailscaleAuthKey")
    ]
    assert _problems(tmp_path / "3", secrets=SECRETS) == []
