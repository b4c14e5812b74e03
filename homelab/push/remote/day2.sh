# day2.sh — what `homelab status|generations|logs` read on the host, as root, over one SSH
# connection (`sh -s`; homelab.push.day2 appends one call). Output: tab-separated records.
B=/etc/homelab
G=$B/generations
cur=$(readlink "$B/current" 2>/dev/null || true)
M=$cur/manifest.tsv

# The repository digests (REPO@sha256:...) of the image UNIT's running container runs.
running_digests() {
    c=$(podman ps -q --filter "label=PODMAN_SYSTEMD_UNIT=$1" 2>/dev/null | head -n 1)
    [ -n "$c" ] || return 0
    i=$(podman inspect --format '{{.Image}}' "$c" 2>/dev/null) || return 0
    podman image inspect --format '{{range .RepoDigests}}{{.}} {{end}}' "$i" 2>/dev/null || true
}

# status: the current generation, then per managed unit its state, the image of its
# .container file in that generation (the locked REF:TAG@DIGEST) and what it runs.
status() {
    printf 'G\t%s\n' "${cur##*/}"
    [ -f "$cur/rollback" ] && printf 'R\t%s\n' "$(cat "$cur/rollback")"
    [ -f "$B/pending" ] && while read -r u; do printf 'P\t%s\n' "$u"; done <"$B/pending"
    [ -f "$M" ] || return 0
    awk -F'\t' '$1 == "U" { print $2 }' "$M" | while read -r u; do
        img=""
        for f in $(awk -F'\t' -v u="$u" '$1 == "F" && $2 ~ /\.container$/ {
            n = split($7, us, ","); for (i = 1; i <= n; i++) if (us[i] == u) print $2 }' "$M"); do
            img=$(sed -n 's/^Image=//p' "$cur/root$f" | tail -n 1)
        done
        # One property per call: `systemctl show` prints several in its own order.
        printf 'U\t%s\t%s\t%s\t%s\t%s\t%s\n' "$u" "$(systemctl show -p ActiveState --value "$u")" \
            "$(systemctl show -p SubState --value "$u")" \
            "$(systemctl show -p NRestarts --value "$u")" "$img" "$(running_digests "$u")"
    done
}

# generations: every kept generation (oldest first) with its time and what it was.
generations() {
    printf 'G\t%s\n' "${cur##*/}"
    [ -d "$G" ] || return 0
    ls -1 "$G" | sort | while read -r g; do
        rb=""
        [ -f "$G/$g/rollback" ] && rb=$(cut -f1 "$G/$g/rollback")
        printf 'N\t%s\t%s\t%s\n' "$g" "$(stat -c %Y "$G/$g")" "$rb"
    done
}

# logs UNIT N: the unit's journal; a unit neither managed nor known to systemd is refused
# with the managed units listed (journalctl would only say "-- No entries --").
logs() {
    if ! { [ -f "$M" ] && awk -F'\t' -v u="$1" '$1 == "U" && $2 == u { f = 1 } END { exit !f }' "$M"; } &&
        [ "$(systemctl show -p LoadState --value "$1" 2>/dev/null)" != loaded ]; then
        printf 'X\tno-unit\n'
        [ -f "$M" ] && awk -F'\t' '$1 == "U" { print "U\t" $2 }' "$M"
        return 0
    fi
    journalctl -u "$1" -n "$2" --no-pager -o short-iso 2>&1
}

# snapshots: homelab's snapshots of the live generation's datasets, oldest first:
# S DATASET GENERATION UNITS USED CREATION; "X WHY" when there is nothing to list.
snapshots() {
    if ! command -v zfs >/dev/null 2>&1; then
        printf 'X\tthis host has no zfs command: snapshots are off\n'
        return 0
    fi
    T=$(printf '\t')
    [ -f "$M" ] && awk -F'\t' '$1 == "Z" { print $2 "\t" $5 }' "$M" >/tmp/homelab-ds.$$
    if [ ! -s /tmp/homelab-ds.$$ ]; then
        rm -f /tmp/homelab-ds.$$
        printf 'X\tthe live generation has no datasets: snapshots are off\n'
        return 0
    fi
    while IFS="$T" read -r ds units; do
        zfs list -H -t snapshot -o name,used,creation -s creation -r "$ds" 2>/dev/null |
            awk -F'\t' -v p="$ds@homelab-" -v ds="$ds" -v u="$units" 'index($1, p) == 1 {
                printf "S\t%s\t%s\t%s\t%s\t%s\n", ds, substr($1, length(p) + 1), u, $2, $3 }'
    done </tmp/homelab-ds.$$
    rm -f /tmp/homelab-ds.$$
}
