#!/usr/bin/env bash
# Every GPU figure in bench/results/ comes from this script, run on one lent H100.
#
#   bash bench/gpu_session.sh OUT_DIR [STEP ...]
#
# Run from the repository root with the data copied into .device_data/ (git-ignored):
#   .device_data/cifar10/cifar10_jpeg.tar.xz   (from ../shared/data/cifar10)
#   .device_data/mnist/mnist_{train10k,test}.npz (from ../shared/data/mnist)
#   .device_fashion/fashion_mnist/*-ubyte.gz     (from ../shared/data/fashion_mnist; 29 MiB)
# The carry limit of one device call is 64 MiB: carry [".whl", ".device_data"] in the first
# call and [".device_fashion"] in a later one (ignored paths already on the machine stay).
# STEPs, in the default order: throughput feed cifar pipeline inference umm layers mnist fashion
# layers_umm; cifar_std25 (an ablation) runs only when named. umm, layers, mnist and fashion run side by side on the GPU (their accuracy figures do not depend on
# wall time; their own timings are then shared-GPU timings); the others run alone, so their
# timings are clean. layers_umm (per-layer clusters of VICReg vs the fair control vs UMM) waits
# for umm. Results go to OUT_DIR/res/*.json, logs to OUT_DIR/<step>.log, progress
# (start/end/exit code per step) to OUT_DIR/progress.log.
#
# On the lent machine the whole session takes longer than one 10-minute command: start it
# with setsid in the background (it keeps running while the machine is held), poll it from
# the next commands, and copy OUT_DIR/res into $OUT at the end of each. OUT_DIR must not be
# $OUT itself: the device tool empties $OUT at the start of every command.
set -u
OUT=$(realpath -m "${1:?usage: bash bench/gpu_session.sh OUT_DIR [STEP ...]}")
shift
STEPS=${*:-throughput feed cifar pipeline inference umm layers mnist fashion layers_umm}
RES=$OUT/res
RUNS=${RUNS:-$OUT/runs}
CIFAR=.device_data/cifar10/cifar10_jpeg.tar.xz
mkdir -p "$RES" "$RUNS"
export PYTHONUNBUFFERED=1 NO_ALBUMENTATIONS_UPDATE=1
PY=${PYTHON:-python3}

log() { echo "$(date -u +%H:%M:%S) $*" >>"$OUT/progress.log"; }
step() {  # step NAME COMMAND...: run one step, log its exit code, never stop the session
    local name=$1
    shift
    log "start $name"
    "$@" >"$OUT/$name.log" 2>&1
    log "end $name rc=$?"
}
wanted() { [[ " $STEPS " == *" $1 "* ]]; }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >"$OUT/gpu.txt" 2>&1
log "session start: $STEPS"

wanted throughput && step throughput $PY -m bench.pretrain_throughput --cifar "$CIFAR" --out-dir "$RES"
wanted feed && step feed $PY -m bench.feed_throughput --workers 7,15 --out-dir "$RES"
wanted cifar && step cifar $PY -m bench.cifar10_vicreg --epochs 100 --data "$CIFAR" \
    --run-dir "$RUNS/cifar10" --out-dir "$RES" pretrain.knn_every=5
# the same run with the official variance weight (25): what the solo-learn correction changes
wanted cifar_std25 && step cifar_std25 $PY -m bench.cifar10_vicreg --epochs 100 --data "$CIFAR" \
    --run-dir "$RUNS/cifar10_std25" --out-dir "$RES" --name cifar10_vicreg_std25 pretrain.knn_every=5 \
    pretrain.loss.std_coeff=25
wanted pipeline && step pipeline $PY -m bench.default_run --config configs/drac.yaml --name drac_pipeline_gpu \
    --pregenerate --goal-seconds 300 --goal-machine "one H100" --keep "$OUT/drac_run" --out-dir "$RES"
wanted inference && step inference $PY -m bench.inference --out-dir "$RES"

BACKBONE=$RUNS/cifar10/pretrain/backbone.safetensors
pids=()
if wanted umm; then
    step umm $PY -m bench.umm_ablation --checkpoint "$RUNS/cifar10/pretrain/vicreg_model.safetensors" \
        --data "$CIFAR" --run-root "$RUNS/umm" --out-dir "$RES" umm.max_steps_per_epoch=100 &
    pids+=($!)
fi
if wanted layers; then
    step layers $PY -m bench.layer_clusters --backbone "$BACKBONE" --config configs/cifar10.yaml \
        --data "$CIFAR" --out-dir "$RES" &
    pids+=($!)
fi
if wanted mnist; then
    step mnist $PY -m bench.low_label --dataset mnist --data .device_data/mnist \
        --run-dir "$RUNS/mnist" --out-dir "$RES" &
    pids+=($!)
fi
if wanted fashion; then
    step fashion $PY -m bench.low_label --dataset fashion_mnist --data .device_fashion/fashion_mnist \
        --run-dir "$RUNS/fashion_mnist" --out-dir "$RES" &
    pids+=($!)
fi
for pid in "${pids[@]}"; do wait "$pid"; done
wanted layers_umm && step layers_umm $PY -m bench.layer_clusters --backbone "$BACKBONE" --config configs/cifar10.yaml \
    --data "$CIFAR" --no-random --compare control="$RUNS/umm/control/umm/backbone.safetensors" \
    --compare vicreg_umm="$RUNS/umm/umm/umm/backbone.safetensors" --name cifar10_umm --out-dir "$RES"
log "ALL DONE"
