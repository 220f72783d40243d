#!/usr/bin/env bash
# Resolve the JVM jars Spark needs (Delta, JDBC drivers) with mvn from the
# repository's pom into a local folder. On an air-gapped cluster point Maven at
# the internal mirror (~/.m2/settings.xml); nothing else changes.
#
#   scripts/fetch-jars.sh [DEST]      Delta + JDBC drivers (jvm/pom.xml) into DEST (var/jars)
#   scripts/fetch-jars.sh hbase-spark the hbase-spark connector and its HBase client jars
#                                     (jvm/hbase-spark/pom.xml) into var/jars-hbase-spark
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = hbase-spark ]; then
  dest=var/jars-hbase-spark
  if compgen -G "$dest/hbase-spark-*.jar" >/dev/null && [ "$dest/.stamp" -nt jvm/hbase-spark/pom.xml ]; then
    exit 0
  fi
  mkdir -p "$dest"
  mvn -q -B -f jvm/hbase-spark/pom.xml dependency:copy-dependencies \
    -DoutputDirectory="$(pwd)/$dest" -Dmdep.overWriteReleases=true
  touch "$dest/.stamp"
  echo "jars in $dest:" && ls "$dest"
  exit 0
fi
dest="${1:-var/jars}"
if compgen -G "$dest/delta-spark_2.12-*.jar" >/dev/null && [ "$dest/.stamp" -nt jvm/pom.xml ]; then
  exit 0
fi
mkdir -p "$dest"
mvn -q -B -f jvm/pom.xml dependency:copy-dependencies \
  -DincludeScope=runtime -DoutputDirectory="$(pwd)/$dest" -Dmdep.overWriteReleases=true
touch "$dest/.stamp"
echo "jars in $dest:" && ls "$dest"
