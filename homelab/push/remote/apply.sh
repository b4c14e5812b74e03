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
    "slow $1 "*)
        # "slow POINT SECONDS": holds the push there that long (a late client, a window to
        # kill it in).
        hs=$(cut -d' ' -f3 /etc/homelab-sim/kill-at)
        rm -f /etc/homelab-sim/kill-at
        sleep "$hs"
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

# revert_to PREV REASON: the way back from generation $d (switched, judged bad, or never
# confirmed) to generation PREV, used by the health gate and by revert.sh (confirm-or-revert).
# It needs only what $d itself holds (old-paths, new-paths, old-units, units, restart,
# removed, unmanaged/), so it works from a later process too. Links, units, daemon-reload;
# the new units stop, the old ones (and their dependents) start again; $d becomes
# $d.failed without its secrets; /etc/homelab/last-revert says when, from what, to what, why.
revert_to() {
    rprev=$G/$1
    say "HOMELAB-ROLLBACK $1"
    # The new units stop first, while systemd still has their definitions (ExecStop=,
    # ExecStopPost=): after the daemon-reload below they would be not-found, only killed.
    comm -13 "$d/old-units" "$d/units" | while read -r u; do systemctl stop "$u" || true; done
    # One rename back, then repair the links both ways.
    relink "$rprev" "$B/current"
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
    # The datasets engineer's step: roll the failed units' data back to this push's snapshot.
    if command -v datasets_revert >/dev/null 2>&1; then datasets_revert || true; fi
    cat "$d/restart" "$d/removed" | sort -u | while read -r u; do
        grep -qxF "$u" "$d/old-units" || continue
        systemctl reset-failed "$u" 2>/dev/null || true
        systemctl --no-block restart "$u" || true
    done
    # Dependents that ran before the push run again (systemd leaves a stopped one down).
    if [ -f "$d/dependents" ]; then
        while read -r u; do systemctl --no-block start "$u" || true; done <"$d/dependents"
    fi
    rm -f "$B/pending"
    rfrom=${d##*/}
    mv -T "$d" "$d.failed"
    d=$d.failed
    M=$d/manifest.tsv
    scrub "$d"
    printf '%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$rfrom" "$1" \
        "$(printf '%s' "$2" | tr '\t\n' '  ')" >"$B/.last-revert.tmp"
    mv -f "$B/.last-revert.tmp" "$B/last-revert"
}

# arm_revert GEN SECONDS: the transient timer of confirm-or-revert (systemd-run; it outlives
# this SSH session) runs `revert.sh revert` for generation GEN after SECONDS unless confirmed.
# apply.sh arms it after the switch, revert.sh again after a reboot (homelab-rearm-revert).
arm_revert() {
    systemd-run --quiet --collect --unit="homelab-revert-$1" --on-active="${2}s" \
        --timer-property=AccuracySec=100ms /bin/sh "$G/$1/revert.sh" revert "$G/$1"
}

# The health gate (step 7).
# dependents FILE: units that Requires=/BindsTo=/PartOf= a unit of FILE, recursively (Quadlet's
# pod, network and volume units are such dependencies of their containers), running now and
# not in FILE. systemd restarts them with their dependency; the gate starts any that end up
# down (systemd does not: e.g. a BindsTo= stop on a failed start) and judges them all.
dependents() {
    cp "$1" "$d/.deps-todo"
    : >"$d/.deps"
    while [ -s "$d/.deps-todo" ]; do
        while read -r u; do
            systemctl show -p RequiredBy -p BoundBy -p ConsistsOf --value "$u" 2>/dev/null
        done <"$d/.deps-todo" | tr ' ' '\n' | grep . | sort -u >"$d/.deps-new" || true
        cat "$1" "$d/.deps" | sort -u | comm -23 "$d/.deps-new" - >"$d/.deps-todo"
        cat "$d/.deps-todo" >>"$d/.deps"
    done
    while read -r u; do
        [ "$(systemctl show -p ActiveState --value "$u")" != active ] || printf '%s\n' "$u"
    done <"$d/.deps"
    rm -f "$d/.deps" "$d/.deps-todo" "$d/.deps-new"
}
# seconds VALUE: a systemd time span as `systemctl show` prints it ("1min 30s", "infinity").
seconds() {
    printf '%s\n' "$1" | awk '$0 == "infinity" { print 86400; exit }
        { t = 0; for (i = 1; i <= NF; i++) { v = $i + 0; u = $i; sub(/^[0-9.]+/, "", u)
          t += v * (u == "h" ? 3600 : u == "min" ? 60 : u == "ms" ? 0.001 : u == "us" ? 0 : 1) }
          printf "%d\n", t }'
}
# health UNIT: podman's health status of the unit's container ("" without a HealthCmd=).
health() {
    hc=$(podman ps -q --filter "label=PODMAN_SYSTEMD_UNIT=$1" 2>/dev/null | head -n 1)
    [ -n "$hc" ] || return 0
    podman inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$hc" \
        2>/dev/null || true
}
# judge UNIT: "ok", "wait" or "fail WHY". Clearly failing = failed, the start limit hit, or
# exited again after a restart (NRestarts rising, or auto-restart after one restart): no
# point in waiting for the deadline. A slow start (activating, no restart) waits. A unit
# restarted by this push is judged only once its new invocation runs. Health: podman's
# HealthCmd= must say healthy (Notify=healthy units stay activating until it does).
judge() {
    js=$(systemctl show -p ActiveState -p SubState -p Result -p NRestarts -p InvocationID "$1")
    ja=$(printf '%s\n' "$js" | sed -n 's/^ActiveState=//p')
    jsub=$(printf '%s\n' "$js" | sed -n 's/^SubState=//p')
    jr=$(printf '%s\n' "$js" | sed -n 's/^Result=//p')
    jn=$(printf '%s\n' "$js" | sed -n 's/^NRestarts=//p')
    ji=$(printf '%s\n' "$js" | sed -n 's/^InvocationID=//p')
    # NRestarts counts from the first look (systemd may flush it on a manual start).
    jb=$(cat "$d/gate/$1.base" 2>/dev/null || echo "${jn:-0}")
    [ "${jn:-0}" -ge "$jb" ] || jb=${jn:-0}
    echo "$jb" >"$d/gate/$1.base"
    jd=$((${jn:-0} - jb))
    jwait=""
    case $jsub in auto-restart*) jwait=1 ;; esac
    if [ "$jr" = start-limit-hit ] || [ "$ja" = failed ]; then
        echo "fail $ja ($jsub, result $jr)"
    elif [ "$jd" -ge 2 ]; then
        echo "fail crash-looping ($jd restarts while the gate waited, result $jr)"
    elif [ "$jd" -ge 1 ] && [ -n "$jwait" ]; then
        echo "fail crash-looping (exited again after a restart, result $jr)"
    elif [ "$ja" != active ]; then
        [ "$ja" = activating ] && [ "$(health "$1")" = unhealthy ] &&
            echo "fail unhealthy (podman healthcheck)" && return 0
        echo wait
    elif [ "$ji" = "$(cat "$d/gate/$1.inv" 2>/dev/null)" ]; then
        echo wait # its restart job has not run yet
    else
        case $(health "$1") in
        unhealthy) echo "fail unhealthy (podman healthcheck)" ;;
        starting) echo wait ;;
        *) echo ok ;;
        esac
    fi
}
# gate FILE: wait until every unit of FILE is ok, each up to the gate's timeout (a unit that
# waits for podman's health: up to its own TimeoutStartSec= when longer); sets $unhealthy and
# $why at the first that fails.
gate() {
    while read -r u; do
        udl=$deadline
        while :; do
            v=$(judge "$u")
            [ "$v" = ok ] && break
            if [ "$v" != wait ]; then
                unhealthy=$u why=${v#fail }
                return 0
            fi
            if [ "$(date +%s)" -ge "$udl" ] && [ "$udl" = "$deadline" ] &&
                [ -n "$(health "$u")" ]; then
                ut=$(seconds "$(systemctl show -p TimeoutStartUSec --value "$u")")
                [ "$((gstart + ${ut:-0}))" -le "$udl" ] || udl=$((gstart + ut))
            fi
            if [ "$(date +%s)" -ge "$udl" ]; then
                unhealthy=$u why="not active within $((udl - gstart)) s"
                return 0
            fi
            sleep 0.5
        done
    done <"$1"
}

# settle_gate FILE: each unit of FILE must stay active, without a restart, for $settle
# seconds; a crash-loop fails as soon as it shows. Sets $unhealthy and $why at the first that
# does not.
settle_gate() {
    while read -r u; do
        printf '%s\t%s\n' "$u" "$(systemctl show -p NRestarts --value "$u")"
    done <"$1" >"$d/nrestarts"
    send=$(($(date +%s) + settle))
    while [ -z "$unhealthy" ]; do
        while IFS="$TAB" read -r u n; do
            s=$(systemctl show -p ActiveState --value "$u")
            n2=$(systemctl show -p NRestarts --value "$u")
            [ "$s" != active ] || [ "$n2" != "$n" ] || continue
            # A crash passes through deactivating (podman's ExecStopPost) on its way to
            # auto-restart: look once it is past that (at most 10 s), so that the words do
            # not depend on the moment of the look.
            i=0
            while [ "$s" = deactivating ] && [ "$i" -lt 50 ]; do
                sleep 0.2
                i=$((i + 1))
                s=$(systemctl show -p ActiveState --value "$u")
            done
            n2=$(systemctl show -p NRestarts --value "$u")
            sub=$(systemctl show -p SubState --value "$u")
            # Restarted, or waiting to be (auto-restart): the same crash-loop the gate names
            # before the settle time.
            if [ "$n2" != "$n" ] || [ "$sub" = auto-restart ]; then
                unhealthy=$u why="crash-looping (it stopped and systemd restarts it, within \
the $settle s settle time)"
                break
            elif [ "$s" != active ]; then
                unhealthy=$u why="stopped within the $settle s settle time"
                break
            fi
        done <"$d/nrestarts"
        [ "$(date +%s)" -lt "$send" ] || break
        sleep 0.5
    done
}

# decide_units: step 3, what changes (the one restart decision; docs/ARCHITECTURE.md). Reads
# $d/files and $d/units (the new generation), the live file at each managed path, $B/pending
# (an interrupted push's restarts), $B/current's manifest and `systemctl is-active`. Writes
# $d/restart (a unit restarts iff the live content of one of its files differs from the new,
# mode aside, or it is pending), $d/start (not active, not restarting), $d/old-units,
# $d/old-paths, $d/new-paths, $d/removed, $d/gone-paths; sets $cur. tests/restart_cases.tsv
# runs through it (tests/unit/test_restart_cases_sh.py, tests/e2e/test_restart_cases.py).
decide_units() {
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
}

# The steps before the switch (prepare) that revert_to also needs, each in its own file beside
# this one (a generation keeps them, so revert.sh has them too).
[ ! -f "$d/datasets.sh" ] || . "$d/datasets.sh"

# revert.sh sources this file for the functions above (HOMELAB_APPLY_LIB=1), then stops here.
if [ "${HOMELAB_APPLY_LIB:-}" = 1 ]; then return 0; fi

exec 9>"$B/.lock"
if command -v flock >/dev/null 2>&1; then flock -n 9 || abort "another push is running"; fi
# A push while the previous one's revert is armed supersedes it: this push reached the host
# over SSH, which is all a confirmation proves (docs/PUSH.md, confirm-or-revert).
if [ -f "$B/armed" ]; then
    armed=$(cut -f1 "$B/armed")
    systemctl stop "homelab-revert-$armed.timer" 2>/dev/null || true
    rm -f "$B/armed"
    say "HOMELAB-SUPERSEDED $armed"
fi

# The tar ends with END: a transfer cut at a member boundary leaves tar happy but no END.
[ -f "$d/END" ] || abort "incomplete transfer (no END member); host unchanged"
gen=$(lines I "$M" | cut -f2)
Q=$(lines Q "$M" | cut -f2)
timeout=$(lines T "$M" | cut -f2)
settle=$(lines T "$M" | cut -f3)
confirm=$(lines T "$M" | cut -f4)
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
decide_units

# Before the switch: `prepare`. Each step undoes its own work when it fails and returns 1;
# then the steps before it are undone and nothing on the host has changed. Images first (the
# new generation's, pulled before any unit stops: a failed pull is a refusal, not downtime),
# then the datasets (created, and snapshotted last: closest to the units' stop).
. "$d/images.sh"
images_prepare || abort "$IMAGES_ERROR; host unchanged"
if command -v datasets_prepare >/dev/null 2>&1; then
    datasets_prepare || {
        images_undo
        abort "preparing the ZFS datasets failed: $DATASETS_ERROR; host unchanged"
    }
fi
hook prepared

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
# The data directories on the pool: syncfs commits them through OpenZFS's intent log (a
# directory's parent fsync above may not). The simulated host's zfs-fuse ignores both.
# shellcheck disable=SC2046
[ ! -s "$d/dirs" ] || sync -f -- $(cut -f2 "$d/dirs") 2>/dev/null || sync
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
dependents "$d/affected" >"$d/dependents"
mkdir -p "$d/gate"
cat "$d/affected" "$d/dependents" | while read -r u; do
    systemctl show -p InvocationID --value "$u" >"$d/gate/$u.inv"
done
# Only units restarted by this push need a new invocation; started ones were not running.
while read -r u; do rm -f "$d/gate/$u.inv"; done <"$d/start"
while read -r u; do rm -f "$d/gate/$u.inv"; done <"$d/dependents"
while read -r u; do systemctl reset-failed "$u" 2>/dev/null || true; done <"$d/affected"
while read -r u; do systemctl --no-block restart "$u" || true; done <"$d/restart"
while read -r u; do systemctl --no-block start "$u" || true; done <"$d/start"

unhealthy=""
why=""
gstart=$(date +%s)
deadline=$((gstart + timeout))
gate "$d/affected"
if [ -z "$unhealthy" ] && [ -s "$d/dependents" ]; then
    # Their dependencies run again: bring back any dependent that systemd left down.
    while read -r u; do systemctl --no-block start "$u" || true; done <"$d/dependents"
    gate "$d/dependents"
fi
cat "$d/affected" "$d/dependents" | sort -u >"$d/judged"
if [ -z "$unhealthy" ] && [ -s "$d/judged" ]; then settle_gate "$d/judged"; fi

if [ -n "$unhealthy" ]; then
    state=$(systemctl show -p ActiveState -p SubState -p NRestarts "$unhealthy" | tr '\n' ' ')
    journal=$(journalctl -u "$unhealthy" -n 15 -o cat --no-pager 2>&1 || true)
    why=$(printf '%s did not stay active: %s (%s)' "$unhealthy" "$why" "${state% }")
    revert_to "${cur##*/}" "$why"
    fail "$(printf '%s; rolled back, host back on %s. Last lines of journalctl -u %s:\n%s' \
        "$why" "${cur##*/}" "$unhealthy" "$journal")"
fi

rm -f "$B/pending"
# Confirm-or-revert: unless the client confirms over a new SSH connection within $confirm
# seconds (revert.sh confirm), a timer that outlives this session goes back to $cur. The
# previous generation keeps its secret files until then (the scrub below skips it).
cdig=${cur##*/}
cdig=${cdig#*-}
ndig=${gen#*-}
# Going back to the same content would change nothing (a retried push): nothing to arm.
if [ "${confirm:-0}" -gt 0 ] && [ "${cdig%%-r*}" != "${ndig%%-r*}" ]; then
    printf '%s\t%s\t%s\n' "$gen" "${cur##*/}" "$(($(date +%s) + confirm))" >"$B/.armed.tmp"
    mv -f "$B/.armed.tmp" "$B/armed"
    arm_revert "$gen" "$confirm" ||
        { rm -f "$B/armed"; revert_to "${cur##*/}" "could not arm the revert timer"; fail \
            "systemd-run could not arm the revert timer; rolled back to generation ${cur##*/}"; }
    say "HOMELAB-ARMED $gen ${cur##*/} $confirm"
    hook armed
fi
while read -r u; do say "HOMELAB-RESTARTED $u"; done <"$d/restart"
while read -r u; do say "HOMELAB-STARTED $u"; done <"$d/start"
while read -r u; do say "HOMELAB-STOPPED $u"; done <"$d/removed"
if command -v datasets_prune >/dev/null 2>&1; then datasets_prune; fi
# One generation per content: the same content pushed again (a push whose client was killed,
# retried; the restarts of an interrupted push) leaves only the live copy.
# While a revert is armed, the generation it returns to stays whole.
keep=""
[ ! -f "$B/armed" ] || keep=$cur
dig=${gen#*-}
dig=${dig%%-r*}
for g in "$G"/*-"$dig" "$G"/*-"$dig"-r*; do
    [ -d "$g" ] && [ "$g" != "$ng" ] && [ "$g" != "$keep" ] && rm -rf "$g"
done
# Keep the newest few generations (ids sort by time); never the live one, never the one an
# armed revert returns to, never 000000-empty (the host as it was before homelab: the only
# copy of the owner's hand-made files).
ls -1 "$G" | sort | grep -vx 000000-empty | head -n -6 | while read -r old; do
    [ "$G/$old" = "$ng" ] || [ "$G/$old" = "$keep" ] || rm -rf "${G:?}/$old"
done
# Images that no kept generation uses any more (only those homelab pulled).
images_prune
# Secret files live in the live generation only: the older ones (kept for inspection) lose
# theirs once this one is live; a rollback of the next push returns to this one, which keeps
# them. Paths are the secret files of this manifest and of that generation's own.
for g in "$G"/*; do
    [ "$g" != "$ng" ] && [ -d "$g/root" ] || continue
    [ "$g" != "$keep" ] || continue
    scrub "$g"
done
# Stale staging dirs and temporary links of killed pushes.
for x in "$B"/.incoming.*; do [ -e "$x" ] && rm -rf "$x"; done
{ cut -f2 "$d/files" "$d/links" "$d/gone-paths"; echo "$B/current"; } | while read -r p; do
    rm -f "$(dirname "$p")/.$(basename "$p").homelab-tmp"
done
say "HOMELAB-OK $gen"
