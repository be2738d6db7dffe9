# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Section ``sysctl_net``: the network and memory-map sysctls of a KVM host, one drop-in.

The baseline is here with the reason for each value (rendered above the key in the
drop-in, after its kernel documentation file); docs/sysctl_net.md has the details.
net.ipv4.ip_forward is decided from the libvirt networks of the facts."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.sysctl import SysctlError, prepare
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.policy import PlanError
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.sections.common import managed_header, section

ROLE = "sysctl_net"

# key: (value, reason)
BASELINE = (
    ('net.core.somaxconn', 4096,
     'somaxconn, listen() backlog limit; 4096 is the default since Linux 5.4 (128 before)'),
    ('net.ipv4.tcp_fastopen', 1,
     'tcp_fastopen, 0x1 client side only (kernel default); the server side needs applications to opt in'),
    ('net.core.netdev_max_backlog', 8192,
     'netdev_max_backlog, per-CPU input queue that guest tap traffic goes through; 8192 packets ~ 10 ms at 10 Gbit/s'),
    ('net.core.rmem_max', 33554432,
     'rmem_max, largest SO_RCVBUF; 32 MiB = BDP of 25 Gbit/s x 10 ms (live migration)'),
    ('net.core.wmem_max', 33554432,
     'wmem_max, largest SO_SNDBUF; 32 MiB = BDP of 25 Gbit/s x 10 ms (live migration)'),
    ('net.ipv4.tcp_rmem', [4096, 131072, 33554432],
     'tcp_rmem min/default/max; max 32 MiB for autotuned receive buffers (default since 6.x kernels)'),
    ('net.ipv4.tcp_wmem', [4096, 16384, 33554432],
     'tcp_wmem min/default/max; max 32 MiB for autotuned send buffers'),
    ('net.bridge.bridge-nf-call-iptables', 0,
     "bridge-nf-call-iptables 0, bridged guest IPv4 does not traverse the host's iptables (needs br_netfilter)"),
    ('net.bridge.bridge-nf-call-ip6tables', 0,
     "bridge-nf-call-ip6tables 0, bridged guest IPv6 does not traverse the host's ip6tables"),
    ('net.bridge.bridge-nf-call-arptables', 0,
     "bridge-nf-call-arptables 0, bridged guest ARP does not traverse the host's arptables"),
    ('net.ipv4.conf.all.rp_filter', 2,
     'rp_filter 2, loose reverse path check (RFC 3704); strict (1) breaks asymmetric routing'),
    ('net.ipv4.conf.default.rp_filter', 2,
     'rp_filter 2 for interfaces created later (tap, bridges)'),
    ('net.ipv4.conf.all.arp_filter', 1,
     'arp_filter 1, answer ARP only where the reply would be routed (no ARP flux onto guest bridges)'),
    ('net.ipv4.conf.default.arp_filter', 1,
     'arp_filter 1 for interfaces created later'),
    ('net.ipv4.neigh.default.gc_thresh1', 1024,
     'neigh/default/gc_thresh1, entries never garbage-collected below this'),
    ('net.ipv4.neigh.default.gc_thresh2', 4096,
     'neigh/default/gc_thresh2, soft limit'),
    ('net.ipv4.neigh.default.gc_thresh3', 8192,
     'neigh/default/gc_thresh3, hard limit of neighbour entries (default 1024)'),
    ('net.ipv6.neigh.default.gc_thresh1', 1024,
     'neigh/default/gc_thresh1 (IPv6 neighbour table, same semantics)'),
    ('net.ipv6.neigh.default.gc_thresh2', 4096,
     'neigh/default/gc_thresh2 (IPv6)'),
    ('net.ipv6.neigh.default.gc_thresh3', 8192,
     'neigh/default/gc_thresh3 (IPv6), hard limit'),
    ('vm.max_map_count', 262144,
     'max_map_count, memory map areas per process (default 65530); QEMU coroutine stacks take 2 each'),
)
IP_FORWARD_SOURCE = 'ip_forward; written first: changing it resets per-interface forwarding and accept_redirects'

OPTIONS = dict(
    baseline=dict(type="dict"),
    overrides=dict(type="dict", default={}),
    removals=dict(type="list", elements="str", default=[]),
    ip_forward=dict(type="raw", default="auto"),
    conf_path=dict(type="path", default="/etc/sysctl.d/90-kvmops-net.conf"),
)

LABELS = {"settings": "sysctl_net_baseline", "overrides": "sysctl_net_overrides",
          "removals": "sysctl_net_removals", "ip_forward": "sysctl_net_ip_forward"}

HEADER_TEXT = """\
Network and memory-map sysctls of a KVM hypervisor. Each key is preceded by the kernel
documentation file that defines it and the reason for the value; docs/sysctl_net.md in
the collection has the details. Applied by `sysctl --system` and at boot by systemd-sysctl."""


def baseline():
    return dict((key, value) for key, value, _reason in BASELINE)


def build(context, options):
    facts = context.facts if isinstance(context.facts, dict) else {}
    libvirt = facts.get("libvirt") or {}
    networks = libvirt.get("networks") if isinstance(libvirt, dict) else None
    sources = dict((key, reason) for key, _value, reason in BASELINE)
    sources["net.ipv4.ip_forward"] = IP_FORWARD_SOURCE
    params = {
        "settings": baseline() if options["baseline"] is None else options["baseline"],
        "overrides": options["overrides"],
        "removals": options["removals"],
        "ip_forward": options["ip_forward"],
        "libvirt_networks": networks or [],
        "sources": sources,
        "labels": LABELS,
    }
    try:
        profile, origins, sources, _labels, result, warnings = prepare(params)
    except SysctlError as exc:
        message = str(exc)
        option = message.split(" ", 1)[0].rstrip(":")
        if option not in LABELS.values():
            option = "sysctl_net"
        raise PlanError(option, message.split(" ", 1)[1] if option != "sysctl_net" else message)
    context.warnings.extend(warnings)
    values = dict(profile)
    return section(
        sysctl={"path": options["conf_path"], "values": values,
                "sources": dict((key, sources[key]) for key in values if key in sources),
                "origins": dict((key, origins[key]) for key in values if key in origins),
                "header": managed_header(ROLE, HEADER_TEXT)},
        ip_forward=result.get("ip_forward"),
    )
