#!/bin/sh
# rollback.sh STAGE [GEN] — run as root on the host from the tar `homelab rollback` unpacked
# into STAGE (beside apply.sh). Makes generation GEN (default: the one before the current) the
# new generation, a copy under a new id, and hands it to apply.sh: the same verify, Quadlet
# check, restart-only-what-differs, one-rename switch, health gate and automatic return on
# failure as a push. The copy carries `rollback` (GEN, the generation it replaced, the time):
# read.sh reports it, so `pulumi preview` shows the host as drifted until the next `up`.
# No confirm-or-revert (T's 4th field 0): the person running it is at the host's console
# or its SSH session.
# GEN may end in "+data" or "+data-force": the datasets go back too (datasets.sh).
set -eu
d=$1
want=${2:-}
data=""
case $want in *+*) data=${want#*+} want=${want%%+*} ;; esac
TAB=$(printf '\t')
lines() { awk -F'\t' -v k="$1" '$1 == k' "$2" 2>/dev/null || true; }
B=/etc/homelab
G=$B/generations
say() { printf '%s\n' "$*"; }
fail() {
    rm -rf "$d"
    say "HOMELAB-ERROR: $*"
    exit 1
}
cur=$(readlink "$B/current" 2>/dev/null || true)
[ -n "$cur" ] || fail "nothing was ever pushed to this host"
# Candidates: real generations, not failed ones, not the "nothing managed" placeholder.
list() { ls -1 "$G" | sort | grep -v -e '\.failed$' -e '^000000-empty$' || true; }
if [ -z "$want" ]; then
    want=$(list | awk -v c="${cur##*/}" '$0 == c { print prev; exit } { prev = $0 }')
    [ -n "$want" ] || fail "no generation before ${cur##*/} to roll back to"
fi
case $want in */* | .* | *.failed) fail "not a generation: $want" ;; esac
# The host before homelab: going there would stop every managed unit and unlink its files.
# Refused; what was there before the first push stays under $G/000000-empty/root.
[ "$want" != 000000-empty ] || fail "000000-empty is the host before homelab's first push, \
not a rollback target (it would stop every managed unit); the files it had then are kept in \
$G/000000-empty/root. Roll back to a pushed generation (\`homelab generations\`)"
[ -f "$G/$want/manifest.tsv" ] || fail "no generation $want (see \`homelab generations\`)"
[ "$G/$want" != "$cur" ] || fail "$want is already the current generation"
case $data in "" | data | data-force) ;; *) fail "not a data mode: $data" ;; esac
. "$d/datasets.sh"
datasets_rollback_plan "$want" "$data" || fail "rollback refused: nothing changed (--force-data destroys those snapshots)"
id=$(date -u +%Y%m%dT%H%M%SZ)-rollback
cp -a "$G/$want/root" "$d/root"
# Secret files are kept in the live generation only (apply.sh scrubs them from the others):
# the rollback takes today's values from it, and its manifest the hashes of those.
awk -F'\t' '$1 == "S" { print $2 }' "$G/$want/manifest.tsv" "$cur/manifest.tsv" | sort -u >"$d/secret-paths"
: >"$d/secret-hashes"
while IFS= read -r p; do
    awk -F'\t' -v p="$p" '$1 == "F" && $2 == p { found = 1 } END { exit !found }' \
        "$G/$want/manifest.tsv" || continue
    [ -f "$cur/root$p" ] || fail "secret file $p is not in the live generation; run \`pulumi up\` instead"
    mkdir -p "$d/root${p%/*}"
    cp -a "$cur/root$p" "$d/root$p"
    printf '%s\t%s\n' "$p" "$(sha256sum <"$d/root$p" | cut -d' ' -f1)" >>"$d/secret-hashes"
done <"$d/secret-paths"
awk -F'\t' -v id="$id" 'BEGIN { OFS = "\t" }
    FILENAME == ARGV[1] { h[$1] = $2; next }
    $1 == "I" { $2 = id }
    $1 == "T" { $4 = 0 }
    $1 == "F" && ($2 in h) { $6 = h[$2] }
    { print }' "$d/secret-hashes" "$G/$want/manifest.tsv" >"$d/manifest.tsv"
rm -f "$d/secret-paths" "$d/secret-hashes"
printf '%s\t%s\t%s\n' "$want" "${cur##*/}" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$d/rollback"
printf '%s' "$id" >"$d/END"
exec sh "$d/apply.sh" "$d"
