# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``tuned`` section: how the plan lives next to tuned (role ``tuned``).

tuned re-applies its active profile at every start and profile switch. This section reads
the other sections already in the plan and ``kvm_host.tuned`` (facts/tuned.py: the active
profile merged per plugin, every available profile, tuned-main.conf) and, per
``kvmops_tuned_mode``:

- ``detect`` (default): one conflict per item of another section that the active profile
  also sets, saying who wins at tuned's next start and why; a **hard** conflict — tuned
  isolating CPUs ([scheduler] ``isolated_cores``, the bootloader's ``isolcpus``,
  ``nohz_full``, ``rcu_nocbs``, ``irqaffinity``) other than the plan's CPU sets — fails the
  plan, naming the profile file and key, before any role writes.
- ``own``: the profile ``kvmops`` (``/etc/tuned/kvmops/tuned.conf``; tuned >= 2.24:
  ``/etc/tuned/profiles/kvmops/tuned.conf``) includes ``kvmops_tuned_base_profile`` and
  sets the plan's value for every key the base sets too (sysctl, vm THP and dirty_*,
  sysfs), disables the base's irqbalance unit when numa_pinning owns the banned CPUs;
  ``/etc/tuned/active_profile`` names it. The same hard conflicts fail against the base.
- ``ignore``: nothing (tuned may undo THP, irqbalance, sysfs and boot arguments at its
  next start; README).

Who wins, from tuned 2.20's plugins (Debian 12; 2.24+ noted):

- sysctl (plugin_sysctl.py): with ``reapply_sysctl = 1`` (tuned-main.conf default) tuned
  applies /run/sysctl.d, /etc/sysctl.d and /etc/sysctl.conf after its own values, so a
  drop-in of ours there wins; ``reapply_sysctl = 0``, a key matched by
  ``reapply_sysctl_exclude`` (tuned >= 2.27) or a drop-in elsewhere: tuned wins. A value
  ``>N`` / ``<N`` is written only when larger / smaller than the current one.
- vm (plugin_vm.py): ``transparent_hugepages`` is written at every start unless
  ``transparent_hugepage=`` is on the running kernel command line; ``dirty_*`` (tuned >=
  2.24) are written to /proc/sys/vm directly, not re-applied from sysctl.d.
- sysfs (plugin_sysfs.py): each path (a glob) written at every start: tuned wins.
- irqbalance (plugin_irqbalance.py; Debian patches the file to /etc/default/irqbalance):
  2.20 appends ``IRQBALANCE_BANNED_CPUS=<hex mask>``, which irqbalance 1.9 prefers to
  ``IRQBALANCE_BANNED_CPULIST``; >= 2.24 replaces ``IRQBALANCE_BANNED_CPULIST=`` lines
  with its own: tuned wins.
- bootloader (plugin_bootloader.py): ``$tuned_params`` is appended to
  ``GRUB_CMDLINE_LINUX_DEFAULT`` and the kernel takes the last of repeated arguments:
  tuned wins at the next boot.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import re

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.cpulist import format_cpulist
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.tuned_expand import cpulist2hex, cpulist_unpack
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.policy import PlanError
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.sections.common import (
    comment,
    managed_header,
    section,
)

ROLE = "tuned"
# the role's variables are collection-wide names (kvmops_tuned_mode, kvmops_tuned_base_profile)
VARIABLE_PREFIX = "kvmops_tuned"
# built after every other section asked for, with the plan's other sections at hand
AFTER_SECTIONS = True
OPTIONS = dict(
    mode=dict(type="str", default="detect", choices=["detect", "own", "ignore"]),
    base_profile=dict(type="str", default="virtual-host"),
)
PROFILE_NAME = "kvmops"
ACTIVE_PROFILE = "/etc/tuned/active_profile"
PROFILE_MODE = "/etc/tuned/profile_mode"
THP_ENABLED = "/sys/kernel/mm/transparent_hugepage/enabled"
THP_DEFRAG = "/sys/kernel/mm/transparent_hugepage/defrag"
VM_PATHS = {"transparent_hugepages": THP_ENABLED, "transparent_hugepage": THP_ENABLED,
            "transparent_hugepage.defrag": THP_DEFRAG}
VM_SYSCTLS = ("dirty_bytes", "dirty_ratio", "dirty_background_bytes", "dirty_background_ratio")
REAPPLIED = ("/run/sysctl.d/", "/etc/sysctl.d/")
# boot arguments that name CPU sets: the plan's isolated or housekeeping CPUs
CPU_ARGS = {"isolcpus": "isolated", "nohz_full": "isolated", "rcu_nocbs": "isolated",
            "irqaffinity": "housekeeping"}
IRQBALANCE_KEYS = ("IRQBALANCE_BANNED_CPULIST", "IRQBALANCE_BANNED_CPUS")

KVMOPS, TUNED, SAME, UNKNOWN = "kvmops", "tuned", "same", "unknown"


def _var(name):
    return "%s_%s" % (VARIABLE_PREFIX, name)


def _version(tuned):
    match = re.match(r"(\d+)\.(\d+)", tuned.get("version") or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def _words(value):
    return " ".join(str(value).split())


def _ours(sections):
    """What the other sections write, per kind: sysctl {key: (section, value, path)},
    sysfs {path: (section, area, value)}, kernel args {name: (section, value)},
    irqbalance (section, path, {key: line}) or None."""
    sysctl, sysfs, args, irqbalance = {}, {}, {}, None
    for name in sorted(sections):
        sec = sections[name]
        if name == "tuned" or not isinstance(sec, dict):
            continue
        conf = sec.get("sysctl") or {}
        for key, value in sorted((conf.get("values") or {}).items()):
            sysctl[key] = (name, str(value), conf.get("path"))
        for kind, area in (("sysfs", "sysfs"), ("boot_sysfs", "boot state")):
            for path, value in sorted((sec.get(kind) or {}).items()):
                sysfs[path] = (name, area, str(value))
        for pair in sec.get("kernel_args") or []:
            args[pair[0]] = (name, pair[1])
        for path, keys in sorted((sec.get("lines") or {}).items()):
            if isinstance(keys.get("IRQBALANCE_BANNED_CPULIST"), str):
                irqbalance = (name, path, keys)
    return sysctl, sysfs, args, irqbalance


def _cmdline_tokens(text):
    tokens = []
    for word in (text or "").split():
        name, sep, value = word.partition("=")
        tokens.append((name, value if sep else None, word))
    return tokens


def _arg_cpus(name, value):
    """The CPU set of a boot argument's value (isolcpus flags such as managed_irq,domain dropped)."""
    if value is None:
        return None
    parts = [part for part in value.split(",") if part and not re.match(r"^[a-z_]+$", part)]
    cpus = cpulist_unpack(",".join(parts))
    return cpus if cpus or not parts else None


def _conflict(section_name, area, item, ours, theirs, plugin, key, origin, winner, reason, predicted=None):
    return {"section": section_name, "area": area, "item": item, "ours": ours, "tuned": theirs,
            "plugin": plugin, "key": key, "file": origin, "winner": winner, "reason": reason,
            "predicted": predicted}


class _Profile(object):
    """The tuned side: settings per plugin and where each came from."""

    def __init__(self, label, settings, sources, cmdline, variables):
        self.label = label
        self.settings = settings or {}
        self.sources = sources or {}
        self.cmdline = cmdline
        self.variables = variables or {}

    def get(self, plugin):
        return self.settings.get(plugin) or {}

    def origin(self, plugin, key):
        """``<file> [plugin] key`` (and the variable's file when the value is ${var})."""
        source = (self.sources.get(plugin) or {}).get(key) or {}
        where = "%s [%s] %s" % (source.get("file") or self.label, plugin, key)
        for name in re.findall(r"\$\{(\w+)\}", source.get("raw") or ""):
            variable = self.variables.get(name) or {}
            if variable.get("source"):
                where += " (${%s} = %s from %s)" % (name, variable.get("value"), variable["source"])
        return where

    def cmdline_origin(self, word):
        for key, value in sorted(self.get("bootloader").items()):
            if key.startswith("cmdline") and word in str(value).split():
                return self.origin("bootloader", key)
        return "%s [bootloader] cmdline" % self.label


def _sysctl_conflicts(profile, ours, main, own, version):
    rows, overrides = [], {}
    reapply = main.get("reapply_sysctl", True)
    excludes = main.get("reapply_sysctl_exclude") or []
    candidates = [("sysctl", key, key, value) for key, value in sorted(profile.get("sysctl").items())]
    candidates += [("vm", option, "vm.%s" % option, value)
                   for option, value in sorted(profile.get("vm").items()) if option in VM_SYSCTLS]
    for plugin, option, key, theirs in candidates:
        if key not in ours:
            continue
        name, value, path = ours[key]
        origin = profile.origin(plugin, option)
        op, number = (theirs[0], theirs[1:]) if theirs[:1] in ("<", ">") and len(theirs) > 1 else (None, theirs)
        excluded = [p for p in excludes if fnmatch.fnmatch(key, p)]
        reapplied = plugin == "sysctl" and bool(path) and (path.startswith(REAPPLIED) or path == "/etc/sysctl.conf")
        if own:
            overrides.setdefault(plugin, {})[option] = value
            winner, reason = KVMOPS, "the kvmops profile sets the plan's value over %s's" % profile.label
        elif _words(number) == _words(value) and op is None:
            winner, reason = SAME, "tuned sets the same value"
        elif reapplied and reapply and not excluded:
            winner, reason = KVMOPS, ("reapply_sysctl = 1: tuned applies /run/sysctl.d, /etc/sysctl.d and "
                                      "/etc/sysctl.conf after its own sysctls, so %s wins" % path)
        elif op is not None and re.match(r"^-?\d+$", number) and re.match(r"^-?\d+$", value) and (
                (op == ">" and int(number) <= int(value)) or (op == "<" and int(number) >= int(value))):
            winner, reason = KVMOPS, "tuned writes %s only when %s than the current value %s" % (
                number, "larger" if op == ">" else "smaller", value)
        else:
            if plugin == "vm":
                why = "tuned's vm plugin writes /proc/sys/vm/%s directly at every start (tuned >= 2.24)" % option
            elif excluded:
                why = "%s is in reapply_sysctl_exclude (%s)" % (key, ", ".join(excluded))
            elif not reapply:
                why = "reapply_sysctl = 0: tuned's sysctls are the last written"
            else:
                why = "the drop-in %s is not re-applied by tuned (only /run/sysctl.d, /etc/sysctl.d)" % path
            winner, reason = TUNED, "%s at every start" % why if plugin != "vm" else why
        predicted = None
        if winner == TUNED:
            predicted = {"section": name, "area": "sysctl", "item": key, "value": number}
        rows.append(_conflict(name, "sysctl", key, value, theirs, plugin, option, origin, winner, reason, predicted))
    return rows, overrides


def _vm_sysfs_conflicts(profile, ours, running_cmdline, own):
    rows, overrides = [], {}
    thp_boot = any(word.startswith("transparent_hugepage=") for word in running_cmdline[1:])
    for option, theirs in sorted(profile.get("vm").items()):
        path = VM_PATHS.get(option)
        if path is None or path not in ours:
            continue
        name, area, value = ours[path]
        origin = profile.origin("vm", option)
        if own:
            overrides.setdefault("vm", {})[option] = value
            winner, reason = KVMOPS, "the kvmops profile sets the plan's value over %s's" % profile.label
        elif theirs == value:
            winner, reason = SAME, "tuned sets the same value"
        elif path == THP_ENABLED and thp_boot:
            winner, reason = KVMOPS, ("transparent_hugepage= is on the running kernel command line: tuned's vm "
                                      "plugin then leaves THP alone")
        else:
            winner, reason = TUNED, "tuned's vm plugin writes %s at every start" % path
        predicted = {"section": name, "area": area, "item": path, "value": theirs} if winner == TUNED else None
        rows.append(_conflict(name, area, path, value, theirs, "vm", option, origin, winner, reason, predicted))
    for pattern, theirs in sorted(profile.get("sysfs").items()):
        for path in sorted(ours):
            if not fnmatch.fnmatch(path, pattern):
                continue
            name, area, value = ours[path]
            origin = profile.origin("sysfs", pattern)
            if own:
                overrides.setdefault("sysfs", {})[path] = value
                winner, reason = KVMOPS, "the kvmops profile sets the plan's value over %s's" % profile.label
            elif _words(theirs) == _words(value):
                winner, reason = SAME, "tuned sets the same value"
            else:
                winner, reason = TUNED, "tuned's sysfs plugin writes %s at every start" % pattern
            predicted = {"section": name, "area": area, "item": path, "value": theirs} if winner == TUNED else None
            rows.append(_conflict(name, area, path, value, theirs, "sysfs", pattern, origin, winner, reason, predicted))
    return rows, overrides


def _irqbalance_conflicts(profile, irqbalance, version, own):
    theirs = profile.get("irqbalance").get("banned_cpus")
    if theirs is None or irqbalance is None:
        return [], {}
    name, path, keys = irqbalance
    ours_line = keys["IRQBALANCE_BANNED_CPULIST"]
    ours_cpus = cpulist_unpack(ours_line.partition("=")[2])
    origin = profile.origin("irqbalance", "banned_cpus")
    item = "%s IRQBALANCE_BANNED_CPULIST" % path
    if own:
        return [_conflict(name, "line", item, ours_line, theirs, "irqbalance", "banned_cpus", origin, KVMOPS,
                          "the kvmops profile disables tuned's irqbalance unit: %s keeps numa_pinning's line"
                          % path)], {"irqbalance": {"enabled": "false"}}
    cpus = cpulist_unpack(theirs)
    same = cpus == ours_cpus
    if version is not None and version >= (2, 24):
        line = "IRQBALANCE_BANNED_CPULIST=%s" % format_cpulist(cpus)
        reason = ("tuned >= 2.24 replaces IRQBALANCE_BANNED_CPULIST lines in %s with its own at every start"
                  % path)
        predicted = {"section": name, "area": "line", "item": item, "value": line}
    else:
        line = "IRQBALANCE_BANNED_CPUS=%s" % cpulist2hex(cpus)
        reason = ("tuned 2.20 appends IRQBALANCE_BANNED_CPUS=<mask> to %s at every start, and irqbalance 1.9 "
                  "prefers that mask to IRQBALANCE_BANNED_CPULIST" % path)
        predicted = ({"section": name, "area": "line", "item": "%s IRQBALANCE_BANNED_CPUS" % path, "value": line}
                     if "IRQBALANCE_BANNED_CPUS" in keys and keys["IRQBALANCE_BANNED_CPUS"] is None else None)
    if same:
        reason += " (the same CPUs: %s)" % format_cpulist(cpus)
    return [_conflict(name, "line", item, ours_line, theirs, "irqbalance", "banned_cpus", origin,
                      TUNED, reason, predicted)], {}


def _hard(profile, what, origin, plan_cpus, their_cpus, kind):
    return PlanError(_var("mode"), "tuned profile %s %s = %s (%s), but the plan's %s CPUs are %s: tuned would "
                     "undo the plan's CPU sets at its next start. Make them agree (set the profile's "
                     "isolated_cores to the plan's isolated CPUs, or the plan's housekeeping CPUs to the "
                     "rest), switch tuned to a profile that does not isolate CPUs, or set "
                     "kvmops_tuned_mode: ignore" % (
                         profile.label, what, format_cpulist(their_cpus), origin, kind,
                         format_cpulist(plan_cpus) or "none"))


def _cpu_conflicts(profile, shared, args):
    """Hard conflicts raise; otherwise rows for CPU sets tuned also sets."""
    rows = []
    partitioned = bool((shared.get("cpu_partitioning") or {}).get("enabled"))
    sets = {"isolated": list(shared.get("isolated_cpus") or []),
            "housekeeping": list(shared.get("housekeeping_cpus") or [])}
    isolated_cores = profile.get("scheduler").get("isolated_cores")
    checks = []
    if isolated_cores is not None:
        checks.append(("[scheduler] isolated_cores", "isolated", cpulist_unpack(isolated_cores),
                       profile.origin("scheduler", "isolated_cores"), None, isolated_cores))
    for name, value, word in _cmdline_tokens(profile.cmdline):
        if name in CPU_ARGS:
            checks.append(("boot argument %s" % name, CPU_ARGS[name], _arg_cpus(name, value),
                           profile.cmdline_origin(word), name, word))
    for what, kind, cpus, origin, arg, word in checks:
        if cpus is None:
            continue
        ours = args.get(arg) if arg else None
        if not partitioned:
            section_name = ours[0] if ours else "numa_pinning"
            rows.append(_conflict(section_name, "cpu sets", what, "every CPU is the host's (no partitioning asked)",
                                  word, "bootloader" if arg else "scheduler", arg or "isolated_cores", origin, TUNED,
                                  "tuned isolates CPUs %s; the plan does not partition, so tuned's sets stay"
                                  % format_cpulist(cpus)))
            continue
        if cpus != sets[kind]:
            raise _hard(profile, "sets " + what, origin, sets[kind], cpus, kind)
        if ours is not None:
            rows.append(_conflict(ours[0], "kernel cmdline", "%s: %s" % (ours[0], arg), "%s=%s" % (arg, ours[1]),
                                  word, "bootloader", arg, origin, SAME,
                                  "tuned's %s names the same CPUs (%s)" % (arg, format_cpulist(cpus))))
    return rows


def _bootloader_conflicts(profile, args):
    rows = []
    for name, value, word in _cmdline_tokens(profile.cmdline):
        if name in CPU_ARGS or name not in args:
            continue
        section_name, ours = args[name]
        ours_word = name if ours is None else "%s=%s" % (name, ours)
        origin = profile.cmdline_origin(word)
        if ours_word == word:
            winner, reason, predicted = SAME, "tuned's boot arguments carry the same %s" % word, None
        else:
            winner = TUNED
            reason = ("tuned's boot arguments ($tuned_params) follow GRUB_CMDLINE_LINUX_DEFAULT, and the kernel "
                      "takes the last of repeated arguments: %s at the next boot" % word)
            predicted = {"section": section_name, "area": "kernel cmdline",
                         "item": "%s: %s" % (section_name, ours_word), "value": word}
        rows.append(_conflict(section_name, "kernel cmdline", "%s: %s" % (section_name, ours_word), ours_word, word,
                              "bootloader", name, origin, winner, reason, predicted))
    return rows


def render_profile(base, overrides, reasons):
    """The text of /etc/tuned/kvmops/tuned.conf."""
    text = comment(managed_header(ROLE, (
        "tuned profile kvmops: %s with the values of kvm_host_plan wherever %s sets the same key "
        "(tuned.conf(5): an included profile's options are overridden by the including one; "
        "tuned/profiles/merger.py). Everything else kvmops writes stays in its own files "
        "(/etc/sysctl.d drop-ins, /etc/default/irqbalance, the kernel command line)." % (base, base))))
    text += "\n[main]\nsummary=kvmops.hypervisor: %s with the plan's values\ninclude=%s\n" % (base, base)
    for plugin in ("sysctl", "vm", "sysfs", "irqbalance"):
        values = overrides.get(plugin) or {}
        if not values:
            continue
        text += "\n[%s]\n" % plugin
        for key in sorted(values):
            if reasons.get((plugin, key)):
                text += comment(reasons[(plugin, key)])
            text += "%s=%s\n" % (key, values[key])
    return text


def profile_path(tuned):
    dirs = tuned.get("profile_dirs") or ["/usr/lib/tuned", "/etc/tuned"]
    return "%s/%s/tuned.conf" % (dirs[-1].rstrip("/"), PROFILE_NAME)


def build(context, options):
    facts = context.facts
    tuned = facts.get("tuned") or {}
    mode = options["mode"]
    base = options["base_profile"]
    info = {"mode": mode, "installed": bool(tuned.get("installed")), "running": bool(tuned.get("running")),
            "version": tuned.get("version"), "active_profile": tuned.get("active_profile"),
            "profile_name": None, "base_profile": None, "profile_path": None, "activate": False,
            "reapply_sysctl": (tuned.get("main_conf") or {}).get("reapply_sysctl", True)}
    result = section(tuned=info, conflicts=[])
    if mode == "ignore":
        return result
    if mode == "own":
        if not tuned.get("installed"):
            raise PlanError(_var("mode"), "own writes and activates a tuned profile, but tuned is not installed on "
                            "this host (no tuned-adm, tuned.service or /etc/tuned/tuned-main.conf); install the "
                            "tuned package or use detect or ignore")
        catalog = tuned.get("profiles") or {}
        if base == PROFILE_NAME:
            raise PlanError(_var("base_profile"), "must not be %s, the profile this role writes" % PROFILE_NAME)
        if base not in catalog:
            raise PlanError(_var("base_profile"), "%r is not a tuned profile on this host (profiles: %s)"
                            % (base, ", ".join(sorted(catalog)) or "none"))
        if catalog[base].get("errors"):
            raise PlanError(_var("base_profile"), "tuned cannot load %s: %s" % (base, "; ".join(catalog[base]["errors"])))
        entry = catalog[base]
        profile = _Profile(base, entry.get("settings"), {}, entry.get("cmdline"), {})
        profile.label = "%s (%s)" % (base, (entry.get("chain") or ["?"])[-1])
    else:
        if not tuned.get("installed") or not tuned.get("active_profile"):
            return result
        if tuned.get("errors"):
            context.warnings.append("tuned: the active profile %s cannot be loaded (%s); tuned applies nothing of it"
                                    % (tuned.get("active_profile"), "; ".join(tuned["errors"])))
            return result
        chain = tuned.get("chain") or []
        label = "%s (%s)" % (tuned["active_profile"], chain[-1]["file"] if chain else "?")
        profile = _Profile(label, tuned.get("settings"), tuned.get("sources"),
                           (tuned.get("bootloader") or {}).get("cmdline"), tuned.get("variables"))
    own = mode == "own"
    sysctl, sysfs, args, irqbalance = _ours(getattr(context, "sections", None) or {})
    running = list(((facts.get("kernel") or {}).get("cmdline")) or [])
    rows = _cpu_conflicts(profile, context.shared, args)
    sysctl_rows, overrides = _sysctl_conflicts(profile, sysctl, tuned.get("main_conf") or {}, own, _version(tuned))
    rows += sysctl_rows
    more_rows, more = _vm_sysfs_conflicts(profile, sysfs, running, own)
    rows += more_rows
    for plugin, values in more.items():
        overrides.setdefault(plugin, {}).update(values)
    irq_rows, irq = _irqbalance_conflicts(profile, irqbalance, _version(tuned), own)
    rows += irq_rows
    overrides.update(irq)
    rows += _bootloader_conflicts(profile, args)
    for plugin in ("sysctl", "vm", "sysfs", "bootloader"):
        unresolved = [u for u in tuned.get("unresolved") or [] if u.split(".")[0] == plugin] if not own else []
        if unresolved:
            context.warnings.append("tuned: %s of %s use functions kvmops cannot evaluate from files; their "
                                    "conflicts are not checked" % (", ".join(unresolved), profile.label))
    result["conflicts"] = sorted(rows, key=lambda r: (r["section"], r["area"], r["item"], r["plugin"]))
    if own:
        path = profile_path(tuned)
        reasons = {}
        for row in rows:
            if row["winner"] == KVMOPS:
                key = row["item"] if row["plugin"] == "sysfs" else row["key"]
                reasons[(row["plugin"], key)] = "%s sets %s (%s); kvm_host_plan.%s: %s" % (
                    base, row["tuned"], row["file"], row["section"], row["ours"])
        if irq:
            reasons[("irqbalance", "enabled")] = ("numa_pinning owns the banned CPUs (%s); tuned's irqbalance "
                                                  "plugin would rewrite them at every start" % irqbalance[1])
        result["files"] = {path: render_profile(base, overrides, reasons),
                           ACTIVE_PROFILE: PROFILE_NAME + "\n",
                           PROFILE_MODE: "manual\n"}
        info.update(profile_name=PROFILE_NAME, base_profile=base, profile_path=path,
                    activate=tuned.get("active_profile") != PROFILE_NAME)
    return result
