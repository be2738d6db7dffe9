# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel facts: release, running and pending command line, isolation, KVM, build options.

Sources: /proc/sys/kernel/osrelease, /proc/cmdline, /sys/devices/system/cpu/{isolated,
nohz_full} (Documentation/ABI/testing/sysfs-devices-system-cpu), /sys/module/kvm*/parameters
(Documentation/virt/kvm/), /proc/modules and /proc/sys/net/bridge (br_netfilter; proc(5),
Documentation/networking/bridge.rst "Netfilter"), /boot/config-<release> or /proc/config.gz. The pending command
line (what the next boot gets) comes from the boot loader configuration, parsed by
``_cmdline.pending_cmdline``, the parser the kernel_cmdline module uses as well; ``boot``
is the comparison the kernel_cmdline module makes without an owner (cmdline/status.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import re

from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.grub_shell import grub_dropins
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.owners import (
    GRUB_DROPIN_PREFIX,
    RECORD_DIR,
    is_kvmops_dropin,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.pending import pending_cmdline
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.status import boot_status
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.tokens import split_cmdline

# Build options that decide what the plan may propose (kernel_args, huge pages, IOMMU...).
CONFIG_OPTIONS = (
    "CONFIG_NO_HZ_FULL", "CONFIG_NO_HZ_FULL_ALL", "CONFIG_RCU_NOCB_CPU", "CONFIG_CPU_ISOLATION",
    "CONFIG_HUGETLBFS", "CONFIG_HUGETLB_PAGE", "CONFIG_TRANSPARENT_HUGEPAGE", "CONFIG_NUMA",
    "CONFIG_KVM", "CONFIG_KVM_INTEL", "CONFIG_KVM_AMD", "CONFIG_VFIO", "CONFIG_VFIO_PCI",
    "CONFIG_INTEL_IOMMU", "CONFIG_INTEL_IOMMU_DEFAULT_ON", "CONFIG_AMD_IOMMU",
    "CONFIG_IOMMU_DEFAULT_PASSTHROUGH", "CONFIG_IRQ_REMAP", "CONFIG_KSM", "CONFIG_ZSWAP",
    "CONFIG_SECCOMP", "CONFIG_SECURITY_APPARMOR", "CONFIG_SECURITY_SELINUX",
    "CONFIG_PREEMPT_DYNAMIC", "CONFIG_PREEMPT_RT", "CONFIG_HZ",
)

_VERSION = re.compile(r"^(\d+)\.(\d+)")
_CONFIG_SET = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_CONFIG_UNSET = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")


def version_tuple(release):
    """[major, minor] of a kernel release string, or None."""
    match = _VERSION.match(release or "")
    if not match:
        return None
    return [int(match.group(1)), int(match.group(2))]


def parse_kconfig(text, wanted=CONFIG_OPTIONS):
    """{option: value} for ``wanted`` options of a .config text; unset ones are "n"."""
    wanted = set(wanted)
    result = {}
    for line in (text or "").splitlines():
        line = line.strip()
        match = _CONFIG_SET.match(line)
        if match and match.group(1) in wanted:
            value = match.group(2)
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            result[match.group(1)] = value
            continue
        match = _CONFIG_UNSET.match(line)
        if match and match.group(1) in wanted:
            result[match.group(1)] = "n"
    return result


def _kernel_config(reader, release):
    if release:
        text = reader.text("/boot/config-%s" % release)
        if text is not None:
            return parse_kconfig(text), "/boot/config-%s" % release
    data = reader.data("/proc/config.gz")
    if data is not None:
        try:
            import gzip  # only when /boot/config-<release> is missing

            with gzip.GzipFile(fileobj=io.BytesIO(data)) as handle:
                return parse_kconfig(handle.read().decode("utf-8", "replace")), "/proc/config.gz"
        except Exception as exc:  # pylint: disable=broad-except
            reader.warn("cannot decompress /proc/config.gz: %s" % exc)
    return {}, None


def kvm_parameters(reader):
    """Which kvm vendor module is loaded and the parameters the roles set."""
    module = None
    for name in ("kvm_intel", "kvm_amd"):
        if reader.isdir("/sys/module/%s" % name):
            module = name
            break
    result = {
        "loaded": reader.isdir("/sys/module/kvm"),
        "module": module,
        "nested": None,
        "halt_poll_ns": reader.integer("/sys/module/kvm/parameters/halt_poll_ns"),
    }
    if module:
        result["nested"] = reader.boolean("/sys/module/%s/parameters/nested" % module)
    return result


def module_names(text):
    """Module names of a /proc/modules text (first word of each line)."""
    return set(line.split()[0] for line in (text or "").splitlines() if line.split())


def br_netfilter_loaded(reader):
    """Whether br_netfilter is active: listed in /proc/modules, or built in (its sysctl
    directory /proc/sys/net/bridge exists without the module). None when /proc/modules
    cannot be read and the directory is absent (nothing to tell)."""
    text = reader.text("/proc/modules")
    if text is not None and "br_netfilter" in module_names(text):
        return True
    if reader.isdir("/proc/sys/net/bridge"):
        return True
    return None if text is None else False


def kernel_cmdline_owners(reader):
    """The owners kvmops.hypervisor.kernel_cmdline holds kernel arguments for on this host:
    a GRUB drop-in 90-kvmops-<owner>.cfg or a record /etc/kvmops/kernel_cmdline/<owner>.args
    exists (names only; the files are read by kernel_cmdline itself)."""
    owners = set()
    for path in grub_dropins(reader):
        if is_kvmops_dropin(path):
            owners.add(path.rsplit("/", 1)[-1][len(GRUB_DROPIN_PREFIX):-len(".cfg")])
    for name in reader.listdir(RECORD_DIR):
        if name.endswith(".args"):
            owners.add(name[:-len(".args")])
    return sorted(owners)


def _no_commands(name):  # pylint: disable=unused-argument
    return None


def gather_kernel(reader, which=None):
    """The ``kvm_host.kernel`` dictionary. ``which(name)``: the path of a command or None
    (the module's get_bin_path; the boot status asks for grubby on BLS hosts)."""
    release = reader.text("/proc/sys/kernel/osrelease")
    if not release:
        version = reader.text("/proc/version", "")
        words = version.split()
        release = words[2] if len(words) > 2 and words[:2] == ["Linux", "version"] else None
    text = reader.text("/proc/cmdline")
    if text is None:
        reader.warn("cannot read /proc/cmdline: running kernel command line unknown")
        cmdline = []
    else:
        cmdline = split_cmdline(text)
    config, config_source = _kernel_config(reader, release)
    return {
        "release": release,
        "version_tuple": version_tuple(release),
        "cmdline": cmdline,
        "pending_cmdline": pending_cmdline(reader),
        "isolated": reader.cpulist("/sys/devices/system/cpu/isolated", []),
        "nohz_full": reader.cpulist("/sys/devices/system/cpu/nohz_full", []),
        "kvm": kvm_parameters(reader),
        "br_netfilter_loaded": br_netfilter_loaded(reader),
        "config": config,
        "config_source": config_source,
        "kernel_cmdline_owners": kernel_cmdline_owners(reader),
        "boot": boot_status(reader, which or _no_commands),
    }
