#!/usr/bin/env bash
# The sixth RetinaMNIST hypothesis (docs/retinamnist.md, "Pretraining 300 epochs on a GPU"),
# the one a lent GPU makes possible: VICReg pretrained for 300 epochs (15 times the recipe's
# 20, 5 times the 60 tested on the CPU) beats scratch fine-tuned in the same run. Five new
# seeds (10-14) run side by side on the one GPU through bench/retinamnist_epochs.py, each
# seed one `python -m drac_ssl.train` job as a user would run it. The device rules (15
# minutes of device time in all, at most 10 per command) are those of bench/GPU_CHECK.md.
#
#   here:    bash bench/gpu_retinamnist.sh prepare         wheels -> .whl/, the .npz -> .device_data/
#   device:  bash bench/gpu_retinamnist.sh run             install, start the runner detached, wait
#                                                          (at most GPU_RM_CALL_S), copy results to $OUT;
#                                                          carry=['.whl', '.device_data'] (refused without them)
#   device:  bash bench/gpu_retinamnist.sh wait [SECONDS]  a later call: wait again, copy to $OUT
#   here:    bash bench/gpu_retinamnist.sh cpu-smoke DIR   the same flow, tiny, on this CPU
#
# The runner (setsid: it outlives the command while the machine is held) works in
# GPU_RM_WORK (default /tmp/gpu_retinamnist; never $OUT, which the device tool empties before
# every command) and runs, each step under `timeout` so that it ends by start +
# GPU_RM_BUDGET_S (default 660 s: the first call's 570 s and a second call's wait):
#   0. install: pip-installs the carried wheels (.whl/) into WORK/site;
#   1. long: bench.retinamnist_epochs --epochs 300 --seeds 10,...,14 --own-scratch, five jobs
#      at once, with the GPU settings below (the hypothesis; its result file
#      retinamnist_epochs300_gpu.json);
#   2. short, only if GPU_RM_SHORT_MIN_S (default 150) seconds are left: the same with
#      --epochs 20, the recipe's length on the same GPU settings, so that a difference of the
#      300-epoch runs can be told from one of the GPU (bf16, batched augmentation) itself.
# The GPU settings (the same in both steps, recorded in the JSON's "overrides"):
#   run.device=cuda pretrain.augment.on_gpu=true (the fundus recipe's views made in batches on
#   the device: the CPU path's 2 s of albumentations per epoch would take 10 minutes for 300
#   epochs) pretrain.num_workers=2 (the fine-tuning's DataLoader workers: 5 jobs x 3 processes
#   on 16 cores) pretrain.checkpoint_every=50 pretrain.monitor_images=0 (no UMM here: the
#   rate-reduction monitor and its checkpoints serve nothing).
set -u
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODE=${1:-}
WORK=${GPU_RM_WORK:-/tmp/gpu_retinamnist}
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 NO_ALBUMENTATIONS_UPDATE=1
# log, step, runner_alive, start_runner, follow_progress, carry_wheels, check_carry_ignored,
# write_code_stamp, use_code_stamp, code_meta, refuse_empty_shared_data
. "$REPO/bench/gpu_lib.sh" || exit 2
refuse_empty_shared_data
SEEDS=${GPU_RM_SEEDS:-10,11,12,13,14}
EPOCHS=${GPU_RM_EPOCHS:-300}
DEVICE_SETTINGS=${GPU_RM_SETTINGS:-run.device=cuda pretrain.augment.on_gpu=true pretrain.num_workers=2 pretrain.checkpoint_every=50 pretrain.monitor_images=0}
HYPOTHESIS="VICReg pretrained for 300 epochs (15 times the recipe's 20; possible on a GPU only) beats scratch fine-tuned in the same run: the mean difference over seeds 10-14 above twice its standard error in accuracy and in AUC OvR (docs/retinamnist.md, fixed before the runs)"

# bench ARM EPOCHS LIMIT HYPOTHESIS: one arm (five seeds at once)
bench_arm() {
    local arm=$1 epochs=$2 limit=$3 hypothesis=$4 sets=() s
    for s in $DEVICE_SETTINGS ${GPU_RM_EXTRA:-}; do sets+=(--set "$s"); done
    step "$arm" "$limit" "$PY" -m bench.retinamnist_epochs --epochs "$epochs" --seeds "$SEEDS" --own-scratch \
        --parallel 5 --runs-root "$WORK/runs" --out-dir "$WORK/res" --tag gpu "${sets[@]}" \
        --hypothesis "$hypothesis"
}

runner() {
    local budget=${GPU_RM_BUDGET_S:-660} t0
    t0=$(date +%s)
    DEADLINE=$((t0 + budget))
    mkdir -p "$WORK/res" "$WORK/logs" "$WORK/runs"
    echo $$ >"$WORK/runner.pid"
    left() { echo $((DEADLINE - $(date +%s))); }
    log "runner start: budget ${budget}s, seeds $SEEDS, repo $REPO"
    {
        code_meta
        nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || true
        "$PY" -c "import sys, torch; print(sys.version.split()[0], torch.__version__, torch.version.cuda)" 2>&1
        echo "cpus: $(getconf _NPROCESSORS_ONLN)"
    } >"$WORK/res/meta.txt"
    local site=""
    if [ "${GPU_RM_INSTALL:-1}" = 1 ]; then
        site=$WORK/site
        step install 120 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
            --upgrade --target "$site" "$REPO"/.whl/*.whl
    fi
    export PYTHONPATH="$REPO${site:+:$site}" DRAC_SSL_SHARED_DATA=${DRAC_SSL_SHARED_DATA:-$REPO/.device_data}
    cd "$REPO" || exit 1
    bench_arm long "$EPOCHS" "$(left)" "$HYPOTHESIS"
    if [ "$(left)" -ge "${GPU_RM_SHORT_MIN_S:-150}" ]; then
        bench_arm short 20 "$(left)" "none (descriptive arm of hypothesis 6): the recipe's 20 epochs on the same GPU settings, to tell a difference of the 300-epoch runs from one of the GPU settings (bf16, views made on the device)"
    else
        log "skip short: $(left)s left"
    fi
    log "ALL DONE in $(($(date +%s) - t0))s"
    touch "$WORK/DONE"
}

collect() {  # the result JSONs, the progress log and an archive of the runs' small files
    local out=$1
    mkdir -p "$out"
    cp "$WORK/progress.log" "$WORK"/res/*.json "$out/" 2>/dev/null
    (cd "$WORK" && find runs -type f \( -name '*.json' -o -name '*.csv' -o -name '*.md' -o -name '*.log' \
        -o -name '*.jsonl' -o -name '*.yaml' \) -size -2M -print0 2>/dev/null |
        tar czf "$out/gpu_retinamnist_runs.tar.gz" --null -T - progress.log logs res/meta.txt 2>/dev/null)
    echo "---- files in $out:"
    ls -la "$out"
    grep -h '^\[bench\]' "$WORK"/logs/long.log "$WORK"/logs/short.log 2>/dev/null | tail -20
}

wait_and_collect() {  # wait_and_collect UNTIL_EPOCH_SECONDS
    follow_progress "$1"
    # where each seed's job is (its console log's last line)
    for f in "$WORK"/runs/*.log; do [ -f "$f" ] && echo "$(basename "$f"): $(tail -c 300 "$f" | tr '\r' '\n' | tail -1)"; done
    if [ -e "$WORK/DONE" ]; then
        echo "runner finished"
    elif runner_alive; then
        echo "runner still running (pid $(cat "$WORK/runner.pid")): call 'bash bench/gpu_retinamnist.sh wait' within 30 s"
    else
        echo "runner ended without finishing: see the archive's logs/"
    fi
    collect "$OUT"
}

case "$MODE" in
prepare)
    shared=$(cd "$REPO/.." && pwd)/shared
    mkdir -p "$REPO/.device_data/retinamnist"
    carry_wheels || exit 1
    cp "$shared/data/retinamnist/retinamnist_public.npz" "$REPO/.device_data/retinamnist/" || exit 1
    check_carry_ignored || exit 1
    write_code_stamp || exit 1
    du -sh "$REPO/.whl" "$REPO/.device_data"
    echo "device call: run(command='bash bench/gpu_retinamnist.sh run', carry=['.whl', '.device_data'], timeout_s=600)"
    ;;
run)
    [ -n "${OUT:-}" ] || { echo "OUT is unset: 'run' is the device-tool command"; exit 2; }
    call_end=$(($(date +%s) + ${GPU_RM_CALL_S:-570}))
    if ! runner_alive; then  # a fresh start needs what 'prepare' copied, carried to this machine
        npz=${DRAC_SSL_SHARED_DATA:-$REPO/.device_data}/retinamnist/retinamnist_public.npz
        if [ "${GPU_RM_INSTALL:-1}" = 1 ] && ! compgen -G "$REPO/.whl/*.whl" >/dev/null || [ ! -f "$npz" ]; then
            echo "no wheels in .whl/ or no $npz: run 'bash bench/gpu_retinamnist.sh prepare' here and" \
                "carry=['.whl', '.device_data'] in the device call"
            exit 2
        fi
    fi
    use_code_stamp
    if runner_alive; then
        echo "a runner is already running (pid $(cat "$WORK/runner.pid")); waiting for it"
    else
        start_runner "$REPO/bench/gpu_retinamnist.sh"
    fi
    wait_and_collect "$call_end"
    ;;
wait)
    [ -n "${OUT:-}" ] || { echo "OUT is unset: 'wait' is a device-tool command"; exit 2; }
    wait_and_collect $(($(date +%s) + ${2:-200}))
    ;;
runner)
    runner
    ;;
cpu-smoke)
    dir=${2:?usage: bash bench/gpu_retinamnist.sh cpu-smoke DIR}
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    WORK=$dir/work
    rm -rf "$WORK"
    mkdir -p "$WORK"
    [ -x "$REPO/.venv/bin/python" ] && PY=$REPO/.venv/bin/python
    export PYTHON=$PY GPU_RM_WORK=$WORK GPU_RM_INSTALL=0 OMP_NUM_THREADS=1 GPU_RM_SEEDS=10,11 GPU_RM_EPOCHS=2
    export GPU_RM_SHORT_MIN_S=0 GPU_RM_BUDGET_S=${GPU_RM_BUDGET_S:-1800}
    # here the data is read where it lies (../shared/data), 'prepare' is for the device only
    export DRAC_SSL_SHARED_DATA=${DRAC_SSL_SHARED_DATA:-$(cd "$REPO/.." && pwd)/shared/data}
    export GPU_RM_SETTINGS="run.device=cpu pretrain.augment.on_gpu=true pretrain.num_workers=2 pretrain.checkpoint_every=50 pretrain.monitor_images=0"
    export GPU_RM_EXTRA="pretrain.max_steps_per_epoch=2 finetune.epochs=1 finetune.n_boot=20 pretrain.expander=64-64"
    bash "$REPO/bench/gpu_retinamnist.sh" runner >"$WORK/runner.log" 2>&1
    OUT=$dir/out collect "$dir/out"
    [ -e "$WORK/DONE" ] && ls "$dir"/out/retinamnist_epochs*.json >/dev/null
    ;;
*)
    sed -n '2,14p' "$0"
    exit 2
    ;;
esac
