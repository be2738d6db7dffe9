# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tune the planned domains through an open libvirt connection (the module's work).

Every planned domain is read and checked first; only when the plan fits all of them
is any domain redefined (``virDomainDefineXML``) and a running one pinned live
(``virDomainPinVcpu``, ``virDomainPinEmulator``, ``virDomainPinIOThread``).
Needs libvirt-python; the module reports a missing one before calling tune().
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.cpulist import format_cpulist
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.base import (
    LIVE_SECTIONS,
    DomainXMLError,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.document import parse_domain
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.edit import apply_plan
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.guests import planned_cpus
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.live import (
    cpumap,
    cpus_of_map,
    live_pin_actions,
    pending_restart,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.state import tuning_state

try:
    import libvirt
except ImportError:
    libvirt = None  # the module fails with missing_required_lib before using it


def _host_cpu_count(conn):
    try:
        return conn.getCPUMap()[0]
    except libvirt.libvirtError:
        return conn.getInfo()[2]


def _live_pins(dom):
    """Effective live affinity: ([cpus] per vCPU, emulator cpus, {iothread: cpus}); None: unknown."""
    flag = libvirt.VIR_DOMAIN_AFFECT_LIVE
    vcpus = emulator = iothreads = None
    try:
        vcpus = [cpus_of_map(item) for item in dom.vcpuPinInfo(flag)]
    except libvirt.libvirtError:
        pass
    try:
        emulator = cpus_of_map(dom.emulatorPinInfo(flag))
    except libvirt.libvirtError:
        pass
    try:
        iothreads = dict((thread, cpus_of_map(mapping))
                         for thread, mapping in dom.ioThreadInfo(flag))
    except libvirt.libvirtError:
        pass
    return vcpus, emulator, iothreads


def _prepare(conn, guests, ncpus):
    """Read every planned domain and work out its new XML; change nothing."""
    prepared, missing, errors = [], [], []
    for guest in guests:
        name = guest["name"]
        try:
            dom = conn.lookupByName(name)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                missing.append(name)
            else:
                errors.append("domain %s: %s" % (name, exc))
            continue
        beyond = [cpu for cpu in planned_cpus(guest) if cpu >= ncpus]
        if beyond:
            errors.append("domain %s: planned CPUs %s do not exist on this host (CPUs 0-%d)"
                          % (name, format_cpulist(beyond), ncpus - 1))
            continue
        try:
            if not dom.isPersistent():
                errors.append("domain %s is transient: define it before tuning it" % name)
                continue
            # SECURE: the document is defined again, it must keep graphics passwords.
            plan = apply_plan(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE
                                          | libvirt.VIR_DOMAIN_XML_SECURE), guest)
            active = bool(dom.isActive())
            live_state = live_pins = None
            if active:
                live_state = tuning_state(parse_domain(dom.XMLDesc(0)))
                live_pins = _live_pins(dom)
        except (libvirt.libvirtError, DomainXMLError) as exc:
            errors.append("domain %s: %s" % (name, exc))
            continue
        errors.extend(plan["errors"])
        prepared.append({"guest": guest, "dom": dom, "plan": plan, "active": active,
                         "live_state": live_state, "live_pins": live_pins})
    return prepared, missing, errors


def _apply_live(module, item, ncpus):
    """Pin a running domain; return (applied sections, sections left for a restart)."""
    actions, unapplied = live_pin_actions(item["plan"]["desired"], *item["live_pins"])
    unapplied = set(unapplied)
    applied = set()
    if not module.params["live"]:
        return [], unapplied | set(action[0] for action in actions)
    dom = item["dom"]
    for section, ident, cpus in actions:
        if module.check_mode:
            applied.add(section)
            continue
        mapping = cpumap(cpus, ncpus)
        try:
            if section == "vcpupin":
                dom.pinVcpu(ident, mapping)
            elif section == "emulatorpin":
                dom.pinEmulator(mapping, libvirt.VIR_DOMAIN_AFFECT_LIVE)
            else:
                dom.pinIOThread(ident, mapping, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        except libvirt.libvirtError as exc:
            module.warn("domain %s: live %s%s failed, left for a restart: %s"
                        % (item["guest"]["name"], section,
                           "" if ident is None else " %s" % ident, exc))
            unapplied.add(section)
            continue
        applied.add(section)
    return [section for section in LIVE_SECTIONS if section in applied], unapplied


def tune(module, conn, guests):
    """Check every planned domain, then redefine and pin them. Returns the result dict."""
    ncpus = _host_cpu_count(conn)
    prepared, missing, errors = _prepare(conn, guests, ncpus)
    if missing and module.params["strict"]:
        errors.append("planned guests without a libvirt domain (strict=true): %s"
                      % ", ".join(missing))
    if errors:
        module.fail_json(msg="the plan does not fit the domains, nothing was changed: %s"
                         % "; ".join(errors), errors=errors, missing=missing, changed=False)

    results, diffs = {}, []
    for item in prepared:
        name, plan = item["guest"]["name"], item["plan"]
        if plan["changed"] and not module.check_mode:
            try:
                conn.defineXML(plan["xml"])
            except libvirt.libvirtError as exc:
                module.fail_json(msg="domain %s: defineXML failed: %s" % (name, exc),
                                 guests=results, missing=missing,
                                 changed=any(r["changed"] for r in results.values()))
        applied, pending = [], []
        if item["active"]:
            applied, unapplied = _apply_live(module, item, ncpus)
            pending = pending_restart(plan["desired"], item["live_state"], unapplied)
        results[name] = {
            "changed": plan["changed"] or bool(applied),
            "sections": plan["sections"],
            "active": item["active"],
            "live_applied": applied,
            "pending_restart": pending,
        }
        if plan["changed"]:
            header = "domain %s (persistent XML)" % name
            diffs.append({"before_header": header, "after_header": header,
                          "before": plan["before"], "after": plan["after"]})
    result = {
        "changed": any(entry["changed"] for entry in results.values()),
        "guests": results,
        "missing": missing,
    }
    if module._diff:
        result["diff"] = diffs
    return result
