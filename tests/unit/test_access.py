"""Never lock the owner out (homelab.host.access, the pure rule; homelab.tools.connecting_keys,
the edge that reads the key with the real ssh-keygen)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from homelab.fileset import FileSet, ManagedFile
from homelab.host.access import (
    ConnectingKeys,
    access_problems,
    keys_file_of,
    lockout_problem,
    parse_public_key,
)
from homelab.host.layout import layout_host
from homelab.host.stack import StackFiles, load_stack_config
from homelab.host.system import CORE_KEYS_FILE
from homelab.tools import connecting_keys, owner_access_problems

REPO = Path(__file__).resolve().parents[2]
PLACEHOLDER = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICjmq1k7aYIOE1js5mF1eA6b8r8ZCXSrsplOdUxF20t4 "
    "replace-with-your-key@laptop"
)


def keypair(tmp: Path, name: str = "id_ed25519", comment: str = "owner@laptop") -> Path:
    key = tmp / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)],
        check=True,
    )
    return key


def pub(key: Path) -> str:
    return Path(str(key) + ".pub").read_text().strip()


def fingerprint(key: Path) -> str:
    out = subprocess.run(["ssh-keygen", "-lf", str(key)], capture_output=True, text=True)
    return out.stdout.split()[1]


def keys_set(*lines: str, path: str = CORE_KEYS_FILE) -> FileSet:
    content = "".join(ln + "\n" for ln in lines)
    return FileSet(files=[ManagedFile(path=path, content=content, mode=0o600, uid=1000, gid=1000)])


def test_fingerprint_is_ssh_keygens(tmp_path):
    key = keypair(tmp_path)
    parsed = parse_public_key(pub(key))
    assert parsed is not None
    assert parsed.fingerprint == fingerprint(key)
    assert parsed.describe() == f"ssh-ed25519 {fingerprint(key)} (owner@laptop)"
    # An authorized_keys line with options in front names the same key.
    assert parse_public_key('from="10.0.0.0/8",no-pty ' + pub(key)) == parsed
    assert parse_public_key("# a comment") is None
    assert parse_public_key("ssh-ed25519 not*base64") is None


def test_keys_files_are_fcos_sshds():
    assert keys_file_of("core", CORE_KEYS_FILE)
    assert keys_file_of("core", "/home/core/.ssh/authorized_keys")
    assert keys_file_of("core", "/home/core/.ssh/authorized_keys.d/afterburn")
    assert not keys_file_of("core", "/home/core/.ssh/authorized_keys.d/.hidden")
    assert not keys_file_of("core", "/home/other/.ssh/authorized_keys")
    assert keys_file_of("root", "/root/.ssh/authorized_keys.d/ignition")
    assert not keys_file_of("root", CORE_KEYS_FILE)


def test_a_set_without_the_connecting_key_is_refused_with_the_key_file_and_fix(tmp_path):
    key = keypair(tmp_path)
    other = keypair(tmp_path, "other", "someone-else")
    conn = ConnectingKeys((parse_public_key(pub(key)),), "derived from ~/.ssh/id_ed25519")  # type: ignore[arg-type]
    msg = lockout_problem(keys_set(pub(other)), "core", conn)
    assert msg is not None
    assert f"ssh-ed25519 {fingerprint(key)} (owner@laptop)" in msg
    assert CORE_KEYS_FILE in msg
    assert "add it to homelab:host.ssh_authorized_keys" in msg
    assert pub(key) in msg
    # With the key (another comment does not matter: the key is its blob), it passes.
    blob = " ".join(pub(key).split()[:2])
    assert lockout_problem(keys_set(pub(other), blob + " renamed"), "core", conn) is None


def test_only_the_connecting_users_written_files_count(tmp_path):
    key = keypair(tmp_path)
    conn = ConnectingKeys((parse_public_key(pub(key)),), "k")  # type: ignore[arg-type]
    # root connects: core's file does not concern root's way in.
    assert lockout_problem(keys_set(PLACEHOLDER), "root", conn) is None
    # ... but a set writing root's keys without it does.
    root_set = keys_set(PLACEHOLDER, path="/root/.ssh/authorized_keys.d/ignition")
    msg = lockout_problem(root_set, "root", conn)
    assert msg is not None and "/root/.ssh/authorized_keys.d/ignition" in msg
    # A set that writes no keys file leaves the host's keys alone.
    assert lockout_problem(FileSet(), "core", conn) is None


def test_any_agent_key_that_stays_is_enough(tmp_path):
    a, b = keypair(tmp_path, "a", "a"), keypair(tmp_path, "b", "b")
    agent = ConnectingKeys(
        (parse_public_key(pub(a)), parse_public_key(pub(b))),  # type: ignore[arg-type]
        "the ssh-agent's keys",
    )
    assert lockout_problem(keys_set(pub(b)), "core", agent) is None
    msg = lockout_problem(keys_set(PLACEHOLDER), "core", agent)
    assert msg is not None and fingerprint(a) in msg and fingerprint(b) in msg


def _project(tmp: Path, keys: list[str], key_path: str | None, user: str = "core") -> Path:
    doc = yaml.safe_load((REPO / "Pulumi.mouse.yaml").read_text())
    doc["config"]["homelab:host"]["ssh_authorized_keys"] = keys
    doc["config"]["homelab:ssh"]["private_key_path"] = key_path
    doc["config"]["homelab:ssh"]["user"] = user
    (tmp / "containers").mkdir(exist_ok=True)
    for f in (REPO / "containers").glob("*.container"):
        (tmp / "containers" / f.name).write_text(f.read_text())
    (tmp / "Pulumi.t.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return tmp


def _problems(project: Path, reinstall: bool = False) -> list[str]:
    files = StackFiles(project)
    cfg = load_stack_config("t", files["t"].values, project, files)
    plan = layout_host(cfg, project, files)
    return owner_access_problems(cfg, plan.fileset, files, reinstall)


def test_placeholder_is_refused_at_its_line(tmp_path):
    key = keypair(tmp_path)
    project = _project(tmp_path, [pub(key), PLACEHOLDER], str(key))
    assert "AAAAICjmq1k7" in (project / "Pulumi.t.yaml").read_text()
    problems = _problems(project)
    assert len(problems) == 1, problems
    line = next(
        i
        for i, ln in enumerate((project / "Pulumi.t.yaml").read_text().splitlines(), 1)
        if "AAAAICjmq1k7" in ln
    )
    assert problems[0].startswith(f"Pulumi.t.yaml:{line}: homelab:host.ssh_authorized_keys[1]: ")
    assert "placeholder" in problems[0]


def test_the_stack_of_the_issue_is_refused_through_the_real_ssh_keygen(tmp_path):
    key = keypair(tmp_path)
    Path(str(key) + ".pub").unlink()  # derived by ssh-keygen -y, not read from the .pub
    project = _project(tmp_path, [PLACEHOLDER], str(key))
    problems = _problems(project)
    assert len(problems) == 2, problems
    assert "placeholder" in problems[0]
    assert f"ssh-ed25519 {fingerprint(key)}" in problems[1]
    assert f"derived from {key}" in problems[1]
    assert f"after it {CORE_KEYS_FILE} would no longer hold that key" in problems[1]
    assert problems[1].startswith("Pulumi.t.yaml:")
    # The reinstall's wording, for `homelab build`.
    assert "on a host installed from this Ignition" in _problems(project, reinstall=True)[1]
    # root connects: core's keys are no concern; the placeholder still is.
    rooted = _project(tmp_path, [PLACEHOLDER], str(key), user="root")
    assert [p for p in _problems(rooted) if "placeholder" not in p] == []


def test_a_stack_with_the_key_passes(tmp_path):
    key = keypair(tmp_path)
    assert _problems(_project(tmp_path, [pub(key)], str(key))) == []


def test_an_encrypted_key_is_read_from_its_pub(tmp_path):
    key = tmp_path / "enc"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "sekrit-pass", "-C", "enc@x", "-f", str(key)],
        check=True,
    )
    found = connecting_keys(str(key))
    assert isinstance(found, ConnectingKeys)
    assert found.keys[0].line == pub(key) and found.source == f"{key}.pub"
    Path(str(key) + ".pub").unlink()
    msg = connecting_keys(str(key))
    assert isinstance(msg, str) and f"put the public key beside it as {key}.pub" in msg


def test_a_missing_key_file_is_named(tmp_path):
    msg = connecting_keys(str(tmp_path / "nope"))
    assert isinstance(msg, str) and "no such file" in msg


@pytest.mark.parametrize("agent", [False, True])
def test_agent_keys(tmp_path, monkeypatch, agent):
    if not agent:
        monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
        assert connecting_keys(None) == ConnectingKeys((), "no ssh-agent")
        return
    key = keypair(tmp_path)
    sock = tmp_path / "agent.sock"
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            subprocess.run(["sleep", "0.05"])
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        subprocess.run(["ssh-add", "-q", str(key)], check=True, env={"SSH_AUTH_SOCK": str(sock)})
        found = connecting_keys(None)
        assert isinstance(found, ConnectingKeys)
        assert [k.fingerprint for k in found.keys] == [fingerprint(key)]
    finally:
        proc.terminate()
        proc.wait()


def test_access_problems_without_files_still_name_the_key():
    cfg_files = StackFiles(REPO)
    cfg = load_stack_config("mouse", cfg_files["mouse"].values, REPO, cfg_files)
    plan = layout_host(cfg, REPO, cfg_files)
    problems = access_problems(cfg, plan.fileset, None)
    assert len(problems) == 1 and "homelab:host.ssh_authorized_keys[0]" in problems[0]
