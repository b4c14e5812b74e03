# datasets.sh — the containers' ZFS datasets; sourced by apply.sh and rollback.sh (POSIX sh).
# Uses their $d (stage dir), $M (manifest), $gen, $TAB, say and lines. Z rows of manifest.tsv:
# NAME MOUNTPOINT PROP=VALUE,...|- UNIT,...  K row: "K snapshots N" (kept per dataset).
#
# Rules: a missing dataset is created (marked homelab:created=GEN); one homelab did not create
# is never changed, only reported; none is ever destroyed, except one this very push created
# when the push fails before its switch. Snapshots are `DATASET@homelab-GEN`; pruning and
# rollback touch only those, and a rollback refuses to destroy any other snapshot unless forced.
# Every zfs command here is one OpenZFS 2.x accepts as well as zfs-fuse (pool version 23):
# list -H -o / -t snapshot -s creation -r, get -H -o value, create -o, set, snapshot,
# rollback [-r], destroy of one snapshot or of a dataset without children.
SNAP=homelab-

ds_exists() { zfs list -H -o name "$1" >/dev/null 2>&1; }
# The generation that created dataset $1, or "-" when homelab did not create it.
# Set on the dataset itself: user properties are inherited, and a dataset the user creates
# under one of homelab's is not homelab's.
ds_creator() {
    zfs get -H -o value,source homelab:created "$1" 2>/dev/null |
        awk -F'\t' '$2 == "local" { print $1; f = 1 } END { if (!f) print "-" }'
}
# Snapshots of dataset $1 (not of its children), oldest first.
ds_snapshots() {
    zfs list -H -t snapshot -o name -s creation -r "$1" 2>/dev/null |
        awk -v p="$1@" 'index($0, p) == 1' || true
}
# A dataset just mounted or read can be busy for a moment (zfs-fuse more than OpenZFS).
ds_destroy() {
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        zfs destroy "$1" 2>/dev/null && return 0
        sleep 0.3
    done
    zfs destroy "$1"
}
# zfs "$@"; when it fails, DATASETS_ERROR holds the command and zfs's own words (one line),
# which apply.sh's abort shows: the client sees only that line, not this script's stderr.
ds_zfs() {
    if ds_out=$(zfs "$@" 2>&1); then
        [ -z "$ds_out" ] || printf '%s\n' "$ds_out"
        return 0
    fi
    DATASETS_ERROR="zfs $*: $(printf '%s' "$ds_out" | tr '\n' ' ')"
    return 1
}
ds_units() { printf '%s\n' "$1" | tr ',' '\n' | grep -v '^-$' || true; }
ds_props() { printf '%s\n' "$1" | tr ',' '\n' | grep -v '^-$' || true; }

# An existing dataset: homelab's own gets the stack's properties; another is only reported.
ds_converge() { # NAME MOUNTPOINT PROPS
    by=$(ds_creator "$1")
    for kv in $(ds_props "$3") mountpoint="$2"; do
        k=${kv%%=*}
        v=${kv#*=}
        have=$(zfs get -H -o value "$k" "$1" 2>&1) || {
            DATASETS_ERROR="zfs get $k $1: $have"
            return 1
        }
        [ "$have" = "$v" ] && continue
        if [ "$by" != - ] && [ "$k" != mountpoint ]; then
            printf '%s\t%s\t%s\n' "$1" "$k" "$have" >>"$d/datasets.props"
            ds_zfs set "$kv" "$1" || return 1
            say "HOMELAB-DATASET-SET $1 $k=$v (was $have)"
        else
            say "HOMELAB-DATASET-KEPT $1: $k is $have, the stack says $v; not changed (homelab did not create it, or it is its mountpoint)"
        fi
    done
}

ds_create() { # NAME MOUNTPOINT PROPS
    parent=${1%/*}
    if ! ds_exists "$parent"; then
        # The container datasets' parent (tank/services) holds no data of its own: not mounted.
        ds_zfs create -o canmount=off -o "homelab:created=$gen" "$parent" || return 1
        printf '%s\n' "$parent" >>"$d/datasets.created"
    fi
    set -- "$1" "$2" "$3" -o "mountpoint=$2" -o "homelab:created=$gen"
    for kv in $(ds_props "$3"); do set -- "$@" -o "$kv"; done
    n=$1
    shift 3
    ds_zfs create "$@" "$n" || return 1
    printf '%s\n' "$n" >>"$d/datasets.created"
    say "HOMELAB-DATASET-CREATED $n"
}

ds_prepare() {
    while IFS="$TAB" read -r _ ds mp props _; do
        if ds_exists "$ds"; then
            ds_converge "$ds" "$mp" "$props" || return 1
        elif [ -d "$mp" ] && [ -n "$(ls -A "$mp" 2>/dev/null)" ]; then
            say "HOMELAB-DATASET-PLAIN $ds: $mp is a plain directory with data; used as it is, without snapshots (move its data into a dataset by hand to get them)"
        else
            ds_create "$ds" "$mp" "$props" || return 1
        fi
    done <"$d/datasets"
    # `homelab rollback --with-data` (rollback.sh): those datasets go back, not forward.
    touch "$d/data-rollback"
    cat "$d/restart" "$d/start" | sort -u >"$d/datasets.units"
    while IFS="$TAB" read -r _ ds _ _ units; do
        ds_exists "$ds" || continue
        grep -q "^$ds$TAB" "$d/data-rollback" && continue
        hit=""
        for u in $(ds_units "$units"); do
            if grep -qxF "$u" "$d/datasets.units"; then hit=1; fi
        done
        [ -n "$hit" ] || continue
        ds_zfs snapshot "$ds@$SNAP$gen" || return 1
        printf '%s@%s%s\t%s\n' "$ds" "$SNAP" "$gen" "$units" >>"$d/snapshots"
        say "HOMELAB-SNAPSHOT $ds@$SNAP$gen"
    done <"$d/datasets"
    # The one step that cannot be undone, last: stop the units, roll their data back.
    [ -s "$d/data-rollback" ] || return 0
    while IFS="$TAB" read -r ds snap units; do
        for u in $(ds_units "$units"); do
            systemctl stop "$u" || true
            printf '%s\n' "$u" >>"$d/restart"
        done
        ds_zfs rollback -r "$snap" || return 1
        say "HOMELAB-DATA-ROLLED-BACK $snap"
    done <"$d/data-rollback"
    sort -u -o "$d/restart" "$d/restart"
}

# Before the switch: create missing datasets, snapshot those of units that will (re)start.
datasets_prepare() {
    DATASETS_ERROR=""
    lines Z "$M" >"$d/datasets"
    : >"$d/snapshots"
    : >"$d/datasets.created"
    : >"$d/datasets.props"
    [ -s "$d/datasets" ] || return 0
    if ! command -v zfs >/dev/null 2>&1; then
        DATASETS_ERROR="the stack has datasets but this host has no zfs command"
        return 1
    fi
    ds_prepare && return 0
    datasets_undo
    return 1
}

# Undoes what datasets_prepare did in this push (not a data rollback: that one is last).
datasets_undo() {
    cut -f1 "$d/snapshots" 2>/dev/null | while read -r s; do zfs destroy "$s" || true; done
    : >"$d/snapshots"
    while IFS="$TAB" read -r ds k v; do zfs set "$k=$v" "$ds" || true; done <"$d/datasets.props"
    sort -r "$d/datasets.created" 2>/dev/null | while read -r ds; do ds_destroy "$ds" || true; done
    : >"$d/datasets.created"
}

# The health gate failed and the host goes back: the datasets this push snapshotted go back
# to those snapshots (what was written since came from the version that failed). Their units
# are stopped first; apply.sh restarts the old ones. Never fails the revert itself.
datasets_revert() {
    [ -s "$d/snapshots" ] || return 0
    while IFS="$TAB" read -r snap units; do
        for u in $(ds_units "$units"); do systemctl stop "$u" || true; done
        if zfs rollback "$snap"; then
            say "HOMELAB-DATA-REVERTED $snap"
        else
            say "HOMELAB-DATA-NOT-REVERTED $snap: zfs rollback failed (a newer snapshot?)"
        fi
    done <"$d/snapshots"
    return 0
}

# After a healthy switch: each dataset keeps its newest N homelab snapshots.
datasets_prune() {
    [ -s "$d/datasets" ] || return 0
    keep=$(lines K "$M" | awk -F'\t' '$2 == "snapshots" { print $3 }')
    keep=${keep:-5}
    while IFS="$TAB" read -r _ ds _; do
        ds_exists "$ds" || continue
        ds_snapshots "$ds" | awk -v p="$ds@$SNAP" 'index($0, p) == 1' | sort | head -n -"$keep" |
            while read -r s; do
                if zfs destroy "$s"; then say "HOMELAB-SNAPSHOT-PRUNED $s"; fi
            done
    done <"$d/datasets"
    return 0
}

# What rolling dataset $1 back to snapshot $2 loses, as file counts: `zfs diff` (OpenZFS),
# else (zfs-fuse has no zfs diff, no written@, no .zfs dir) a temporary clone of the snapshot
# compared with `diff -rq`, then destroyed; and the bytes written since (`written@SNAP`) where
# the pool has that property.
ds_loss() {
    if out=$(zfs diff "$2" "$1" 2>/dev/null); then
        printf '%s\n' "$out" | awk -F'\t' '
            NF { n[$1]++ } END { printf "%d changed, %d added, %d removed, %d renamed files (zfs diff)",
                n["M"], n["+"], n["-"], n["R"] }'
    else
        c=$1-homelab-diff
        m=/run/homelab-diff.$$
        mp=$(zfs get -H -o value mountpoint "$1")
        if zfs clone -o "mountpoint=$m" -o readonly=on "$2" "$c" >/dev/null 2>&1; then
            diff -rq "$m" "$mp" 2>/dev/null | awk -v a="$m" -v b="$mp" '
                /^Files / { ch++ } index($0, "Only in " b) == 1 { ad++ } index($0, "Only in " a) == 1 { rm++ }
                END { printf "%d changed, %d added, %d removed files (compared with a clone)", ch, ad, rm }'
            ds_destroy "$c" >/dev/null 2>&1 || true
            rmdir "$m" 2>/dev/null || true
        else
            printf 'the writes since (no count: the clone failed)'
        fi
    fi
    w=$(zfs get -H -o value "written@${2#*@}" "$1" 2>/dev/null) && [ "$w" != - ] &&
        printf ', %s written' "$w"
    return 0
}

# rollback.sh: for each dataset of generation $1 (G/$1's Z rows), the first homelab snapshot
# taken after $1 went live, i.e. its data when $1 was replaced. $2: "" (only report what
# changed since), "data" (roll back; refuse over snapshots homelab did not make) or
# "data-force". Writes $d/data-rollback (DATASET SNAPSHOT UNITS) for apply.sh.
datasets_rollback_plan() {
    : >"$d/data-rollback"
    lines Z "$G/$1/manifest.tsv" >"$d/datasets.then"
    if [ ! -s "$d/datasets.then" ]; then
        [ -z "$2" ] || say "HOMELAB-DATA-OFF generation $1 has no datasets: no snapshots to roll back to (config only)"
        return 0
    fi
    command -v zfs >/dev/null 2>&1 || { say "HOMELAB-ERROR: this host has no zfs command"; return 1; }
    refused=""
    while IFS="$TAB" read -r _ ds _ _ units; do
        ds_exists "$ds" || continue
        ds_snapshots "$ds" >"$d/datasets.snaps"
        target=$(awk -v p="$ds@$SNAP" -v w="$1" \
            'index($0, p) == 1 && substr($0, length(p) + 1) > w { print; exit }' "$d/datasets.snaps")
        [ -n "$target" ] || continue
        after=$(awk -v t="$target" 'seen { print } $0 == t { seen = 1 }' "$d/datasets.snaps")
        foreign=$(printf '%s\n' "$after" | awk -v p="$ds@$SNAP" 'NF && index($0, p) != 1' | tr '\n' ' ')
        loss=$(ds_loss "$ds" "$target")
        if [ -z "$2" ]; then
            say "HOMELAB-DATA-CHANGED $ds $target: $loss"
            continue
        fi
        if [ -n "$foreign" ] && [ "$2" != data-force ]; then
            say "HOMELAB-DATA-REFUSED $ds: snapshots homelab did not make are newer than $target: ${foreign% }; rolling back would destroy them and lose $loss"
            refused=1
            continue
        fi
        printf '%s\t%s\t%s\n' "$ds" "$target" "$units" >>"$d/data-rollback"
        say "HOMELAB-DATA-ROLLBACK $ds to $target: loses $loss${foreign:+; destroys ${foreign% }}"
    done <"$d/datasets.then"
    [ -z "$refused" ]
}
