"""Fake GRUB tools for tests: small shell scripts that stand in for grub-mkconfig and
grub-script-check on a tree under a temporary root.

The fake grub-mkconfig sources the tree's /etc/default/grub and grub.d/*.cfg with a real
/bin/sh (as the real one does) and writes a Debian-like grub.cfg, so the drop-ins' shell
quoting and the module's own reading of them are checked against a real shell. It logs each
call to <root>/mkconfig.log; FAKE_GRUB_ROOT names the root, FAKE_GRUB_BREAK makes it write
a broken configuration.
"""

import os
import stat
import subprocess

FAKE_MKCONFIG = r"""#!/bin/sh
set -e
out=
while [ $# -gt 0 ]; do
  case "$1" in -o) out="$2"; shift 2 ;; *) shift ;; esac
done
[ -n "$out" ] || exit 64
ROOT="$FAKE_GRUB_ROOT"
. "$ROOT/etc/default/grub"
for x in "$ROOT"/etc/default/grub.d/*.cfg; do
  if [ -e "$x" ]; then . "$x"; fi
done
echo "fake grub-mkconfig called" >> "$ROOT/mkconfig.log"
cat > "$out" <<EOF
set default="0"
menuentry 'Debian GNU/Linux' --class debian \$menuentry_id_option 'gnulinux-simple-1' {
    linux    /boot/vmlinuz-6.1.0-13-amd64 root=UUID=1 ro ${GRUB_CMDLINE_LINUX} ${GRUB_CMDLINE_LINUX_DEFAULT}
    initrd    /boot/initrd.img-6.1.0-13-amd64
}
menuentry 'Debian GNU/Linux (recovery mode)' {
    linux    /boot/vmlinuz-6.1.0-13-amd64 root=UUID=1 ro single ${GRUB_CMDLINE_LINUX}
}
EOF
if [ -n "$FAKE_GRUB_BREAK" ]; then echo "menuentry 'broken' {" >> "$out"; fi
"""

# Stands in for grub-script-check: counts braces (what the broken output gets wrong).
FAKE_CHECK = r"""#!/bin/sh
opens=$(tr -cd '{' < "$1" | wc -c)
closes=$(tr -cd '}' < "$1" | wc -c)
if [ "$opens" != "$closes" ]; then echo "$1: syntax error: unbalanced braces" >&2; exit 1; fi
"""


def install(bindir):
    """Write the fake tools into ``bindir``; returns {name: path}."""
    os.makedirs(str(bindir), exist_ok=True)
    paths = {}
    for name, text in (("grub-mkconfig", FAKE_MKCONFIG), ("grub-script-check", FAKE_CHECK)):
        path = os.path.join(str(bindir), name)
        with open(path, "w") as handle:
            handle.write(text)
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
        paths[name] = path
    return paths


def mkconfig_calls(root):
    """How many times the fake grub-mkconfig ran for ``root``."""
    path = os.path.join(str(root), "mkconfig.log")
    if not os.path.exists(path):
        return 0
    with open(path) as handle:
        return handle.read().count("called")


def shell_run(argv):
    """A ``run`` for apply_change that really executes ``argv`` (the fake tools)."""
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False)
    return done.returncode, done.stdout, done.stderr
