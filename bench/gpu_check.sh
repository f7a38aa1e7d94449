#!/usr/bin/env bash
# The one prepared GPU check of issue #15: bench/GPU_CHECK.md says which device-tool calls to
# make. A lent machine gives 15 minutes of device time in all (start, idle and transfers
# included) and at most 10 minutes per command, so everything below is budgeted in seconds.
#
#   here:    bash bench/gpu_check.sh prepare          wheels -> .whl/, CIFAR-10 archive -> .device_data/
#   device:  bash bench/gpu_check.sh run              install, start the runner detached, wait for it
#                                                     (at most GPU_CHECK_CALL_S), copy the results to $OUT
#   device:  bash bench/gpu_check.sh wait [SECONDS]   a later call: wait for that runner, copy to $OUT
#   here:    bash bench/gpu_check.sh cpu-smoke DIR    every step, tiny, on the CPU, synchronously;
#                                                     the same result files in DIR/out
#
# The runner (started with setsid, so it outlives the command that started it while the
# machine is held) works in GPU_CHECK_WORK (default /tmp/gpu_check; never $OUT, which the
# device tool empties before every command) and runs, each step under `timeout` so that it
# ends by its deadline (start + GPU_CHECK_BUDGET_S, default 540 s):
#   0. setup: pip-installs the carried wheels (.whl/) into WORK/site, decodes the carried
#      CIFAR-10 archive (.device_data/cifar10/cifar10_jpeg.tar.xz) into WORK/data/cache;
#   1. probe: bench.pretrain_throughput, real pipeline vs model-only ceiling in the same
#      run, OCTA 224 px (CPU and GPU augmentation) and CIFAR-10 32 px (compiled; this also
#      fills torch.compile's on-disk cache for step 3); a host-sync check of the loop body;
#   2. plan: the CIFAR-10 epochs that fit in what is left (100 if they fit; a shorter run
#      keeps a complete schedule and is reported under its own epoch count);
#   3. cifar: bench.cifar10_vicreg (pretraining, k-NN every 5 epochs, final k-NN and linear
#      probe, curve, wall time);
#   4. umm: bench.umm_ablation, UMM vs its fair control from that checkpoint, if at least
#      GPU_CHECK_UMM_MIN_S (default 120 s) are left.
# Progress goes to WORK/progress.log; each step's output to WORK/logs/<step>.log; results to
# WORK/res/. Copied to $OUT (at most 8 files): progress.log, summary.txt, the result JSONs
# and curve, and gpu_check_<tag>.tar.gz with everything (logs, metrics.jsonl, meta).
set -u
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODE=${1:-}
WORK=${GPU_CHECK_WORK:-/tmp/gpu_check}
PY=${PYTHON:-python3}
CIFAR=${GPU_CHECK_CIFAR:-$REPO/.device_data/cifar10/cifar10_jpeg.tar.xz}
export PYTHONUNBUFFERED=1 NO_ALBUMENTATIONS_UPDATE=1
# log, step, runner_alive, start_runner, follow_progress, carry_wheels, check_carry_ignored,
# write_code_stamp, use_code_stamp, code_meta, refuse_empty_shared_data
. "$REPO/bench/gpu_lib.sh" || exit 2
refuse_empty_shared_data

gpu_tag() {  # "NVIDIA H200" -> h200; "NVIDIA H100 80GB HBM3" -> h100
    local name
    name=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
    local tag
    tag=$(echo "$name" | tr '[:upper:]' '[:lower:]' | grep -oE '[a-z][0-9]{2,4}' | head -1)
    echo "${tag:-gpu}"
}

runner() {
    TAG=${GPU_CHECK_TAG:-$(gpu_tag)}
    local budget=${GPU_CHECK_BUDGET_S:-540}
    local t0
    t0=$(date +%s)
    DEADLINE=$((t0 + budget))
    RES=$WORK/res
    mkdir -p "$RES" "$WORK/logs"
    echo $$ >"$WORK/runner.pid"
    left() { echo $((DEADLINE - $(date +%s))); }
    cap() { local l; l=$(left); echo $(($1 < l ? $1 : l)); }
    log "runner start: tag $TAG, budget ${budget}s, repo $REPO"
    {
        code_meta
        nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv 2>&1 || true
        "$PY" -c "import sys, torch; print(sys.version.split()[0], torch.__version__, torch.version.cuda)" 2>&1
        echo "cpus: $(getconf _NPROCESSORS_ONLN)"
    } >"$RES/meta_$TAG.txt"

    # 0. setup
    local site=""
    if [ "${GPU_CHECK_INSTALL:-1}" = 1 ]; then
        site=$WORK/site
        step install "$(cap 120)" "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
            --upgrade --target "$site" "$REPO"/.whl/*.whl
    fi
    export PYTHONPATH="$REPO${site:+:$site}"
    cd "$WORK" || exit 1  # relative data/ paths (CIFAR cache, phantom set) land in WORK
    step decode "$(cap 120)" "$PY" -c "
from drac_ssl.datasets import load_generic
for split in ('train', 'test'):
    d = load_generic('cifar10', '$CIFAR', split, cache_dir='data/cache')
    print(split, d.images.shape)"

    # 1. probe
    local probe=$RES/pretrain_throughput_$TAG.json
    # shellcheck disable=SC2086  # word-split the settings on purpose
    step probe "$(cap "${GPU_CHECK_PROBE_S:-240}")" "$PY" -m bench.pretrain_throughput --cifar "$CIFAR" \
        --out-dir "$RES" --name "pretrain_throughput_$TAG" ${GPU_CHECK_PROBE_ARGS:---octa-train 320 --octa-test 0} \
        ${GPU_CHECK_PROBE_OVERRIDES:-}

    # 2. plan
    local epochs="" avail plan compile_override=""
    avail=$(($(left) - 10))  # UMM runs only if time is left after the CIFAR run: it comes second
    if [ -f "$probe" ]; then
        plan=$("$PY" "$REPO/bench/gpu_check.py" plan --probe "$probe" --seconds "$avail" \
            --max-epochs "${GPU_CHECK_EPOCHS:-100}" --min-epochs "${GPU_CHECK_MIN_EPOCHS:-10}")
        epochs=$(echo "$plan" | sed -n 's/.*"epochs": \([0-9]*\).*/\1/p')
        log "plan: $plan"
        case "$plan" in *'"compile": "false"'*) compile_override=pretrain.compile=false ;; esac
    fi
    if [ -z "${epochs:-}" ]; then
        epochs=${GPU_CHECK_FALLBACK_EPOCHS:-30}
        log "plan: no usable probe result; fallback $epochs epochs"
    fi

    # 3. cifar
    local run_dir=$WORK/runs/cifar10
    if [ "$epochs" -gt 0 ]; then
        # shellcheck disable=SC2086
        step cifar "$(left)" "$PY" -m bench.cifar10_vicreg --epochs "$epochs" --data "$CIFAR" \
            --run-dir "$run_dir" --out-dir "$RES" --name "cifar10_vicreg_$TAG" ${GPU_CHECK_CIFAR_ARGS:-} \
            pretrain.knn_every=5 $compile_override ${GPU_CHECK_CIFAR_OVERRIDES:-}
        cp "$run_dir/pretrain/metrics.jsonl" "$RES/cifar10_metrics_$TAG.jsonl" 2>/dev/null
    else
        log "skip cifar: not even ${GPU_CHECK_MIN_EPOCHS:-10} epochs fit in ${avail}s"
    fi

    # 4. umm
    local checkpoint=$run_dir/pretrain/vicreg_model.safetensors
    if [ -f "$checkpoint" ] && [ "$(left)" -ge "${GPU_CHECK_UMM_MIN_S:-120}" ]; then
        # shellcheck disable=SC2086
        step umm "$(left)" "$PY" -m bench.umm_ablation --checkpoint "$checkpoint" --data "$CIFAR" \
            --run-root "$WORK/runs/umm" --out-dir "$RES" --variants control,umm --name "umm_ablation_$TAG" \
            ${GPU_CHECK_UMM_ARGS:-} umm.max_steps_per_epoch=100 ${GPU_CHECK_UMM_OVERRIDES:-}
    else
        log "skip umm: checkpoint $( [ -f "$checkpoint" ] && echo present || echo absent), $(left)s left"
    fi
    "$PY" "$REPO/bench/gpu_check.py" summary "$RES" >"$RES/summary_$TAG.txt" 2>&1
    log "ALL DONE in $(($(date +%s) - t0))s"
    touch "$WORK/DONE"
}

collect() {  # copy what exists into $OUT: at most 8 files, none in sub-folders
    local out=$1 tag
    mkdir -p "$out"
    tag=$(sed -n 's/.*runner start: tag \([^,]*\),.*/\1/p' "$WORK/progress.log" 2>/dev/null | tail -1)
    tag=${tag:-gpu}
    cp "$WORK/progress.log" "$out/" 2>/dev/null
    for f in "pretrain_throughput_$tag.json" "cifar10_vicreg_$tag.json" "cifar10_vicreg_${tag}_curve.png" \
        "umm_ablation_$tag.json" "umm_ablation_$tag.png"; do
        cp "$WORK/res/$f" "$out/" 2>/dev/null
    done
    (cd "$WORK" && tar czf "$out/gpu_check_$tag.tar.gz" progress.log runner.log res logs 2>/dev/null)
    PYTHONPATH=$REPO "$PY" "$REPO/bench/gpu_check.py" summary "$WORK/res" >"$out/summary.txt" 2>&1
    echo "---- files in $out:"
    ls -la "$out"
    echo "---- summary"
    cat "$out/summary.txt"
}

wait_and_collect() {  # wait_and_collect UNTIL_EPOCH_SECONDS
    follow_progress "$1"
    if [ -e "$WORK/DONE" ]; then
        echo "runner finished"
    elif runner_alive; then
        echo "runner still running (pid $(cat "$WORK/runner.pid")): call 'bash bench/gpu_check.sh wait' within 30 s to keep the machine"
    else
        echo "runner ended without finishing: see runner.log and logs/ in the archive"
    fi
    collect "$OUT"
}

case "$MODE" in
prepare)
    shared=$(cd "$REPO/.." && pwd)/shared
    mkdir -p "$REPO/.device_data/cifar10"
    carry_wheels || exit 1
    cp "$shared/data/cifar10/cifar10_jpeg.tar.xz" "$REPO/.device_data/cifar10/" || exit 1
    check_carry_ignored || exit 1
    write_code_stamp || exit 1
    du -sh "$REPO/.whl" "$REPO/.device_data"
    echo "tracked files: $(git -C "$REPO" ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1) bytes (all must stay under 64 MiB)"
    echo "device call: run(command='bash bench/gpu_check.sh run', carry=['.whl', '.device_data'], timeout_s=600)"
    ;;
run)
    [ -n "${OUT:-}" ] || { echo "OUT is unset: 'run' is the device-tool command (see bench/GPU_CHECK.md)"; exit 2; }
    call_end=$(($(date +%s) + ${GPU_CHECK_CALL_S:-570}))
    use_code_stamp
    if runner_alive; then
        echo "a runner is already running (pid $(cat "$WORK/runner.pid")); waiting for it"
    else
        start_runner "$REPO/bench/gpu_check.sh"
    fi
    wait_and_collect "$call_end"
    ;;
wait)
    [ -n "${OUT:-}" ] || { echo "OUT is unset: 'wait' is a device-tool command"; exit 2; }
    wait_and_collect $(($(date +%s) + ${2:-300}))
    ;;
runner)
    runner
    ;;
cpu-smoke)
    dir=${2:?usage: bash bench/gpu_check.sh cpu-smoke DIR}
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    WORK=$dir/work
    rm -rf "$WORK"
    mkdir -p "$WORK"
    [ -x "$REPO/.venv/bin/python" ] && PY=$REPO/.venv/bin/python
    export PYTHON=$PY GPU_CHECK_WORK=$WORK GPU_CHECK_TAG=cpu_smoke GPU_CHECK_INSTALL=0 OMP_NUM_THREADS=1
    export GPU_CHECK_CIFAR=$WORK/fake/cifar10_jpeg.tar.xz GPU_CHECK_BUDGET_S=${GPU_CHECK_BUDGET_S:-3600}
    export GPU_CHECK_EPOCHS=2 GPU_CHECK_MIN_EPOCHS=1 GPU_CHECK_UMM_MIN_S=0
    export GPU_CHECK_PROBE_ARGS="--steps 2 --warmup 1 --octa-train 8 --octa-test 0 --octa-source synthetic"
    tiny="run.device=cpu pretrain.expander=64-64"
    export GPU_CHECK_PROBE_OVERRIDES="$tiny pretrain.batch_size=4 pretrain.augment.image_size=32 pretrain.num_workers=1"
    export GPU_CHECK_CIFAR_ARGS="--probe-epochs 2"
    export GPU_CHECK_CIFAR_OVERRIDES="$tiny pretrain.batch_size=8 pretrain.max_steps_per_epoch=2 pretrain.knn_every=1 pretrain.warmup_epochs=1"
    export GPU_CHECK_UMM_ARGS="--probe-epochs 2"
    export GPU_CHECK_UMM_OVERRIDES="$tiny umm.batch_size=8 umm.max_steps_per_epoch=2"
    CIFAR=$GPU_CHECK_CIFAR
    PYTHONPATH=$REPO "$PY" "$REPO/bench/gpu_check.py" fake-cifar "$CIFAR" >/dev/null || exit 1
    bash "$REPO/bench/gpu_check.sh" runner >"$WORK/runner.log" 2>&1
    collect "$dir/out"
    [ -e "$WORK/DONE" ]
    ;;
*)
    sed -n '2,13p' "$0"
    exit 2
    ;;
esac
