#!/bin/sh
# revert.sh revert|confirm|boot GENDIR — confirm-or-revert (docs/PUSH.md).
# Shipped in every generation beside apply.sh. apply.sh arms a transient timer
# (systemd-run, homelab-revert-GEN) that runs `revert` when the client has not confirmed in
# time; the client's confirmation, over a new SSH connection, runs `confirm`. Both take the
# push lock, so whichever comes first wins and the other sees it in /etc/homelab/armed.
# A reboot (a power cut) drops the transient timer: homelab-rearm-revert.service runs `boot`
# at startup, which arms it again for the time left (at least 1 s), so an unconfirmed push
# still goes back by itself.
set -eu
mode=$1
g=$2
gen=${g##*/}
gen=${gen%.failed} # a reverted generation's dir, for the confirmation that came too late
B=/etc/homelab
exec 8>"$B/.lock"
flock 8
armed=$(cut -f1 "$B/armed" 2>/dev/null || true)
# The generation's apply.sh as a library (revert_to, scrub, arm_revert; it stops before the
# push itself).
apply_lib() {
    HOMELAB_APPLY_LIB=1
    set -- "$g"
    . "$g/apply.sh"
}
case $mode in
confirm)
    if [ "$armed" = "$gen" ]; then
        systemctl stop "homelab-revert-$gen.timer" 2>/dev/null || true
        prev=$(cut -f2 "$B/armed")
        rm -f "$B/armed"
        # The generation a revert would have gone back to gives up its secret files now.
        apply_lib
        [ ! -d "$G/$prev/root" ] || scrub "$G/$prev"
        say "HOMELAB-CONFIRMED $gen"
        exit 0
    fi
    # Too late (reverted, or superseded by a newer push): say what the host did.
    if [ -f "$B/last-revert" ] && [ "$(cut -f2 "$B/last-revert")" = "$gen" ]; then
        printf 'HOMELAB-REVERTED %s\t%s\n' "$(cut -f3 "$B/last-revert")" \
            "$(cut -f4- "$B/last-revert")"
        exit 3
    fi
    if [ "$(readlink "$B/current")" = "$g" ]; then
        # Live but never armed: a confirmation repeated after a lost answer (fine), or an
        # apply cut off after the switch, its restarts still pending (not a success).
        if [ -s "$B/pending" ]; then
            echo "HOMELAB-ERROR: the push of $gen was cut off after the switch; its restarts \
are pending: the next pulumi up finishes them"
            exit 1
        fi
        echo "HOMELAB-CONFIRMED $gen"
        exit 0
    fi
    echo "HOMELAB-ERROR: generation $gen is not live and was not armed; run pulumi preview"
    exit 1
    ;;
revert)
    # Confirmed, superseded or reverted meanwhile: nothing to do.
    [ "$armed" = "$gen" ] || exit 0
    prev=$(cut -f2 "$B/armed")
    secs=$(awk -F'\t' '$1 == "T" { print $4 }' "$g/manifest.tsv")
    apply_lib
    rm -f "$B/armed"
    revert_to "$prev" "the host did not hear back within ${secs} s; it rolled itself back to $prev"
    ;;
boot)
    [ "$armed" = "$gen" ] || exit 0
    prev=$(cut -f2 "$B/armed")
    left=$(($(cut -f3 "$B/armed") - $(date +%s)))
    [ "$left" -ge 1 ] || left=1
    apply_lib
    arm_revert "$gen" "$left" && exit 0
    # No timer: never leave an unconfirmed push standing; go back now.
    rm -f "$B/armed"
    revert_to "$prev" "the host restarted before the confirmation and could not arm the revert \
timer again; it rolled itself back to $prev"
    ;;
*)
    echo "usage: revert.sh revert|confirm|boot GENDIR" >&2
    exit 2
    ;;
esac
