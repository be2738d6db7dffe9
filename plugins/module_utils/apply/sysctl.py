# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sysctl profiles: keys, values, and the merge of settings, overrides, removals and
ip_forward into one profile (with errors that name the caller's variable).

Pure logic for the ``sysctl_check`` and ``sysctl_dropin`` modules; nothing here reads or
writes. Checking a profile against /proc/sys is in :mod:`sysctl_proc`, drop-in files
(render, parse, the files read after ours) in :mod:`sysctl_conf`, the run of
``sysctl_dropin`` in :mod:`sysctl_dropin`.

Keys follow procps ``sysctl`` syntax: ``net.ipv4.conf.all.rp_filter`` or the slash
form ``net/ipv4/conf/eth0.100/rp_filter``. When the first separator of a key is a dot,
dots separate path components and a slash stands for a literal dot (interface names
like ``eth0.100``); when it is a slash, slashes separate and dots are literal. Keys are
compared and rendered in the canonical dotted form (``net.ipv4.conf.eth0/100.rp_filter``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from collections import OrderedDict

IP_FORWARD_KEY = "net.ipv4.ip_forward"
IPV6_FORWARD_KEY = "net.ipv6.conf.all.forwarding"

# libvirt network forward modes that route guest traffic through the host's IP stack
# (https://libvirt.org/formatnetwork.html#connectivity): nat, route and open need
# net.ipv4.ip_forward (and, for a network with an <ip family='ipv6'> address,
# net.ipv6.conf.all.forwarding: libvirt turns both on when it starts such a network);
# bridge, passthrough, private, vepa, hostdev and isolated networks (no <forward>)
# switch at layer 2 or not at all.
ROUTING_FORWARD_MODES = ("nat", "route", "open")

DEFAULT_LABELS = {
    "settings": "settings",
    "overrides": "overrides",
    "removals": "removals",
    "ip_forward": "ip_forward",
    "ipv6_forward": "ipv6_forward",
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


def _routing_networks(networks, ipv6):
    """``name (mode)`` of the networks that route guest traffic (IPv6 ones only when ``ipv6``)."""
    if networks is None:
        networks = []
    if not isinstance(networks, list):
        raise SysctlError("kvm_host.libvirt.networks must be a list, got %s" % type(networks).__name__)
    routing = []
    for net in networks:
        if not isinstance(net, dict):
            raise SysctlError("kvm_host.libvirt.networks items must be mappings, got %r" % (net,))
        mode = str(net.get("forward_mode") or "").lower()
        if mode in ROUTING_FORWARD_MODES and (not ipv6 or net.get("ipv6") is True):
            routing.append("%s (%s)" % (net.get("name", "?"), mode))
    return routing


def resolve_ip_forward(setting, networks, label="ip_forward", ipv6=False):
    """(value, reason) for net.ipv4.ip_forward, or net.ipv6.conf.all.forwarding when ``ipv6``.

    ``setting`` is ``auto``, true or false; true and false give 1 and 0. ``auto`` gives
    True when a libvirt network (``{name, forward_mode, ipv6}`` items of
    ``kvm_host.libvirt.networks``) routes guest traffic through the host: forward mode
    nat, route or open (for IPv6, such a network with an IPv6 address). Otherwise
    ``auto`` gives None: the key is left out of the profile, never written 0, because a
    0 in a drop-in turns forwarding off at every ``sysctl --system`` and boot, under
    whatever else turned it on (libvirt, Docker, Kubernetes, a router configuration).
    """
    if setting == "auto":
        routing = _routing_networks(networks, ipv6)
        if routing:
            return True, "%s=auto: libvirt network(s) route guest %s traffic: %s" % (
                label, "IPv6" if ipv6 else "IPv4", ", ".join(routing))
        return None, "%s=auto: no libvirt network with forward mode %s%s, so the key is left out (never written 0)" % (
            label, "/".join(ROUTING_FORWARD_MODES), " and an IPv6 address" if ipv6 else "")
    if setting is None:
        raise SysctlError("%s must be auto, true or false, got null" % label)
    try:
        value = parse_bool(setting, label)
    except SysctlError:
        raise SysctlError("%s must be auto, true or false, got %r" % (label, setting))
    return value, "%s=%s" % (label, "true" if value else "false")


# The keys a setting decides (label name in DEFAULT_LABELS), in the order they are written.
DECIDED_KEYS = ((IP_FORWARD_KEY, "ip_forward"), (IPV6_FORWARD_KEY, "ipv6_forward"))
_LEFT_OUT = object()


def merge_profile(settings, overrides=None, removals=None, ip_forward=None, labels=None, decided=None):
    """Merge baseline ``settings``, the decided keys, ``overrides`` and ``removals``.

    ``decided`` maps keys of DECIDED_KEYS to True, False or None (None: the setting
    decided to leave the key out, like ``auto`` with nothing to forward); a key not in
    ``decided`` is not managed by a setting and may come from the settings or overrides.
    ``ip_forward`` (bool or None) is the short form of ``decided={IP_FORWARD_KEY: value}``
    when not None.

    Returns ``(profile, origins, warnings)``: an OrderedDict canonical key -> value
    string with the decided keys first (changing net.ipv4.ip_forward resets per-interface
    forwarding/redirect settings, so it must be written before them), the label of the
    variable each key came from, and warnings. Raises SysctlError naming the variable.
    """
    names = dict(DEFAULT_LABELS)
    names.update(labels or {})
    decided = dict(decided or {})
    if ip_forward is not None:
        decided[IP_FORWARD_KEY] = ip_forward
    base = _mapping(settings, names["settings"])
    over = _mapping(overrides, names["overrides"])
    warnings = []
    for key, label in DECIDED_KEYS:
        if key in decided and key in over:
            raise SysctlError("%s sets %s; set %s (auto, true or false) instead"
                              % (names["overrides"], key, names[label]))
    if removals is None:
        removals = []
    if not isinstance(removals, (list, tuple)):
        raise SysctlError("%s must be a list of sysctl keys, got %s" % (names["removals"], type(removals).__name__))
    removed = set(canonical_key(key, names["removals"]) for key in removals)

    merged = OrderedDict()
    origins = {}
    for key, label in DECIDED_KEYS:
        if decided.get(key, _LEFT_OUT) not in (_LEFT_OUT, None):
            merged[key] = "1" if decided[key] else "0"
            origins[key] = names[label]
    for source, label in ((base, names["settings"]), (over, names["overrides"])):
        for key, value in source.items():
            if key in decided:
                # the baseline may carry a default; the setting decides (None: left out)
                continue
            merged[key] = value
            origins[key] = label
    for key in sorted(removed):
        if key not in merged:
            warnings.append("%s: %s is not in the profile, nothing to remove" % (names["removals"], key))
        merged.pop(key, None)
        origins.pop(key, None)
    return merged, origins, warnings


def prepare(params):
    """The pure half of a profile run: params -> (profile, origins, sources, labels, result, warnings).

    ``result`` holds ``ip_forward`` (and ``ipv6_forward``) as {value: bool or None,
    reason} when params set them; value None means ``auto`` left the key out. Raises
    SysctlError naming the caller's variable on bad input.
    """
    labels = dict(DEFAULT_LABELS)
    labels.update(params.get("labels") or {})
    result = {}
    decided = {}
    sources = dict(params.get("sources") or {})
    for key, label in DECIDED_KEYS:
        if params.get(label) is None:
            continue
        value, reason = resolve_ip_forward(params[label], params.get("libvirt_networks"), labels[label],
                                           ipv6=(key == IPV6_FORWARD_KEY))
        result[label] = {"value": value, "reason": reason}
        decided[key] = value
        if value is not None:
            note = sources.get(key)
            sources[key] = "%s; %s" % (note, reason) if note else reason
    profile, origins, warnings = merge_profile(
        params["settings"], params.get("overrides"), params.get("removals"), None, labels, decided)
    # The caller may know better where a key came from (a planner that merged the profile).
    for key, origin in (params.get("origins") or {}).items():
        canonical = canonical_key(key, "origins")
        if canonical in origins:
            origins[canonical] = str(origin)
    return profile, origins, sources, labels, result, warnings


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
        origins=dict(type="dict", default={}),
    )
