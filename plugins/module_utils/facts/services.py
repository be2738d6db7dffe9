# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Facts about the software that runs guests: ZFS, libvirt settings, running QEMU processes.

Sources: /proc/spl/kstat/zfs (pools and arcstats), /sys/module/zfs/parameters
(OpenZFS docs, "Module Parameters"), /etc/libvirt/qemu.conf,
/etc/libvirt/qemu/networks/*.xml (libvirt docs: formatnetwork.html), the domain
definitions /etc/libvirt/qemu/*.xml and the running domains' status files
/run/libvirt/qemu/*.xml for ``<filterref>`` (formatdomain.html "Network interfaces",
formatnwfilter.html), /proc/PID/cmdline,
/proc/PID/status ``Seccomp:`` (Documentation/filesystems/proc.rst) and
/proc/PID/attr/current (the LSM label: AppArmor profile or SELinux context).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import posixpath
import re

ZFS_KSTAT = "/proc/spl/kstat/zfs"
ZFS_PARAMETERS = "/sys/module/zfs/parameters"
QEMU_CONF = "/etc/libvirt/qemu.conf"
NETWORKS_DIR = "/etc/libvirt/qemu/networks"
# Domain definitions (persistent) and status files of running domains (transient ones too).
DOMAIN_DIRS = ("/etc/libvirt/qemu", "/run/libvirt/qemu")

_QEMU_BINARY = re.compile(r"^(?:qemu-system-[A-Za-z0-9_]+|qemu-kvm)$")
_CONF_TOKEN = re.compile(r"""
    (?P<space>[ \t\r\n]+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'[^'\n]*')
  | (?P<number>-?(?:0x[0-9A-Fa-f]+|\d+)\b)
  | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<punct>[=\[\],])
""", re.VERBOSE)


# --------------------------------------------------------------------------- ZFS

def parse_kstat(text):
    """``name type data`` rows of a kstat file (after its two header lines) as {name: int}."""
    values = {}
    for line in (text or "").splitlines()[2:]:
        words = line.split()
        if len(words) != 3:
            continue
        try:
            values[words[0]] = int(words[2])
        except ValueError:
            continue
    return values


def block_devices(reader):
    """Device paths a pool may be created on: /dev/<name> of every /sys/class/block entry
    and the udev links in /dev/disk/by-id and /dev/disk/by-path (sorted)."""
    paths = ["/dev/%s" % name for name in reader.listdir("/sys/class/block")]
    for directory in ("/dev/disk/by-id", "/dev/disk/by-path"):
        paths.extend("%s/%s" % (directory, name) for name in reader.listdir(directory))
    return sorted(paths)


def gather_zfs(reader):
    """The ``kvm_host.zfs`` dictionary."""
    present = reader.isdir("/sys/module/zfs") or reader.isdir(ZFS_KSTAT)
    result = {"present": present, "pools": [], "arc": None, "parameters": {},
              "block_devices": block_devices(reader)}
    if not present:
        return result
    result["pools"] = sorted(name for name in reader.listdir(ZFS_KSTAT)
                             if reader.isdir("%s/%s" % (ZFS_KSTAT, name)))
    text = reader.text(ZFS_KSTAT + "/arcstats", warn_missing=True)
    if text is not None:
        stats = parse_kstat(text)
        if not stats:
            reader.warn("no values in %s/arcstats" % ZFS_KSTAT)
        result["arc"] = {"max": stats.get("c_max"), "min": stats.get("c_min"),
                         "size": stats.get("size"), "target": stats.get("c")}
    for name in ("zfs_arc_max", "zfs_arc_min", "zfs_txg_timeout", "zfs_prefetch_disable"):
        value = reader.integer("%s/%s" % (ZFS_PARAMETERS, name))
        if value is not None:
            result["parameters"][name] = value
    return result


# --------------------------------------------------------------------------- libvirt

def _conf_tokens(text):
    pos = 0
    tokens = []
    while pos < len(text):
        match = _CONF_TOKEN.match(text, pos)
        if not match:
            tokens.append(("bad", text[pos]))
            pos += 1
            continue
        pos = match.end()
        kind = match.lastgroup
        if kind not in ("space", "comment"):
            tokens.append((kind, match.group(kind)))
    return tokens


def _conf_value(tokens, index):
    """(value, next index) of the value at tokens[index]; raises ValueError."""
    kind, text = tokens[index]
    if kind == "string":
        body = text[1:-1]
        if text[0] == '"':
            body = re.sub(r"\\(.)", r"\1", body)
        return body, index + 1
    if kind == "number":
        return int(text, 0), index + 1
    if kind == "punct" and text == "[":
        items = []
        index += 1
        while True:
            if index >= len(tokens):
                raise ValueError("unterminated list")
            if tokens[index] == ("punct", "]"):
                return items, index + 1
            item, index = _conf_value(tokens, index)
            items.append(item)
            if index < len(tokens) and tokens[index] == ("punct", ","):
                index += 1
    raise ValueError("unexpected %r" % text)


def parse_libvirt_conf(text, on_error=None):
    """The settings of a libvirt configuration file (``key = value``; strings, integers,
    lists), as libvirt's virConfParse reads them. Malformed settings are skipped and
    reported through ``on_error(message)``."""
    tokens = _conf_tokens(text or "")
    settings = {}
    index = 0
    while index < len(tokens):
        kind, name = tokens[index]
        if kind == "name" and index + 1 < len(tokens) and tokens[index + 1] == ("punct", "="):
            try:
                value, index = _conf_value(tokens, index + 2)
                settings[name] = value
                continue
            except (ValueError, IndexError) as exc:
                if on_error:
                    on_error("malformed value of %s: %s" % (name, exc))
                index += 2
        else:
            if on_error:
                on_error("unexpected %r" % name)
            index += 1
        # resynchronise on the next "name =" pair
        while index < len(tokens) and not (
                tokens[index][0] == "name" and index + 1 < len(tokens)
                and tokens[index + 1] == ("punct", "=")):
            index += 1
    return settings


def _xml_root(text):
    """The root element of an XML text; raises ValueError."""
    from xml.etree import ElementTree  # only hosts with libvirt files pay for it

    try:
        return ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise ValueError(str(exc))


def _is_ipv6(ip):
    """An ``<ip>`` element of a network: family='ipv6', or an IPv6 address without family."""
    family = (ip.get("family") or "").lower()
    return family == "ipv6" or (not family and ":" in (ip.get("address") or ""))


def parse_network_xml(text):
    """(name, forward_mode, bridge, ipv6) of a libvirt network definition; raises ValueError.

    ``ipv6``: the network has an ``<ip family='ipv6'>`` address (formatnetwork.html
    "Addressing"); a nat, route or open network with one makes libvirt turn on
    net.ipv6.conf.all.forwarding when it starts the network."""
    root = _xml_root(text)
    if root.tag != "network":
        raise ValueError("root element is <%s>, not <network>" % root.tag)
    forward = root.find("forward")
    mode = None
    if forward is not None:
        mode = forward.get("mode") or "nat"  # libvirt: no mode attribute means nat
    bridge = root.find("bridge")
    ipv6 = any(_is_ipv6(ip) for ip in root.findall("ip"))
    return (root.findtext("name"), mode, bridge.get("name") if bridge is not None else None, ipv6)


def filterrefs(text):
    """(kind, name, [filter]) of a libvirt XML that references nwfilters; raises ValueError.

    A domain definition (``<domain>``), a running domain's status file (``<domstatus>``
    holding the ``<domain>``) or a network (``<network>``): every ``<filterref filter=...>``
    under it (domain interfaces are the main case: formatdomain.html "Traffic filtering
    with NWFilter"). Filters are sorted and unique; kind is None for another root."""
    root = _xml_root(text)
    if root.tag == "domstatus":
        root = root.find("domain")
        if root is None:
            raise ValueError("<domstatus> without a <domain>")
    if root.tag not in ("domain", "network"):
        return None, None, []
    filters = sorted(set(ref.get("filter") for ref in root.iter("filterref") if ref.get("filter")))
    return root.tag, root.findtext("name"), filters


def gather_libvirt(reader):
    """The ``kvm_host.libvirt`` dictionary."""
    present = any(reader.exists(path) for path in (
        "/etc/libvirt", "/usr/sbin/libvirtd", "/usr/sbin/virtqemud"))
    conf_text = reader.text(QEMU_CONF)
    qemu_conf = {}
    if conf_text is not None:
        qemu_conf = parse_libvirt_conf(
            conf_text, lambda message: reader.warn("%s: %s" % (QEMU_CONF, message)))
    networks = []
    users = set()
    autostart = set(reader.listdir(NETWORKS_DIR + "/autostart"))
    for filename in reader.listdir(NETWORKS_DIR):
        if not filename.endswith(".xml"):
            continue
        path = posixpath.join(NETWORKS_DIR, filename)
        text = reader.text(path)
        if text is None:
            continue
        try:
            name, mode, bridge, ipv6 = parse_network_xml(text)
            _kind, _name, filters = filterrefs(text)
        except ValueError as exc:
            reader.warn("cannot parse %s: %s" % (path, exc))
            continue
        name = name or filename[:-4]
        networks.append({"name": name, "forward_mode": mode, "ipv6": ipv6,
                         "bridge": bridge, "autostart": filename in autostart})
        users.update(("network", name, item) for item in filters)
    users.update(_domain_filter_users(reader))
    return {
        "present": present,
        "qemu_conf_present": conf_text is not None,
        "qemu_conf": qemu_conf,
        "networks": sorted(networks, key=lambda net: net["name"]),
        "nwfilter_users": [{"kind": kind, "name": name, "filter": item} for kind, name, item in sorted(users)],
    }


def _domain_filter_users(reader):
    """{("domain", name, filter)} of the defined and the running domains."""
    users = set()
    for directory in DOMAIN_DIRS:
        for filename in reader.listdir(directory):
            path = posixpath.join(directory, filename)
            if not filename.endswith(".xml") or reader.isdir(path):
                continue
            text = reader.text(path)
            if text is None:
                continue
            try:
                kind, name, filters = filterrefs(text)
            except ValueError as exc:
                reader.warn("cannot parse %s: %s" % (path, exc))
                continue
            if kind == "domain":
                users.update(("domain", name or filename[:-4], item) for item in filters)
    return users


# --------------------------------------------------------------------------- QEMU

def _split_option(value):
    """QEMU option parts split on ',' with ',,' as an escaped comma."""
    parts = [""]
    index = 0
    while index < len(value):
        char = value[index]
        if char == ",":
            if value[index + 1:index + 2] == ",":
                parts[-1] += ","
                index += 2
                continue
            parts.append("")
        else:
            parts[-1] += char
        index += 1
    return parts


def guest_name(argv):
    """Guest name from ``-name guest=X,...`` or ``-name X``; None without -name."""
    for index, arg in enumerate(argv[:-1]):
        if arg in ("-name", "--name"):
            parts = _split_option(argv[index + 1])
            for part in parts:
                if part.startswith("guest="):
                    return part[len("guest="):]
            if parts and "=" not in parts[0]:
                return parts[0]
            return None
    return None


def parse_qemu_cmdline(data):
    """argv of a QEMU process from /proc/PID/cmdline bytes, or None for other programs."""
    if not data:
        return None
    argv = data.decode("utf-8", "replace").rstrip("\0").split("\0")
    if not _QEMU_BINARY.match(posixpath.basename(argv[0])):
        return None
    return argv


def sandbox_arg(argv):
    """The value of QEMU's ``-sandbox`` option (the last one wins), or None."""
    value = None
    for index, arg in enumerate(argv[:-1]):
        if arg in ("-sandbox", "--sandbox"):
            value = argv[index + 1]
    return value


def breakers(argv):
    """What in a QEMU command line the seccomp sandbox of libvirt breaks
    (``spawn=deny``, ``resourcecontrol=deny``; QEMU docs, "-sandbox"):
    ``bridge_helper``: a ``-netdev bridge`` or ``helper=`` (QEMU runs qemu-bridge-helper,
    which spawn=deny forbids); ``thread_context``: a ``-object thread-context`` (it sets
    CPU affinity, which resourcecontrol=deny forbids)."""
    found = {"bridge_helper": False, "thread_context": False}
    for index, arg in enumerate(argv[:-1]):
        value = argv[index + 1]
        if value.startswith("{"):
            # the JSON form libvirt uses for -object and -netdev (QEMU 6.0+)
            try:
                data = json.loads(value)
            except ValueError:
                data = {}
            data = data if isinstance(data, dict) else {}
            kind = data.get("qom-type") if arg == "-object" else data.get("type")
            helper = "helper" in data
        else:
            parts = _split_option(value)
            kind = "thread-context" if "qom-type=thread-context" in parts else parts[0]
            helper = any(part.startswith("helper=") for part in parts)
        if arg in ("-netdev", "-net", "-nic") and (kind == "bridge" or helper):
            found["bridge_helper"] = True
        if arg == "-object" and kind == "thread-context":
            found["thread_context"] = True
    return found


def status_fields(lines):
    """{seccomp, no_new_privs} from the lines of /proc/PID/status or /proc/PID/task/TID/status
    (``Seccomp:`` 0 off, 1 strict, 2 filter; ``NoNewPrivs:``; Documentation/filesystems/proc.rst)."""
    found = {"seccomp": None, "no_new_privs": None}
    for line in lines or []:
        for field, key in (("Seccomp:", "seccomp"), ("NoNewPrivs:", "no_new_privs")):
            if line.startswith(field):
                try:
                    found[key] = int(line.split()[1])
                except (ValueError, IndexError):
                    pass
    return found


def _count(values):
    counts = {}
    for value in values:
        label = "unknown" if value is None else str(value)
        counts[label] = counts.get(label, 0) + 1
    return counts


def _label(reader, path):
    text = reader.text(path, quiet=True)
    if text is None:
        return None
    return text.rstrip("\0").strip() or None


def gather_qemu(reader):
    """The ``kvm_host.qemu_processes`` list."""
    processes = []
    for pid in reader.listdir("/proc"):
        if not pid.isdigit():
            continue
        argv = parse_qemu_cmdline(reader.data("/proc/%s/cmdline" % pid, quiet=True))
        if argv is None:
            continue
        lines = reader.lines("/proc/%s/status" % pid, [])
        main = status_fields(lines)
        if main["seccomp"] is None and any(line.startswith("Seccomp:") for line in lines):
            reader.warn("malformed Seccomp line in /proc/%s/status" % pid)
        # every thread: a filter installed without TSYNC would cover the calling thread only
        threads = []
        for tid in reader.listdir("/proc/%s/task" % pid):
            if tid.isdigit():
                threads.append(status_fields(reader.lines("/proc/%s/task/%s/status" % (pid, tid), [])))
        if not threads:
            threads = [main]
        # EINVAL: no LSM provides a label; the process may also be gone already.
        # attr/current is the first LSM's label; attr/apparmor/current (Linux >= 5.8) AppArmor's own.
        label = _label(reader, "/proc/%s/attr/current" % pid)
        apparmor = _label(reader, "/proc/%s/attr/apparmor/current" % pid)
        uuid = None
        if "-uuid" in argv[:-1]:
            uuid = argv[argv.index("-uuid") + 1]
        entry = {
            "pid": int(pid),
            "name": guest_name(argv),
            "uuid": uuid,
            "binary": argv[0],
            "seccomp": main["seccomp"],
            "no_new_privs": main["no_new_privs"],
            "threads": len(threads),
            "seccomp_threads": _count(thread["seccomp"] for thread in threads),
            "no_new_privs_threads": _count(thread["no_new_privs"] for thread in threads),
            "sandbox": sandbox_arg(argv),
            "security_label": label,
            "apparmor_label": apparmor if apparmor is not None else (
                label if label and "(" in label and ":" not in label else None),
        }
        entry.update(breakers(argv))
        processes.append(entry)
    return sorted(processes, key=lambda proc: proc["pid"])
