# Shell functions shared by the prepared GPU scripts (bench/gpu_check.sh,
# bench/gpu_retinamnist.sh), sourced, never run: each script sources it from its own folder
# (`. "$(dirname "${BASH_SOURCE[0]}")/gpu_lib.sh"`), so it works from any current folder,
# on the device machine as here.
#
# The caller sets, before calling these functions:
#   REPO  the repository root (absolute);
#   WORK  the runner's working folder: WORK/progress.log, WORK/logs/<step>.log,
#         WORK/runner.pid, WORK/runner.log, WORK/DONE.
# shellcheck shell=bash

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
