"""The preview's plan (homelab.push.plan) read the way a user reads it: what `pulumi preview
--diff` says `up` will change on the host. Each case starts from a host that matches the
stack and changes one thing; secret values go through the real `secret_strings` of the
rendered env files, never a hand-made list."""

from __future__ import annotations

import pytest

from homelab import push
from homelab.fileset import FileSet, ManagedFile
from homelab.manifest import dirs, files, links, mode, owner
from homelab.push.plan import (
    MASK,
    NO_DATASETS,
    PLAN_HEAD,
    render_plan,
    secret_strings,
    unit_actions,
)
from tests.unit.test_push import fileset, parts

WEB = "/etc/containers/systemd/web.container"
ENV = "/etc/homelab/env/web.env"
MOTD = "/etc/motd"


def _matching(d: push.Desired, h: dict[str, str]) -> push.LiveState:
    """The host as the last `up` left it: every file in place, the unit active."""
    m = d.manifest
    return push.LiveState(
        files={p: push.LiveFile(h[p], mode(f), *owner(f), "link") for p, f in files(m)},
        dirs={p: (mode(e), *owner(e)) for p, e in dirs(m)},
        links=dict(links(m)),
        units={"web.service": "active"},
        old_units=["web.service"],
    )


def _plan(live: push.LiveState, secrets: dict[str, str] | None = None) -> str:
    d, c, s, h = parts(fileset())
    if secrets is not None:
        fs = fileset()
        s = push.secret_contents(fs, secrets)
        h = push.desired_hashes(d.manifest, c, s)
    text = render_plan(d, c, h, live, secret_strings(s))
    # This file set has no datasets: the plan says so once, last, whenever a unit (re)starts
    # (tests/unit/test_datasets.py has the rest of the data plan).
    starts = "\n  restart " in text or "\n  start " in text
    assert text.endswith(NO_DATASETS) == starts, text
    return text.removesuffix(NO_DATASETS)


def test_a_host_that_matches_gets_the_head_alone():
    d, _c, _s, h = parts(fileset())
    assert _plan(_matching(d, h)) == PLAN_HEAD


def test_a_new_file_is_shown_whole_against_dev_null():
    d, _c, _s, h = parts(fileset())
    live = _matching(d, h)
    live.files[MOTD] = None
    assert _plan(live) == PLAN_HEAD + (
        f"--- /dev/null\n+++ {MOTD} (after up)\n@@ -0,0 +1 @@\n+hi\n"
    )


def test_a_changed_file_is_a_diff_and_restarts_its_unit():
    d, _c, _s, h = parts(fileset())
    live = _matching(d, h)
    live.files[WEB] = push.LiveFile("0" * 64, 0o644, 0, 0, "link")
    live.texts[WEB] = "[Container]\nImage=x:0\n"
    assert _plan(live) == PLAN_HEAD + (
        f"--- {WEB} (on the host)\n+++ {WEB} (after up)\n@@ -1,2 +1,2 @@\n"
        " [Container]\n-Image=x:0\n+Image=x:1\n"
        f"units:\n  restart web.service: {WEB} changed\n"
    )


def test_a_changed_file_the_host_did_not_send_says_so():
    d, _c, _s, h = parts(fileset())
    live = _matching(d, h)
    live.files[MOTD] = push.LiveFile("0" * 64, 0o640, 0, 4, "link")
    assert _plan(live) == PLAN_HEAD + f"{MOTD}: content differs (not text, or over 64 KiB)\n"


def test_every_changed_file_is_listed_in_path_order():
    """A secret file or a file the host sent no text for does not end the list."""
    d, _c, _s, h = parts(fileset())
    live = _matching(d, h)
    live.files[WEB] = push.LiveFile("0" * 64, 0o644, 0, 0, "link")  # no text sent
    live.files[ENV] = None
    live.files[MOTD] = None
    assert _plan(live) == PLAN_HEAD + (
        f"{WEB}: content differs (not text, or over 64 KiB)\n"
        f"secret file {ENV}: new (values not shown)\n"
        f"--- /dev/null\n+++ {MOTD} (after up)\n@@ -0,0 +1 @@\n+hi\n"
        f"units:\n  restart web.service: {WEB} changed, {ENV} changed\n"
    )


def test_a_unit_no_longer_in_the_stack_stops():
    d, _c, _s, h = parts(fileset())
    live = _matching(d, h)
    live.old_units = ["web.service", "old.service", "old.service"]
    assert _plan(live) == PLAN_HEAD + "units:\n  stop old.service: no longer in the stack\n"


@pytest.mark.parametrize(("state", "shown"), [("inactive", "inactive"), ("", "unknown")])
def test_an_inactive_unit_starts(state, shown):
    d, _c, _s, h = parts(fileset())
    live = _matching(d, h)
    live.units["web.service"] = state
    assert _plan(live) == PLAN_HEAD + f"units:\n  start web.service: not active ({shown})\n"
    del live.units["web.service"]
    assert _plan(live) == PLAN_HEAD + "units:\n  start web.service: not active (unknown)\n"


def test_a_pending_restart_is_shown_once_with_its_reason():
    d, _c, _s, h = parts(fileset())
    live = _matching(d, h)
    live.pending = ["web.service"]
    live.units["web.service"] = "inactive"  # a restart covers the start
    assert _plan(live) == PLAN_HEAD + (
        "units:\n  restart web.service: restart pending from an interrupted push\n"
    )
    live.files[WEB] = None
    assert unit_actions(d, h, live) == [
        ("restart", "web.service", f"{WEB} changed, restart pending from an interrupted push")
    ]


def test_a_changed_secret_file_is_named_never_shown():
    d, _c, _s, h = parts(fileset())
    live = _matching(d, h)
    live.files[ENV] = push.LiveFile("0" * 64, 0o600, 0, 0, "link")
    text = _plan(live)
    assert text == PLAN_HEAD + (
        f"secret file {ENV}: content differs (values not shown)\n"
        f"units:\n  restart web.service: {ENV} changed\n"
    )
    live.files[ENV] = None
    assert f"secret file {ENV}: new (values not shown)\n" in _plan(live)


def test_secret_values_held_in_a_plain_file_are_masked_through_the_real_env_files():
    """A secret value that also sits in a plain file (pasted into a unit by mistake) never
    reaches the preview: the values come from the rendered env files themselves."""
    fs = FileSet(
        files=(
            ManagedFile(path=WEB, content="", units=("web.service",)),
            ManagedFile(
                path=ENV,
                mode=0o600,
                secret_env=(("LONG", "long"), ("SHORT", "short"), ("TINY", "tiny")),
                units=("web.service",),
            ),
        ),
        units=("web.service",),
        quadlet_dir="/etc/containers/systemd",
    )
    # Overlapping values: the longer one is masked whole, never left as "a-********" (it
    # also sorts after the shorter one by text: only by length is it first).
    values = {"long": "a-s3cret-value", "short": "s3cret-value", "tiny": "abcd"}
    secrets = push.secret_contents(fs, values)
    assert sorted(secret_strings(secrets)) == sorted(values.values())
    leak = "Environment=A=a-s3cret-value B=s3cret-value C=abcd D=abc\n"
    d = push.Desired.of(fs)
    contents = {WEB: leak}
    h = push.desired_hashes(d.manifest, contents, secrets)
    live = push.LiveState(files={WEB: None, ENV: None}, units={"web.service": "active"})
    text = render_plan(d, contents, h, live, secret_strings(secrets))
    for v in values.values():
        assert v not in text
    assert f"+Environment=A={MASK} B={MASK} C={MASK} D=abc\n" in text  # 3 chars: not a secret


def test_a_file_without_a_final_newline_still_gives_one_line_per_change():
    d, c, _s, h = parts(fileset())
    live = _matching(d, h)
    live.files[MOTD] = push.LiveFile("0" * 64, 0o640, 0, 4, "link")
    live.texts[MOTD] = "old"
    text = render_plan(d, dict(c, **{MOTD: "new"}), h, live)
    assert text == PLAN_HEAD + (
        f"--- {MOTD} (on the host)\n+++ {MOTD} (after up)\n@@ -1 +1 @@\n-old\n+new\n"
    )


def test_secret_strings_are_the_values_of_set_variables_only():
    env = {ENV: "A=one\nB=\nC= \nnot a line\nD=two=three\n", "/x.env": "E=four\n"}
    assert secret_strings(env) == ["one", "two=three", "four"]
