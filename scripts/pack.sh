#!/usr/bin/env bash
# Build what a cluster's executors (and a YARN cluster-mode driver) run the jobs with:
#   var/dist/ntl-env.tar.gz   the jobs' Python environment, packed with venv-pack
#                             (spark.archives=<it>#env, spark.pyspark.python=./env/bin/python)
#   var/dist/ntl_spark.zip    the package, for --py-files (spark-submit.sh adds it off local mode)
#   var/dist/ntl_spark-*.whl  the package as a wheel (installed into the packed environment)
#
#   scripts/pack.sh [--lean|--full] [--out DIR]
#
# --lean (default): requirements.lock without TensorFlow, Keras, Petastorm and the
#   notebook kernel: enough for every stage but train_deep / score_deep (DAICE,
#   ingest, features, gates, scoring, publish). About a third of the full size.
# --full: every pinned package (DeepDAICE executors need TensorFlow and Petastorm).
#
# venv-pack refuses editable installs, so the environment is not .venv but its own
# venv, var/pack-venv-<variant>, made from requirements.lock plus a wheel of ntl_spark
# (rebuilt when requirements.lock, pyproject.toml or the package change). pyspark's
# jars are left out of the archive: executors run on the cluster's Spark JVM and
# only need pyspark's Python side.
#
# venv-pack keeps the interpreter a link to the base Python this venv was made from
# (the same Python, at the same path, must exist on every node; otherwise pack with
# conda-pack). See docs/cluster.md.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"
variant=lean
out="$REPO/var/dist"
while [ $# -gt 0 ]; do
  case "$1" in
    --lean) variant=lean ;;
    --full) variant=full ;;
    --out) out="$2"; shift ;;
    *) echo "usage: scripts/pack.sh [--lean|--full] [--out DIR]" >&2; exit 2 ;;
  esac
  shift
done
say() { echo "[pack] $*"; }
mkdir -p "$out"
out="$(cd "$out" && pwd)"

[ -x .venv/bin/python ] || scripts/bootstrap.sh
[ -x .venv/bin/venv-pack ] || { echo "[pack] .venv has no venv-pack: run scripts/bootstrap.sh" >&2; exit 1; }
BASE_PY="$(.venv/bin/python -c 'import sys; print(sys._base_executable)')"

# Never packed: the developer tools (lint, types, tests and the tests' Delta reader, packing itself)
# and the web console's server and browser tests, which no Spark process runs.
DEV_EXCLUDE='^(mypy|mypy_extensions|librt|pathspec|ruff|pytest|pytest-xdist|execnet|pluggy|iniconfig|deltalake|venv-pack|playwright|pyee|Django)=='
# Also left out of the lean variant: TensorFlow and what only it (or Petastorm, or
# the notebook kernel) needs. Everything else in requirements.lock goes in.
LEAN_EXCLUDE='^(tensorflow|tensorflow_cpu|tensorboard|tensorboard-data-server|grpcio|keras|petastorm|libclang|ml_dtypes|optree|namex|astunparse|flatbuffers|gast|google-pasta|opt_einsum|ipykernel|ipython|ipython_pygments_lexers|jedi|parso|debugpy|comm|stack-data|executing|asttokens|pure_eval|prompt_toolkit|pexpect|ptyprocess|jupyter_client|jupyter_core|matplotlib-inline|nest-asyncio2|pyzmq|tornado|traitlets|wcwidth|nbclient|nbformat)=='

venv="$REPO/var/pack-venv-$variant"
reqs="$venv.requirements.txt"
if [ "$variant" = lean ]; then
  grep -v -i -E "$DEV_EXCLUDE" requirements.lock | grep -v -i -E "$LEAN_EXCLUDE" >"$reqs.new"
else
  grep -v -i -E "$DEV_EXCLUDE" requirements.lock >"$reqs.new"
fi

# The wheel: rebuilt when any file of the package or pyproject.toml is newer than it.
wheel="$(ls "$out"/ntl_spark-*.whl 2>/dev/null | head -1 || true)"
if [ -z "$wheel" ] || [ -n "$(find ntl_spark pyproject.toml -newer "$wheel" -name '*.py' -o -newer "$wheel" -name pyproject.toml | head -1)" ]; then
  rm -f "$out"/ntl_spark-*.whl
  say "building the ntl_spark wheel"
  had_build=0; [ -e build ] && had_build=1
  .venv/bin/pip wheel --no-deps --no-build-isolation -q -w "$out" . >"$out/wheel.log" 2>&1 \
    || .venv/bin/pip wheel --no-deps -q -w "$out" . >"$out/wheel.log" 2>&1 \
    || { tail -20 "$out/wheel.log" >&2; exit 1; }
  [ "$had_build" = 1 ] || rm -rf build  # setuptools' scratch folder, not part of the checkout
  wheel="$(ls "$out"/ntl_spark-*.whl | head -1)"
fi

stamp="$venv/.packed-from"
want="$(cat "$reqs.new" "$wheel" | md5sum | cut -c1-32) $BASE_PY"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  if [ ! -x "$venv/bin/python" ] || [ ! -f "$reqs" ] \
     || [ "$(readlink -f "$venv/bin/python")" != "$(readlink -f "$BASE_PY")" ]; then
    say "creating $venv ($variant) from requirements.lock (log $venv.log)"
    rm -rf "$venv"
    "$BASE_PY" -m venv "$venv"
    { "$venv/bin/pip" install -q --upgrade "pip<27" &&
      "$venv/bin/pip" install -q --no-deps -r "$reqs.new"; } >"$venv.log" 2>&1 \
      || { tail -30 "$venv.log" >&2; echo "[pack] install failed" >&2; exit 1; }
  elif ! cmp -s "$reqs" "$reqs.new"; then
    # the lock moved: install what changed, remove what left it (quicker than a new venv)
    say "updating $venv ($variant) to requirements.lock (log $venv.log)"
    gone="$(comm -23 <(sed 's/==.*//' "$reqs" | sort) <(sed 's/==.*//' "$reqs.new" | sort))"
    { if [ -n "$gone" ]; then "$venv/bin/pip" uninstall -q -y $gone; fi &&
      "$venv/bin/pip" install -q --no-deps -r "$reqs.new"; } >"$venv.log" 2>&1 \
      || { tail -30 "$venv.log" >&2; echo "[pack] install failed" >&2; exit 1; }
  fi
  "$venv/bin/pip" install -q --no-deps --force-reinstall "$wheel" >>"$venv.log" 2>&1 \
    || { tail -30 "$venv.log" >&2; echo "[pack] installing the wheel failed" >&2; exit 1; }
  mv "$reqs.new" "$reqs"
  echo "$want" >"$stamp"
  rm -f "$out/ntl-env-$variant.tar.gz"
else
  rm -f "$reqs.new"
fi

archive="$out/ntl-env-$variant.tar.gz"
if [ ! -f "$archive" ] || [ "$stamp" -nt "$archive" ]; then
  say "packing $venv into $archive"
  .venv/bin/venv-pack -p "$venv" -o "$archive.tmp.tar.gz" --force --compress-level 1 \
    --exclude "lib/python*/site-packages/pyspark/jars/*" --exclude "*.pyc" --exclude "*/__pycache__/*" >/dev/null
  mv "$archive.tmp.tar.gz" "$archive"
fi
ln -sfn "$(basename "$archive")" "$out/ntl-env.tar.gz"

.venv/bin/python -c 'import sys; from pathlib import Path; from ntl_spark.submit import package_zip; package_zip(Path(sys.argv[1]))' \
  "$out/ntl_spark.zip"
say "ready: $out/ntl-env.tar.gz -> $(basename "$archive") ($(du -h "$archive" | cut -f1)), $out/ntl_spark.zip, $(basename "$wheel")"
