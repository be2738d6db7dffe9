"""kvm_host.kernel.boot (cmdline/status.py): the reboot role's comparison made by the facts.

playbooks/site.yml leaves the reboot role out when these facts, gathered at the start, say
that nothing waits (no reboot required, grub.cfg current) and no role changed the boot
configuration in the run. So they must say what the kernel_cmdline module says without an
owner on the same host. The trees here get their grub.cfg from the fake grub-mkconfig
(tests/unit/fake_grub.py: a real /bin/sh sources the drop-ins), not from the code under test.
"""

import os
import subprocess

import pytest
from ansible.module_utils import basic

from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.owners import render_grub_dropin
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.status import boot_status
from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.kernel import gather_kernel
from ansible_collections.kvmops.hypervisor.plugins.modules import kernel_cmdline
from fake_grub import install as install_fake_grub
from module_runner import run_module
from sysfs_builder import write_file as put

KERNEL = "BOOT_IMAGE=/boot/vmlinuz-6.1.0-13-amd64 root=UUID=1 ro console=ttyS0,115200n8 "
COMPARED = ("backend", "owned_keys", "pending_owned", "running_owned", "reboot_required", "regenerate_needed")


@pytest.fixture
def host(tmp_path, monkeypatch):
    """A Debian tree with GRUB (the module may run no command under it)."""
    root = tmp_path / "root"
    put(root, "/etc/default/grub", 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\n'
                                   'GRUB_CMDLINE_LINUX="console=ttyS0,115200n8"\n')
    put(root, "/proc/cmdline", KERNEL + "quiet\n")
    os.makedirs(str(root / "boot" / "grub"))
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda *a, **k: pytest.fail("ran %r" % (a[1],)))
    return root


@pytest.fixture
def mkconfig(tmp_path, host):
    """Regenerates the tree's grub.cfg with the fake grub-mkconfig."""
    tools = install_fake_grub(tmp_path / "bin")

    def run():
        subprocess.run([tools["grub-mkconfig"], "-o", str(host / "boot/grub/grub.cfg")], check=True,
                       env=dict(os.environ, FAKE_GRUB_ROOT=str(host)))
    return run


def own(root, owner, tokens):
    put(root, "/etc/default/grub.d/90-kvmops-%s.cfg" % owner, render_grub_dropin(owner, tokens))


def module_status(monkeypatch, root):
    """The reboot role's comparison: kernel_cmdline without an owner, in check mode."""
    outcome = run_module(monkeypatch, kernel_cmdline.main, {"root": str(root)}, check_mode=True)
    assert not outcome.failed, outcome.result
    return outcome.result


def facts_boot(root):
    return gather_kernel(Reader(str(root)))["boot"]


def test_converged_host_nothing_waits(monkeypatch, host, mkconfig):
    own(host, "numa_pinning", ["isolcpus=2-3"])
    mkconfig()
    put(host, "/proc/cmdline", KERNEL + "isolcpus=2-3 quiet\n")
    boot = facts_boot(host)
    assert boot == {"backend": "grub", "owned_keys": ["isolcpus"], "pending_owned": ["isolcpus=2-3"],
                    "running_owned": ["isolcpus=2-3"], "reboot_required": False, "regenerate_needed": False}
    assert boot == dict((key, module_status(monkeypatch, host)[key]) for key in COMPARED)


def test_arguments_in_grub_cfg_not_running_yet(monkeypatch, host, mkconfig):
    own(host, "numa_pinning", ["isolcpus=2-3"])
    mkconfig()
    boot = facts_boot(host)
    assert boot["reboot_required"] is True and boot["regenerate_needed"] is False
    assert boot["pending_owned"] == ["isolcpus=2-3"] and boot["running_owned"] == []
    assert boot == dict((key, module_status(monkeypatch, host)[key]) for key in COMPARED)


def test_drop_in_written_grub_cfg_never_regenerated(monkeypatch, host, mkconfig):
    """A run wrote the drop-in and stopped before its handler: grub.cfg still boots without
    the argument. GRUB must be regenerated (what the reboot role's comparison does), and the
    next boot is predicted as regenerated, so the facts must not say "nothing waits"."""
    mkconfig()
    own(host, "numa_pinning", ["isolcpus=2-3"])
    boot = facts_boot(host)
    assert boot["regenerate_needed"] is True
    assert boot["reboot_required"] is True and boot["pending_owned"] == ["isolcpus=2-3"]
    status = module_status(monkeypatch, host)
    assert status["regenerate_needed"] is True and status["changed"] is True
    assert boot == dict((key, status[key]) for key in COMPARED)


def test_changed_argument_value_is_stale_too(monkeypatch, host, mkconfig):
    own(host, "numa_pinning", ["isolcpus=2-3"])
    mkconfig()
    put(host, "/proc/cmdline", KERNEL + "isolcpus=2-3 quiet\n")
    own(host, "numa_pinning", ["isolcpus=1-3"])
    boot = facts_boot(host)
    assert boot["regenerate_needed"] is True and boot["pending_owned"] == ["isolcpus=1-3"]
    assert boot == dict((key, module_status(monkeypatch, host)[key]) for key in COMPARED)


def test_no_boot_loader_cannot_tell(tmp_path):
    put(tmp_path, "/proc/cmdline", "root=/dev/vda1 ro\n")
    reader = Reader(str(tmp_path))
    assert boot_status(reader, lambda name: None) is None
    assert reader.warnings == []  # the reboot role's own comparison warns, not the facts


def test_refused_boot_configuration_cannot_tell(host):
    """GRUB_CMDLINE_LINUX with "--" hands kvmops' arguments to init: kernel_cmdline refuses
    it, so the facts cannot say nothing waits."""
    put(host, "/etc/default/grub", 'GRUB_CMDLINE_LINUX="console=ttyS0 -- single"\n')
    own(host, "numa_pinning", ["isolcpus=2-3"])
    assert facts_boot(host) is None


def test_stale_grub_cfg_with_nothing_to_reboot_for(monkeypatch, host, mkconfig):
    """The running kernel has isolcpus=2-3, grub.cfg was regenerated for 1-3, and then the
    drop-in went back to 2-3 without a regeneration: once regenerated nothing differs from
    the running kernel, but today's grub.cfg would boot 1-3. Only regenerate_needed tells."""
    put(host, "/proc/cmdline", KERNEL + "isolcpus=2-3 quiet\n")
    own(host, "numa_pinning", ["isolcpus=1-3"])
    mkconfig()
    own(host, "numa_pinning", ["isolcpus=2-3"])
    boot = facts_boot(host)
    assert boot["reboot_required"] is False and boot["regenerate_needed"] is True
    assert boot == dict((key, module_status(monkeypatch, host)[key]) for key in COMPARED)
