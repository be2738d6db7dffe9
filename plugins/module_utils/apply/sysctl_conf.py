# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sysctl drop-in files: render a profile as a drop-in (and the modules-load.d file its
kernel modules need), parse drop-ins, and find the files ``sysctl --system`` reads after
ours that set the same keys.

Every read goes through :class:`sysfs.Reader` under a ``root``; nothing here writes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import OrderedDict

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.sysctl import (
    SysctlError,
    canonical_key,
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


def doc_for(key):
    """Kernel documentation file that describes ``key`` (by prefix)."""
    for prefix, doc in DOC_PREFIXES:
        if key.startswith(prefix):
            return doc
    return "Documentation/admin-guide/sysctl/"


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
