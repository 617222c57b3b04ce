#!/usr/bin/env bash
# GPU check of issue #14 on a lent device machine (one H200): proves the CUDA path
# (domains on DLPFC 151673, seed 0, cuda vs cpu: ARI >= 0.95) and times 100k and 1M
# synthetic Visium HD bins with device=cuda; the table goes to stdout and $OUT.
#
# Here, before the device call (the device machine gets only the repository; the data
# beside it and this machine's .venv do not travel):
#   benchmarks/gpu_check.sh --stage        # copies dlpfc151673 (6.8 MB) into .gpu_carry/
#                                          # (ignored via .git/info/exclude) and, if
#                                          # .gpu_carry/wheels is empty, downloads the
#                                          # pure-Python wheels the device image lacks
# Then one device call:
#   run(command="bash benchmarks/gpu_check.sh", carry=[".gpu_carry"], timeout_s=600)
# Afterwards: rm -rf .gpu_carry
#
# Local dry run (no GPU): benchmarks/gpu_check.sh --device cpu --sizes 10000
#
# Installs nothing that is there already: it uses the first python that imports torch
# (the device image's python3 has torch + torch-geometric with CUDA) and installs, only
# when missing, this package (--no-deps) and the carried wheels, into /tmp/site. With
# network access and no torch at all it falls back to a venv with torch==2.13.0.
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE=cuda
SIZES=100000,1000000
STAGE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=$2; shift 2 ;;
    --sizes) SIZES=$2; shift 2 ;;
    --stage) STAGE=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
CARRY=.gpu_carry

if [ "$STAGE" = 1 ]; then
  mkdir -p "$CARRY/data" "$CARRY/wheels"
  grep -qx "/$CARRY/" .git/info/exclude 2>/dev/null || echo "/$CARRY/" >> .git/info/exclude
  cp -r ../shared/data/dlpfc151673 "$CARRY/data/"
  if [ -z "$(ls -A "$CARRY/wheels")" ]; then
    # what the device image lacks (KINDS.md lists what it has); pure-Python wheels
    # except scikit-misc (Seurat v3's loess), fetched for CPython 3.12 x86-64
    .venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
      --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 -d "$CARRY/wheels" \
      anndata scanpy squidpy scikit-misc natsort legacy-api-wrap array-api-compat \
      session-info2 umap-learn pynndescent docrep zarr numcodecs donfig crc32c \
      dask dask-image spatialdata validators omnipath inflect xarray-schema \
      matplotlib-scalebar leidenalg igraph texttable fast-array-utils \
      || echo "some wheels could not be fetched: the device run will report what is missing"
  fi
  du -sh "$CARRY"
  exit 0
fi

OUT=${OUT:-/tmp/gpu_check_out}
mkdir -p "$OUT"
PY=""
for cand in python3 /opt/torch/.venv/bin/python3 .venv/bin/python; do
  if command -v "$cand" >/dev/null 2>&1 && "$cand" -c "import torch" 2>/dev/null; then
    PY=$cand; break
  fi
done
if [ -z "$PY" ]; then  # no torch anywhere: a fresh venv (needs network)
  python3 -m venv /tmp/scdl_venv
  /tmp/scdl_venv/bin/pip install -q torch==2.13.0 && /tmp/scdl_venv/bin/pip install -q -e .
  PY=/tmp/scdl_venv/bin/python
fi
export PYTHONUNBUFFERED=1
if ! "$PY" -c "import napari_scdl.tl, scanpy, squidpy" 2>/dev/null; then
  mkdir -p /tmp/site
  if [ -d "$CARRY/wheels" ] && [ -n "$(ls -A "$CARRY/wheels")" ]; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
      --target /tmp/site "$CARRY"/wheels/*.whl
  fi
  export PYTHONPATH="$PWD/src:/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
  "$PY" -c "import napari_scdl.tl, scanpy, squidpy" || {
    echo "napari_scdl does not import with $PY (see above: carry the missing wheels)"; exit 3; }
fi
DATA=../shared/data
[ -d "$CARRY/data/dlpfc151673" ] && DATA=$CARRY/data
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
"$PY" benchmarks/gpu_check.py --device "$DEVICE" --data "$DATA" --sizes "$SIZES" \
  --out "$OUT" 2>&1 | tee "$OUT/gpu_check.log"
