"""Checks of a HostPlan with the real tools, run before any resource is registered."""

from __future__ import annotations

from homelab.butane import render_butane
from homelab.hostplan import HostPlan
from homelab.tools import quadlet_dryrun, run_butane, validate_ignition


def validate_plan(plan: HostPlan) -> str:
    """podman's quadlet generator over all units, then butane --strict and ignition-validate.

    Secret values do not change the structure being checked, so placeholders stand in for
    them here; the real values only ever meet the Butane inside a secret Pulumi input.
    Returns the generator's output (the systemd units the host will run).
    """
    units = {c.unit_path.rsplit("/", 1)[1]: c.text for c in plan.containers}
    generated = quadlet_dryrun(units) if units else ""
    placeholders = {name: "placeholder" for name in plan.fileset.secret_names}
    validate_ignition(run_butane(render_butane(plan.fileset, placeholders)))
    return generated
