#!/usr/bin/env bash
# Resolve the JVM jars Spark needs (Delta, JDBC drivers) with mvn from the
# repository's pom into a local folder. On an air-gapped cluster point Maven at
# the internal mirror (~/.m2/settings.xml); nothing else changes.
#
#   scripts/fetch-jars.sh [DEST]      Delta + JDBC drivers (jvm/pom.xml) into DEST (var/jars)
#   scripts/fetch-jars.sh hbase-spark the hbase-spark connector and its HBase client jars
#                                     (jvm/hbase-spark/pom.xml) into var/jars-hbase-spark
set -euo pipefail
target="${1:-}"
case "$target" in
  ""|hbase-spark|/*) ;;
  *) target="$(pwd)/$target" ;;  # a relative DEST is relative to where the script was called from
esac
cd "$(dirname "$0")/.."

fetch() { # pom dest marker-glob: copy the pom's runtime dependencies into dest unless already there
  local pom="$1" dest="$2" marker="$3"
  if compgen -G "$dest/$marker" >/dev/null && [ "$dest/.stamp" -nt "$pom" ]; then
    return 0
  fi
  mkdir -p "$dest"
  dest="$(cd "$dest" && pwd)"
  mvn -q -B -f "$pom" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$dest" -Dmdep.overWriteReleases=true
  touch "$dest/.stamp"
  echo "jars in $dest:" && ls "$dest"
}

if [ "$target" = hbase-spark ]; then
  fetch jvm/hbase-spark/pom.xml var/jars-hbase-spark 'hbase-spark-*.jar'
else
  fetch jvm/pom.xml "${target:-var/jars}" 'delta-spark_2.12-*.jar'
fi
