"""What the program reads from `virsh capabilities`, and how it clears a killed run's leftovers
(the real libvirtd runs both in tests/e2e/test_vm_stack.py)."""

from __future__ import annotations

import pytest

from homelab.host.butane import ignition_text
from homelab.vm.host import VmHostError, clear_stale, owned, qemu_gid, stale_commands

DEBIAN = """<capabilities><host>
  <secmodel><model>none</model><doi>0</doi></secmodel>
  <secmodel><model>dac</model><doi>0</doi>
    <baselabel type='kvm'>+64055:+107</baselabel>
    <baselabel type='qemu'>+64055:+64055</baselabel>
  </secmodel>
</host></capabilities>"""


def test_qemu_gid_is_the_dac_base_label_group_of_the_domain_type():
    assert qemu_gid(DEBIAN, "qemu") == 64055
    assert qemu_gid(DEBIAN, "kvm") == 107


def test_no_dac_model_means_no_group():
    caps = "<capabilities><host><secmodel><model>none</model></secmodel></host></capabilities>"
    assert qemu_gid(caps, "qemu") is None


def test_a_label_that_is_not_uid_gid_is_refused():
    with pytest.raises(VmHostError, match="unexpected libvirt DAC label"):
        qemu_gid(DEBIAN.replace("+64055:+64055", "system_u:object_r"), "qemu")


def test_stale_commands_per_kind():
    assert stale_commands("domain", "homelab-x", None) == (
        [],
        ["dominfo", "homelab-x"],
        [["destroy", "homelab-x"], ["undefine", "homelab-x"]],
    )
    prepare, find, remove = stale_commands("volume", "homelab-x.ign", "homelab-x")
    assert prepare == [["pool-refresh", "homelab-x"]]
    assert find == ["vol-info", "--pool", "homelab-x", "homelab-x.ign"]
    assert remove == [["vol-delete", "--pool", "homelab-x", "homelab-x.ign"]]
    # A pool is forgotten, never deleted: its files are the user's until proven ours.
    assert stale_commands("pool", "homelab-x", None)[2] == [
        ["pool-destroy", "homelab-x"],
        ["pool-undefine", "homelab-x"],
    ]
    with pytest.raises(VmHostError):
        stale_commands("volume", "homelab-x.ign", None)


def test_only_this_stacks_names_are_ever_cleared():
    assert owned("homelab-vm-test", "homelab-vm-test")
    assert owned("homelab-vm-test-root.qcow2", "homelab-vm-test")
    assert owned("homelab-vm-test.ign", "homelab-vm-test")
    assert not owned("homelab-vm-test2", "homelab-vm-test")
    assert not owned("default", "homelab-vm-test")
    with pytest.raises(VmHostError, match="refusing to clear"):
        clear_stale("qemu:///system", "network", "default", None, "homelab-vm-test")


def test_ignition_text_has_exactly_one_final_newline():
    assert ignition_text('{"a":1}') == '{"a":1}\n'
    assert ignition_text('{"a":1}\n') == '{"a":1}\n'
    assert ignition_text('{"a":1}\n\n') == '{"a":1}\n'
