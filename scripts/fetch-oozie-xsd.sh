#!/usr/bin/env bash
# Resolve org.apache.oozie:oozie-client (jvm/oozie/pom.xml) with mvn into a
# local folder and extract the XML schemas that oozie/*.xml are checked
# against (tests/unit/test_oozie.py). Quick when already done; an air-gapped
# machine gets the jar from its Maven mirror (~/.m2/settings.xml).
#
#   scripts/fetch-oozie-xsd.sh [DEST]     # default var/oozie; schemas in DEST/xsd
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:-var/oozie}"
schemas=(oozie-workflow-1.0.xsd spark-action-1.0.xsd email-action-0.2.xsd oozie-coordinator-0.5.xsd
         oozie-common-1.0.xsd)

done_already() {
  [ "$dest/xsd/.stamp" -nt jvm/oozie/pom.xml ] || return 1
  for s in "${schemas[@]}"; do [ -s "$dest/xsd/$s" ] || return 1; done
}
if done_already; then exit 0; fi

command -v mvn >/dev/null || { echo "fetch-oozie-xsd: mvn not found (needed to resolve jvm/oozie/pom.xml)" >&2; exit 1; }
command -v jar >/dev/null || { echo "fetch-oozie-xsd: jar (JDK) not found" >&2; exit 1; }
rm -rf "$dest" && mkdir -p "$dest/xsd"
log="$dest/mvn.log"
mvn -q -B -f jvm/oozie/pom.xml dependency:copy-dependencies \
  -DincludeScope=runtime -DoutputDirectory="$(pwd)/$dest" >"$log" 2>&1 \
  || { tail -20 "$log" >&2; echo "fetch-oozie-xsd: mvn could not resolve jvm/oozie/pom.xml (log: $log)" >&2; exit 1; }
client=("$dest"/oozie-client-*.jar)
[ -f "${client[0]}" ] || { echo "fetch-oozie-xsd: no oozie-client jar in $dest" >&2; exit 1; }
(cd "$dest/xsd" && jar xf "../$(basename "${client[0]}")" "${schemas[@]}")
for s in "${schemas[@]}"; do
  [ -s "$dest/xsd/$s" ] || { echo "fetch-oozie-xsd: $s is not in $(basename "${client[0]}")" >&2; exit 1; }
done
touch "$dest/xsd/.stamp"
echo "Oozie schemas from $(basename "${client[0]}") in $dest/xsd"
