# Shell functions shared by the prepared GPU scripts (bench/gpu_check.sh,
# bench/gpu_retinamnist.sh), sourced, never run: each script sources it from the repository
# it lives in (`. "$REPO/bench/gpu_lib.sh" || exit 2`, REPO computed from its own path), so it
# works from any current folder, on the device machine as here, and stops when the lib is missing.
#
# The caller sets, before calling these functions:
#   REPO  the repository root (absolute);
#   WORK  the runner's working folder: WORK/progress.log, WORK/logs/<step>.log,
#         WORK/runner.pid, WORK/runner.log, WORK/DONE;
#   PY    the Python interpreter (optional, default python3; write_code_stamp runs the
#         stdlib-only drac_ssl/code_stamp.py of the repository this lib lives in with it).
# shellcheck shell=bash

# refuse_empty_shared_data: exit 2 when DRAC_SSL_SHARED_DATA is set but empty or blank (the
# benches' bench/common.py refuses it too, as the tests do; ${VAR:-default} took it for unset).
refuse_empty_shared_data() {
    if [ -n "${DRAC_SSL_SHARED_DATA+set}" ] && [ -z "${DRAC_SSL_SHARED_DATA//[[:space:]]/}" ]; then
        echo "DRAC_SSL_SHARED_DATA is set but empty: set it to the folder that holds retinamnist/, cifar10/, ..." \
            "(the team's shared/data), or unset it"
        exit 2
    fi
}

log() { echo "$(date -u +%H:%M:%S) $*" | tee -a "$WORK/progress.log"; }

# step NAME SECONDS COMMAND...: run one step with a time limit, log its exit code (124: timed
# out), never stop the runner; a limit of 5 s or less skips the step (returns 1).
step() {
    local name=$1 limit=$2
    shift 2
    if [ "$limit" -le 5 ]; then
        log "skip $name: ${limit}s left"
        return 1
    fi
    log "start $name (limit ${limit}s)"
    local t0 rc
    t0=$(date +%s)
    timeout --signal=TERM --kill-after=15 "$limit" "$@" >"$WORK/logs/$name.log" 2>&1
    rc=$?
    log "end $name rc=$rc after $(($(date +%s) - t0))s"
    return $rc
}

runner_alive() {
    [ -f "$WORK/runner.pid" ] && kill -0 "$(cat "$WORK/runner.pid")" 2>/dev/null
}

# start_runner SCRIPT: a fresh WORK and SCRIPT's `runner` mode started detached (setsid: it
# outlives the device-tool command while the machine is held), its output in WORK/runner.log.
start_runner() {
    rm -rf "$WORK"
    mkdir -p "$WORK"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    setsid nohup bash "$1" runner >"$WORK/runner.log" 2>&1 </dev/null &
    sleep 2
}

# follow_progress UNTIL_EPOCH_SECONDS: print the new lines of WORK/progress.log every 5 s
# until the runner is done (WORK/DONE), has ended, or the time is up.
follow_progress() {
    local until=$1 seen=0 n
    while [ ! -e "$WORK/DONE" ] && [ "$(date +%s)" -lt "$until" ] && runner_alive; do
        sleep 5
        n=$(wc -l <"$WORK/progress.log" 2>/dev/null || echo 0)
        if [ "$n" -gt "$seen" ]; then
            tail -n $((n - seen)) "$WORK/progress.log"
            seen=$n
        fi
    done
}

# carry_wheels: the GPU wheels of ../shared into REPO/.whl/ (carried to the device).
carry_wheels() {
    local shared
    shared=$(cd "$REPO/.." && pwd)/shared
    mkdir -p "$REPO/.whl"
    cp "$shared"/wheels-gpu-py312/*.whl "$REPO/.whl/"
}

# check_carry_ignored: fails (1) with a message unless .whl/ and .device_data/ are git-ignored
# (the device tool carries ignored paths only when named; tracked ones count against 64 MiB).
check_carry_ignored() {
    { git -C "$REPO" check-ignore -q .whl && git -C "$REPO" check-ignore -q .device_data; } || {
        echo ".whl/ or .device_data/ is not git-ignored: add them to .gitignore or .git/info/exclude"
        return 1
    }
}

# code_stamp_path: where 'prepare' writes the code stamp and the device run looks for it:
# GPU_CODE_STAMP, else REPO/.device_data/code_version.txt (carried with the data).
code_stamp_path() { echo "${GPU_CODE_STAMP:-$REPO/.device_data/code_version.txt}"; }

# write_code_stamp [FILE]: the code this checkout holds now, for the result files of a run on
# the device, whose copy of .git may name an older commit (default FILE: code_stamp_path).
# Lines: `commit <full hash>`, `written_utc <ISO 8601>`, then one `changed XY PATH` per
# tracked file that differs from the commit (`git status --porcelain -z` v1, so that no path
# is C-quoted; renames as two files, untracked files left out). Beside it, code_files.sha256:
# the sha256 of every tracked code file as it is now (`sha256sum` lines, paths relative to
# REPO), which use_code_stamp checks on the device. Code: not result files, documents and the
# other NOT_CODE paths of drac_ssl/code_stamp.py, whose write_code_paths chooses them (one
# definition; both checks, here in shell and there in Python, check exactly the files
# listed). drac_ssl/code_stamp.py (read_code_stamp) reads both when DRAC_SSL_CODE_STAMP
# names the stamp.
write_code_stamp() {
    local file=${1:-$(code_stamp_path)} commit changes sums code_root
    # the drac_ssl of this lib's repository (REPO may be another checkout)
    code_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd) || return 1
    commit=$(git -C "$REPO" rev-parse HEAD) || { echo "write_code_stamp: $REPO is not a git checkout"; return 1; }
    changes=$(set -o pipefail; git -C "$REPO" status --porcelain -z --no-renames --untracked-files=no | tr '\0' '\n') ||
        return 1
    mkdir -p "$(dirname "$file")"
    sums="$(dirname "$file")/code_files.sha256"
    {
        echo "# the code carried to the device (bench/gpu_lib.sh write_code_stamp; read by drac_ssl/code_stamp.py)"
        echo "commit $commit"
        echo "written_utc $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        if [ -n "$changes" ]; then printf '%s\n' "$changes" | sed 's/^/changed /'; fi
    } >"$file"
    # the tracked code files; a tracked file deleted here has no sum (the stamp lists it as changed)
    (set -o pipefail; cd "$REPO" && git ls-files -z |
        "${PY:-python3}" -I -c 'import sys; sys.path.insert(0, sys.argv[1])
from drac_ssl.code_stamp import write_code_paths
write_code_paths(sys.stdin.buffer, sys.stdout.buffer)' "$code_root" |
        while IFS= read -r -d '' f; do
            if [ -f "$f" ]; then printf '%s\0' "$f"; fi
        done | xargs -0 -r sha256sum --) >"$sums" || {
        echo "write_code_stamp: cannot write $sums (git, ${PY:-python3} or sha256sum failed)"
        return 1
    }
    echo "code stamp: $file (commit ${commit:0:7}, $(printf '%s' "$changes" | grep -c '^') changed tracked file(s)," \
        "$(grep -c '' "$sums") code file sums in $sums)"
}

# use_code_stamp: export DRAC_SSL_CODE_STAMP when the stamp (code_stamp_path) is there and the
# tree matches its file sums (code_files.sha256 beside it, `sha256sum -c`: no git needed;
# exactly the code files listed there, as drac_ssl/code_stamp.py differing_files checks), so
# that the result files name the code carried, not the commit of the device copy's .git. When
# a file differs (a stamp left by an earlier 'prepare', for other code) or the sums are
# missing, the stamp is not used: the files that differ are printed, DRAC_SSL_CODE_STAMP_UNMATCHED
# names it (the result files record `code_stamp.matches_tree: false`) and the commit is git's.
# Called by the device mode `run` only: here git knows best.
use_code_stamp() {
    local file sums bad
    file=$(code_stamp_path)
    sums="$(dirname "$file")/code_files.sha256"
    unset DRAC_SSL_CODE_STAMP DRAC_SSL_CODE_STAMP_UNMATCHED
    if [ ! -f "$file" ]; then
        echo "no $file: the result files will name the commit of the device copy's .git (run 'prepare' here first)"
        return 0
    fi
    if [ ! -f "$sums" ]; then
        export DRAC_SSL_CODE_STAMP_UNMATCHED=$file
        echo "code stamp $file has no $sums (written before the sums): not used; the result files will" \
            "name the commit of the device copy's .git (run 'prepare' here again)"
        return 0
    fi
    bad=$(cd "$REPO" && sha256sum --quiet -c "$sums" 2>/dev/null | sed 's/: FAILED.*$//')
    if [ -n "$bad" ]; then
        export DRAC_SSL_CODE_STAMP_UNMATCHED=$file
        echo "code stamp $file does not match this tree ($(printf '%s\n' "$bad" | grep -c '^') file(s) differ" \
            "from $sums): not used; the result files will name the commit of the device copy's .git" \
            "(run 'prepare' here again). Differing:"
        printf '%s\n' "$bad" | head -n 20 | sed 's/^/  /'
        return 0
    fi
    export DRAC_SSL_CODE_STAMP=$file
    echo "code stamp: commit $(sed -n 's/^commit \(.......\).*/\1/p' "$file"), written" \
        "$(sed -n 's/^written_utc //p' "$file") ($file, matches the tree); the copy's .git says" \
        "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo nothing)"
}

# code_meta: two lines for a run's meta file: the code (the stamp's commit when
# DRAC_SSL_CODE_STAMP is set, else git's) and how many tracked files differ from it.
code_meta() {
    if [ -n "${DRAC_SSL_CODE_STAMP:-}" ] && [ -f "$DRAC_SSL_CODE_STAMP" ]; then
        echo "git: $(sed -n 's/^commit \(.......\).*/\1/p' "$DRAC_SSL_CODE_STAMP") (from $DRAC_SSL_CODE_STAMP, written $(sed -n 's/^written_utc //p' "$DRAC_SSL_CODE_STAMP"))"
        echo "dirty: $(grep -c '^changed ' "$DRAC_SSL_CODE_STAMP")"
    else
        echo "git: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
        echo "dirty: $(git -C "$REPO" status --porcelain 2>/dev/null | grep -vc '^??' || true)"
    fi
}
