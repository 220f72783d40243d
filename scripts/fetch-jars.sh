#!/usr/bin/env bash
# Resolve the JVM jars Spark needs (Delta, JDBC drivers) with mvn from the
# repository's pom into a local folder. On an air-gapped cluster point Maven at
# the internal mirror (~/.m2/settings.xml); nothing else changes.
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:-var/jars}"
if compgen -G "$dest/delta-spark_2.12-*.jar" >/dev/null && [ "$dest/.stamp" -nt jvm/pom.xml ]; then
  exit 0
fi
mkdir -p "$dest"
mvn -q -B -f jvm/pom.xml dependency:copy-dependencies \
  -DincludeScope=runtime -DoutputDirectory="$(pwd)/$dest" -Dmdep.overWriteReleases=true
touch "$dest/.stamp"
echo "jars in $dest:" && ls "$dest"
