# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: the sysctl_net role against a per-key ansible.posix.sysctl loop.

Both set the same 40 keys to the same values on the same kind of target: a fresh
network namespace with a private /etc/sysctl.d (roles/sysctl_net/tests/netns_sandbox.py),
so the machine's own sysctls and /etc are untouched. Each approach converges a fresh
sandbox, then runs once more on the converged one; the end state (every key's running
value and the drop-in) is checked to be the same for both. Prints wall times and ratios.

    make bench            (needs root; skipped with a message otherwise)
    BENCH_ROUNDS=5 make bench   (default: best of 3)
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "roles", "sysctl_net", "tests"))
import netns_sandbox as ns  # noqa: E402  pylint: disable=wrong-import-position

GOAL = 10.0
CONF = "/etc/sysctl.d/90-kvmops-net.conf"

# 39 keys through sysctl_net_baseline plus net.ipv4.ip_forward through
# sysctl_net_ip_forward = the 40 keys; all exist and are writable in a network namespace.
KEYS = {
    "net.core.somaxconn": 4096,
    "net.ipv4.tcp_fastopen": 1,
    "net.ipv4.tcp_rmem": "4096 131072 33554432",
    "net.ipv4.tcp_wmem": "4096 16384 33554432",
    "net.bridge.bridge-nf-call-iptables": 0,
    "net.bridge.bridge-nf-call-ip6tables": 0,
    "net.bridge.bridge-nf-call-arptables": 0,
    "net.ipv4.conf.all.rp_filter": 2,
    "net.ipv4.conf.default.rp_filter": 2,
    "net.ipv4.conf.all.arp_filter": 1,
    "net.ipv4.conf.default.arp_filter": 1,
    "net.ipv4.conf.all.accept_redirects": 0,
    "net.ipv4.conf.default.accept_redirects": 0,
    "net.ipv4.conf.all.send_redirects": 0,
    "net.ipv4.conf.default.send_redirects": 0,
    "net.ipv4.conf.all.secure_redirects": 0,
    "net.ipv4.conf.default.secure_redirects": 0,
    "net.ipv4.conf.all.accept_source_route": 0,
    "net.ipv4.conf.default.accept_source_route": 0,
    "net.ipv4.conf.all.log_martians": 1,
    "net.ipv4.conf.default.log_martians": 1,
    "net.ipv4.conf.all.arp_announce": 2,
    "net.ipv4.conf.default.arp_announce": 2,
    "net.ipv6.conf.all.accept_redirects": 0,
    "net.ipv6.conf.default.accept_redirects": 0,
    "net.ipv6.conf.all.accept_source_route": 0,
    "net.ipv6.conf.default.accept_source_route": 0,
    "net.ipv6.conf.default.accept_ra": 0,
    "net.ipv4.icmp_echo_ignore_broadcasts": 1,
    "net.ipv4.icmp_ignore_bogus_error_responses": 1,
    "net.ipv4.tcp_syncookies": 1,
    "net.ipv4.tcp_keepalive_time": 600,
    "net.ipv4.tcp_keepalive_intvl": 30,
    "net.ipv4.tcp_keepalive_probes": 5,
    "net.ipv4.tcp_mtu_probing": 1,
    "net.ipv4.tcp_slow_start_after_idle": 0,
    "net.ipv4.tcp_max_syn_backlog": 4096,
    "net.ipv4.tcp_fin_timeout": 30,
    "net.ipv4.ip_local_port_range": "32768 60999",
}

ROLE_PLAY = """---
- name: sysctl_net role
  hosts: localhost
  gather_facts: false
  roles:
    - role: kvmops.hypervisor.sysctl_net
"""

EMPTY_PLAY = """---
- name: Nothing (ansible-playbook start-up and play overhead)
  hosts: localhost
  gather_facts: false
  tasks: []
"""

LOOP_PLAY = """---
- name: One ansible.posix.sysctl task per key
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Set each key in the drop-in and reload it
      ansible.posix.sysctl:
        name: "{{ item.key }}"
        value: "{{ item.value }}"
        sysctl_file: %s
        reload: true
        state: present
      loop: "{{ bench_keys | dict2items }}"
""" % CONF


def wanted():
    values = dict((key, " ".join(str(value).split())) for key, value in KEYS.items())
    values["net.ipv4.ip_forward"] = "1"
    return values


def role_vars():
    return {
        "sysctl_net_baseline": KEYS,
        "sysctl_net_ip_forward": True,
        "kvm_host": {"libvirt": {"networks": []}},
    }


def loop_vars():
    keys = dict([("net.ipv4.ip_forward", 1)] + list(KEYS.items()))
    return {"bench_keys": keys}


def converge(playbook, extravars):
    """(first run seconds, second run seconds, end state) on a fresh sandbox."""
    with ns.Sandbox("kvmops-sysctl-bench") as box:
        timings = []
        for _attempt in range(2):
            start = time.time()
            result = box.playbook(playbook, extravars)
            timings.append(time.time() - start)
            if result.rc != 0 or result.recap is None or result.recap["failed"]:
                raise SystemExit("bench run failed:\n%r" % result)
            if _attempt == 1 and result.recap["changed"]:
                raise SystemExit("second run changed something:\n%r" % result)
        state = box.read(sorted(wanted()))
        return timings[0], timings[1], state


def main():
    reason = ns.available()
    if reason:
        print("bench_sysctl_net: skipped, %s" % reason)
        return 0
    assert len(wanted()) == 40, len(wanted())
    with ns.BridgeNetfilter():
        return bench()


def bench():
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    guard = ns.host_snapshot(sorted(wanted()))
    workdir = tempfile.mkdtemp(prefix="kvmops-bench-")
    plays = {}
    for name, text in (("role", ROLE_PLAY), ("loop", LOOP_PLAY), ("empty", EMPTY_PLAY)):
        plays[name] = os.path.join(workdir, "%s.yml" % name)
        with open(plays[name], "w") as handle:
            handle.write(text)

    figures = {"role": [], "loop": []}
    startup = []
    for _round in range(rounds):
        with ns.Sandbox("kvmops-sysctl-bench") as box:
            start = time.time()
            box.playbook(plays["empty"])
            startup.append(time.time() - start)
        for name, extravars in (("role", role_vars()), ("loop", loop_vars())):
            first, second, state = converge(plays[name], extravars)
            if state != wanted():
                diff = dict((k, (state.get(k), v)) for k, v in wanted().items() if state.get(k) != v)
                raise SystemExit("%s: end state differs from the 40 wanted values: %r" % (name, diff))
            figures[name].append((first, second))

    if ns.host_snapshot(sorted(wanted())) != guard:
        raise SystemExit("the machine's own sysctls or sysctl.d changed")

    def best(name, index):
        return min(run[index] for run in figures[name])

    print("sysctl_net bench: 40 keys, fresh network namespace + private /etc/sysctl.d, best of %d round(s)" % rounds)
    print("  %-34s %9s %9s" % ("", "converge", "re-run"))
    print("  %-34s %8.2fs %8.2fs" % ("role kvmops.hypervisor.sysctl_net", best("role", 0), best("role", 1)))
    print("  %-34s %8.2fs %8.2fs" % ("loop of 40 ansible.posix.sysctl", best("loop", 0), best("loop", 1)))
    ratio_first = best("loop", 0) / best("role", 0)
    ratio_second = best("loop", 1) / best("role", 1)
    print("  %-34s %8.1fx %8.1fx   (goal >= %.0fx)" % ("speed-up (loop / role)", ratio_first, ratio_second, GOAL))
    base = min(startup)
    loop_per_key = (best("loop", 0) - base) / 40.0
    print("  %-34s %8.2fs" % ("ansible-playbook start-up (empty)", base))
    print("  %-34s %8.1fx            (both minus start-up)" % ("speed-up of the work", (best("loop", 0) - base) / max(best("role", 0) - base, 0.01)))
    print("  %-34s %8.2fs per key; the role is flat, so %.0fx needs ~%d keys"
          % ("loop cost", loop_per_key, GOAL, (GOAL * best("role", 0) - base) / max(loop_per_key, 0.01)))
    print("  same end state: 40/40 keys live as wanted for both; machine's own sysctls untouched")
    return 0


if __name__ == "__main__":
    sys.exit(main())
