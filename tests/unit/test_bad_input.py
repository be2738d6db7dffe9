"""Bad inputs, one table: every one is refused before anything on the host changes.

Each row of ``CASES`` is one bad value of one module option, role variable or plan option.
It runs against a fixture tree (the modules' ``root`` option; for the plan, the
``host_plan`` action with its facts gathered by ``kvm_host_facts`` from the tree and the
policy in ``kvmops_plan_*`` variables, as the roles call it), and the test proves:

- the run failed (module ``failed``, ``AnsibleActionFail`` from ``host_plan``);
- nothing in the tree changed: a fingerprint (path, type, mode, sha256 or link target of
  every entry) taken before equals the one taken after;
- the message starts with the variable's name (``hugepages_swappiness: ...``) and states
  the accepted form (the row's ``accepted`` text, found in the message as written).

docs/bad-input.md is generated from this table (``test_doc_lists_every_case`` fails when
it is out of date; ``KVMOPS_WRITE_BAD_INPUT_DOC=1`` rewrites it).

Why the plan is enough for the roles: each role's first tasks are the collection-wide
checks and ``host_plan`` for its own section (roles/*/tasks/plan.yml); a role variable
reaches the planner unchanged (vars/main.yml only passes it through), so a refusal there
is a refusal before the role's first writing task.
"""

import collections
import hashlib
import importlib
import os
import shutil
from unittest.mock import MagicMock

import pytest
from ansible.errors import AnsibleActionFail
from module_runner import run_module
from sysfs_builder import GIB_KB, Host, Tree

from ansible_collections.kvmops.hypervisor.plugins.action.host_plan import ActionModule
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.host import SubsetError, kvm_host_facts

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = os.path.join(ROOT, "docs", "bad-input.md")

Case = collections.namedtuple("Case", "group variable bad accepted kind payload")

PF = "0000:3b:00.0"
NVME_SERIAL = "KVMOPS0001"

# --------------------------------------------------------------------------- the host tree

G2_DOMAIN = """<domain type='kvm'>
  <name>g2</name>
  <uuid>0b1c4c1e-5a4f-4d2b-9a49-0d3f8e1b2c02</uuid>
  <memory unit='KiB'>131072</memory>
  <vcpu placement='static'>2</vcpu>
</domain>
"""

ETC = {
    "/etc/default/grub": 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""\n',
    "/etc/default/irqbalance": "#IRQBALANCE_BANNED_CPULIST=\n",
    "/etc/libvirt/qemu.conf": '#security_driver = "selinux"\n',
    "/etc/libvirt/qemu/g2.xml": G2_DOMAIN,
    "/etc/sysctl.d/99-local.conf": "vm.swappiness = 60\n",
    "/etc/modprobe.d/zfs.conf": "options zfs zfs_arc_max=1073741824\n",
    "/proc/cmdline": "BOOT_IMAGE=/vmlinuz-6.1.0 root=/dev/vda1 ro quiet",
    "/proc/sys/vm/swappiness": "60",
    "/proc/sys/net/core/somaxconn": "4096",
    "/proc/sys/kernel/numa_balancing": "1",
    "/sys/kernel/mm/transparent_hugepage/enabled": "always [madvise] never",
    "/sys/module/zfs/parameters/zfs_arc_max": "1073741824",
    "/sys/module/zfs/parameters/zfs_arc_min": "0",
    "/usr/sbin/virtqemud": "",
}


def build_host(root):
    """A 2-node host (2 sockets x 4 cores x 2 threads, 16 GiB per node) with libvirt (domain
    g2: 2 vCPUs, 128 MiB), an SR-IOV PF (8 VFs at most, none made), an NVMe drive and a few
    /etc files each module could write."""
    tree = Tree(root)
    Host("2x4x2", nodes=2, memory_kb=16 * GIB_KB,
         hugepages={2048: {0: 0, 1: 0}, 1048576: {0: 0, 1: 0}}).build(tree)
    tree.files(ETC)
    tree.sriov_pf(PF, netdev="ens1f0", totalvfs=8, numvfs=0)
    ctrl = tree.nvme("nvme0")
    tree.write(ctrl + "/serial", NVME_SERIAL)
    tree.write("/boot/vmlinuz-6.1.0", "")
    return tree


def fingerprint(root):
    """(path, type, mode, sha256 or link target) of every entry under ``root``, sorted."""
    entries = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(dirs + files):
            full = os.path.join(folder, name)
            rel = os.path.relpath(full, root)
            info = os.lstat(full)
            if os.path.islink(full):
                entries.append((rel, "link", info.st_mode, os.readlink(full)))
            elif os.path.isdir(full):
                entries.append((rel, "dir", info.st_mode, None))
            else:
                with open(full, "rb") as handle:
                    entries.append((rel, "file", info.st_mode, hashlib.sha256(handle.read()).hexdigest()))
    return entries


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("host"))
    build_host(root)
    return root


@pytest.fixture(scope="module")
def gathered(template):
    """kvm_host facts of the template tree, per gather_subset (the action asks for parts)."""
    cache = {}

    def gather(subsets):
        key = tuple(subsets)
        if key not in cache:
            try:
                cache[key] = {"ansible_facts": {"kvm_host": kvm_host_facts(template, list(subsets))}}
            except SubsetError as exc:
                cache[key] = {"failed": True, "msg": str(exc)}
        return cache[key]
    return gather


# --------------------------------------------------------------------------- runners

def module_main(name):
    return importlib.import_module("ansible_collections.kvmops.hypervisor.plugins.modules." + name).main


def run_case_module(monkeypatch, root, payload):
    name, args = payload
    args = dict(args)
    if "root" in module_main_options(name):
        args["root"] = root
    for key, value in list(args.items()):
        if isinstance(value, str) and value.startswith("@root"):
            args[key] = root + value[len("@root"):]
    result = run_module(monkeypatch, module_main(name), args)
    assert result.failed, "module %s accepted %r: %r" % (name, args, result.result.get("msg"))
    return result.result["msg"]


def module_main_options(name):
    source = importlib.import_module("ansible_collections.kvmops.hypervisor.plugins.modules." + name)
    return source.__file__ and open(source.__file__).read()


def run_case_plan(gathered, payload):
    args, variables = payload
    task = MagicMock()
    task.args = dict(args)
    task.async_val = 0
    task.check_mode = False
    task.action = "kvmops.hypervisor.host_plan"
    connection = MagicMock()
    connection._shell.tmpdir = None
    action = ActionModule(task, connection, MagicMock(), loader=None, templar=None, shared_loader_obj=None)
    action._load_name = "kvmops.hypervisor.host_plan"
    action._execute_module = lambda module_name=None, module_args=None, task_vars=None: gathered(
        module_args["gather_subset"])
    with pytest.raises(AnsibleActionFail) as caught:
        result = action.run(task_vars=dict(variables))
        raise AssertionError("host_plan accepted %r (warnings: %r)" % (
            payload, result["ansible_facts"]["kvm_host_plan"]["warnings"]))
    return str(caught.value.message)


# --------------------------------------------------------------------------- the table

def policy(variable, value, accepted, bad=None, **more):
    """A kvmops_plan_* variable (the roles' only way to give the policy)."""
    variables = dict(("kvmops_plan_%s" % key, val) for key, val in more.items())
    variables["kvmops_plan_%s" % variable] = value
    return Case("Plan options (`host_plan`, `kvmops_plan_*` variables)", "kvmops_plan_" + variable,
                bad if bad is not None else repr(value), accepted, "plan",
                ({"sections": {"numa_pinning": {}}}, variables))


def guest(index_name, key, value, accepted, bad=None, base=None, **more):
    entry = dict(base or {"name": index_name, "vcpus": 2, "memory_mb": 1024})
    entry[key] = value
    case = policy("guests", [entry], accepted, bad=bad or "%s: %r" % (key, value), **more)
    if key == "name":
        return case._replace(variable="kvmops_plan_guests[%s]" % index_name)
    if key in ("smt", "hugepages"):  # the argument spec's type and choice errors name the list
        return case._replace(variable="kvmops_plan_guests")
    return case._replace(variable="kvmops_plan_guests[%s].%s" % (index_name, key))


def role(name, option, value, accepted, bad=None, variable=None, **policy_vars):
    """A role variable ``<role>_<option>``, as the role hands it to host_plan."""
    variables = dict(("kvmops_plan_%s" % key, val) for key, val in policy_vars.items())
    return Case("Role `%s`" % name, variable or "%s_%s" % (name, option),
                bad if bad is not None else repr(value), accepted, "plan",
                ({"sections": {name: {option: value}}}, variables))


def module(name, variable, args, accepted, bad=None):
    return Case("Module `kvmops.hypervisor.%s`" % name, variable,
                bad if bad is not None else repr(args.get(variable.split("[")[0])),
                accepted, "module", (name, args))


def task_option(variable, args, accepted, bad):
    """A host_plan option given to the task itself (not a kvmops_plan_* variable)."""
    return Case("Plan options (`host_plan`, `kvmops_plan_*` variables)", variable, bad, accepted, "plan",
                (args, {}))


GUEST = {"name": "g2", "vcpus": 2, "memory_mb": 128, "hugepages": False}

CASES = [
    # ------------------------------------------------------------------ plan options
    policy("isolation", "total", "must be one of: none, isolcpus, nohz_full"),
    policy("emulator_threads", "shared", "must be one of: housekeeping, dedicated"),
    policy("hugepage_size", "4M", "must be one of: auto, 2M, 1G"),
    policy("housekeeping_cpus", "0-99", "(online: 0-15)"),
    policy("housekeeping_cpus", "zero", "invalid CPU number 'zero' in cpulist"),
    policy("housekeeping_cpus", "0", "give whole cores or set allow_split_cores", bad="'0' (one thread of core 0,8)"),
    policy("housekeeping_cores_per_node", 0, "must be an integer >= 1"),
    policy("housekeeping_cores_per_node", "two", "unable to convert to int"),
    policy("allow_split_cores", "perhaps", "Valid booleans include"),
    policy("hugepages_percent", 150, "must be a number from 0 to 100"),
    policy("hugepages_percent", -5, "must be a number from 0 to 100"),
    policy("hugepages_per_node", {"7": 4}, "node 7 does not exist (nodes: 0, 1)"),
    policy("hugepages_per_node", {"0": -1}, "count must not be negative"),
    policy("hugepages_per_node", {"0": 100000}, "are more than the node holds (16384 MiB)", hugepage_size="2M"),
    policy("hugepages_per_node", {"0": 2}, "mutually exclusive: hugepages_percent|hugepages_per_node", bad="with kvmops_plan_hugepages_percent: 10",
           hugepages_percent=10),
    policy("host_reserved_memory_mb", -1, "must be a non-negative integer"),
    policy("zfs_arc_max_mb", -1, "must be a non-negative integer"),
    policy("guest_overhead_mb", -128, "must be a non-negative integer"),
    policy("guest_spanning", "sometimes", "Valid booleans include"),
    policy("iommu", "perhaps", "Valid booleans include"),
    policy("guests", "db1", "must be a list of dicts"),
    policy("guests", [{"vcpus": 2, "memory_mb": 1024}], "missing required arguments: name", bad="an entry without name"),
    policy("guests", [{"name": "a", "vcpus": 2, "memory_mb": 1024}, {"name": "a", "vcpus": 2, "memory_mb": 1024}],
           "duplicate guest name 'a'", bad="two guests named a"),
    policy("guests", [{"name": "a", "vcpus": 2, "memory_mb": 1024, "cpus": 2}],
           "Supported parameters include: hugepages, memory_mb, name, numa_node, smt, vcpus",
           bad="unknown key cpus"),
    guest("a", "vcpus", 0, "must be an integer >= 1"),
    guest("a", "vcpus", 64, "it has 12 CPUs for guests"),
    guest("a", "memory_mb", 0, "must be an integer >= 1"),
    guest("a", "memory_mb", 10 ** 7, "its nodes have 29408 MiB above their reserves"),
    guest("a", "smt", "maybe", "value of smt must be one of: exclusive, shared"),
    guest("a", "numa_node", 7, "node 7 does not exist (nodes: 0, 1)"),
    guest("a", "hugepages", "perhaps", "Valid booleans include"),
    guest("a", "memory_mb", 1025, "use a multiple of 2 MiB, or hugepages: false", bad="1025 with 2M huge pages", hugepage_size="2M"),
    guest("g2", "memory_mb", 64, "must equal the domain's <memory> in MiB: set memory_mb to 128", base=GUEST, bad="64 (domain g2 has 128 MiB)"),
    guest("g2", "vcpus", 4, "must equal the domain's vCPU count: set vcpus to 2", base=GUEST, bad="4 (domain g2 has 2)"),
    guest("g9", "name", "g9", "the name must be a defined domain's", base=GUEST, bad="g9 (no such domain)"),
    policy("guests", [dict(GUEST, vcpus=8, numa_node=0)], "or set numa_pinning_allow_unplaced to true", bad="a guest no node holds",
           guest_spanning=False),
    task_option("refresh", {"sections": {"numa_pinning": {}}, "refresh": ["vfs"]},
                "choose from cpu, numa, memory, kernel", bad="['vfs'] (task option)"),
    task_option("sections", {"sections": {"nfs_storage": {}}}, "known: hugepages, iommu, numa_pinning",
                bad="{nfs_storage: {}} (a section no role has)"),
    # ------------------------------------------------------------------ roles
    role("numa_pinning", "numa_balancing", "off", "must be one of: auto, disabled, default"),
    role("numa_pinning", "kernel_args", "maybe", "Valid booleans include"),
    role("numa_pinning", "systemd_affinity_path", "cpuaffinity.conf", "must be an absolute path", housekeeping_cores_per_node=1),
    role("hugepages", "swappiness", 300, "must be from 0 to 200 or null"),
    role("hugepages", "thp", "sometimes", "must be one of: always, madvise, never, keep"),
    role("hugepages", "ksm", "off", "must be one of: auto, run, stop, unmerge, keep"),
    role("hugepages", "zswap_compressor", "gzip", "must be one of: keep, lzo, lzo-rle, lz4, lz4hc, zstd, deflate, 842"),
    role("hugepages", "zswap_max_pool_percent", 150, "must be from 1 to 100 or null"),
    role("hugepages", "compaction_retries", -1, "must be 0 or more"),
    role("hugepages", "mount_prefix", "hugepages", "must be an absolute path without spaces or a trailing slash", hugepage_size="2M",
         hugepages_per_node={"0": 8}),
    role("sysctl_net", "ip_forward", "sometimes", "must be auto, true or false"),
    role("sysctl_net", "ipv6_forward", 2, "must be auto, true or false"),
    role("nvme_queues", "scheduler", "cfq", "it offers none, mq-deadline"),
    role("nvme_queues", "read_ahead_kb", -4, "must be an integer of 0 or more (kB), or null"),
    role("nvme_queues", "nr_requests", 0, "must be an integer from 4 to 4096, or null"),
    role("nvme_queues", "rq_affinity", "3", "must be one of: auto, keep, 0, 1, 2"),
    role("nvme_queues", "nomerges", 5, "must be 0, 1, 2 or null"),
    role("nvme_queues", "poll_queues", -1, "must be 0 or more"),
    role("nvme_queues", "overrides", [{"nomerges": 1}], "give model, serial or wwid", bad="an override without serial/model/wwid"),
    role("sriov_vhost", "pfs", [{"address": PF, "numvfs": 9}], "more than the PF 0000:3b:00.0 offers (sriov_totalvfs 8)", bad="numvfs 9 (sriov_totalvfs 8)"),
    role("sriov_vhost", "pfs", [{"address": "0000:99:00.0", "numvfs": 2}],
         "SR-IOV PFs of this host (kvm_host.sriov): 0000:3b:00.0", bad="a PF not on the host"),
    role("sriov_vhost", "pfs", [{"address": PF, "numvfs": 2, "vfs": [{"index": 0, "mac": "52:54:00:zz:00:00"}]}],
         "is not a MAC address (six colon-separated hex octets)", bad="mac 52:54:00:zz:00:00"),
    role("sriov_vhost", "pfs", [{"address": PF, "numvfs": 2, "vfs": [{"index": 0, "vlan": 5000}]}],
         "vlan must be 1 to 4094 (0: no VLAN)", bad="vlan 5000"),
    role("sriov_vhost", "pfs", [{"address": PF, "numvfs": 2, "vfs": [{"index": 3}]}], "index must be a VF number from 0 to 1",
         bad="VF index 3 of 2"),
    role("sriov_vhost", "pfs", [{"address": PF, "numvfs": 2, "vfs": [{"index": 0, "mac": "01:00:5e:00:00:01"}]}],
         "a VF needs a unicast MAC", bad="multicast mac"),
    role("seccomp_sandbox", "seccomp", 5, "must be -1 (libvirt's default: the sandbox when QEMU has it), 0 (off) or 1 (on)"),
    role("seccomp_sandbox", "security_driver", "tomoyo", "(libvirt has selinux, apparmor)"),
    role("seccomp_sandbox", "namespaces", ["net"], "libvirt supports only mount"),
    role("seccomp_sandbox", "user", "root", "use a dedicated account (libvirt-qemu on Debian, qemu on RHEL)"),
    role("seccomp_sandbox", "max_files", -3, "must be an integer of 0 or more, or null"),
    role("seccomp_sandbox", "qemu_conf_settings", {"no_such_key": 1}, "not a qemu.conf setting (libvirt src/qemu/qemu.conf.in knows"),
    role("seccomp_sandbox", "qemu_conf_settings", {"vnc_listen": 5}, "vnc_listen: must be a string", bad="vnc_listen: 5 (a number)"),
    role("seccomp_sandbox", "remember_owner", "sometimes", "must be auto or false or true"),
    role("seccomp_sandbox", "apparmor_numa_rule", "sometimes", "must be auto or false or true"),
    role("seccomp_sandbox", "apparmor_numa_rule", True, "does not exist (is libvirt-daemon-system installed?)"),
    role("zfs_storage", "datasets", [{"name": "tank/vm", "type": "filesystem", "properties": {"sync": "async"}}],
         "use standard, always or disabled", bad="sync: async"),
    role("zfs_storage", "datasets", [{"name": "tank/disk0", "type": "volume"}],
         "a volume needs a size (bytes or with K, M, G or T)", bad="a volume without size"),
    role("zfs_storage", "datasets", [{"name": "vm", "type": "filesystem"}], "is not a dataset name below a pool (pool/name)", bad="name without pool"),
    role("zfs_storage", "pools", [{"name": "tank", "vdevs": ["sdb"]}], "give devices as /dev paths", bad="vdevs: [sdb]"),
    role("zfs_storage", "pools", [{"name": "tank", "vdevs": ["/dev/vdb"], "ashift": 20}], "must be an integer from 9 to 16",
         bad="ashift 20"),
    # ------------------------------------------------------------------ modules
    module("sysfs_attr", "attributes[/sys/kernel/mm/transparent_hugepage/enabled]",
           {"attributes": {"/sys/kernel/mm/transparent_hugepage/enabled": "sometimes"}},
           "is not one of the values the kernel offers (always, madvise, never)", bad="sometimes"),
    module("sysfs_attr", "attributes", {"attributes": {"kernel/mm/ksm/run": "0"}},
           "is not an absolute path below /sys or /proc/sys", bad="kernel/mm/ksm/run (relative)"),
    module("sysfs_attr", "attributes", {"attributes": {"/etc/passwd": "x"}},
           "is not an absolute path below /sys or /proc/sys", bad="/etc/passwd"),
    module("sysfs_attr", "attributes", {"attributes": {"/proc/sys/vm/swappiness": [10]}},
           "must be a scalar", bad="a list as value"),
    module("config_files", "files", {"files": {"etc/x.conf": "x\n"}}, "is not an absolute path",
           bad="etc/x.conf (relative)"),
    module("config_files", "files[/etc/x.conf]", {"files": {"/etc/x.conf": 5}}, "must be text or null",
           bad="content 5"),
    module("config_files", "lines[/etc/default/irqbalance]",
           {"lines": {"/etc/default/irqbalance": {"BAD KEY": "BAD KEY=1"}}}, "is not a variable name",
           bad="key 'BAD KEY'"),
    module("config_files", "lines[/etc/default/irqbalance][IRQBALANCE_ONESHOT]",
           {"lines": {"/etc/default/irqbalance": {"IRQBALANCE_ONESHOT": "OTHER=1"}}},
           "must be one line that sets IRQBALANCE_ONESHOT, null or false", bad="OTHER=1"),
    module("kernel_cmdline", "owner", {"owner": "my owner", "args": []},
           "use 1-64 lower-case letters, digits, '_' or '-', starting with a letter or digit"),
    module("kernel_cmdline", "args", {"owner": "t", "args": "isolcpus=1"}, "must be a mapping or a list"),
    module("kernel_cmdline", "args[0]", {"owner": "t", "args": [["bad name", "1"]]},
           "use letters, digits, '_', '.' and '-' (not starting with '-')", bad="name 'bad name'"),
    module("hugepages_runtime", "pages", {"pages": {"4096": {"0": 1}}},
           "this host has 2048 kB and 1048576 kB pages on nodes 0, 1", bad="4096 kB pages"),
    module("hugepages_runtime", "pages", {"pages": {"2048": {"7": 1}}},
           "this host has 2048 kB and 1048576 kB pages on nodes 0, 1", bad="node 7"),
    module("hugepages_runtime", "pages", {"pages": {"2048": {"0": -1}}}, "must not be negative", bad="-1 pages"),
    module("hugepages_runtime", "pages", {"pages": {"2000": {"0": 1}}}, "is not a power of two", bad="2000 kB pages"),
    module("hugepages_runtime", "compaction_retries", {"pages": {}, "compaction_retries": -1}, "must not be negative"),
    module("sysctl_dropin", "settings['vm.swappiness']",
           {"settings": {"vm.swappiness": "1\nkernel.panic = 1"}, "path": "/etc/sysctl.d/90-t.conf", "apply": False},
           "a sysctl value must be a single line", bad="a value with a newline"),
    module("zfs_arc", "order", {"order": [["zfs_arc_bogus", 1]], "max_bytes": 2 ** 30, "min_bytes": 2 ** 28},
           "is not a [zfs_arc_max|zfs_arc_min, bytes] pair", bad="zfs_arc_bogus"),
    module("qemu_conf_lines", "lines", {"lines": {"seccomp_sandbox": "seccomp_sandbox = \"yes\""}},
           "libvirt would refuse it: seccomp_sandbox: must be an integer", bad='seccomp_sandbox = "yes"'),
    module("qemu_conf_lines", "lines[/etc/libvirt/qemu.conf][user]", {"lines": {"user": "group = \"kvm\""}},
           "must be one line that sets user, null or false", bad='user: group = "kvm"'),
    module("qemu_conf_lines", "path", {"lines": {}, "path": "qemu.conf"}, "give /etc/libvirt/qemu.conf"),
    module("sriov_vfs", "pfs", {"pfs": [{"address": "0000:99:00.0", "numvfs": 2, "vfs": []}]},
           "no SR-IOV capable PF at this address", bad="a PF not on the host"),
    module("sriov_vfs", "pfs", {"pfs": [{"address": PF, "numvfs": 9, "vfs": []}]}, "give 0 to 8",
           bad="numvfs 9 (sriov_totalvfs 8)"),
    module("kvm_host_facts", "gather_subset", {"gather_subset": ["cpus"]},
           "choose from all, cpu, numa, memory, kernel"),
    module("prometheus_textfile", "filename", {"directory": "@root/var/lib/prometheus", "filename": "../x.prom"},
           "must be a plain name ending in .prom"),
    module("libvirt_domain_tuning", "guests[0] (g2).vcpus", {"guests": [
        {"name": "g2", "vcpus": 0, "vcpupin": {}, "emulatorpin": [0], "memory_node": 0}]},
        "must be at least 1", bad="vcpus: 0"),
    module("libvirt_domain_tuning", "guests[0] (g2).vcpupin", {"guests": [
        {"name": "g2", "vcpus": 2, "vcpupin": {"0": 1}, "emulatorpin": [0], "memory_node": 0}]},
        "must pin every vCPU 0-1 exactly once", bad="vCPU 0 pinned only"),
]


# --------------------------------------------------------------------------- the tests

def case_id(case):
    return "%s|%s|%s" % (case.group.split("`")[1] if "`" in case.group else "plan", case.variable, case.bad)


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_refused_before_anything_changes(case, template, gathered, tmp_path, monkeypatch):
    if case.kind == "module":
        root = str(tmp_path / "root")
        shutil.copytree(template, root, symlinks=True)
    else:
        root = template
    before = fingerprint(root)
    if case.kind == "module":
        message = run_case_module(monkeypatch, root, case.payload)
    else:
        message = run_case_plan(gathered, case.payload)
    assert fingerprint(root) == before, "the refused run changed the tree"
    if os.environ.get("BAD_INPUT_PROBE"):
        print("\nPROBE %s\n  %s" % (case_id(case), message))
        return
    assert message.startswith(case.variable), "%r does not start with %r" % (message, case.variable)
    assert case.accepted in message, "%r does not state %r" % (message, case.accepted)


# --------------------------------------------------------------------------- docs/bad-input.md

DOC_HEAD = """# Bad inputs and how they are refused

Generated from `tests/unit/test_bad_input.py` (its `CASES` table); do not edit by hand:
`KVMOPS_WRITE_BAD_INPUT_DOC=1 .venv/bin/python -m pytest tests/unit/test_bad_input.py -k doc`
rewrites it, and `test_doc_lists_every_case` fails while it is out of date.

Every row is run by `test_refused_before_anything_changes` against a fixture tree (a 2-node
host with libvirt, a domain `g2` of 2 vCPUs and 128 MiB, an SR-IOV PF with at most 8 VFs,
an NVMe drive): the modules with their `root` option, the plan through the `host_plan`
action as the roles call it (policy in `kvmops_plan_*` variables, role variables in
`sections`, facts gathered from the tree). Each run must fail, leave the tree exactly as it
was (path, mode and sha256 of every file, before and after), and give a message that
starts with the variable and states the accepted form (the last column, as the message
says it).

A role variable reaches the planner unchanged (`roles/<role>/vars/main.yml` passes it
through) in the role's first task after the collection-wide checks, so a refusal in the
plan is a refusal before the role's first writing task. Type and choice errors of a
module's own options are Ansible's argument spec messages (`value of missing must be one
of: ...`) and are not listed.

Total: %d bad inputs.
"""


def cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_doc(cases):
    groups = []
    rows = {}
    for case in cases:
        if case.group not in rows:
            groups.append(case.group)
            rows[case.group] = []
        rows[case.group].append(case)
    parts = [DOC_HEAD % len(cases)]
    for group in groups:
        parts.append("\n## %s\n\n| Variable | Bad input | Refused with (accepted form) |\n|---|---|---|\n" % group)
        for case in rows[group]:
            parts.append("| `%s` | %s | %s |\n" % (cell(case.variable), cell(case.bad), cell(case.accepted)))
    return "".join(parts)


def test_fingerprint_sees_content_mode_links_and_new_files(tmp_path):
    tree = Tree(str(tmp_path))
    tree.write("/etc/a.conf", "a")
    tree.symlink("/etc/b.conf", "/etc/a.conf")
    before = fingerprint(str(tmp_path))
    for change in (lambda: tree.write("/etc/a.conf", "b"),
                   lambda: os.chmod(tree.path("/etc/a.conf"), 0o600),
                   lambda: tree.write("/etc/new.conf", ""),
                   lambda: tree.symlink("/etc/b.conf", "/etc/new.conf")):
        change()
        after = fingerprint(str(tmp_path))
        assert after != before
        before = after


def test_at_least_80_bad_inputs_across_modules_roles_and_plan():
    assert len(CASES) >= 80
    assert len(set(case_id(case) for case in CASES)) == len(CASES), "two rows with the same variable and input"
    kinds = set(case.group.split(" ")[0] for case in CASES)
    assert kinds == {"Plan", "Role", "Module"}


def test_doc_lists_every_case():
    text = render_doc(CASES)
    if os.environ.get("KVMOPS_WRITE_BAD_INPUT_DOC"):
        with open(DOC, "w", encoding="utf-8") as handle:
            handle.write(text)
    with open(DOC, encoding="utf-8") as handle:
        assert handle.read() == text, "docs/bad-input.md is out of date: see its first lines"
