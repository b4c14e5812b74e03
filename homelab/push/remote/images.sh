# images.sh — sourced by apply.sh (POSIX sh; podman and coreutils only). The images of the
# new generation (manifest P rows: REF<TAB>UNITS<TAB>PULL_TIMEOUT, REF as the unit's Image=
# names it, REF:TAG@sha256:DIGEST when images.lock pins it):
#   images_prepare  before the switch: pull each one the host does not hold, each within its
#                   time limit; podman checks a pulled manifest against the digest. On failure
#                   it undoes its pulls and returns 1 with IMAGES_ERROR set (one line).
#   images_undo     remove what this push pulled (the prepare phase failed later on).
#   images_prune    after a healthy switch: remove the images homelab pulled that no kept
#                   generation uses. Images homelab never pulled are never touched.
# Registry credentials, when the stack has any, are in $IMG_AUTH (root, 0600), passed with
# --authfile to every pull, never on a command line of their own.
IMG_DIR=$B/images
IMG_PULLED=$IMG_DIR/pulled
IMG_AUTH=$IMG_DIR/auth.json
IMAGES_ERROR=

# What podman said, in one line: its last error line.
img_reason() {
    grep -v '^[[:space:]]*$' "$1" | tail -n 1 | sed 's/^Error: //' | cut -c1-300
}

images_prepare() {
    # SIMULATION ONLY (bench/bench_images.py): the old way, podman pulling in the unit's start.
    [ ! -f /etc/homelab-sim/pull-inside-start ] || return 0
    mkdir -p "$IMG_DIR"
    chmod 0700 "$IMG_DIR"
    : >"$d/images-pulled"
    lines P "$M" >"$d/images"
    while IFS="$TAB" read -r _ ref units limit; do
        podman image exists "$ref" 2>/dev/null && continue
        hook pulling
        rc=0
        # The new generation's credentials (staged, verified, 0600), else the live ones.
        auth=$d/root$IMG_AUTH
        [ -f "$auth" ] || auth=$IMG_AUTH
        if [ -f "$auth" ]; then
            timeout "$limit" podman pull -q --authfile "$auth" "$ref" >"$d/pull.out" 2>&1 || rc=$?
        else
            timeout "$limit" podman pull -q "$ref" >"$d/pull.out" 2>&1 || rc=$?
        fi
        if [ "$rc" != 0 ]; then
            why=$(img_reason "$d/pull.out")
            [ "$rc" != 124 ] || why="no image within ${limit}s (homelab:push.pull_timeout)"
            IMAGES_ERROR="pulling $ref (for $units) from ${ref%%/*} failed: ${why:-exit $rc}"
            images_undo
            return 1
        fi
        # Recorded before anything else can fail: only what is listed here is ever pruned.
        printf '%s\n' "$ref" >>"$d/images-pulled"
        printf '%s\n' "$ref" >>"$IMG_PULLED"
        say "HOMELAB-PULLED $ref"
    done <"$d/images"
    return 0
}

images_undo() {
    [ -f "$d/images-pulled" ] || return 0
    while read -r ref; do podman rmi -f "$ref" >/dev/null 2>&1 || true; done <"$d/images-pulled"
    # What was never kept needs no record.
    if [ -f "$IMG_PULLED" ]; then
        grep -vxF -f "$d/images-pulled" "$IMG_PULLED" >"$IMG_PULLED.tmp" || true
        mv -f "$IMG_PULLED.tmp" "$IMG_PULLED"
    fi
    : >"$d/images-pulled"
}

images_prune() {
    [ -s "$IMG_PULLED" ] || return 0
    for g in "$G"/*; do
        case $g in *.failed) continue ;; esac
        [ -f "$g/manifest.tsv" ] && lines P "$g/manifest.tsv" | cut -f2
    done | sort -u >"$d/images-used"
    sort -u "$IMG_PULLED" | while read -r ref; do
        if grep -qxF "$ref" "$d/images-used"; then
            printf '%s\n' "$ref"
        elif podman rmi "$ref" >/dev/null 2>&1 || ! podman image exists "$ref"; then
            say "HOMELAB-IMAGE-REMOVED $ref" >/dev/null
        else
            printf '%s\n' "$ref" # still used by a container of its own: tried again next time
        fi
    done >"$IMG_PULLED.tmp"
    mv -f "$IMG_PULLED.tmp" "$IMG_PULLED"
}
