#!/usr/bin/env bash
# The benchmark table (bin/vgpu-hil bench runs this after set-up):
#   boot to agent ready (TCG; KVM where the launcher's probe says it works) next to a bare-init boot of the same
#   kernel and machine, the guest doorbell round trip (agent bench, mediator echo) next to the mediator echo over
#   its socket, and the qtest doorbell round trip next to a plain qtest register read - all in the same run; then the
#   mediator daemon's RSS while 64 clients flood it (FloodRss).
# Options go to dev.vgpuhil.harness.bench.Bench: [--boots N] [--count N] [--bytes B] [--vfio-user-qemu PATH]
# [--debian-disk].
# The table is printed on stdout and written to reports/runs/bench-<time>.md, the run remembered in reports/bench/
# (ratios next to the previous run's, see reports/README.md); progress goes to stderr.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
cpfile=$(mktemp)
trap 'rm -f "$cpfile"' EXIT
# package (the guest agent's shaded jar is uploaded into the guest) and the harness's runtime classpath, which in
# the reactor points at the modules' fresh jars
mvn -B -ntp -q -pl harness -am package -DskipTests dependency:build-classpath \
    -Dmdep.outputFile="$cpfile" -Dmdep.includeScope=runtime >&2
cp="$repo/harness/target/classes:$(cat "$cpfile")"
java -Dvgpu.repo="$repo" -Dvgpu.runs.dir="$repo/reports/runs" -cp "$cp" dev.vgpuhil.harness.bench.Bench "$@"
# the mediator daemon's resident memory while 64 clients flood it (mediator-lite bench/FloodRss), after the tables
echo
java -cp "$cp" dev.vgpuhil.mediator.bench.FloodRss --clients 64 --seconds 10
# every remembered bench's trend, latest CDF and table as a result in the Allure report (bin/vgpu-hil report)
java -cp "$cp" dev.vgpuhil.harness.report.BenchResults "$repo/reports/bench" "$repo/reports/allure-results"
