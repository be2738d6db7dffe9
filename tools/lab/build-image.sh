#!/usr/bin/env bash
# Build the lab host's base image into $KVMOPS_LAB_CACHE/image-<hash of the build
# scripts>/: base.qcow2 (zstd compressed) and the root SSH key (id_ed25519).
# Debian's archive only: debootstrap minbase, packages installed in the chroot
# (guest-setup.sh), the root filesystem written with `mke2fs -d` into a partitioned raw
# file, GRUB installed into it; the guest boots through GRUB from its own disk.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root build

OUT=$(image_dir)
if [ -f "$OUT/base.qcow2" ]; then
    log "image cached: $OUT"
    exit 0
fi
mkdir -p "$KVMOPS_LAB_CACHE"
WORK=$(mktemp -d "$KVMOPS_LAB_CACHE/build.XXXXXX")
ROOTFS=$WORK/rootfs
MNT=$WORK/mnt
RAW=$WORK/disk.raw
MIRROR=$(debian_mirror)
SUITE=$KVMOPS_LAB_SUITE

cleanup() {
    local m
    # Unmount everything below the work dir, deepest first.
    awk -v w="$WORK" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null || true; done
    # install_grub runs in a subshell: find its loop device by the backing file.
    for LOOP in $(losetup -j "$RAW" -O NAME -n 2>/dev/null); do
        partx -d "$LOOP" 2>/dev/null || true
        losetup -d "$LOOP" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

mount_chroot_fs() {
    mount -t proc proc "$ROOTFS/proc"
    mount --bind /sys "$ROOTFS/sys"
    mount --bind /dev "$ROOTFS/dev"
    mount --bind /dev/pts "$ROOTFS/dev/pts"
}

umount_chroot_fs() {
    umount "$ROOTFS/dev/pts" "$ROOTFS/dev" "$ROOTFS/sys" "$ROOTFS/proc"
}

in_chroot() {
    chroot "$ROOTFS" env SUITE="$SUITE" MIRROR="$MIRROR" ROOT_UUID="$ROOT_UUID" \
        SSH_PUBKEY="$(cat "$WORK/id_ed25519.pub")" IMAGE_CMDLINE="$KVMOPS_LAB_IMAGE_CMDLINE" \
        /root/guest-setup.sh "$1"
}

prepare_chroot() {
    mount_chroot_fs
    # No service starts inside the chroot.
    printf '#!/bin/sh\nexit 101\n' >"$ROOTFS/usr/sbin/policy-rc.d"
    chmod 755 "$ROOTFS/usr/sbin/policy-rc.d"
    install -m 755 "$LAB_DIR/guest-setup.sh" "$ROOTFS/root/guest-setup.sh"
    ssh-keygen -q -t ed25519 -N '' -C kvmops-lab -f "$WORK/id_ed25519"
}

finish_chroot() {
    rm -f "$ROOTFS/usr/sbin/policy-rc.d" "$ROOTFS/root/guest-setup.sh"
    umount_chroot_fs
}

PART_START=2048 # sectors: 1 MiB, room for GRUB's core.img
write_disk() {
    local sectors=$((KVMOPS_LAB_DISK_GB * 1024 * 1024 * 2))
    local part_sectors=$((sectors - PART_START))
    truncate -s "${KVMOPS_LAB_DISK_GB}G" "$RAW"
    printf 'label: dos\nstart=%s, type=83, bootable\n' "$PART_START" | sfdisk -q "$RAW"
    mke2fs -q -t ext4 -U "$ROOT_UUID" -L kvmlab-root -d "$ROOTFS" \
        -E offset=$((PART_START * 512)) "$RAW" "$((part_sectors / 2))k"
}

install_grub() {
    local part n
    LOOP=$(losetup -f --show "$RAW")
    partx -a "$LOOP" # losetup -P does not create the partition nodes here
    part=${LOOP}p1
    for n in 1 2 3 4 5 6 7 8 9 10; do
        [ -b "$part" ] && break
        sleep 0.5
        if [ "$n" -eq 10 ] && [ -e "/sys/class/block/${part##*/}/dev" ]; then
            mknod "$part" b "$(cut -d: -f1 "/sys/class/block/${part##*/}/dev")" \
                "$(cut -d: -f2 "/sys/class/block/${part##*/}/dev")"
        fi
    done
    [ -b "$part" ] || die "no partition device $part"
    mkdir -p "$MNT"
    mount "$part" "$MNT"
    mount -t proc proc "$MNT/proc"
    mount --bind /sys "$MNT/sys"
    # A small /dev of its own, with the by-uuid link: update-grub then writes
    # root=UUID=... instead of root=/dev/loopNp1.
    mount -t tmpfs -o mode=755 tmpfs "$MNT/dev"
    cp -a /dev/null /dev/zero /dev/random /dev/urandom "$LOOP" "$part" "$MNT/dev/"
    mkdir -p "$MNT/dev/disk/by-uuid"
    ln -s "../../${part##*/}" "$MNT/dev/disk/by-uuid/$ROOT_UUID"
    chroot "$MNT" grub-install --target=i386-pc "$LOOP"
    chroot "$MNT" update-grub
    grep -q "root=UUID=$ROOT_UUID" "$MNT/boot/grub/grub.cfg" ||
        die "grub.cfg does not boot root=UUID=$ROOT_UUID"
    sync
    umount "$MNT/dev" "$MNT/sys" "$MNT/proc" "$MNT"
    partx -d "$LOOP"
    losetup -d "$LOOP"
}

compress() {
    mkdir -p "$WORK/out"
    qemu-img convert -c -O qcow2 -o compression_type=zstd "$RAW" "$WORK/out/base.qcow2"
    cp "$WORK/id_ed25519" "$WORK/id_ed25519.pub" "$WORK/out/"
    {
        echo "built: $(date -u +%FT%TZ)"
        echo "root_uuid: $ROOT_UUID"
        echo "kernel: $(ls "$ROOTFS/lib/modules")"
        echo "cmdline: $KVMOPS_LAB_IMAGE_CMDLINE"
    } >"$WORK/out/info.txt"
    rm -f "$RAW"
}

# quiet NAME CMD...: CMD's output goes to $LOGS/NAME.log, its tail is shown on failure.
LOGS=$KVMOPS_LAB_CACHE/logs
quiet() {
    local name=$1 rc
    shift
    mkdir -p "$LOGS"
    set +e
    (
        set -e
        "$@"
    ) >"$LOGS/$name.log" 2>&1
    rc=$?
    set -e
    if [ "$rc" -ne 0 ]; then
        tail -n 40 "$LOGS/$name.log" >&2
        log "full log: $LOGS/$name.log"
    fi
    return "$rc"
}

ROOT_UUID=$(cat /proc/sys/kernel/random/uuid)
log "building the lab image into $OUT (about 9 minutes on 2 cores)"
stage "image: debootstrap --variant=minbase $SUITE" \
    quiet debootstrap debootstrap --variant=minbase "$SUITE" "$ROOTFS" "$MIRROR"
prepare_chroot
stage "image: kernel, sshd, python3, grub, tools" quiet base in_chroot base
stage "image: libvirt, qemu, irqbalance" quiet kvm in_chroot kvm
stage "image: zfs-dkms (builds ZFS for the guest kernel, ~5 min)" quiet zfs in_chroot zfs
stage "image: configure (network, ssh key, grub defaults, masked units)" \
    quiet configure in_chroot configure
finish_chroot
stage "image: partitioned disk, mke2fs -d" quiet disk write_disk
stage "image: grub-install and update-grub" quiet grub install_grub
stage "image: qemu-img convert (qcow2, zstd)" compress
chmod 600 "$WORK/out/id_ed25519"
rm -rf "$OUT"
mv "$WORK/out" "$OUT"
# Drop this suite's images built by older versions of the scripts (not one in use).
mapfile -t stale < <(stale_caches image "$OUT")
prune_stale "${stale[@]}"
log "image ready: $OUT ($(du -h "$OUT/base.qcow2" | cut -f1))"
