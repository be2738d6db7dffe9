# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Options of a sysctl profile, shared by sysctl_check and sysctl_dropin."""

    DOCUMENTATION = r"""
options:
  settings:
    description:
      - The baseline profile, sysctl key to value.
      - Keys in procps syntax (C(net.core.somaxconn) or C(net/ipv4/conf/eth0.100/rp_filter)).
      - Values are integers, booleans (written C(1)/C(0)), strings, or lists of integers
        (triples like C(net.ipv4.tcp_rmem), written space-separated).
    type: dict
    required: true
  overrides:
    description: Keys to add to or change in O(settings).
    type: dict
    default: {}
  removals:
    description: Keys to leave out of the profile (from O(settings) or O(overrides)).
    type: list
    elements: str
    default: []
  ip_forward:
    description:
      - When set, manage C(net.ipv4.ip_forward). V(auto) enables it when one of
        O(libvirt_networks) has forward mode C(nat), C(route) or C(open), V(true)/V(false)
        set it. Setting C(net.ipv4.ip_forward) in O(overrides) as well is an error.
      - When not set, C(net.ipv4.ip_forward) is whatever O(settings)/O(overrides) say.
    type: raw
  libvirt_networks:
    description: The host's libvirt networks, C(kvm_host.libvirt.networks) items C({name, forward_mode}).
    type: list
    elements: dict
    default: []
  ignore_unknown:
    description:
      - Keys without a C(/proc/sys) entry, or whose entry is read-only, are left out of the
        profile with a warning instead of failing.
    type: bool
    default: false
  sources:
    description: Key to a short reason, rendered as a comment above the key with its kernel documentation file.
    type: dict
    default: {}
  header:
    description: Comment block at the top of RV(content).
    type: str
    default: ''
  path:
    description:
      - Where the profile's drop-in lives; files that C(sysctl --system) reads after it and
        that set the same keys are reported (RV(shadowed)).
    type: path
    default: /etc/sysctl.d/90-kvmops-net.conf
  root:
    description:
      - Internal, for tests only; leave it at V(/). The filesystem root to read C(/proc/sys)
        and the C(sysctl.d) directories under (and to write the files under, for the modules
        that write).
      - A root other than V(/) never runs a command on the host (no C(modprobe), no
        C(sysctl --system)) nor writes to the host's C(/proc/sys); everything is read and
        written under the root.
    type: path
    default: /
  origins:
    description:
      - Key to the variable it came from, for error messages, when the caller merged the
        profile itself (a plan section passes its own); wins over the label of O(settings).
    type: dict
    default: {}
  labels:
    description:
      - Names used for O(settings), O(overrides), O(removals) and O(ip_forward) in error
        messages, so that they name the caller's variables (the role passes its own).
    type: dict
    default: {}
"""
