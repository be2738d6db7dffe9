# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Apply the SR-IOV part of ``kvm_host_plan.sriov_vhost`` to the running kernel: the pure
parts (the ``ip -d -j link show`` parser, the ``ip link set ... vf N`` argv builder, the
order of the sysfs writes) and :func:`apply`, which takes a writer and a command runner
so tests drive it on a fixture tree.

Order per PF (Documentation/PCI/pci-iov-howto.rst, ABI sysfs-bus-pci):

1. ``sriov_drivers_autoprobe`` = 0 when VFs go to guests, before the VFs exist;
2. ``sriov_numvfs``: 0 first when changing between two non-zero counts (the kernel answers
   EBUSY otherwise, drivers/pci/iov.c sriov_numvfs_store), refused while a running guest
   holds a VF or a process has its /dev/vfio group open;
3. per VF: ``driver_override``, unbind from another driver (refused while in use), then
   ``/sys/bus/pci/drivers_probe`` and the driver read back;
4. per VF settings through the PF: ``ip link set dev PF vf N mac/vlan/qos/spoofchk/trust/
   max_tx_rate/min_tx_rate/state`` for the settings that differ (ip-link(8)).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.devices import gather_sriov

SETTINGS = ("mac", "vlan", "qos", "spoofchk", "trust", "max_tx_rate", "min_tx_rate", "link_state")


class SriovError(Exception):
    """Refused or failed; the message says what and why."""


def parse_vfinfo(text):
    """{vf index: {mac, vlan, qos, spoofchk, trust, max_tx_rate, min_tx_rate, link_state}}
    from ``ip -d -j link show dev PF`` (iproute2 ip/ipaddress.c print_vfinfo: ``vf``,
    ``address``, ``vlan_list`` [{vlan, qos}] (or ``vlan``/``qos`` from older kernels),
    ``max_tx_rate``, ``min_tx_rate`` or ``rate: {max_tx, min_tx}``, ``spoofchk``, ``link_state``,
    ``trust``). A key the
    kernel did not report is left out."""
    try:
        links = json.loads(text)
    except (TypeError, ValueError):
        raise SriovError("cannot parse the output of ip -d -j link show: %r" % (str(text)[:80],))
    if isinstance(links, dict):
        links = [links]
    result = {}
    for link in links or []:
        for info in link.get("vfinfo_list") or []:
            if not isinstance(info, dict) or "vf" not in info:
                continue
            vf = {}
            if info.get("address"):
                vf["mac"] = str(info["address"]).lower()
            vlans = info.get("vlan_list")
            if isinstance(vlans, list):
                first = vlans[0] if vlans and isinstance(vlans[0], dict) else {}
                vf["vlan"] = int(first.get("vlan", 0))
                vf["qos"] = int(first.get("qos", 0))
            elif "vlan" in info:
                vf["vlan"] = int(info.get("vlan") or 0)
                vf["qos"] = int(info.get("qos") or 0)
            else:
                vf["vlan"], vf["qos"] = 0, 0
            for key in ("max_tx_rate", "min_tx_rate"):
                if key in info:
                    vf[key] = int(info[key])
            rate = info.get("rate")
            if isinstance(rate, dict):  # iproute2 6.x: "rate": {"max_tx": N, "min_tx": N} (Mb/s)
                for key, name in (("max_tx", "max_tx_rate"), ("min_tx", "min_tx_rate")):
                    if key in rate and name not in vf:
                        vf[name] = int(rate[key])
            if "max_tx_rate" not in vf and "tx_rate" in info:
                vf["max_tx_rate"] = int(info["tx_rate"])
            for key in ("spoofchk", "trust"):
                if key in info:
                    vf[key] = bool(info[key])
            if info.get("link_state") in ("auto", "enable", "disable"):
                vf["link_state"] = info["link_state"]
            result[int(info["vf"])] = vf
    return result


def differences(current, wanted):
    """The wanted settings whose current value differs (vlan and qos go together)."""
    changed = {}
    for key in SETTINGS:
        if key not in wanted:
            continue
        have = current.get(key)
        if key in ("vlan", "qos"):
            have = have or 0
        if have != wanted[key]:
            changed[key] = wanted[key]
    if ("vlan" in changed or "qos" in changed) and "vlan" in wanted:
        changed["vlan"] = wanted["vlan"]
        if wanted.get("qos"):
            changed["qos"] = wanted["qos"]
    return changed


def ip_vf_words(settings):
    """ip-link(8) words after ``vf N`` for ``settings`` (mac, vlan [qos], spoofchk, trust,
    max_tx_rate, min_tx_rate, state); the plan's udev rules use them too."""
    words = []
    if "mac" in settings:
        words += ["mac", settings["mac"]]
    if "vlan" in settings:
        words += ["vlan", str(settings["vlan"])]
        if settings.get("qos"):
            words += ["qos", str(settings["qos"])]
    for key in ("spoofchk", "trust"):
        if key in settings:
            words += [key, "on" if settings[key] else "off"]
    for key in ("max_tx_rate", "min_tx_rate"):
        if key in settings:
            words += [key, str(settings[key])]
    if "link_state" in settings:
        words += ["state", settings["link_state"]]
    return words


def ip_argv(netdev, index, settings):
    """``ip link set dev PF vf N ...`` for ``settings`` (ip-link(8) words)."""
    return ["ip", "link", "set", "dev", netdev, "vf", str(index)] + ip_vf_words(settings)


def numvfs_writes(current, wanted):
    """The values written to sriov_numvfs, in order."""
    if current == wanted:
        return []
    if current and wanted:
        return ["0", str(wanted)]
    return [str(wanted)]


def in_use(pf_facts, indexes=None):
    """'guest NAME holds VF ...' descriptions of the VFs (all, or ``indexes``) in use."""
    found = []
    for vf in pf_facts.get("vfs") or []:
        if indexes is not None and vf.get("index") not in indexes:
            continue
        if vf.get("domain"):
            found.append("the running guest %s holds VF %s (%s)" % (vf["domain"], vf.get("index"), vf.get("address")))
        elif vf.get("vfio_open"):
            found.append("a process has VF %s (%s) open through /dev/vfio/%s"
                         % (vf.get("index"), vf.get("address"), vf.get("iommu_group")))
    return found


def _pf_facts(reader, address):
    for pf in gather_sriov(reader):
        if pf.get("address") == address:
            return pf
    return None


def _recorder(entry, reader, writer, check_mode):
    """A write(path, value) that records into ``entry`` and writes unless in check mode."""
    def write(path, value):
        entry["writes"].append([path, value])
        if not check_mode:
            writer(reader.path(path), value)
    return write


def apply(pfs, root="/", check_mode=False, vfio_ready=True, settings=True, writer=None, run=None,
          load_module=None):
    """Bring every PF of ``pfs`` (the section's ``pfs``) to the plan. Returns
    ``{changed, pfs: [{address, numvfs: {before, after}, writes: [[path, value]],
    commands: [argv], skipped: [str]}], warnings}``; raises SriovError before the first
    write of a PF whose change is refused."""
    warnings = []
    report = []
    changed = False
    # Every PF first: a refusal must come before the first write of any PF.
    for wanted in pfs or []:
        pf = _pf_facts(Reader(root), wanted["address"])
        if pf is None:
            raise SriovError("%s: no SR-IOV capable PF at this address any more" % wanted["address"])
        totalvfs = pf.get("totalvfs")
        if totalvfs is not None and wanted["numvfs"] > totalvfs:
            # sriov_numvfs_store answers EINVAL above sriov_totalvfs (drivers/pci/iov.c)
            raise SriovError("%s: numvfs %d is more than the PF offers (sriov_totalvfs %d); give 0 to %d"
                             % (wanted["address"], wanted["numvfs"], totalvfs, totalvfs))
    for wanted in pfs or []:
        reader = Reader(root)
        address = wanted["address"]
        base = "/sys/bus/pci/devices/%s" % address
        pf = _pf_facts(reader, address)
        if pf is None:
            raise SriovError("%s: no SR-IOV capable PF at this address any more" % address)
        entry = {"address": address, "numvfs": {"before": pf.get("numvfs"), "after": wanted["numvfs"]},
                 "writes": [], "commands": [], "skipped": []}
        report.append(entry)

        write = _recorder(entry, reader, writer, check_mode)

        numvfs = numvfs_writes(pf.get("numvfs") or 0, wanted["numvfs"])
        if numvfs and pf.get("numvfs"):
            busy = in_use(pf)
            if busy:
                raise SriovError("%s: refusing to change the VF count from %d to %d (every VF is removed first): %s"
                                 % (address, pf["numvfs"], wanted["numvfs"], "; ".join(busy)))
        if wanted.get("autoprobe") is False and pf.get("autoprobe") is not False:
            write(base + "/sriov_drivers_autoprobe", "0")
        for value in numvfs:
            write(base + "/sriov_numvfs", value)
        created = bool(numvfs)
        if created and not check_mode:
            pf = _pf_facts(Reader(root), address) or pf
        vfs_now = dict((vf.get("index"), vf) for vf in pf.get("vfs") or [])
        for vf in wanted.get("vfs") or []:
            override = vf.get("driver_override")
            if not override:
                continue
            if override == "vfio-pci" and not vfio_ready:
                entry["skipped"].append("VF %d: vfio-pci binding waits for the IOMMU (reboot)" % vf["index"])
                continue
            now = vfs_now.get(vf["index"])
            if now is None:
                if check_mode and created:
                    entry["writes"].append(["%s/virtfn%d/driver_override" % (base, vf["index"]), override])
                    continue
                raise SriovError("%s: VF %d does not exist after setting sriov_numvfs" % (address, vf["index"]))
            vf_path = "/sys/bus/pci/devices/%s" % now["address"]
            if now.get("driver_override") != override:
                write(vf_path + "/driver_override", override)
            if now.get("driver") == override:
                continue
            if now.get("driver"):
                busy = in_use({"vfs": [now]})
                if busy:
                    raise SriovError("%s: refusing to rebind VF %d from %s to %s: %s"
                                     % (address, vf["index"], now["driver"], override, "; ".join(busy)))
                write(vf_path + "/driver/unbind", now["address"])
            if not check_mode and load_module is not None and not reader.isdir("/sys/bus/pci/drivers/" + override):
                load_module(override)
            write("/sys/bus/pci/drivers_probe", now["address"])
            if not check_mode:
                bound = Reader(root).link_name(vf_path + "/driver")
                if bound != override:
                    raise SriovError("%s: VF %d (%s) is bound to %s after the probe, not %s"
                                     % (address, vf["index"], now["address"], bound, override))
        if settings and any(vf.get("settings") for vf in wanted.get("vfs") or []):
            netdev = (pf.get("netdevs") or [None])[0]
            if not netdev:
                raise SriovError("%s: the PF has no network interface to set VF settings through" % address)
            current = {}
            if not (check_mode and created):
                rc, out, err = run(["ip", "-d", "-j", "link", "show", "dev", netdev])
                if rc != 0:
                    raise SriovError("%s: ip -d -j link show dev %s failed: %s" % (address, netdev, err.strip()))
                current = parse_vfinfo(out)
            for vf in wanted.get("vfs") or []:
                diff = differences(current.get(vf["index"], {}), vf.get("settings") or {})
                if not diff:
                    continue
                argv = ip_argv(netdev, vf["index"], diff)
                entry["commands"].append(argv)
                if check_mode:
                    continue
                rc, out, err = run(argv)
                if rc != 0:
                    raise SriovError("%s: %s failed (%s): the %s driver refuses %s for VF %d"
                                     % (address, " ".join(argv), err.strip() or rc, pf.get("driver"),
                                        ", ".join(sorted(diff)), vf["index"]))
        if entry["writes"] or entry["commands"]:
            changed = True
        warnings.extend("%s: %s" % (address, text) for text in entry["skipped"])
    return {"changed": changed, "pfs": report, "warnings": warnings}
