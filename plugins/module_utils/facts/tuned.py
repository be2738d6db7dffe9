# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Facts about tuned (``kvm_host.tuned``): installed, running, the active profile, its
include chain and the settings it applies per plugin, merged as tuned merges them, and
``reapply_sysctl`` from tuned-main.conf. Read from files only: tuned is never started,
tuned-adm never run (it would talk to the daemon over D-Bus).

How tuned 2.20 (Debian 12) reads a profile, followed here (tuned/profiles/ upstream):

- locator.py: a profile name is looked up in the load directories, the last first
  (``/etc/tuned/<name>/tuned.conf`` before ``/usr/lib/tuned/<name>/tuned.conf``: a copy in
  /etc replaces the whole file, it is not merged); a file already loaded in this chain is
  skipped, so ``/etc/tuned/virtual-host/tuned.conf`` may ``include=virtual-host`` to extend
  the packaged one; ``-name`` is a conditional include (no error when missing). tuned 2.24
  moved the directories to ``/usr/lib/tuned/profiles`` and ``/etc/tuned/profiles``
  (``profile_dirs`` in tuned-main.conf); both layouts are read.
- loader.py: ``include=`` of ``[main]`` (names split on ``,`` or ``;``) loads the included
  profiles first; the chain is merged in load order. ConfigParser with ``=`` as the only
  delimiter, ``#`` inline comments (after white space), option names case-kept, raw values.
- merger.py: a later profile's unit updates the earlier one option by option (later wins);
  ``replace=1`` drops the earlier unit's options; ``drop=a,b`` removes options; ``type``,
  ``enabled``, ``devices``, ``cpuinfo_regex``, ``uname_regex`` are unit attributes, not
  options (unit.py).
- variables.py: the merged ``[variables]`` unit, in order: ``include=<file>`` loads a
  variables file (``/etc/tuned/cpu-partitioning-variables.conf``), every other option
  defines a variable, its value expanded with the variables defined before it; ``${name}``
  (``\\${name}`` escaped) is expanded in the options when tuned applies them.
- functions/: ``${f:name:arg:...}``, innermost first. The ones that only compute (cpulist
  conversions, ``strip``, ``regex_search_ternary``, assertions) and the ones that read
  sysfs (``cpulist_online``, ``cpulist_present``, ``cpulist_invert``,
  ``calc_isolated_cores``) are evaluated here, sysfs read under the same root; the others
  (``exec``, ``virt_check``, ``cpuinfo_check``, ...) are left in the value and the option
  is listed in ``unresolved``. A failed ``assertion`` is what makes tuned refuse the
  profile: it is reported in ``errors``.
- units/manager.py: a unit is applied when ``enabled`` and its ``cpuinfo_regex`` matches
  /proc/cpuinfo and its ``uname_regex`` ``" ".join(os.uname())``; units of one plugin type
  are applied in ``priority`` order, so a later one wins for the same option.
- plugin_bootloader.py: every option whose name starts with ``cmdline`` adds its words
  (``+`` prefix or none) or removes them (``-`` prefix), in order, into one ``cmdline``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import posixpath
import re

try:
    import configparser
except ImportError:  # pragma: no cover - Python 2 is not a target of ansible-core 2.17
    configparser = None

from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.tuned_expand import (
    Functions,
    _ProfileError,
    Variables,
)

MAIN_CONF = "/etc/tuned/tuned-main.conf"
ACTIVE_PROFILE = "/etc/tuned/active_profile"
PROFILE_MODE = "/etc/tuned/profile_mode"
BOOTCMDLINE = "/etc/tuned/bootcmdline"
GRUB_TEMPLATE = "/etc/grub.d/00_tuned"
PID_FILE = "/run/tuned/tuned.pid"
# tuned < 2.24 (consts.LOAD_DIRECTORIES) and tuned >= 2.24 (CFG_DEF_PROFILE_DIRS)
LEGACY_DIRS = ("/usr/lib/tuned", "/etc/tuned")
PROFILE_DIRS = ("/usr/lib/tuned/profiles", "/etc/tuned/profiles")
VERSION_FILES = ("/usr/lib/python3/dist-packages/tuned/version.py",)
VERSION_GLOBS = ("/usr/lib/python3.%d/site-packages/tuned/version.py",)
TUNED_ADM = ("/usr/sbin/tuned-adm", "/usr/bin/tuned-adm", "/sbin/tuned-adm")
UNIT = "tuned.service"
UNIT_DIRS = ("/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")
# unit attributes popped from the options (tuned/profiles/unit.py)
UNIT_ATTRIBUTES = ("type", "enabled", "replace", "drop", "devices", "devices_udev_regex",
                   "cpuinfo_regex", "uname_regex", "script_pre", "script_post")
# the plugins kvm_host.tuned.settings reports
PLUGINS = ("sysctl", "vm", "sysfs", "bootloader", "irqbalance", "scheduler", "cpu")
TRUE_WORDS = ("1", "true", "yes", "on", "y", "t")


# ----------------------------------------------------------------- files

def _parser(header=False):
    parser = configparser.ConfigParser(delimiters=("=",), inline_comment_prefixes=("#",), strict=False,
                                       allow_no_value=header, interpolation=None)
    parser.optionxform = str
    return parser


def parse_ini(text, path, headerless=False):
    """[(section, [(option, raw value)])] of a tuned file, in file order."""
    if configparser is None:
        raise _ProfileError("cannot parse %s: no configparser" % path)
    parser = _parser(headerless)
    magic = "this_is_some_magic_section_header_because_of_compatibility"
    try:
        parser.read_string(("[%s]\n" % magic + text) if headerless else text, path)
    except configparser.Error as exc:
        raise _ProfileError("cannot parse %s: %s" % (path, str(exc).splitlines()[0]))
    return [(section, [(option, parser.get(section, option, raw=True)) for option in parser.options(section)])
            for section in parser.sections()]


def parse_main_conf(text):
    """tuned-main.conf: {option: raw value} (headerless)."""
    try:
        sections = parse_ini(text or "", MAIN_CONF, headerless=True)
    except _ProfileError:
        return {}
    return dict(sections[0][1]) if sections else {}


def _boolean(value, default):
    if value is None:
        return default
    return str(value).strip().lower() in TRUE_WORDS


def _list(value):
    """global_config.get_list: split on , or ;."""
    if value is None or str(value).strip() == "":
        return []
    return [item.strip() for item in re.split(r",|;", str(value))]


def profile_dirs(reader, main):
    """The load directories, the last one wins."""
    if main.get("profile_dirs"):
        return [d for d in _list(main["profile_dirs"]) if d]
    if reader.isdir(PROFILE_DIRS[0]):
        return list(PROFILE_DIRS)
    return list(LEGACY_DIRS)


def locate(reader, dirs, name, skip):
    """locator.get_config: the file, "" (skip) or None (not found)."""
    conditional = name.startswith("-")
    if conditional:
        name = name[1:]
    found = None
    for folder in reversed(dirs):
        path = posixpath.normpath(posixpath.join(folder, posixpath.basename(name), "tuned.conf"))
        if path in skip:
            found = ""
            continue
        if os.path.isfile(reader.path(path)):
            return path
    if conditional and found is None:
        found = ""
    return found


def _unit(name, options, path):
    """unit.py: attributes out of the options; options keep the file they came from."""
    unit = {"type": name, "enabled": True, "replace": False, "drop": None, "cpuinfo_regex": None,
            "uname_regex": None, "options": []}
    for option, value in options:
        if option in UNIT_ATTRIBUTES:
            if option == "type":
                unit["type"] = value
            elif option == "enabled":
                unit["enabled"] = value in ("True", "true", "1")
            elif option == "replace":
                unit["replace"] = value in ("True", "true", "1")
            elif option == "drop":
                unit["drop"] = re.split(r"\b\s*[,;]\s*", str(value))
            elif option in ("cpuinfo_regex", "uname_regex"):
                unit[option] = value
            continue
        unit["options"].append([option, value, path])
    return unit


def _merge(into, later):
    """merger._merge_two for one profile's units onto the merged ones."""
    for name, unit in later.items():
        if unit["replace"] or name not in into:
            into[name] = {"type": unit["type"], "enabled": unit["enabled"], "cpuinfo_regex": unit["cpuinfo_regex"],
                          "uname_regex": unit["uname_regex"], "options": [list(o) for o in unit["options"]]}
            continue
        target = into[name]
        target["type"] = unit["type"]
        target["enabled"] = unit["enabled"]
        for attribute in ("cpuinfo_regex", "uname_regex"):
            if unit[attribute] is not None:
                target[attribute] = unit[attribute]
        if unit["drop"]:
            target["options"] = [o for o in target["options"] if o[0] not in unit["drop"]]
        for option, value, path in unit["options"]:
            for existing in target["options"]:
                if existing[0] == option:
                    existing[1], existing[2] = value, path
                    break
            else:
                target["options"].append([option, value, path])


def load_profile(reader, dirs, names, functions):
    """(chain, merged units, main options, variables): the profiles of ``names`` with their
    includes, merged; raises _ProfileError as tuned refuses the profile."""
    chain = []
    processed = []
    variables = Variables(functions)

    def load(profile_names):
        for name in profile_names:
            path = locate(reader, dirs, name, processed)
            if path == "":
                continue
            if path is None:
                raise _ProfileError("cannot find profile '%s' in %s" % (name.lstrip("-"), list(reversed(dirs))))
            processed.append(path)
            text = reader.text(path, quiet=True)
            if text is None:
                raise _ProfileError("cannot read %s" % path)
            profile_dir = posixpath.dirname(path)
            sections = parse_ini(text, path)
            main = {}
            units = {}
            for section, options in sections:
                options = [(o, re.sub(r"(?<!\\)\$\{i:PROFILE_DIR\}", profile_dir, v)) for o, v in options]
                if section == "main":
                    main = dict(options)
                else:
                    units[section] = _unit(section, options, path)
            include = main.pop("include", None)
            if include is not None:
                expanded, _unresolved = variables.expand(include)
                load([n for n in re.split(r"\s*[,;]\s*", expanded.strip()) if n])
            chain.append({"name": name.lstrip("-"), "file": path, "main": main, "units": units,
                          "order": list(units)})

    load(names)
    merged = {}
    order = []
    main = {}
    for profile in chain:
        main.update(profile["main"])
        for name in profile["order"]:
            if name not in order:
                order.append(name)
        _merge(merged, dict((name, profile["units"][name]) for name in profile["order"]))
    ordered = [(name, merged[name]) for name in order if name in merged]
    variables_unit = merged.get("variables")
    if variables_unit is not None:
        for option, value, path in variables_unit["options"]:
            if option == "include":
                filename = posixpath.normpath(value)
                text = reader.text(filename, quiet=True)
                if text is None:
                    continue  # tuned logs "unable to find variables_file" and goes on
                for _section, items in parse_ini(text, filename, headerless=True):
                    for name, item in items:
                        variables.add(name, item, filename)
            else:
                variables.add(option, value, path)
    return chain, [(n, u) for n, u in ordered if n != "variables"], main, variables


def _uname(reader):
    """``" ".join(os.uname())`` of the host, from /proc."""
    fields = [reader.text("/proc/sys/kernel/ostype", "", quiet=True),
              reader.text("/proc/sys/kernel/hostname", "", quiet=True),
              reader.text("/proc/sys/kernel/osrelease", "", quiet=True),
              reader.text("/proc/sys/kernel/version", "", quiet=True),
              reader.text("/proc/sys/kernel/arch", "", quiet=True)]
    return " ".join(fields)


def _applies(reader, unit, cache):
    for attribute, source in (("cpuinfo_regex", "cpuinfo"), ("uname_regex", "uname")):
        pattern = unit.get(attribute)
        if pattern is None:
            continue
        if source not in cache:
            cache[source] = (reader.text("/proc/cpuinfo", "", quiet=True) if source == "cpuinfo"
                             else _uname(reader))
        try:
            if re.search(pattern, cache[source], re.MULTILINE) is None:
                return False
        except re.error:
            return False
    return True


def bootloader_cmdline(options):
    """plugin_bootloader._get_effective_options: the cmdline* options folded into one."""
    cmdline = ""
    for key, value in options:
        if not key.startswith("cmdline") or value is None or value == "":
            continue
        op, op1, words = value[0], value[1:2], value[1:].strip()
        if op == "+" or (op == "\\" and op1 in ("\\", "+", "-")):
            if words:
                cmdline += " " + words
        elif op == "-":
            for word in words.split():
                cmdline = re.sub(r"(\A|\s)" + re.escape(word) + r"(?=\Z|\s)", "", cmdline)
        else:
            cmdline += " " + value
    return cmdline.strip()


def _version(reader):
    paths = list(VERSION_FILES) + [pattern % minor for pattern in VERSION_GLOBS for minor in range(6, 20)]
    for path in paths:
        text = reader.text(path, quiet=True)
        if not text:
            continue
        numbers = dict(re.findall(r"TUNED_VERSION_(MAJOR|MINOR|PATCH)\s*=\s*(\d+)", text))
        if "MAJOR" in numbers and "MINOR" in numbers:
            return "%s.%s.%s" % (numbers["MAJOR"], numbers["MINOR"], numbers.get("PATCH", "0"))
    return None


def _running(reader):
    text = reader.text(PID_FILE, quiet=True)
    if text and text.split()[0].isdigit() and reader.isdir("/proc/%s" % text.split()[0]):
        return True
    for pid in reader.listdir("/proc"):
        if pid.isdigit() and reader.text("/proc/%s/comm" % pid, quiet=True) == "tuned":
            return True
    return False


def _unit_state(reader):
    try:
        masked = os.readlink(reader.path("/etc/systemd/system/%s" % UNIT)) == "/dev/null"
    except (IOError, OSError):
        masked = False
    present = any(os.path.lexists(reader.path("%s/%s" % (folder, UNIT))) for folder in UNIT_DIRS)
    enabled = False
    for entry in reader.listdir("/etc/systemd/system"):
        if entry.endswith((".wants", ".requires")) and UNIT in reader.listdir("/etc/systemd/system/%s" % entry):
            enabled = True
    return present, enabled and not masked, masked


def _shell_assignments(text):
    values = {}
    for line in (text or "").splitlines():
        match = re.match(r"\s*([A-Z_]+)=(.*)$", line)
        if match:
            values[match.group(1)] = match.group(2).strip().strip("\"'")
    return values


def available_profiles(reader, dirs):
    names = set()
    for folder in dirs:
        for entry in reader.listdir(folder):
            if os.path.isfile(reader.path("%s/%s/tuned.conf" % (folder, entry))):
                names.add(entry)
    return sorted(names)


def merged_settings(reader, dirs, names, functions, cache=None):
    """What tuned applies for the profile(s) ``names``: {chain, settings, sources, variables,
    unresolved, cmdline, errors}."""
    result = {"chain": [], "settings": dict((plugin, {}) for plugin in PLUGINS),
              "sources": dict((plugin, {}) for plugin in PLUGINS), "variables": {}, "unresolved": [],
              "cmdline": None, "errors": []}
    try:
        chain, units, _main, variables = load_profile(reader, dirs, names, functions)
    except _ProfileError as exc:
        result["errors"].append(str(exc))
        return result
    result["chain"] = [{"name": p["name"], "file": p["file"]} for p in chain]
    result["variables"] = dict((name, {"value": variables.values[name], "source": variables.sources[name]})
                               for name in sorted(variables.values))
    cache = {} if cache is None else cache
    applied = []
    for name, unit in units:
        if not unit["enabled"] or not _applies(reader, unit, cache):
            continue
        priority = 0
        for option, value, _path in unit["options"]:
            if option == "priority":
                try:
                    priority = int(value)
                except ValueError:
                    pass
        applied.append((priority, len(applied), name, unit))
    applied.sort(key=lambda item: (item[0], item[1]))
    cmdline_options = []
    for _priority, _index, name, unit in applied:
        plugin = unit["type"]
        if plugin not in PLUGINS:
            continue
        for option, value, path in unit["options"]:
            if option == "priority":
                continue
            try:
                expanded, unresolved = variables.expand(value)
            except _ProfileError as exc:
                result["errors"].append(str(exc))
                continue
            if unresolved:
                result["unresolved"].append("%s.%s" % (name, option))
            result["settings"][plugin][option] = expanded
            result["sources"][plugin][option] = {"file": path, "unit": name, "raw": value,
                                                 "resolved": not unresolved}
            if plugin == "bootloader" and option.startswith("cmdline"):
                cmdline_options.append((option, expanded))
    if cmdline_options:
        result["cmdline"] = bootloader_cmdline(cmdline_options)
    return result


def gather_tuned(reader):
    """The ``kvm_host.tuned`` dictionary."""
    main_text = reader.text(MAIN_CONF, quiet=True)
    main = parse_main_conf(main_text)
    unit_present, enabled, masked = _unit_state(reader)
    adm = any(reader.exists(path) for path in TUNED_ADM)
    dirs = profile_dirs(reader, main)
    active_text = reader.text(ACTIVE_PROFILE, quiet=True)
    active = (active_text or "").split()
    functions = Functions(reader)
    cache = {}
    # every profile, merged (compact): the base of the kvmops profile is one of them
    catalog = {}
    for name in available_profiles(reader, dirs):
        merged = merged_settings(reader, dirs, [name], functions, cache)
        catalog[name] = {"chain": [p["file"] for p in merged["chain"]], "settings": merged["settings"],
                         "cmdline": merged["cmdline"], "unresolved": merged["unresolved"],
                         "errors": merged["errors"]}
    current = merged_settings(reader, dirs, active, functions, cache) if active else merged_settings(
        reader, dirs, [], functions, cache)
    if not active:
        current["errors"] = []
    return {
        "installed": bool(adm or unit_present or main_text is not None),
        "version": _version(reader),
        "running": _running(reader),
        "enabled": enabled,
        "masked": masked,
        "main_conf": {
            "path": MAIN_CONF if main_text is not None else None,
            "reapply_sysctl": _boolean(main.get("reapply_sysctl"), True),
            "reapply_sysctl_exclude": _list(main.get("reapply_sysctl_exclude")),
            "dynamic_tuning": _boolean(main.get("dynamic_tuning"), None),
        },
        "profile_dirs": dirs,
        "profiles": catalog,
        "active_profile": " ".join(active) or None,
        "active_profiles": active,
        "profile_mode": reader.text(PROFILE_MODE, quiet=True) or None,
        "chain": current["chain"],
        "settings": current["settings"],
        "sources": current["sources"],
        "variables": current["variables"],
        "unresolved": current["unresolved"],
        "bootloader": {"cmdline": current["cmdline"], "supported": reader.exists(GRUB_TEMPLATE),
                       "bootcmdline": _shell_assignments(reader.text(BOOTCMDLINE, quiet=True)).get(
                           "TUNED_BOOT_CMDLINE")},
        "errors": current["errors"],
    }
