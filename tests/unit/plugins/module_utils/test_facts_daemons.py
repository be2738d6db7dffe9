# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Daemon facts (facts/daemons.py) on built roots: unit files, enablement links, masks,
processes, pid and socket files, and the libvirt daemon that serves QEMU."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts import daemons
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.host import kvm_host_facts

from .facts_helpers import Tree

OFF = {"present": False, "enabled": False, "masked": False, "running": False}


def link(tree, path, target):
    """An absolute link as systemctl writes it (its target need not exist under the root)."""
    tree.mkdir(os.path.dirname(path))
    os.symlink(target, tree.path(path))


def process(tree, pid, comm):
    tree.write("/proc/%d/comm" % pid, comm)


def debian_ksmtuned_and_libvirtd(tree):
    """Debian 12: ksmtuned and the monolithic libvirtd, both enabled and running; the
    modular units are installed but not enabled."""
    for unit in ("ksmtuned.service", "libvirtd.service", "libvirtd.socket", "virtqemud.service", "virtqemud.socket"):
        tree.write("/lib/systemd/system/" + unit, "[Unit]\n")
    link(tree, "/etc/systemd/system/multi-user.target.wants/ksmtuned.service", "/lib/systemd/system/ksmtuned.service")
    link(tree, "/etc/systemd/system/multi-user.target.wants/libvirtd.service", "/lib/systemd/system/libvirtd.service")
    link(tree, "/etc/systemd/system/sockets.target.wants/libvirtd.socket", "/lib/systemd/system/libvirtd.socket")
    process(tree, 1, "systemd")
    process(tree, 612, "ksmtuned")
    process(tree, 700, "libvirtd")
    tree.write("/run/libvirtd.pid", "700")
    tree.write("/run/libvirt/libvirt-sock", "")


def test_debian_units_enabled_and_running(tmp_path):
    tree = Tree(tmp_path)
    debian_ksmtuned_and_libvirtd(tree)
    reader = Reader(str(tmp_path))
    facts = daemons.gather_daemons(reader)
    assert facts["units"] == {
        "ksm.service": {"present": False, "enabled": False, "masked": False, "running": None},
        "ksmtuned.service": {"present": True, "enabled": True, "masked": False, "running": True},
        "libvirtd.service": {"present": True, "enabled": True, "masked": False, "running": True},
        "libvirtd.socket": {"present": True, "enabled": True, "masked": False, "running": True},
        "virtqemud.service": {"present": True, "enabled": False, "masked": False, "running": False},
        "virtqemud.socket": {"present": True, "enabled": False, "masked": False, "running": False},
    }
    assert facts["libvirt"] == "libvirtd" and facts["libvirt_running"] is True
    assert reader.warnings == []


def test_rhel_modular_daemon_socket_activated_and_stopped(tmp_path):
    """RHEL 9: virtqemud.socket enabled, the daemon exited after its idle timeout; ksm and
    ksmtuned installed in /usr/lib, ksm enabled, ksmtuned disabled."""
    tree = Tree(tmp_path)
    for unit in ("ksm.service", "ksmtuned.service", "libvirtd.service", "libvirtd.socket",
                 "virtqemud.service", "virtqemud.socket"):
        tree.write("/usr/lib/systemd/system/" + unit, "[Unit]\n")
    link(tree, "/etc/systemd/system/sockets.target.wants/virtqemud.socket", "/usr/lib/systemd/system/virtqemud.socket")
    link(tree, "/etc/systemd/system/multi-user.target.wants/ksm.service", "/usr/lib/systemd/system/ksm.service")
    tree.write("/run/libvirt/virtqemud-sock", "")
    tree.write("/run/virtqemud.pid", "4242")  # stale: no such process
    process(tree, 1, "systemd")
    facts = daemons.gather_daemons(Reader(str(tmp_path)))
    assert facts["libvirt"] == "virtqemud" and facts["libvirt_running"] is False
    assert facts["units"]["virtqemud.service"] == {"present": True, "enabled": False, "masked": False, "running": False}
    assert facts["units"]["virtqemud.socket"] == {"present": True, "enabled": True, "masked": False, "running": True}
    assert facts["units"]["ksm.service"] == {"present": True, "enabled": True, "masked": False, "running": None}
    assert facts["units"]["ksmtuned.service"] == {"present": True, "enabled": False, "masked": False, "running": False}


def test_running_modular_daemon_wins_over_an_enabled_monolithic_one(tmp_path):
    tree = Tree(tmp_path)
    tree.write("/usr/lib/systemd/system/virtqemud.service", "[Unit]\n")
    tree.write("/usr/lib/systemd/system/libvirtd.service", "[Unit]\n")
    link(tree, "/etc/systemd/system/multi-user.target.wants/libvirtd.service", "/usr/lib/systemd/system/libvirtd.service")
    process(tree, 900, "virtqemud")
    facts = daemons.gather_daemons(Reader(str(tmp_path)))
    assert (facts["libvirt"], facts["libvirt_running"]) == ("virtqemud", True)


def test_masked_unit_is_neither_present_nor_enabled(tmp_path):
    tree = Tree(tmp_path)
    tree.write("/lib/systemd/system/ksmtuned.service", "[Unit]\n")
    link(tree, "/etc/systemd/system/ksmtuned.service", "/dev/null")
    link(tree, "/etc/systemd/system/multi-user.target.wants/ksmtuned.service", "/lib/systemd/system/ksmtuned.service")
    facts = daemons.gather_daemons(Reader(str(tmp_path)))
    assert facts["units"]["ksmtuned.service"] == {"present": False, "enabled": False, "masked": True, "running": False}


def test_a_pid_file_of_another_program_is_not_the_daemon(tmp_path):
    tree = Tree(tmp_path)
    tree.write("/lib/systemd/system/libvirtd.service", "[Unit]\n")
    tree.write("/run/libvirtd.pid", "321\n")
    process(tree, 321, "bash")  # pid reused after libvirtd died
    facts = daemons.gather_daemons(Reader(str(tmp_path)))
    assert facts["units"]["libvirtd.service"]["running"] is False
    assert facts["libvirt"] is None


def test_bare_root_nothing_installed_and_no_warning(tmp_path):
    reader = Reader(str(tmp_path))
    facts = daemons.gather_daemons(reader)
    assert facts["libvirt"] is None and facts["libvirt_running"] is False
    assert facts["units"]["ksmtuned.service"] == OFF
    assert facts["units"]["ksm.service"]["running"] is None
    assert reader.warnings == []


def test_daemons_is_a_subset_of_kvm_host_facts(tmp_path):
    debian_ksmtuned_and_libvirtd(Tree(tmp_path))
    facts = kvm_host_facts(str(tmp_path), ["daemons"])
    assert set(facts) == {"daemons", "warnings"}
    assert facts["daemons"]["libvirt"] == "libvirtd"
