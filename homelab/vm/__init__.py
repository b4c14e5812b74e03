"""The libvirt test VM (vm-test): `config` (VmConfig, `homelab:vm`; pure), `image` (the base
image: fetched once, verified, cached) and `host` (what `virsh capabilities` says, and
clearing what a killed `pulumi up` created but never recorded). `components.vm.TestVM` builds
the VM from these."""
