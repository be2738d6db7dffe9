# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Section ``sysctl_net``: the network and memory-map sysctls of a KVM host, one drop-in.

The baseline is here with the reason for each value (rendered above the key in the
drop-in, after its kernel documentation file, ``sysctl_conf.doc_for``); docs/sysctl_net.md
has the details. A run with no policy must never harm a host, so:

- net.ipv4.ip_forward and net.ipv6.conf.all.forwarding are decided from the libvirt
  networks of the facts; ``auto`` writes 1 when a network routes guest traffic and
  otherwise leaves the key out (never 0: that would turn forwarding off, at every
  ``sysctl --system``, under libvirt, Docker or Kubernetes);
- the baseline's net.bridge.bridge-nf-call-* keys are written only when br_netfilter is
  loaded (``kvm_host.kernel.br_netfilter_loaded``): without the module there are no hooks
  to turn off, and nothing here loads it; and never while a libvirt domain uses an
  nwfilter, whose iptables rules they would silence, unless
  ``sysctl_net_allow_nwfilter_bypass``;
- rp_filter and arp_filter are set on ``conf.default`` only, so an interface can still be
  set lower (the kernel uses the max of ``all`` and the interface).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.sysctl import (
    IP_FORWARD_KEY,
    IPV6_FORWARD_KEY,
    SysctlError,
    canonical_key,
    parse_bool,
    prepare,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.policy import PlanError
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.sections.common import managed_header, section

ROLE = "sysctl_net"

# key: (value, reason). The kernel documentation file of each key is rendered before its
# reason (sysctl_conf.doc_for): net.core.* Documentation/admin-guide/sysctl/net.rst, other
# net.* Documentation/networking/ip-sysctl.rst, vm.* Documentation/admin-guide/sysctl/vm.rst.
BASELINE = (
    ('net.core.somaxconn', 4096,
     'somaxconn, listen() backlog limit; 4096 is the default since Linux 5.4 (128 before), pinned for older kernels'),
    ('net.ipv4.tcp_fastopen', 1,
     'tcp_fastopen, 0x1 client side only (kernel default); the server side needs applications to opt in'),
    ('net.core.netdev_max_backlog', 8192,
     'netdev_max_backlog, per-CPU input queue of packets handed over by netif_rx (veth, non-NAPI drivers) '
     'or steered to another CPU by RPS/RFS (default 1000); QEMU tap writes are received directly '
     '(netif_receive_skb), not through it, unless RPS is on'),
    ('net.core.rmem_max', 33554432,
     'rmem_max, largest SO_RCVBUF an application may set (default 212992); '
     '32 MiB = BDP of 25 Gbit/s x 10 ms (live migration)'),
    ('net.core.wmem_max', 33554432,
     'wmem_max, largest SO_SNDBUF an application may set (default 212992); '
     '32 MiB = BDP of 25 Gbit/s x 10 ms (live migration)'),
    ('net.ipv4.tcp_rmem', [4096, 131072, 33554432],
     'tcp_rmem min/default/max; max raised from the kernel default 6291456 (6 MiB) to 32 MiB '
     'for autotuned receive buffers (live migration BDP)'),
    ('net.ipv4.tcp_wmem', [4096, 16384, 33554432],
     'tcp_wmem min/default/max; max raised from the kernel default 4194304 (4 MiB) to 32 MiB '
     'for autotuned send buffers'),
    ('net.bridge.bridge-nf-call-iptables', 0,
     "bridge-nf-call-iptables 0, bridged guest IPv4 does not traverse the host's iptables; "
     "written only while br_netfilter is loaded (without it there is no such hook)"),
    ('net.bridge.bridge-nf-call-ip6tables', 0,
     "bridge-nf-call-ip6tables 0, bridged guest IPv6 does not traverse the host's ip6tables; "
     "written only while br_netfilter is loaded"),
    ('net.bridge.bridge-nf-call-arptables', 0,
     "bridge-nf-call-arptables 0, bridged guest ARP does not traverse the host's arptables; "
     "written only while br_netfilter is loaded"),
    ('net.ipv4.conf.default.rp_filter', 2,
     'rp_filter 2, loose reverse path check (RFC 3704) for interfaces created later (tap, bridges); '
     'on default, not all: the max of all and the interface applies, so all would forbid 0 anywhere'),
    ('net.ipv4.conf.default.arp_filter', 1,
     'arp_filter 1, answer ARP only where the reply would be routed (no ARP flux onto guest bridges), '
     'for interfaces created later; on default, not all: all=1 would force it on every interface'),
    ('net.ipv4.neigh.default.gc_thresh1', 1024,
     'neigh/default/gc_thresh1, entries never garbage-collected below this (default 128)'),
    ('net.ipv4.neigh.default.gc_thresh2', 4096,
     'neigh/default/gc_thresh2, soft limit (default 512)'),
    ('net.ipv4.neigh.default.gc_thresh3', 8192,
     'neigh/default/gc_thresh3, hard limit of neighbour entries (default 1024)'),
    ('net.ipv6.neigh.default.gc_thresh1', 1024,
     'neigh/default/gc_thresh1 (IPv6 neighbour table, same semantics; default 128)'),
    ('net.ipv6.neigh.default.gc_thresh2', 4096,
     'neigh/default/gc_thresh2 (IPv6; default 512)'),
    ('net.ipv6.neigh.default.gc_thresh3', 8192,
     'neigh/default/gc_thresh3 (IPv6), hard limit (default 1024)'),
    ('vm.max_map_count', 262144,
     'max_map_count, memory map areas per process (default 65530); QEMU coroutine stacks take 2 each'),
)
IP_FORWARD_SOURCE = 'ip_forward; written first: changing it resets per-interface forwarding and accept_redirects'
IPV6_FORWARD_SOURCE = ('conf/all/forwarding (IPv6), global forwarding; changing it sets every interface\'s '
                       'forwarding (and so its router behaviour: accept_ra, RS) to the same value')

BRIDGE_NF_PREFIX = "net.bridge."
# The keys whose 0 silences libvirt nwfilter rules on bridged interfaces: its ebiptables
# driver puts the IP rules of a filter in iptables/ip6tables, which bridged frames reach
# only through br_netfilter with these on (libvirt formatnwfilter.html; arptables unused).
NWFILTER_KEYS = ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables")

OPTIONS = dict(
    baseline=dict(type="dict"),
    overrides=dict(type="dict", default={}),
    removals=dict(type="list", elements="str", default=[]),
    ip_forward=dict(type="raw", default="auto"),
    ipv6_forward=dict(type="raw", default="auto"),
    allow_nwfilter_bypass=dict(type="bool", default=False),
    conf_path=dict(type="path", default="/etc/sysctl.d/90-kvmops-net.conf"),
    modules_load_dir=dict(type="path", default="/etc/modules-load.d"),
)

# Written by versions before 0.3.0, which loaded br_netfilter for the net.bridge.* keys at
# every boot; it must be absent now (nothing of this role loads the module).
STALE_MODULES_LOAD = "kvmops-br_netfilter.conf"

LABELS = {"settings": "sysctl_net_baseline", "overrides": "sysctl_net_overrides",
          "removals": "sysctl_net_removals", "ip_forward": "sysctl_net_ip_forward",
          "ipv6_forward": "sysctl_net_ipv6_forward"}

HEADER_TEXT = """\
Network and memory-map sysctls of a KVM hypervisor. Each key is preceded by the kernel
documentation file that defines it and the reason for the value; docs/sysctl_net.md in
the collection has the details. Applied by `sysctl --system` and at boot by systemd-sysctl."""


def baseline():
    return dict((key, value) for key, value, _reason in BASELINE)


def _bridge_nf(settings, kernel):
    """The collection's baseline without its net.bridge.* keys unless br_netfilter is
    loaded, and {written, reason} saying why."""
    loaded = kernel.get("br_netfilter_loaded") if isinstance(kernel, dict) else None
    keys = [key for key in settings if key.startswith(BRIDGE_NF_PREFIX)]
    if loaded is True:
        return settings, {"written": True, "reason": "br_netfilter is loaded: its bridge-nf-call-* hooks are "
                                                     "set by the baseline"}
    kept = dict((key, value) for key, value in settings.items() if key not in keys)
    why = ("br_netfilter is not loaded" if loaded is False else
           "whether br_netfilter is loaded is unknown (kvm_host.kernel.br_netfilter_loaded)")
    return kept, {"written": False, "reason": "%s: the baseline's bridge-nf-call-* keys are left out; without "
                                              "the module bridged traffic never reaches iptables, and nothing "
                                              "here loads it" % why}


def _nwfilter_check(values, libvirt, allow, warnings):
    """PlanError when the profile turns off the hooks nwfilter rules need while a libvirt
    domain uses a filter; a warning instead when the operator allows it."""
    users = (libvirt.get("nwfilter_users") if isinstance(libvirt, dict) else None) or []
    off = [key for key in NWFILTER_KEYS if values.get(key) == "0"]
    if not off or not users:
        return
    named = ", ".join(sorted(set("%s %s (%s)" % (user.get("kind", "domain"), user.get("name"), user.get("filter"))
                                 for user in users if isinstance(user, dict))))
    text = ("%s = 0 would silence the iptables rules of libvirt nwfilters used by %s"
            % (" and ".join(off), named))
    if not allow:
        raise PlanError("sysctl_net_allow_nwfilter_bypass",
                        "%s. Set those keys to 1 in sysctl_net_overrides (nwfilter needs them), list them in "
                        "sysctl_net_removals, or set sysctl_net_allow_nwfilter_bypass: true to write them anyway"
                        % text)
    warnings.append("sysctl_net_allow_nwfilter_bypass: %s; written because it is true" % text)


def build(context, options):
    facts = context.facts if isinstance(context.facts, dict) else {}
    libvirt = facts.get("libvirt") or {}
    networks = libvirt.get("networks") if isinstance(libvirt, dict) else None
    try:
        allow_bypass = parse_bool(options["allow_nwfilter_bypass"], "sysctl_net_allow_nwfilter_bypass")
    except SysctlError as exc:
        raise PlanError("sysctl_net_allow_nwfilter_bypass", str(exc).split(" ", 1)[1])
    sources = dict((key, reason) for key, _value, reason in BASELINE)
    sources[IP_FORWARD_KEY] = IP_FORWARD_SOURCE
    sources[IPV6_FORWARD_KEY] = IPV6_FORWARD_SOURCE
    settings = options["baseline"]
    bridge_nf = {"written": None, "reason": "sysctl_net_baseline is given: its net.bridge.* keys are written as they are"}
    if settings is None:
        settings, bridge_nf = _bridge_nf(baseline(), facts.get("kernel"))
    params = {
        "settings": settings,
        "overrides": options["overrides"],
        "removals": options["removals"],
        "ip_forward": options["ip_forward"],
        "ipv6_forward": options["ipv6_forward"],
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
    values = dict(profile)
    _nwfilter_check(values, libvirt, allow_bypass, warnings)
    if any(canonical_key(key).startswith(BRIDGE_NF_PREFIX) for key in values) and not bridge_nf["written"]:
        if bridge_nf["written"] is False:
            warnings.append("sysctl_net: br_netfilter is not loaded, so the net.bridge.* keys given in "
                            "sysctl_net_overrides take effect only once something loads it (this role does not)")
        bridge_nf = dict(bridge_nf, written=True)
    elif bridge_nf["written"] is None:
        bridge_nf = dict(bridge_nf, written=False)
    context.warnings.extend(warnings)
    stale = "%s/%s" % (options["modules_load_dir"].rstrip("/") or "", STALE_MODULES_LOAD)
    return section(
        files={stale: None},
        sysctl={"path": options["conf_path"], "values": values,
                "sources": dict((key, sources[key]) for key in values if key in sources),
                "origins": dict((key, origins[key]) for key in values if key in origins),
                "header": managed_header(ROLE, HEADER_TEXT)},
        ip_forward=result.get("ip_forward"),
        ipv6_forward=result.get("ipv6_forward"),
        bridge_nf=bridge_nf,
    )
