#!/bin/sh
# apply.sh STAGE — run as root on the host, from the tar that `homelab.push` just unpacked into
# STAGE (a fresh mktemp dir under /etc/homelab). POSIX sh + coreutils + systemctl + podman only:
# Fedora CoreOS has no python. See docs/PUSH.md for the layout and the guarantees.
#
# Order matters for the old-or-new guarantee: everything before the rename of
# /etc/homelab/current leaves the visible managed tree as it was; the rename flips it whole.
set -eu
d=$1
B=/etc/homelab
G=$B/generations
M=$d/manifest.tsv
TAB=$(printf '\t')

# A dropped SSH connection must not stop the apply half-way: ignore HUP/PIPE, log to a file
# and copy messages to the client on fd 3 only as long as it listens.
trap '' HUP PIPE
exec 3>&1 >>"$d/apply.log" 2>&1
say() {
    printf '%s\n' "$*"
    printf '%s\n' "$*" >&3 2>/dev/null || true
}
fail() {
    say "HOMELAB-ERROR: $*"
    exit 1
}
# Test-only kill points: honoured only where the marker exists (the simulated host).
# "POINT" kills this script there; "freeze POINT" stops it there and says so in
# /etc/homelab-sim/frozen, for a test that then cuts the host's power.
hook() {
    [ -f /etc/homelab-sim/kill-at ] || return 0
    case $(cat /etc/homelab-sim/kill-at) in
    "$1")
        rm -f /etc/homelab-sim/kill-at
        kill -9 $$
        ;;
    "freeze $1")
        rm -f /etc/homelab-sim/kill-at
        echo "$1" >/etc/homelab-sim/frozen
        kill -STOP $$
        ;;
    esac
}
# Durable before visible: fsync(2) each path given (files and directories; coreutils `sync
# FILE...`), or everything where that form is missing.
durable() { sync -- "$@" 2>/dev/null || sync; }
# Before the switch a failure removes the staged dir: nothing else has changed yet.
abort() {
    cd /
    rm -rf "$d"
    fail "$@"
}
lines() { awk -F'\t' -v k="$1" '$1 == k' "$2" 2>/dev/null || true; }
# Removes the secret files (S rows) from generation $1's tree.
scrub() {
    { lines S "$M"; lines S "$1/manifest.tsv"; } | cut -f2 | sort -u | while read -r p; do
        rm -f "$1/root$p"
    done
}
# Atomic symlink replace: rename(2) over the old path.
relink() { # TARGET PATH
    t="$(dirname "$2")/.$(basename "$2").homelab-tmp"
    rm -f "$t"
    ln -s "$1" "$t"
    mv -Tf "$t" "$2"
}
ours() { [ -L "$1" ] && [ "$(readlink "$1")" = "$B/current/root$1" ]; }

exec 9>"$B/.lock"
if command -v flock >/dev/null 2>&1; then flock -n 9 || abort "another push is running"; fi

# The tar ends with END: a transfer cut at a member boundary leaves tar happy but no END.
[ -f "$d/END" ] || abort "incomplete transfer (no END member); host unchanged"
gen=$(lines I "$M" | cut -f2)
Q=$(lines Q "$M" | cut -f2)
timeout=$(lines T "$M" | cut -f2)
settle=$(lines T "$M" | cut -f3)
[ -n "$gen" ] && [ -n "$Q" ] || abort "bad manifest"
lines F "$M" >"$d/files"
lines D "$M" >"$d/dirs"
lines L "$M" >"$d/links"
lines U "$M" | cut -f2 | sort -u >"$d/units"

# 1. Staged files: verify, then give them their owner and mode.
while IFS="$TAB" read -r _ p mode uid gid sha units; do
    f=$d/root$p
    [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$sha" ] || abort "staged $p does not match its hash"
    chown "$uid:$gid" "$f"
    chmod "$mode" "$f"
done <"$d/files"

# 2. The host's own Quadlet generator judges the new units; any message besides
#    "Loading source unit file" is fatal and the host is left untouched.
if [ -d "$d/root$Q" ]; then
    gen_bin=/usr/libexec/podman/quadlet
    [ -x "$gen_bin" ] || abort "$gen_bin not found on the host"
    rc=0
    QUADLET_UNIT_DIRS="$d/root$Q" "$gen_bin" -dryrun >"$d/quadlet.out" 2>"$d/quadlet.err" || rc=$?
    bad=$(grep -v 'Loading source unit file' "$d/quadlet.err" || true)
    if [ "$rc" != 0 ] || [ -n "$bad" ]; then
        abort "$(printf 'quadlet rejected the new units (exit %s): %s' "$rc" "$bad")"
    fi
fi
# Data directories get chowned and chmodded: never through a symlink (it could point
# anywhere, e.g. at an admin's home). Each level from the volume root down is checked.
while IFS="$TAB" read -r _ p _; do
    if [ -L "$p" ]; then
        abort "data directory $p is a symlink (to $(readlink "$p")); homelab never chowns or \
chmods through one: replace it with a directory. Host unchanged."
    fi
    [ ! -e "$p" ] || [ -d "$p" ] || abort "data directory $p exists but is not a directory"
done <"$d/dirs"
hook staged

# 3. What changes: compare the live (resolved) content with the new one.
: >"$d/restart"
while IFS="$TAB" read -r _ p mode uid gid sha units; do
    live=$(sha256sum <"$p" 2>/dev/null | cut -d' ' -f1) || live=""
    if [ "$live" != "$sha" ] && [ "$units" != - ]; then
        printf '%s\n' "$units" | tr ',' '\n' >>"$d/restart"
    fi
done <"$d/files"
# Units an interrupted push switched but never restarted.
[ -f "$B/pending" ] && cat "$B/pending" >>"$d/restart"
sort -u -o "$d/restart" "$d/restart"
cur=$(readlink "$B/current" 2>/dev/null || true)
if [ -n "$cur" ] && [ -f "$cur/manifest.tsv" ]; then
    lines U "$cur/manifest.tsv" | cut -f2 | sort -u >"$d/old-units"
    lines F "$cur/manifest.tsv" | cut -f2 | sort -u >"$d/old-paths"
else
    : >"$d/old-units"
    : >"$d/old-paths"
fi
cut -f2 "$d/files" | sort -u >"$d/new-paths"
comm -23 "$d/old-units" "$d/units" >"$d/removed"
comm -23 "$d/old-paths" "$d/new-paths" >"$d/gone-paths"
: >"$d/start"
while read -r u; do
    grep -qxF "$u" "$d/restart" && continue
    systemctl is-active -q "$u" || printf '%s\n' "$u" >>"$d/start"
done <"$d/units"

# 4. The staged tree becomes a generation beside the live one.
mkdir -p "$G"
chmod 0755 "$B" "$G" "$d"
ng=$G/$gen
# Same content pushed again within a second (a retry): never overwrite a generation.
[ -e "$ng" ] && gen=$gen-r$$ && ng=$G/$gen
mv -T "$d" "$ng"
d=$ng
M=$d/manifest.tsv
if [ -z "$cur" ] || [ ! -d "$cur" ]; then
    # First push: an empty generation stands for "nothing managed yet".
    cur=$G/000000-empty
    mkdir -p "$cur/root"
    : >"$cur/manifest.tsv"
    relink "$cur" "$B/current"
fi

# 5. Link every managed path into current/. Paths not yet linked have their live state
#    recorded into the current generation first, so linking changes nothing visible.
while IFS="$TAB" read -r _ p _; do
    ours "$p" && continue
    rm -rf "$cur/root$p"
    if [ -e "$p" ]; then
        mkdir -p "$(dirname "$cur/root$p")"
        cp -pL "$p" "$cur/root$p"
    fi
    mkdir -p "$(dirname "$p")"
    relink "$B/current/root$p" "$p"
done <"$d/files"
# Data directories: created and owned, never removed.
while IFS="$TAB" read -r _ p mode uid gid; do
    mkdir -p "$p"
    [ ! -L "$p" ] || fail "data directory $p became a symlink; not chowned"
    chown -h "$uid:$gid" "$p"
    chmod "$mode" "$p"
done <"$d/dirs"

# 6. The switch: one rename(2). Units to restart are recorded first, so a kill right after
#    the switch still gets them restarted by the next push.
cat "$d/restart" "$d/start" >"$B/.pending.tmp"
# A power cut must find the old set or the new one complete: everything the switch makes
# visible (the new generation, files recorded into the current one, the links and data
# directories made above, pending) is on disk before the rename, and the rename itself is
# fsynced in its directory right after.
{
    find "$ng" "$cur"
    cut -f2 "$d/files" "$d/dirs" | while read -r p; do dirname "$p"; done
    printf '%s\n' "$B/.pending.tmp" "$G" "$B"
} | sort -u >"$d/durable"
# shellcheck disable=SC2046 # paths hold no whitespace (homelab.push checks them)
durable $(cat "$d/durable")
mv -f "$B/.pending.tmp" "$B/pending"
hook before-switch
relink "$ng" "$B/current"
durable "$B"
say "HOMELAB-SWITCHED $gen"
hook after-switch

while IFS="$TAB" read -r _ p target; do
    [ "$(readlink "$p" 2>/dev/null)" = "$target" ] && continue
    mkdir -p "$(dirname "$p")"
    relink "$target" "$p"
done <"$d/links"
while read -r u; do systemctl stop "$u" || true; done <"$d/removed"
# Files of removed units now dangle: remove our links (never anything else).
while read -r p; do if ours "$p"; then rm -f "$p"; fi; done <"$d/gone-paths"
# Quadlet files nobody manages: stop their unit and move them into the generation (kept for
# inspection under unmanaged/, put back on rollback).
find "$Q" \( -name '*.container' -o -name '*.volume' -o -name '*.network' -o -name '*.pod' \
    -o -name '*.kube' -o -name '*.image' -o -name '*.build' \) ! -type d 2>/dev/null |
    while read -r p; do
        grep -qxF "$p" "$d/new-paths" && continue
        b=$(basename "$p")
        case $b in
        *.container | *.kube) u=${b%.*}.service ;;
        *) u=${b%.*}-${b##*.}.service ;;
        esac
        systemctl stop "$u" || true
        mkdir -p "$(dirname "$d/unmanaged$p")"
        mv -f "$p" "$d/unmanaged$p"
        say "HOMELAB-UNMANAGED $p"
    done
systemctl daemon-reload
hook after-reload

# 7. Restart exactly the changed units, start the missing ones, then the health gate.
# reset-failed first: a unit that hit its start limit earlier refuses to start otherwise.
cat "$d/restart" "$d/start" | sort -u >"$d/affected"
while read -r u; do systemctl reset-failed "$u" 2>/dev/null || true; done <"$d/affected"
while read -r u; do systemctl --no-block restart "$u" || true; done <"$d/restart"
while read -r u; do systemctl --no-block start "$u" || true; done <"$d/start"

unhealthy=""
deadline=$(($(date +%s) + timeout))
while read -r u; do
    until [ "$(systemctl show -p ActiveState --value "$u")" = active ]; do
        # Given up by systemd itself (start limit): no point in waiting for the deadline.
        res=$(systemctl show -p Result --value "$u")
        if [ "$(date +%s)" -ge "$deadline" ] || [ "$res" = start-limit-hit ]; then
            unhealthy=$u
            break 2
        fi
        sleep 0.5
    done
done <"$d/affected"
if [ -z "$unhealthy" ] && [ -s "$d/affected" ]; then
    while read -r u; do
        printf '%s\t%s\n' "$u" "$(systemctl show -p NRestarts --value "$u")"
    done <"$d/affected" >"$d/nrestarts"
    sleep "$settle"
    while IFS="$TAB" read -r u n; do
        s=$(systemctl show -p ActiveState --value "$u")
        n2=$(systemctl show -p NRestarts --value "$u")
        if [ "$s" != active ] || [ "$n2" != "$n" ]; then
            unhealthy=$u
            break
        fi
    done <"$d/nrestarts"
fi

if [ -n "$unhealthy" ]; then
    state=$(systemctl show -p ActiveState -p SubState -p NRestarts "$unhealthy" | tr '\n' ' ')
    journal=$(journalctl -u "$unhealthy" -n 30 --no-pager 2>&1 || true)
    say "HOMELAB-ROLLBACK ${cur##*/}"
    # Back to the previous generation: one rename again, then repair links both ways.
    relink "$cur" "$B/current"
    comm -13 "$d/old-paths" "$d/new-paths" | while read -r p; do
        if ours "$p"; then rm -f "$p"; fi
    done
    while read -r p; do
        ours "$p" || relink "$B/current/root$p" "$p"
    done <"$d/old-paths"
    if [ -d "$d/unmanaged" ]; then
        (cd "$d/unmanaged" && find . ! -type d) | while read -r p; do
            mv -f "$d/unmanaged/${p#./}" "/${p#./}"
        done
    fi
    systemctl daemon-reload
    comm -13 "$d/old-units" "$d/units" | while read -r u; do systemctl stop "$u" || true; done
    cat "$d/restart" "$d/removed" | sort -u | while read -r u; do
        grep -qxF "$u" "$d/old-units" || continue
        systemctl reset-failed "$u" 2>/dev/null || true
        systemctl --no-block restart "$u" || true
    done
    rm -f "$B/pending"
    mv -T "$ng" "$ng.failed"
    scrub "$ng.failed"
    fail "$(printf '%s did not stay active (%s); rolled back to generation %s.\n' \
        "$unhealthy" "$state" "${cur##*/}")
$(printf 'journalctl -u %s -n 30:\n%s' "$unhealthy" "$journal")"
fi

rm -f "$B/pending"
while read -r u; do say "HOMELAB-RESTARTED $u"; done <"$d/restart"
while read -r u; do say "HOMELAB-STARTED $u"; done <"$d/start"
while read -r u; do say "HOMELAB-STOPPED $u"; done <"$d/removed"
# One generation per content: the same content pushed again (a push whose client was killed,
# retried; the restarts of an interrupted push) leaves only the live copy.
dig=${gen#*-}
dig=${dig%%-r*}
for g in "$G"/*-"$dig" "$G"/*-"$dig"-r*; do
    [ -d "$g" ] && [ "$g" != "$ng" ] && rm -rf "$g"
done
# Keep the newest few generations (ids sort by time); never the live one, never 000000-empty
# (the host as it was before homelab: the only copy of the owner's hand-made files).
ls -1 "$G" | sort | grep -vx 000000-empty | head -n -6 | while read -r old; do
    [ "$G/$old" = "$ng" ] || rm -rf "${G:?}/$old"
done
# Secret files live in the live generation only: the older ones (kept for inspection) lose
# theirs once this one is live; a rollback of the next push returns to this one, which keeps
# them. Paths are the secret files of this manifest and of that generation's own.
for g in "$G"/*; do
    [ "$g" != "$ng" ] && [ -d "$g/root" ] || continue
    scrub "$g"
done
# Stale staging dirs and temporary links of killed pushes.
for x in "$B"/.incoming.*; do [ -e "$x" ] && rm -rf "$x"; done
{ cut -f2 "$d/files" "$d/links" "$d/gone-paths"; echo "$B/current"; } | while read -r p; do
    rm -f "$(dirname "$p")/.$(basename "$p").homelab-tmp"
done
say "HOMELAB-OK $gen"
