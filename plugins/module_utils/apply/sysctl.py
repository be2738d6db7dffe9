# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sysctl profiles: merge, normalise, check against a kernel's /proc/sys, render.

Pure logic for the ``sysctl_net`` role and the ``sysctl_check`` module. Nothing here
writes anything; every read goes through :class:`_sysfs.Reader` under a ``root``.

Keys follow procps ``sysctl`` syntax: ``net.ipv4.conf.all.rp_filter`` or the slash
form ``net/ipv4/conf/eth0.100/rp_filter``. When the first separator of a key is a dot,
dots separate path components and a slash stands for a literal dot (interface names
like ``eth0.100``); when it is a slash, slashes separate and dots are literal. Keys are
compared and rendered in the canonical dotted form (``net.ipv4.conf.eth0/100.rp_filter``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
from collections import OrderedDict

IP_FORWARD_KEY = "net.ipv4.ip_forward"

# libvirt network forward modes that route guest traffic through the host's IP stack
# (https://libvirt.org/formatnetwork.html#connectivity): nat, route and open need
# net.ipv4.ip_forward; bridge, passthrough, private, vepa, hostdev and isolated
# networks (no <forward>) switch at layer 2 or not at all.
ROUTING_FORWARD_MODES = ("nat", "route", "open")

# Keys that only exist once a kernel module is loaded: prefix -> module.
# The marker exists as soon as the module is active (loaded or built in): then a
# missing key of that prefix is unknown, not pending.
MODULE_PREFIXES = (
    ("net.bridge.", "br_netfilter", "/proc/sys/net/bridge"),
    ("net.netfilter.", "nf_conntrack", "/proc/sys/net/netfilter"),
    ("net.nf_conntrack_max", "nf_conntrack", "/proc/sys/net/netfilter"),
)

# Kernel documentation for a key, by prefix (longest first wins).
DOC_PREFIXES = (
    ("net.core.", "Documentation/admin-guide/sysctl/net.rst"),
    ("net.unix.", "Documentation/admin-guide/sysctl/net.rst"),
    ("net.netfilter.", "Documentation/networking/nf_conntrack-sysctl.rst"),
    ("net.", "Documentation/networking/ip-sysctl.rst"),
    ("vm.", "Documentation/admin-guide/sysctl/vm.rst"),
    ("kernel.", "Documentation/admin-guide/sysctl/kernel.rst"),
    ("fs.", "Documentation/admin-guide/sysctl/fs.rst"),
)

# The directories ``sysctl --system`` (procps) and systemd-sysctl read, in precedence
# order (the first directory holding a file name wins), then /etc/sysctl.conf.
SYSCTL_D_DIRS = ("/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d")
SYSCTL_CONF = "/etc/sysctl.conf"

DEFAULT_LABELS = {
    "settings": "settings",
    "overrides": "overrides",
    "removals": "removals",
    "ip_forward": "ip_forward",
}

_COMPONENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@+-]*$")


class SysctlError(ValueError):
    """A bad key, value or profile; the message names the variable that holds it."""


def _split(key):
    """Path components of a procps key (see the module docstring)."""
    dot, slash = key.find("."), key.find("/")
    if slash == -1 or (dot != -1 and dot < slash):
        return [part.replace("/", ".") for part in key.split(".")]
    return key.split("/")


def key_parts(key, where="key"):
    """Validated path components of ``key``; raises SysctlError naming ``where``."""
    if not isinstance(key, str) or not key.strip():
        raise SysctlError("%s: sysctl key must be a non-empty string, got %r" % (where, key))
    key = key.strip()
    if key.startswith("-"):
        raise SysctlError("%s: %r: the '-' prefix (ignore failures) is not supported; "
                          "use the ignore_unknown setting instead" % (where, key))
    parts = _split(key)
    for part in parts:
        if part in ("", ".", "..") or not _COMPONENT.match(part):
            raise SysctlError("%s: %r is not a valid sysctl key" % (where, key))
    return parts


def canonical_key(key, where="key"):
    """``net/ipv4/conf/eth0.100/rp_filter`` -> ``net.ipv4.conf.eth0/100.rp_filter``."""
    return ".".join(part.replace(".", "/") for part in key_parts(key, where))


def proc_path(key, where="key"):
    """Path of ``key`` under the root: ``/proc/sys/net/ipv4/ip_forward``."""
    return "/proc/sys/" + "/".join(key_parts(key, where))


def normalize_value(value, where="value"):
    """The string written to the drop-in for ``value``; raises SysctlError naming ``where``.

    Integers and booleans (``1``/``0``), lists of integers (``tcp_rmem`` triples,
    joined by one space) and strings (whitespace collapsed) are accepted. Floats,
    mappings, null, empty strings and multi-line strings are not sysctl values.
    """
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        if not value:
            raise SysctlError("%s: an empty list is not a sysctl value" % where)
        for item in value:
            if isinstance(item, bool) or not isinstance(item, int):
                raise SysctlError("%s: a list value must hold integers only (like tcp_rmem), got %r" % (where, item))
        return " ".join(str(item) for item in value)
    if isinstance(value, str):
        if "\n" in value or "\r" in value:
            raise SysctlError("%s: a sysctl value must be a single line, got %r" % (where, value))
        text = " ".join(value.split())
        if not text:
            raise SysctlError("%s: an empty string is not a sysctl value" % where)
        return text
    raise SysctlError("%s: must be an integer, a boolean, a string or a list of integers, got %s %r"
                      % (where, type(value).__name__, value))


def _mapping(data, label):
    """Canonical key -> normalised value for one mapping variable."""
    if data is None:
        return OrderedDict()
    if not isinstance(data, dict):
        raise SysctlError("%s must be a mapping of sysctl keys to values, got %s" % (label, type(data).__name__))
    result = OrderedDict()
    for key, value in data.items():
        canonical = canonical_key(key, label)
        if canonical in result:
            raise SysctlError("%s: %r is given twice (as %r and in another spelling)" % (label, canonical, key))
        result[canonical] = normalize_value(value, "%s[%r]" % (label, key))
    return result


def parse_bool(value, label):
    """Booleans and their usual YAML/Ansible spellings; raises SysctlError otherwise."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise SysctlError("%s must be a boolean, got %r" % (label, value))


def resolve_ip_forward(setting, networks, label="ip_forward"):
    """(value, reason) for net.ipv4.ip_forward.

    ``setting`` is ``auto``, true or false. ``auto`` enables forwarding when a libvirt
    network (``{name, forward_mode}`` items of ``kvm_host.libvirt.networks``) routes guest
    traffic through the host: forward mode nat, route or open.
    """
    if setting == "auto":
        if networks is None:
            networks = []
        if not isinstance(networks, list):
            raise SysctlError("kvm_host.libvirt.networks must be a list, got %s" % type(networks).__name__)
        routing = []
        for net in networks:
            if not isinstance(net, dict):
                raise SysctlError("kvm_host.libvirt.networks items must be mappings, got %r" % (net,))
            mode = str(net.get("forward_mode") or "").lower()
            if mode in ROUTING_FORWARD_MODES:
                routing.append("%s (%s)" % (net.get("name", "?"), mode))
        if routing:
            return True, "%s=auto: libvirt network(s) route guest traffic: %s" % (label, ", ".join(routing))
        return False, "%s=auto: no libvirt network with forward mode %s" % (label, "/".join(ROUTING_FORWARD_MODES))
    if setting is None:
        raise SysctlError("%s must be auto, true or false, got null" % label)
    try:
        value = parse_bool(setting, label)
    except SysctlError:
        raise SysctlError("%s must be auto, true or false, got %r" % (label, setting))
    return value, "%s=%s" % (label, "true" if value else "false")


def merge_profile(settings, overrides=None, removals=None, ip_forward=None, labels=None):
    """Merge baseline ``settings``, ``ip_forward`` (bool or None), ``overrides``, ``removals``.

    Returns ``(profile, origins, warnings)``: an OrderedDict canonical key -> value
    string with net.ipv4.ip_forward first (changing it resets per-interface
    forwarding/redirect settings, so it must be written before them), the label of the
    variable each key came from, and warnings. Raises SysctlError naming the variable.
    """
    names = dict(DEFAULT_LABELS)
    names.update(labels or {})
    base = _mapping(settings, names["settings"])
    over = _mapping(overrides, names["overrides"])
    warnings = []
    if ip_forward is not None and IP_FORWARD_KEY in over:
        raise SysctlError("%s sets %s; set %s (auto, true or false) instead"
                          % (names["overrides"], IP_FORWARD_KEY, names["ip_forward"]))
    if removals is None:
        removals = []
    if not isinstance(removals, (list, tuple)):
        raise SysctlError("%s must be a list of sysctl keys, got %s" % (names["removals"], type(removals).__name__))
    removed = set(canonical_key(key, names["removals"]) for key in removals)

    merged = OrderedDict()
    origins = {}
    if ip_forward is not None:
        merged[IP_FORWARD_KEY] = "1" if ip_forward else "0"
        origins[IP_FORWARD_KEY] = names["ip_forward"]
    for source, label in ((base, names["settings"]), (over, names["overrides"])):
        for key, value in source.items():
            if key == IP_FORWARD_KEY and ip_forward is not None:
                # the baseline may carry a default; the ip_forward setting decides
                continue
            merged[key] = value
            origins[key] = label
    for key in sorted(removed):
        if key not in merged:
            warnings.append("%s: %s is not in the profile, nothing to remove" % (names["removals"], key))
        merged.pop(key, None)
        origins.pop(key, None)
    return merged, origins, warnings


def module_for(key):
    """Kernel module whose loading creates ``key``, or None."""
    for prefix, module, _marker in MODULE_PREFIXES:
        if key == prefix or key.startswith(prefix):
            return module
    return None


def doc_for(key):
    """Kernel documentation file that describes ``key`` (by prefix)."""
    for prefix, doc in DOC_PREFIXES:
        if key.startswith(prefix):
            return doc
    return "Documentation/admin-guide/sysctl/"


def _module_active(reader, module):
    """A module is active (loaded or built in) when its sysctl directory exists."""
    return any(reader.isdir(marker) for _prefix, name, marker in MODULE_PREFIXES if name == module)


def _writable(reader, relpath):
    """Whether a /proc/sys entry has a write permission bit (root included: procfs
    checks the mode of sysctl entries even for root)."""
    try:
        return bool(os.stat(reader.path(relpath)).st_mode & 0o222)
    except (IOError, OSError):
        return False


def inspect(reader, profile):
    """Check a merged profile against the kernel under ``reader.root``.

    Returns a dict: ``checked`` (False when there is no /proc/sys to check against),
    ``modules`` (kernel modules the profile needs), ``modules_missing`` (those whose keys
    do not exist yet), ``unchecked`` (key -> module, keys of missing modules),
    ``unknown`` (keys with no /proc/sys entry), ``readonly`` (keys whose entry has no
    write permission: it cannot be set here, like net.core.rmem_max in a network namespace
    other than the initial one), ``live`` (key -> running value or None) and ``differ``
    (keys whose running value is not the profile's).
    """
    result = {
        "checked": reader.isdir("/proc/sys"),
        "modules": [],
        "modules_missing": [],
        "unchecked": {},
        "unknown": [],
        "readonly": [],
        "live": {},
        "differ": [],
    }
    by_module = OrderedDict()
    for key in profile:
        module = module_for(key)
        if module:
            by_module.setdefault(module, []).append(key)
    result["modules"] = sorted(by_module)
    if not result["checked"]:
        return result
    for module, keys in by_module.items():
        if not _module_active(reader, module):
            result["modules_missing"].append(module)
            for key in keys:
                result["unchecked"][key] = module
    result["modules_missing"].sort()
    for key, value in profile.items():
        if key in result["unchecked"]:
            continue
        path = proc_path(key)
        if not reader.exists(path):
            result["unknown"].append(key)
            continue
        if not _writable(reader, path):
            result["readonly"].append(key)
        text = reader.text(path)
        live = " ".join(text.split()) if text is not None else None
        result["live"][key] = live
        if live != value:
            result["differ"].append(key)
    return result


def _conf_files(reader):
    """Files ``sysctl --system`` reads, in order: [(relpath, basename)]."""
    chosen = {}
    for directory in SYSCTL_D_DIRS:
        for name in reader.listdir(directory):
            if name.endswith(".conf") and name not in chosen:
                chosen[name] = "%s/%s" % (directory, name)
    files = [(chosen[name], name) for name in sorted(chosen)]
    if reader.exists(SYSCTL_CONF):
        files.append((SYSCTL_CONF, None))
    return files


def parse_conf(lines):
    """Canonical key -> value of sysctl.conf lines (comments, blanks, bad keys skipped)."""
    result = OrderedDict()
    for line in lines or []:
        text = line.strip()
        if not text or text[0] in "#;" or "=" not in text:
            continue
        key, value = text.split("=", 1)
        key = key.strip().lstrip("-")
        try:
            result[canonical_key(key)] = " ".join(value.split())
        except SysctlError:
            continue
    return result


def shadowed(reader, conf_path, keys):
    """Keys of ours that a file read after ``conf_path`` sets again: key -> that file.

    Those files win at boot (systemd-sysctl) and on ``sysctl --system``.
    """
    ours = conf_path.rstrip("/").rsplit("/", 1)[-1]
    wanted = set(keys)
    found = {}
    for relpath, name in _conf_files(reader):
        if relpath == conf_path or (name is not None and name <= ours):
            continue
        for key in parse_conf(reader.lines(relpath, [])):
            if key in wanted:
                found[key] = relpath
    return found


def comment(text):
    """``text`` as a block of ``#`` comment lines (empty lines become a bare ``#``)."""
    return "\n".join("# " + line if line.strip() else "#" for line in text.splitlines())


def _notes(sources):
    """Sources keyed by canonical key (keys that are not valid are ignored)."""
    notes = {}
    for key, text in (sources or {}).items():
        try:
            notes[canonical_key(key)] = text
        except SysctlError:
            continue
    return notes


def render(profile, sources=None, header=None):
    """Drop-in file text: for each key a comment with its source, then ``key = value``."""
    notes = _notes(sources)
    out = []
    if header:
        out.append(comment(header))
        out.append("")
    for key, value in profile.items():
        note = notes.get(key)
        doc = doc_for(key)
        out.append(comment("%s: %s" % (doc, note) if note else doc))
        out.append("%s = %s" % (key, value))
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def modules_load_text(module, conf_path, header=None):
    """A modules-load.d file that loads ``module``, which keys in ``conf_path`` need."""
    lines = [comment(header), ""] if header else []
    lines.append(comment("Keys in %s need this kernel module; systemd-modules-load runs before\n"
                         "systemd-sysctl, so the keys exist when the drop-in is applied." % conf_path))
    lines.append(module)
    return "\n".join(lines) + "\n"


def entries(profile, origins, sources=None):
    """The profile as a list of {key, value, origin, doc, source} (for reports)."""
    notes = _notes(sources)
    return [
        {"key": key, "value": value, "origin": origins.get(key), "doc": doc_for(key), "source": notes.get(key)}
        for key, value in profile.items()
    ]


def conflicts(reader, conf_path, profile):
    """Keys of ``profile`` that a file read after ``conf_path`` sets to another value.

    Returns key -> {"file", "value"}: at boot and on ``sysctl --system`` that file wins,
    so writing ours could never take effect. Same-value repeats are not conflicts.
    """
    ours = conf_path.rstrip("/").rsplit("/", 1)[-1]
    found = {}
    for relpath, name in _conf_files(reader):
        if relpath == conf_path or (name is not None and name <= ours):
            continue
        for key, value in parse_conf(reader.lines(relpath, [])).items():
            if key in profile:
                if value != profile[key]:
                    found[key] = {"file": relpath, "value": value}
                else:
                    found.pop(key, None)
    return found


def prepare(params):
    """The pure half of a profile run: params -> (profile, origins, sources, labels, result, warnings).

    ``result`` holds ``ip_forward`` (value and reason) when params set it. Raises
    SysctlError naming the caller's variable on bad input.
    """
    labels = dict(DEFAULT_LABELS)
    labels.update(params.get("labels") or {})
    result = {}
    ip_forward = None
    if params.get("ip_forward") is not None:
        ip_forward, reason = resolve_ip_forward(params["ip_forward"], params.get("libvirt_networks"), labels["ip_forward"])
        result["ip_forward"] = {"value": ip_forward, "reason": reason}
    sources = dict(params.get("sources") or {})
    if ip_forward is not None:
        note = sources.get(IP_FORWARD_KEY)
        reason = result["ip_forward"]["reason"]
        sources[IP_FORWARD_KEY] = "%s; %s" % (note, reason) if note else reason
    profile, origins, warnings = merge_profile(
        params["settings"], params.get("overrides"), params.get("removals"), ip_forward, labels)
    return profile, origins, sources, labels, result, warnings


def unchecked_warnings(state):
    """One warning per inactive kernel module, naming the keys left unchecked because of it."""
    by_module = OrderedDict()
    for key, module in sorted(state["unchecked"].items()):
        by_module.setdefault(module, []).append(key)
    return ["kernel module %s is not active, so its keys are not checked yet: %s" % (module, ", ".join(keys))
            for module, keys in sorted(by_module.items())]


def check(reader, profile, origins, labels, ignore_unknown, warnings):
    """Inspect ``profile`` against the kernel; unknown or read-only keys fail (SysctlError
    naming them and where they came from) or, with ``ignore_unknown``, leave the profile
    (``profile`` is changed in place) with a warning. Returns the inspect() state."""
    state = inspect(reader, profile)
    if not state["checked"]:
        warnings.append("no /proc/sys under %s: the keys were not checked against a kernel" % reader.root)
    problems = []
    if state["unknown"]:
        problems.append("unknown sysctl keys, no /proc/sys entry on this kernel: %s"
                        % ", ".join("%s (from %s)" % (key, origins.get(key)) for key in state["unknown"]))
    if state["readonly"]:
        problems.append("read-only sysctl keys, they cannot be set here: %s"
                        % ", ".join("%s (from %s)" % (key, origins.get(key)) for key in state["readonly"]))
    if problems:
        if not ignore_unknown:
            raise SysctlError("%s. Remove them or list them in %s (or ignore unknown keys)" % ("; ".join(problems), labels["removals"]))
        warnings.append("left out of the profile: %s" % "; ".join(problems))
        for key in state["unknown"] + state["readonly"]:
            profile.pop(key)
            state["live"].pop(key, None)
            if key in state["differ"]:
                state["differ"].remove(key)
    return state


def profile_argument_spec():
    """The AnsibleModule argument_spec of the profile options (doc fragment sysctl_profile)."""
    return dict(
        settings=dict(type="dict", required=True),
        overrides=dict(type="dict", default={}),
        removals=dict(type="list", elements="str", default=[]),
        ip_forward=dict(type="raw"),
        libvirt_networks=dict(type="list", elements="dict", default=[]),
        ignore_unknown=dict(type="bool", default=False),
        sources=dict(type="dict", default={}),
        header=dict(type="str", default=""),
        path=dict(type="path", default="/etc/sysctl.d/90-kvmops-net.conf"),
        root=dict(type="path", default="/"),
        labels=dict(type="dict", default={}),
    )
