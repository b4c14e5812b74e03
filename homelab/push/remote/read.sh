# read.sh — live state of the managed paths, read as root over one SSH connection.
# homelab.push appends one call per managed item (file/dir/link/unit/quadlets) and sends the
# whole script on stdin of `sh -s`. Output: one tab-separated record per line (parse_live).
B=/etc/homelab
T=$(printf '\t')
cur=$(readlink "$B/current" 2>/dev/null || true)
printf 'G\t%s\n' "${cur##*/}"
# A switch not yet confirmed (confirm-or-revert): GEN PREV DEADLINE.
[ ! -f "$B/armed" ] || printf 'A\t%s\n' "$(head -n 1 "$B/armed")"
if [ -f "$B/pending" ]; then
    while read -r u; do printf 'P\t%s\n' "$u"; done <"$B/pending"
fi
file() {
    if [ -f "$1" ]; then
        h=$(sha256sum <"$1" | cut -d' ' -f1)
        s=$(stat -L -c "%a$T%u$T%g" "$1")
        l=plain
        if [ -L "$1" ]; then
            l=other
            [ "$(readlink "$1")" = "$B/current/root$1" ] && l=link
        fi
        printf 'F\t%s\t%s\t%s\t%s\n' "$1" "$h" "$s" "$l"
    elif [ -e "$1" ]; then
        printf 'O\t%s\n' "$1"
    else
        printf 'M\t%s\n' "$1"
    fi
}
dir() {
    if [ -d "$1" ]; then
        printf 'D\t%s\t%s\n' "$1" "$(stat -L -c "%a$T%u$T%g" "$1")"
    else
        printf 'DM\t%s\n' "$1"
    fi
}
link() {
    if [ -L "$1" ]; then
        printf 'L\t%s\t%s\n' "$1" "$(readlink "$1")"
    else
        printf 'LM\t%s\n' "$1"
    fi
}
unit() {
    printf 'U\t%s\t%s\n' "$1" "$(systemctl show -p ActiveState --value "$1" 2>/dev/null)"
}
quadlets() {
    # quadlets DIR EXT...: files in DIR with a Quadlet extension (homelab.quadlet's KIND_GROUP,
    # passed in by homelab.push).
    d=$1
    shift
    [ -d "$d" ] || return 0
    find "$d" ! -type d | while read -r p; do
        for e in "$@"; do
            case $p in *"$e") printf 'Q\t%s\n' "$p"; break ;; esac
        done
    done
}
# Units of the live generation (those a push would stop when the new set drops them).
if [ -n "$cur" ] && [ -f "$cur/manifest.tsv" ]; then
    awk -F'\t' '$1 == "U" { print "OU\t" $2 }' "$cur/manifest.tsv"
fi
# text PATH SHA: the content of a non-secret file whose live content is not SHA, for the
# preview's text diff (base64, one line; files over 64 KiB are only said to differ).
text() {
    [ -f "$1" ] || return 0
    [ "$(sha256sum <"$1" | cut -d' ' -f1)" = "$2" ] && return 0
    [ "$(stat -L -c %s "$1")" -le 65536 ] || return 0
    printf 'C\t%s\t%s\n' "$1" "$(base64 -w0 <"$1")"
}
# A generation made live by `homelab rollback` is drift until a push replaces it.
if [ -n "$cur" ] && [ -f "$cur/rollback" ]; then
    printf 'R\t%s\n' "$(head -n 1 "$cur/rollback")"
fi
# pushed: what homelab last pushed (the live generation's manifest.tsv, as W rows) and the
# live state of each of its paths and units: drift is the host against THAT, not the stack.
pushed() {
    m=$cur/manifest.tsv
    [ -n "$cur" ] && [ -f "$m" ] || return 0
    awk -F'\t' '$1 ~ /^[FDLUSP]$/ { print "W\t" $0 }' "$m"
    awk -F'\t' '$1 == "F" { print $2 }' "$m" | while IFS= read -r p; do file "$p"; done
    awk -F'\t' '$1 == "D" { print $2 }' "$m" | while IFS= read -r p; do dir "$p"; done
    awk -F'\t' '$1 == "L" { print $2 }' "$m" | while IFS= read -r p; do link "$p"; done
    awk -F'\t' '$1 == "U" { print $2 }' "$m" | while IFS= read -r u; do unit "$u"; done
}
# image UNIT: the repository digests of the image the unit's running container runs (drift
# when the locked digest is not among them).
image() {
    c=$(podman ps -q --filter "label=PODMAN_SYSTEMD_UNIT=$1" 2>/dev/null | head -n 1)
    [ -n "$c" ] || return 0
    i=$(podman inspect --format '{{.Image}}' "$c" 2>/dev/null) || return 0
    printf 'IM\t%s\t%s\n' "$1" \
        "$(podman image inspect --format '{{range .RepoDigests}}{{.}} {{end}}' "$i" 2>/dev/null)"
}
# dataset NAME MOUNTPOINT PROP=VALUE,...: "dataset CREATOR DIFFS" (CREATOR: the generation
# that created it or "-"; DIFFS: PROP=LIVE,... of the stack's properties that differ), "plain"
# (a non-empty plain directory at the mountpoint), "missing", or "nozfs".
dataset() {
    if ! command -v zfs >/dev/null 2>&1; then
        printf 'Z\t%s\tnozfs\n' "$1"
    elif zfs list -H -o name "$1" >/dev/null 2>&1; then
        diffs=""
        for kv in $(printf '%s\n' "$3" | tr ',' '\n' | grep -v '^-$'); do
            have=$(zfs get -H -o value "${kv%%=*}" "$1")
            [ "$have" = "${kv#*=}" ] || diffs="$diffs${diffs:+,}${kv%%=*}=$have"
        done
        # Only set on the dataset itself (user properties are inherited).
        by=$(zfs get -H -o value,source homelab:created "$1" |
            awk -F'\t' '$2 == "local" { print $1; f = 1 } END { if (!f) print "-" }')
        printf 'Z\t%s\tdataset\t%s\t%s\n' "$1" "$by" "${diffs:--}"
    elif [ -d "$2" ] && [ -n "$(ls -A "$2" 2>/dev/null)" ]; then
        printf 'Z\t%s\tplain\n' "$1"
    else
        printf 'Z\t%s\tmissing\n' "$1"
    fi
}
