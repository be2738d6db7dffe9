#!/usr/bin/env bash
# Build the cached root every fleet host's overlay starts from: the lab's minbase chroot
# (tools/lab/lab.sh chroot-base, the one molecule/image uses) plus openssh-server, the
# fleet's sshd settings, the counting Python wrapper and the grub-probe stub. Prints its
# directory. Built once per change of these files ($KVMOPS_LAB_CACHE/fleet-<hash>/rootfs).
set -euo pipefail
FLEET_TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lab/lib.sh
. "$FLEET_TOOLS/../lab/lib.sh"
log() { printf '[fleet %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
need_root fleet-base

fleet_key() {
    {
        chroot_key
        grep -hv '^[[:space:]]*#' "$FLEET_TOOLS/base.sh" "$FLEET_TOOLS/sshd.conf"
        cat "$FLEET_TOOLS/kvmops-count-python" "$FLEET_TOOLS/grub-probe"
    } | sha256sum | cut -c1-16
}

DEST=$KVMOPS_LAB_CACHE/fleet-$(fleet_key)
if [ -f "$DEST/rootfs/.kvmops-fleet-base" ]; then
    echo "$DEST/rootfs"
    exit 0
fi
"$LAB_DIR/lab.sh" chroot-base >&2
mkdir -p "$KVMOPS_LAB_CACHE"
exec 9>"$KVMOPS_LAB_CACHE/.fleet-lock"
flock 9
if [ -f "$DEST/rootfs/.kvmops-fleet-base" ]; then
    echo "$DEST/rootfs"
    exit 0
fi
WORK=$(mktemp -d "$KVMOPS_LAB_CACHE/fleet.XXXXXX")
DIR=$WORK/rootfs
cleanup() {
    local m
    awk -v d="$WORK" 'index($2, d "/") == 1 {print $2}' /proc/mounts | sort -r |
        while read -r m; do umount "$m" || umount -l "$m"; done
    rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
mkdir -p "$DIR"
log "unpacking $(chroot_tarball)"
tar -C "$DIR" --zstd -xpf "$(chroot_tarball)"
# apt in the chroot: the controller's resolver, its /dev and a /proc; no daemon started.
cp -L /etc/resolv.conf "$DIR/etc/resolv.conf"
mount -t proc proc "$DIR/proc"
mount --bind /dev "$DIR/dev"
printf '#!/bin/sh\nexit 101\n' >"$DIR/usr/sbin/policy-rc.d"
chmod 755 "$DIR/usr/sbin/policy-rc.d"
LOG=$KVMOPS_LAB_CACHE/logs/fleet-base-apt.log
mkdir -p "${LOG%/*}"
log "installing openssh-server in the fleet base (log: $LOG)"
if ! chroot "$DIR" /bin/sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openssh-server python3' >"$LOG" 2>&1; then
    tail -n 30 "$LOG" >&2
    die "apt-get in the fleet base failed, full log: $LOG"
fi
chroot "$DIR" apt-get clean
rm -rf "$DIR"/var/lib/apt/lists/* "$DIR"/var/cache/apt/*.bin "$DIR/usr/sbin/policy-rc.d"
umount "$DIR/dev" "$DIR/proc"
: >"$DIR/etc/resolv.conf"
install -m 0644 "$FLEET_TOOLS/sshd.conf" "$DIR/etc/ssh/sshd_config.d/kvmfleet.conf"
install -m 0755 "$FLEET_TOOLS/kvmops-count-python" "$DIR/usr/local/bin/kvmops-count-python"
chroot "$DIR" dpkg-divert --quiet --local --rename --divert /usr/sbin/grub-probe.real --add /usr/sbin/grub-probe
install -m 0755 "$FLEET_TOOLS/grub-probe" "$DIR/usr/sbin/grub-probe"
[ -f "$DIR/etc/ssh/ssh_host_ed25519_key" ] || chroot "$DIR" ssh-keygen -A
mkdir -p "$DIR/root/.ssh" "$DIR/run/sshd"
chmod 700 "$DIR/root/.ssh"
touch "$DIR/.kvmops-fleet-base"
rm -rf --one-file-system "$DEST"
mkdir -p "$DEST"
mv "$DIR" "$DEST/rootfs"
# Older bases go, unless a running fleet's overlays still stand on them.
for old in "$KVMOPS_LAB_CACHE"/fleet-*/; do
    old=${old%/}
    if [ "$old" = "$DEST" ] || [ ! -d "$old" ]; then continue; fi
    grep -qF "lowerdir=$old/" /proc/mounts || rm -rf --one-file-system "$old"
done
log "fleet base ready: $DEST/rootfs ($(du -sh "$DEST/rootfs" | cut -f1))"
echo "$DEST/rootfs"
