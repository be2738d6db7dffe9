# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Section ``sriov_vhost``: the IOMMU kernel arguments (moved here from the plan role's
``iommu`` section), SR-IOV virtual functions per physical function (count, per-VF MAC,
VLAN, spoof check, trust, rate, link state, the driver each VF is bound to) persisted for
every boot, and vhost-net.

Persistence, per PF:

- a systemd ``.link`` file (systemd.link(5), ``SR-IOVVirtualFunctions=`` and ``[SR-IOV]``
  sections, "Added in version 251"), applied by systemd-udevd's net_setup_link builtin when
  the PF's network interface appears, so it works with ifupdown, NetworkManager or
  networkd alike. Only the first matching .link file applies, so ours comes before the
  distribution's ``99-default.link`` and repeats its naming policy (``NamePolicy=``,
  ``AlternativeNamesPolicy=``, ``MACAddressPolicy=``). systemd writes 0 first when the
  kernel refuses a change between two non-zero counts (src/shared/netif-sriov.c,
  sr_iov_set_num_vfs: EBUSY -> 0 -> N).
- a udev rule file for what a .link file cannot say: ``sriov_drivers_autoprobe=0`` on the
  PF before its VFs appear when any VF goes to a guest (Documentation/ABI/testing/sysfs-bus-pci:
  "sriov_drivers_autoprobe ... VFs are not bound automatically"), ``driver_override`` of
  each VF and an explicit probe (drivers/pci/pci-driver.c pci_device_can_probe: with
  autoprobe off a VF binds only with a driver_override), and rates (no .link key), set
  with ``ip link`` when the PF's interface appears (after the .link file made the VFs).

The running host gets the same through the ``sriov_vfs`` module (runtime): autoprobe,
``sriov_numvfs`` (0 first when changing between two non-zero counts, refused while a
running guest holds a VF: the kernel would yank the device from under it), driver_override
and a bind, then ``ip link set PF vf N ...`` for the per-VF settings the driver supports.

Sources: Documentation/PCI/pci-iov-howto.rst, Documentation/ABI/testing/sysfs-bus-pci
(sriov_numvfs, sriov_totalvfs, sriov_drivers_autoprobe, driver_override),
Documentation/driver-api/vfio.rst (interrupt remapping, allow_unsafe_interrupts),
systemd.link(5), ip-link(8) (``vf NUM mac/vlan/qos/spoofchk/trust/max_tx_rate/
min_tx_rate/state``), drivers/net/ethernet/intel/igb/igb_main.c (the igb PF's
net_device_ops: no ndo_set_vf_link_state; igb_ndo_set_vf_bw refuses min_tx_rate),
drivers/vhost/net.c (experimental_zcopytx, load-time parameter).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.sriov import ip_vf_words
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.kernel_args import iommu_args
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.policy import PlanError, is_int
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.sections.common import (
    comment,
    managed_header,
    section,
)

ROLE = "sriov_vhost"

OPTIONS = dict(
    iommu=dict(type="bool"),
    iommu_passthrough=dict(type="bool"),
    allow_unsafe_interrupts=dict(type="bool", default=False),
    pfs=dict(type="list", elements="dict", default=[]),
    vhost_net=dict(type="bool", default=True),
    vhost_net_zcopytx=dict(type="bool"),
    link_dir=dict(type="path", default="/etc/systemd/network"),
    udev_rule_path=dict(type="path", default="/etc/udev/rules.d/90-kvmops-sriov.rules"),
    modules_load_dir=dict(type="path", default="/etc/modules-load.d"),
    modprobe_dir=dict(type="path", default="/etc/modprobe.d"),
)

# The .link file's [SR-IOV] keys since systemd 251 (systemd.link(5)).
LINK_SRIOV_SINCE = 251

PF_KEYS = ("address", "mac", "driver", "numvfs", "vfs", "network")
# A VF handed out by a libvirt hostdev network gets MAC/VLAN/binding from libvirt at guest
# start (formatnetwork.html, <forward mode='hostdev' managed='yes'>): none of ours.
NETWORK_KEYS = ("name", "vfs")
_NETWORK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
VF_KEYS = ("index", "mac", "vlan", "qos", "spoofchk", "trust", "max_tx_rate", "min_tx_rate",
           "link_state", "driver")
# ip-link(8) words per setting, in the order ip link takes them
VF_SETTINGS = ("mac", "vlan", "qos", "spoofchk", "trust", "max_tx_rate", "min_tx_rate", "link_state")
LINK_STATES = ("auto", "enable", "disable")

# What the PF driver implements (its net_device_ops); a driver not listed is asked at
# runtime and a refusal is reported naming the setting. igb: igb_main.c has
# ndo_set_vf_mac, ndo_set_vf_vlan (with qos), ndo_set_vf_rate (max only, 82576),
# ndo_set_vf_spoofchk, ndo_set_vf_trust, and no ndo_set_vf_link_state.
DRIVER_SETTINGS = {
    "igb": ("mac", "vlan", "qos", "spoofchk", "trust", "max_tx_rate"),
}
# The VF driver of a PF driver, for VFs that stay with the host while autoprobe is off
# (they then bind only through driver_override).
VF_DRIVERS = {"igb": "igbvf", "ixgbe": "ixgbevf", "i40e": "iavf", "ice": "iavf",
              "mlx5_core": "mlx5_core", "bnxt_en": "bnxt_en", "qede": "qede"}

# systemd 252's 99-default.link [Link] lines (/usr/lib/systemd/network/99-default.link),
# repeated in ours since only the first matching .link file applies.
NAMING = ("NamePolicy=keep kernel database onboard slot path",
          "AlternativeNamesPolicy=database onboard slot path",
          "MACAddressPolicy=persistent")

SOURCES = {
    "numvfs": ("sriov_numvfs (Documentation/ABI/testing/sysfs-bus-pci): VFs enabled on the PF, at most "
               "sriov_totalvfs; the kernel refuses a change between two non-zero counts (EBUSY): 0 first"),
    "autoprobe": ("sriov_drivers_autoprobe (sysfs-bus-pci): 0 keeps new VFs unbound, so no host driver "
                  "grabs a VF meant for a guest; each VF then binds through its driver_override"),
    "driver_override": ("driver_override (sysfs-bus-pci): the only driver that may bind the device; "
                        "vfio-pci for guests (Documentation/driver-api/vfio.rst)"),
    "vf": ("ip-link(8) vf NUM mac/vlan/qos/spoofchk/trust/max_tx_rate/min_tx_rate/state, set through "
           "the PF; systemd.link(5) [SR-IOV] MACAddress=, VLANId=, QualityOfService=, MACSpoofCheck=, "
           "Trust=, LinkState= at every boot (systemd >= 251)"),
    "vhost_net": ("vhost_net (drivers/vhost/net.c): virtio-net data path in the host kernel; "
                  "modules-load.d(5) loads it at boot, /dev/vhost-net is its device"),
    "experimental_zcopytx": ("vhost_net experimental_zcopytx (drivers/vhost/net.c, module parameter, "
                             "read at load time only; 0 by default): zero-copy transmit from guests"),
    "allow_unsafe_interrupts": ("vfio_iommu_type1 allow_unsafe_interrupts (Documentation/driver-api/"
                                "vfio.rst): VFIO without interrupt remapping lets a guest forge MSIs"),
}

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_ADDRESS = re.compile(r"^(?:([0-9a-f]{4}):)?([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$")


def _var(name):
    return "%s_%s" % (ROLE, name)


def canonical_address(value):
    """``0000:01:00.0`` from ``0000:01:00.0`` or ``01:00.0`` (any case); None if malformed."""
    match = _ADDRESS.match(str(value).strip().lower()) if isinstance(value, str) else None
    if not match:
        return None
    return "%s:%s:%s.%s" % (match.group(1) or "0000", match.group(2), match.group(3), match.group(4))


def canonical_mac(value, where):
    text = str(value).strip().lower().replace("-", ":") if isinstance(value, str) else ""
    if not _MAC.match(text):
        raise PlanError(_var("pfs"), "%s: %r is not a MAC address (six colon-separated hex octets)" % (where, value))
    return text


def _unicast_mac(value, where):
    mac = canonical_mac(value, where)
    if int(mac[:2], 16) & 1 or mac == "00:00:00:00:00:00":
        raise PlanError(_var("pfs"), "%s: %s is a multicast or all-zero address; a VF needs a unicast MAC"
                        % (where, mac))
    return mac


def _find_pf(entry, where, functions):
    address = entry.get("address")
    mac = entry.get("mac")
    driver = entry.get("driver")
    if address is None and mac is None and driver is None:
        raise PlanError(_var("pfs"), "%s: give address (PCI, 0000:01:00.0), mac or driver of the PF; never an "
                                     "interface name (those change)" % where)
    candidates = list(functions)
    if address is not None:
        wanted = canonical_address(address)
        if wanted is None:
            raise PlanError(_var("pfs"), "%s: address %r is not a PCI address (0000:01:00.0)" % (where, address))
        candidates = [pf for pf in candidates if pf.get("address") == wanted]
    if mac is not None:
        wanted_mac = canonical_mac(mac, where)
        candidates = [pf for pf in candidates if (pf.get("mac") or "").lower() == wanted_mac]
    if driver is not None:
        candidates = [pf for pf in candidates if pf.get("driver") == driver]
    known = ", ".join("%s (%s, %s, %s)" % (pf.get("address"), pf.get("name"), pf.get("driver"), pf.get("mac"))
                      for pf in functions) or "none"
    if not candidates:
        raise PlanError(_var("pfs"), "%s: no SR-IOV capable PF matches (%s); SR-IOV PFs of this host "
                                     "(kvm_host.sriov): %s"
                        % (where, ", ".join("%s=%s" % (key, entry[key]) for key in ("address", "mac", "driver")
                                            if entry.get(key) is not None), known))
    if len(candidates) > 1:
        raise PlanError(_var("pfs"), "%s: matches %d PFs (%s); add address or mac"
                        % (where, len(candidates), ", ".join(pf.get("address") for pf in candidates)))
    return candidates[0]


def _vf_settings(vf, where, driver):
    """The wanted per-VF settings (ip-link words) of one VF entry, validated."""
    settings = {}
    if vf.get("mac") is not None:
        settings["mac"] = _unicast_mac(vf["mac"], where)
    if vf.get("vlan") is not None:
        vlan = vf["vlan"]
        if not is_int(vlan) or not 0 <= vlan <= 4094:
            raise PlanError(_var("pfs"), "%s: vlan must be 1 to 4094 (0: no VLAN), got %r" % (where, vlan))
        settings["vlan"] = vlan
    if vf.get("qos") is not None:
        if not is_int(vf["qos"]) or not 0 <= vf["qos"] <= 7:
            raise PlanError(_var("pfs"), "%s: qos is the 802.1p priority 0 to 7, got %r" % (where, vf["qos"]))
        if not settings.get("vlan"):
            raise PlanError(_var("pfs"), "%s: qos needs a vlan (ip-link(8): qos is part of the VLAN tag)" % where)
        settings["qos"] = vf["qos"]
    for key in ("spoofchk", "trust"):
        if vf.get(key) is not None:
            if not isinstance(vf[key], bool):
                raise PlanError(_var("pfs"), "%s: %s must be true or false, got %r" % (where, key, vf[key]))
            settings[key] = vf[key]
    for key in ("max_tx_rate", "min_tx_rate"):
        if vf.get(key) is not None:
            if not is_int(vf[key]) or vf[key] < 0:
                raise PlanError(_var("pfs"), "%s: %s is in Mbit/s, 0 or more (0: no limit), got %r"
                                % (where, key, vf[key]))
            settings[key] = vf[key]
    if settings.get("min_tx_rate") and settings.get("max_tx_rate") and settings["min_tx_rate"] > settings["max_tx_rate"]:
        raise PlanError(_var("pfs"), "%s: min_tx_rate %d is above max_tx_rate %d"
                        % (where, settings["min_tx_rate"], settings["max_tx_rate"]))
    if vf.get("link_state") is not None:
        if vf["link_state"] not in LINK_STATES:
            raise PlanError(_var("pfs"), "%s: link_state must be auto, enable or disable, got %r"
                            % (where, vf["link_state"]))
        settings["link_state"] = vf["link_state"]
    supported = DRIVER_SETTINGS.get(driver)
    if supported is not None:
        lacking = [key for key in VF_SETTINGS if key in settings and key not in supported]
        if lacking:
            raise PlanError(_var("pfs"), "%s: the PF driver %s does not support %s (it has %s)"
                            % (where, driver, ", ".join(lacking), ", ".join(supported)))
    return settings


def link_path(link_dir, address):
    """``10-kvmops-sriov-0000-01-00.0.link``: before 99-default.link (and the 73-/80- ones)."""
    return "%s/10-kvmops-sriov-%s.link" % (link_dir.rstrip("/"), address.replace(":", "-"))


def _link_text(pf, entry, numvfs, vfs):
    match = ["Path=pci-%s" % pf["address"]]
    if entry.get("mac") is not None:
        match.append("PermanentMACAddress=%s" % canonical_mac(entry["mac"], ""))
    if entry.get("driver") is not None:
        match.append("Driver=%s" % entry["driver"])
    text = ("SR-IOV virtual functions of the PF %s (%s), created by systemd-udevd when the PF's\n"
            "interface appears (systemd.link(5), systemd >= 251); the [Link] naming lines repeat\n"
            "99-default.link's, since only the first matching .link file applies.\n"
            "Sources:\n  %s\n  %s" % (pf["address"], pf.get("driver"), SOURCES["numvfs"], SOURCES["vf"]))
    lines = [comment(managed_header(ROLE, text)), "[Match]\n"]
    lines += ["%s\n" % line for line in match]
    lines += ["\n[Link]\n"] + ["%s\n" % line for line in NAMING] + ["SR-IOVVirtualFunctions=%d\n" % numvfs]
    for vf in vfs:
        settings = vf["settings"]
        keys = []
        if "mac" in settings:
            keys.append("MACAddress=%s" % settings["mac"])
        if settings.get("vlan"):
            keys.append("VLANId=%d" % settings["vlan"])
            if settings.get("qos"):
                keys.append("QualityOfService=%d" % settings["qos"])
        if "spoofchk" in settings:
            keys.append("MACSpoofCheck=%s" % ("yes" if settings["spoofchk"] else "no"))
        if "trust" in settings:
            keys.append("Trust=%s" % ("yes" if settings["trust"] else "no"))
        if "link_state" in settings:
            keys.append("LinkState=%s" % {"auto": "auto", "enable": "yes", "disable": "no"}[settings["link_state"]])
        if keys:
            lines += ["\n[SR-IOV]\n", "VirtualFunction=%d\n" % vf["index"]] + ["%s\n" % key for key in keys]
    return "".join(lines)


def _udev_lines(pf, autoprobe, vfs):
    """udev rules for the PF (autoprobe), its VFs (driver_override + probe) and the rates."""
    lines = []
    if autoprobe is False:
        lines.append('ACTION=="add", SUBSYSTEM=="pci", KERNEL=="%s", ATTR{sriov_drivers_autoprobe}="0"\n'
                     % pf["address"])
    for vf in vfs:
        if not vf["address"] or not vf["driver_override"]:
            continue
        # the driver (vfio-pci from the initramfs or a host VF driver) may have bound before:
        # unbind it when it is another, then probe (pci_device_can_probe: driver_override)
        lines.append('ACTION=="add", SUBSYSTEM=="pci", KERNEL=="%s", ATTR{driver_override}="%s", '
                     'RUN{builtin}+="kmod load %s", '
                     'RUN+="/bin/sh -c \'d=/sys$devpath; if [ -e $$d/driver ] && [ $$(basename $$(readlink '
                     '$$d/driver)) != %s ]; then echo $kernel > $$d/driver/unbind; fi; [ -e $$d/driver ] || '
                     'echo $kernel > /sys/bus/pci/drivers_probe\'"\n'
                     % (vf["address"], vf["driver_override"], vf["driver_override"], vf["driver_override"]))
    rates = [vf for vf in vfs if "max_tx_rate" in vf["settings"] or "min_tx_rate" in vf["settings"]]
    for vf in rates:
        words = ip_vf_words(dict((key, vf["settings"][key]) for key in ("max_tx_rate", "min_tx_rate")
                                 if key in vf["settings"]))
        lines.append('ACTION=="add", SUBSYSTEM=="net", KERNELS=="%s", RUN+="/sbin/ip link set dev $name vf %d %s"\n'
                     % (pf["address"], vf["index"], " ".join(words)))
    return lines


def _network(entry, where, numvfs, vfs):
    """The validated ``network`` of a PF entry: (name, [VF indexes]) or None."""
    network = entry.get("network")
    if network is None:
        return None
    if not isinstance(network, dict) or sorted(set(network) - set(NETWORK_KEYS)):
        raise PlanError(_var("pfs"), "%s.network: a mapping of name and vfs (VF indexes), got %r" % (where, network))
    name = network.get("name")
    if not isinstance(name, str) or not _NETWORK_NAME.match(name):
        raise PlanError(_var("pfs"), "%s.network: name must be a libvirt network name, got %r" % (where, name))
    indexes = network.get("vfs")
    if not isinstance(indexes, list) or not indexes or any(not is_int(i) or not 0 <= i < numvfs for i in indexes) \
            or len(set(indexes)) != len(indexes):
        raise PlanError(_var("pfs"), "%s.network: vfs must be distinct VF indexes from 0 to %d, got %r"
                        % (where, numvfs - 1, indexes))
    for vf in vfs:
        if vf["index"] in indexes and (vf["settings"] or vf["bind"]):
            raise PlanError(_var("pfs"), "%s: VF %d is in the libvirt network %s, which sets its MAC, VLAN and "
                                         "driver at guest start: give it no settings nor driver"
                            % (vf["where"], vf["index"], name))
    return name, sorted(indexes)


def network_xml(name, addresses):
    """A libvirt hostdev network (pool) of these VF addresses (formatnetwork.html)."""
    lines = ["<network>", "  <name>%s</name>" % name, "  <forward mode='hostdev' managed='yes'>"]
    for address in addresses:
        domain, bus, slot_function = address.split(":")
        slot, function = slot_function.split(".")
        lines.append("    <address type='pci' domain='0x%s' bus='0x%s' slot='0x%s' function='0x%s'/>"
                     % (domain, bus, slot, function))
    lines += ["  </forward>", "</network>"]
    return "\n".join(lines) + "\n"


def _iommu_ready(facts):
    iommu = facts.get("iommu") if isinstance(facts.get("iommu"), dict) else {}
    return bool(iommu.get("enabled")) and bool(iommu.get("groups"))


def build(context, options):
    facts = context.facts if isinstance(context.facts, dict) else {}
    policy = context.policy
    functions = [pf for pf in (facts.get("sriov") or []) if isinstance(pf, dict)]
    iommu_facts = facts.get("iommu") if isinstance(facts.get("iommu"), dict) else {}

    pfs_plan = []
    seen_addresses = {}
    macs = {}
    any_vfio = False
    for position, entry in enumerate(options["pfs"] or []):
        where = "%s[%d]" % (_var("pfs"), position)
        if not isinstance(entry, dict):
            raise PlanError(_var("pfs"), "%s: must be a mapping, got %r" % (where, entry))
        unknown = sorted(set(entry) - set(PF_KEYS))
        if unknown:
            raise PlanError(_var("pfs"), "%s: unknown key(s) %s; known: %s" % (where, ", ".join(unknown), ", ".join(PF_KEYS)))
        pf = _find_pf(entry, where, functions)
        if pf["address"] in seen_addresses:
            raise PlanError(_var("pfs"), "%s: the PF %s is already %s" % (where, pf["address"], seen_addresses[pf["address"]]))
        seen_addresses[pf["address"]] = where
        numvfs = entry.get("numvfs")
        totalvfs = pf.get("totalvfs") or 0
        if not is_int(numvfs) or numvfs < 0:
            raise PlanError(_var("pfs"), "%s: numvfs must be an integer of 0 or more, got %r" % (where, numvfs))
        if numvfs > totalvfs:
            raise PlanError(_var("pfs"), "%s: numvfs %d is more than the PF %s offers (sriov_totalvfs %d)"
                            % (where, numvfs, pf["address"], totalvfs))
        driver = pf.get("driver")
        current = pf.get("numvfs") or 0
        current_vfs = dict((vf.get("index"), vf) for vf in pf.get("vfs") or [])
        vfs = []
        indexes = set()
        for vf_position, vf in enumerate(entry.get("vfs") or []):
            vf_where = "%s.vfs[%d]" % (where, vf_position)
            if not isinstance(vf, dict):
                raise PlanError(_var("pfs"), "%s: must be a mapping, got %r" % (vf_where, vf))
            unknown = sorted(set(vf) - set(VF_KEYS))
            if unknown:
                raise PlanError(_var("pfs"), "%s: unknown key(s) %s; known: %s"
                                % (vf_where, ", ".join(unknown), ", ".join(VF_KEYS)))
            index = vf.get("index")
            if not is_int(index) or not 0 <= index < numvfs:
                raise PlanError(_var("pfs"), "%s: index must be a VF number from 0 to %d (numvfs %d), got %r"
                                % (vf_where, numvfs - 1, numvfs, index))
            if index in indexes:
                raise PlanError(_var("pfs"), "%s: VF %d given twice" % (vf_where, index))
            indexes.add(index)
            settings = _vf_settings(vf, vf_where, driver)
            if "mac" in settings:
                if settings["mac"] in macs:
                    raise PlanError(_var("pfs"), "%s: MAC %s is already %s" % (vf_where, settings["mac"], macs[settings["mac"]]))
                macs[settings["mac"]] = vf_where
            bind = vf.get("driver")
            if bind not in (None, "vfio-pci", "host"):
                raise PlanError(_var("pfs"), "%s: driver must be vfio-pci (for guests), host (the VF driver of "
                                             "%s) or null (left to the kernel), got %r" % (vf_where, driver, bind))
            any_vfio = any_vfio or bind == "vfio-pci"
            vfs.append({"index": index, "settings": settings, "bind": bind, "where": vf_where})
        vfs.sort(key=lambda item: item["index"])
        network = _network(entry, where, numvfs, vfs)
        if network:
            any_vfio = True  # libvirt binds the pool's VFs to vfio-pci at guest start
        pfs_plan.append({"entry": entry, "pf": pf, "numvfs": numvfs, "current": current, "network": network,
                         "current_vfs": current_vfs, "vfs": vfs, "where": where})

    # IOMMU: the policy's variables (kvmops_plan_iommu, kvmops_plan_iommu_passthrough)
    # keep working when the role variables are not set.
    iommu_on = options["iommu"]
    if iommu_on is None:
        iommu_on = bool(policy.get("iommu")) or any_vfio
    passthrough = options["iommu_passthrough"]
    if passthrough is None:
        passthrough = bool(policy.get("iommu_passthrough"))
    if passthrough and not iommu_on:
        raise PlanError(_var("iommu_passthrough"), "iommu=pt needs the IOMMU on (sriov_vhost_iommu)")
    kernel_args = iommu_args(context.topo, {"iommu": iommu_on, "iommu_passthrough": passthrough}, context.warnings)
    iommu_ready = _iommu_ready(facts)
    if any_vfio and not iommu_on:
        raise PlanError(_var("iommu"), "VFs bound to vfio-pci need the IOMMU; sriov_vhost_iommu is false")
    if any_vfio and iommu_ready and iommu_facts.get("interrupt_remapping") is False \
            and not options["allow_unsafe_interrupts"]:
        raise PlanError(_var("allow_unsafe_interrupts"),
                        "the IOMMU has no interrupt remapping (no IR- interrupt chip in /proc/interrupts): VFIO "
                        "refuses to assign devices unless allow_unsafe_interrupts is true, which lets a guest "
                        "forge interrupts (Documentation/driver-api/vfio.rst)")
    if any_vfio and not iommu_ready:
        context.warnings.append("sriov_vhost: the IOMMU is not active yet (no /sys/kernel/iommu_groups): the VFs "
                                "meant for vfio-pci are bound after the reboot into the IOMMU kernel arguments")

    files = {}
    udev = []
    sysfs = {}
    pf_sections = []
    networks = []
    planned_addresses = set()
    for item in pfs_plan:
        pf, entry, numvfs, current = item["pf"], item["entry"], item["numvfs"], item["current"]
        address = pf["address"]
        planned_addresses.add(address)
        driver = pf.get("driver")
        pooled = set(item["network"][1]) if item["network"] else set()
        vfio_here = any(vf["bind"] == "vfio-pci" for vf in item["vfs"]) or bool(pooled)
        autoprobe = False if vfio_here else None
        # refuse before anything changes: a count change removes every VF, and a rebind
        # takes a device from its driver
        if current != numvfs and current:
            holders = sorted(set(vf.get("domain") for vf in item["current_vfs"].values() if vf.get("domain")))
            opened = [vf.get("address") for vf in item["current_vfs"].values()
                      if vf.get("vfio_open") and not vf.get("domain")]
            if holders or opened:
                raise PlanError(_var("pfs"), "%s: changing the VFs of %s from %d to %d removes every VF first, but "
                                             "%s; stop %s first"
                                % (item["where"], address, current, numvfs,
                                   ("running guest(s) %s hold VFs" % ", ".join(holders)) if holders
                                   else "VF(s) %s are open through /dev/vfio" % ", ".join(opened),
                                   "them" if holders else "the process using them"))
        vfs_out = []
        listed = set(vf["index"] for vf in item["vfs"])
        if autoprobe is False:
            # with autoprobe off a VF binds only through its driver_override: the VFs not
            # listed stay with the host (the PF's VF driver), as the kernel would have had them
            item["vfs"] = sorted(item["vfs"] + [
                {"index": index, "settings": {}, "bind": None, "where": "%s (VF %d)" % (item["where"], index)}
                for index in range(numvfs) if index not in listed], key=lambda vf: vf["index"])
        for vf in item["vfs"]:
            seen = item["current_vfs"].get(vf["index"]) if current == numvfs or vf["index"] < current else None
            if vf["index"] in pooled:
                override = None  # libvirt (managed='yes') binds it at guest start, and back after
            elif vf["bind"] == "vfio-pci":
                override = "vfio-pci"
            elif vf["bind"] == "host" or (vf["bind"] is None and autoprobe is False):
                override = VF_DRIVERS.get(driver)
                if override is None and seen and seen.get("driver") not in (None, "vfio-pci"):
                    override = seen.get("driver")
                if override is None:
                    raise PlanError(_var("pfs"), "%s: the VF driver of %s VFs is not known; bind it to vfio-pci or "
                                                 "leave the PF's VFs to the kernel" % (vf["where"], driver))
            else:
                override = None
            if seen and override and seen.get("driver") and seen.get("driver") != override and seen.get("domain"):
                raise PlanError(_var("pfs"), "%s: VF %d (%s) is held by the running guest %s; rebinding it to %s "
                                             "would take it away" % (vf["where"], vf["index"], seen.get("address"),
                                                                     seen.get("domain"), override))
            vfs_out.append({
                "index": vf["index"],
                "address": seen.get("address") if seen else None,
                "driver_override": override,
                "settings": vf["settings"],
                "ip_words": ip_vf_words(vf["settings"]),
            })
        if any(vf["driver_override"] and not vf["address"] for vf in vfs_out):
            context.warnings.append("sriov_vhost: %s has %d VFs now, %d planned: the udev rules that bind VFs at "
                                    "boot need their PCI addresses, written once the VFs exist (the role plans "
                                    "again after creating them)" % (address, current, numvfs))
        base = "/sys/bus/pci/devices/%s" % address
        sysfs[base + "/sriov_numvfs"] = str(numvfs)
        if autoprobe is not None:
            sysfs[base + "/sriov_drivers_autoprobe"] = "0"
        for vf in vfs_out:
            if vf["driver_override"]:
                sysfs["%s/virtfn%d/driver_override" % (base, vf["index"])] = vf["driver_override"]
        files[link_path(options["link_dir"], address)] = _link_text(pf, entry, numvfs, vfs_out) if numvfs else None
        udev += _udev_lines(pf, autoprobe, vfs_out)
        if item["network"]:
            name, indexes = item["network"]
            addresses = [vf["address"] for vf in vfs_out if vf["index"] in indexes]
            if len(addresses) == len(indexes) and all(addresses):
                networks.append({"name": name, "pf": address, "addresses": addresses,
                                 "xml": network_xml(name, addresses)})
            else:
                context.warnings.append("sriov_vhost: the libvirt network %s lists VF addresses, known once the "
                                        "VFs of %s exist (the role plans again after creating them)" % (name, address))
        pf_sections.append({
            "address": address,
            "name": pf.get("name"),
            "driver": driver,
            "totalvfs": pf.get("totalvfs"),
            "numvfs": numvfs,
            "current_numvfs": current,
            "reset_first": bool(current and numvfs and current != numvfs),
            "autoprobe": autoprobe,
            "supported": list(DRIVER_SETTINGS[driver]) if driver in DRIVER_SETTINGS else None,
            "vfs": vfs_out,
        })
    # PFs no longer planned lose their .link file (their VFs are left as they are)
    for pf in functions:
        if pf.get("address") and pf["address"] not in planned_addresses:
            files[link_path(options["link_dir"], pf["address"])] = None

    rule_text = None
    if udev:
        rule_text = comment(managed_header(ROLE, (
            "SR-IOV: PFs that keep new VFs unbound (sriov_drivers_autoprobe=0), the driver each VF binds to\n"
            "(driver_override, then a probe) and VF rates, which a .link file cannot set. Sources:\n  %s\n  %s\n  %s"
            % (SOURCES["autoprobe"], SOURCES["driver_override"], SOURCES["vf"])))) + "".join(udev)
    files[options["udev_rule_path"]] = rule_text

    modules_load = options["modules_load_dir"].rstrip("/")
    modprobe = options["modprobe_dir"].rstrip("/")
    files["%s/kvmops-vhost_net.conf" % modules_load] = (
        comment(managed_header(ROLE, "Sources:\n  %s" % SOURCES["vhost_net"])) + "vhost_net\n"
        if options["vhost_net"] else None)
    files["%s/kvmops-vfio.conf" % modules_load] = (
        comment(managed_header(ROLE, "vfio-pci for the VFs bound to guests (driver_override)")) + "vfio-pci\n"
        if any_vfio else None)
    zcopytx = options["vhost_net_zcopytx"]
    files["%s/kvmops-vhost_net.conf" % modprobe] = (
        comment(managed_header(ROLE, "Sources:\n  %s" % SOURCES["experimental_zcopytx"]))
        + "options vhost_net experimental_zcopytx=%d\n" % (1 if zcopytx else 0)
        if zcopytx is not None and options["vhost_net"] else None)
    files["%s/kvmops-vfio.conf" % modprobe] = (
        comment(managed_header(ROLE, "Sources:\n  %s" % SOURCES["allow_unsafe_interrupts"]))
        + "options vfio_iommu_type1 allow_unsafe_interrupts=1\n"
        if options["allow_unsafe_interrupts"] else None)

    vhost_facts = facts.get("vhost") if isinstance(facts.get("vhost"), dict) else {}
    boot_sysfs = {}
    if options["vhost_net"] and zcopytx is not None:
        boot_sysfs["/sys/module/vhost_net/parameters/experimental_zcopytx"] = "1" if zcopytx else "0"
        current_zc = vhost_facts.get("experimental_zcopytx")
        if current_zc is not None and current_zc != (1 if zcopytx else 0):
            context.warnings.append("sriov_vhost: vhost_net is loaded with experimental_zcopytx=%d; the option "
                                    "(load-time only) takes effect when vhost_net is next loaded (reboot)" % current_zc)

    return section(
        kernel_args=kernel_args,
        files=files,
        sysfs=sysfs,
        boot_sysfs=boot_sysfs,
        pfs=pf_sections,
        networks=networks,
        iommu={"kernel_args": bool(kernel_args), "active": iommu_ready,
               "interrupt_remapping": iommu_facts.get("interrupt_remapping"),
               "acpi_tables": iommu_facts.get("acpi_tables") or []},
        vfio_ready=bool(iommu_ready and (iommu_facts.get("interrupt_remapping") is not False
                                         or options["allow_unsafe_interrupts"])),
        modules=([{"name": "vhost_net"}] if options["vhost_net"] else [])
        + ([{"name": "vfio-pci"}] if any_vfio else []),
        vhost={"load": bool(options["vhost_net"]),
               "loaded": vhost_facts.get("vhost_net_loaded"),
               "devices": {"/dev/vhost-net": vhost_facts.get("dev_vhost_net"),
                           "/dev/net/tun": vhost_facts.get("dev_net_tun")},
               "zcopytx": zcopytx},
        sources=dict(SOURCES),
    )
