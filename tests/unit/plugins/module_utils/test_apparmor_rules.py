# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvm_host.security.apparmor.libvirt_qemu_abstraction: whether libvirt's AppArmor
abstraction lets QEMU read the NUMA nodes' cpumap files, from file trees shaped like Debian
12's libvirt 9.0 package (no rule; "#include <local/abstractions/libvirt-qemu>", the local
file created empty by the postinst) and Debian 13's libvirt 11.3 (the rule; "include if
exists" of the local file and of abstractions/libvirt-qemu.d). The rule lines are written
out by hand as those packages have them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from sysfs_builder import Tree

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.apparmor_rules import (
    allows_read,
    libvirt_qemu_abstraction,
)

ABSTRACTION = "/etc/apparmor.d/abstractions/libvirt-qemu"
LOCAL = "/etc/apparmor.d/local/abstractions/libvirt-qemu"
CPUMAP = "/sys/devices/system/node/node1/cpumap"

# excerpts of the packages' abstraction files (the lines around the NUMA rules)
BOOKWORM = """  #include <abstractions/base>
  # for gathering information about available host resources
  /sys/devices/system/cpu/ r,
  /sys/devices/system/node/ r,
  /sys/devices/system/node/node[0-9]*/meminfo r,
  /sys/module/vhost/parameters/max_mem_regions r,

  # Site-specific additions and overrides. See local/README for details.
  #include <local/abstractions/libvirt-qemu>
"""
TRIXIE = """  #include <abstractions/base>
  /sys/devices/system/node/ r,
  /sys/devices/system/node/node[0-9]*/meminfo r,

   # Access to libnuma
   /sys/devices/system/node/*/cpumap r,

  include if exists <abstractions/libvirt-qemu.d>

  # Site-specific additions and overrides. See local/README for details.
  include if exists <local/abstractions/libvirt-qemu>
"""
MARKER = "kvmops.hypervisor.seccomp_sandbox"


def gather(tmp_path, files):
    Tree(tmp_path).files(files)
    return libvirt_qemu_abstraction(Reader(str(tmp_path)), MARKER)


def test_debian_12_lacks_the_rule_and_includes_the_empty_local_file(tmp_path):
    facts = gather(tmp_path, {ABSTRACTION: BOOKWORM, LOCAL: ""})
    assert facts == {"path": ABSTRACTION, "exists": True, "node_cpumap": False,
                     "local": {"path": LOCAL, "included": True, "exists": True, "blank": True, "kvmops": False,
                               "node_cpumap": False}}


def test_debian_13_has_the_rule(tmp_path):
    facts = gather(tmp_path, {ABSTRACTION: TRIXIE})
    assert facts["node_cpumap"] is True
    assert facts["local"] == {"path": LOCAL, "included": True, "exists": False, "blank": False, "kvmops": False,
                              "node_cpumap": False}


def test_a_dropin_of_the_d_directory_counts_as_the_abstraction(tmp_path):
    text = TRIXIE.replace("/sys/devices/system/node/*/cpumap r,", "")
    facts = gather(tmp_path, {ABSTRACTION: text,
                              ABSTRACTION + ".d/numa": "/sys/devices/system/node/node*/cpumap r,\n"})
    assert facts["node_cpumap"] is True


def test_the_local_file_is_reported_apart_ours_or_not(tmp_path):
    ours = "# Managed by Ansible (%s); local changes are overwritten.\n/sys/devices/system/node/*/cpumap r,\n" % MARKER
    facts = gather(tmp_path, {ABSTRACTION: BOOKWORM, LOCAL: ours})
    assert facts["node_cpumap"] is False  # the abstraction's own answer, not ours
    assert facts["local"]["kvmops"] is True and facts["local"]["node_cpumap"] is True
    assert facts["local"]["blank"] is False
    admin = "# site rules\n/srv/isos/** r,\n"
    facts = gather(tmp_path, {LOCAL: admin})
    assert facts["local"] == {"path": LOCAL, "included": True, "exists": True, "blank": False, "kvmops": False,
                              "node_cpumap": False}


def test_no_libvirt_abstraction(tmp_path):
    facts = gather(tmp_path, {})
    assert facts["exists"] is False and facts["node_cpumap"] is None
    assert facts["local"]["included"] is False and facts["local"]["exists"] is False


@pytest.mark.parametrize("rule,allowed", [
    ("/sys/devices/system/node/*/cpumap r,", True),
    ("/sys/devices/system/node/node[0-9]*/cpumap r,", True),
    ("/sys/devices/system/node/** r,", True),
    ("/sys/devices/** r,", True),
    ("/sys/devices/system/node/node{0,1}/cpumap r,", True),
    ("/sys/devices/system/node/node?/cpumap rw,", True),
    ("owner /sys/devices/system/node/*/cpumap r,", True),
    ("audit /sys/devices/system/node/*/cpumap r,  # a comment", True),
    ("/sys/devices/system/node/*/cpumap w,", False),        # no read
    ("/sys/devices/system/node/* r,", False),               # * stops at /
    ("/sys/devices/system/node/node[0-9]*/meminfo r,", False),
    ("/sys/devices/system/node/node{0,2}/cpumap r,", False),
    ("# /sys/devices/system/node/*/cpumap r,", False),      # commented out
    ("@{sys}/devices/system/node/*/cpumap r,", False),      # a variable: not resolved
    ("/sys/devices/system/node/*/cpumap r", False),         # no comma: not a rule
])
def test_rules(rule, allowed):
    assert allows_read(rule + "\n", CPUMAP) is allowed


def test_a_deny_rule_takes_it_back():
    text = "/sys/devices/system/node/*/cpumap r,\ndeny /sys/devices/system/node/node1/cpumap r,\n"
    assert allows_read(text, CPUMAP) is False
    assert allows_read(text, "/sys/devices/system/node/node0/cpumap") is True
