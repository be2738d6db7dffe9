#!/usr/bin/env bash
# Build the cached minbase chroot for molecule/image: $KVMOPS_LAB_CACHE/chroot-<hash>.tar.zst.
# A Debian system as an image build sees it: python3, systemd, udev, kmod, a kernel, GRUB's
# /etc/default/grub and grub-mkconfig; nothing running. `lab.sh chroot-new DIR` unpacks it.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root chroot-base

OUT=$(chroot_tarball)
mkdir -p "$KVMOPS_LAB_CACHE"
WORK=$(mktemp -d "$KVMOPS_LAB_CACHE/chroot.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
DIR=$WORK/rootfs
LOG=$KVMOPS_LAB_CACHE/logs/chroot-debootstrap.log
mkdir -p "${LOG%/*}"
if ! debootstrap --variant=minbase --include=python3,python3-apt,systemd-sysv,udev,kmod,procps,grub2-common,initramfs-tools,linux-image-amd64 \
    "$KVMOPS_LAB_SUITE" "$DIR" "$(debian_mirror)" >"$LOG" 2>&1; then
    tail -n 30 "$LOG" >&2
    die "debootstrap failed, full log: $LOG"
fi
# grub-pc's postinst would make /etc/default/grub; an image build has one.
[ -f "$DIR/etc/default/grub" ] || cp "$DIR/usr/share/grub/default/grub" "$DIR/etc/default/grub"
mkdir -p "$DIR/boot/grub" "$DIR/etc/default/grub.d"
echo kvmimage >"$DIR/etc/hostname"
chroot "$DIR" apt-get clean
rm -rf "$DIR"/var/lib/apt/lists/* "$DIR"/var/cache/apt/*.bin
tar -C "$DIR" --zstd -cpf "$WORK/chroot.tar.zst" .
mv "$WORK/chroot.tar.zst" "$OUT"
# This suite's older tarballs (not one being unpacked); other suites' stay.
mapfile -t stale < <(stale_caches chroot "$OUT")
prune_stale "${stale[@]}"
log "chroot ready: $OUT ($(du -h "$OUT" | cut -f1))"
