#!/usr/bin/env bash
# The main job (`make demo`): local ClickHouse + Kafka, the collector, and a simulated fleet of GPU nodes on three
# providers, several simulated days sped up into about a minute; then the report from ClickHouse.
# Stops everything it started. Knobs: GPUMETER_DEMO_DAYS (3), GPUMETER_DEMO_SECONDS (60).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO="$(cd "$HERE/../.." && pwd -P)"
BIN="$REPO/bin"
SERVICES="$HERE/services.sh"
DAYS="${GPUMETER_DEMO_DAYS:-3}"
SECONDS_WANTED="${GPUMETER_DEMO_SECONDS:-60}"
OUT="$REPO/out/demo"
RUN_ID="$(date -u +%Y%m%dT%H%M%S)"

say() { printf '\033[1m[demo]\033[0m %s\n' "$*"; }

services_were_up=false
"$SERVICES" status >/dev/null 2>&1 && services_were_up=true
pids=()
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if ! $services_were_up; then "$SERVICES" stop || true; fi
  exit $rc
}
trap cleanup EXIT INT TERM

say "starting ClickHouse and Kafka on loopback (first run installs them)"
"$SERVICES" start
eval "$("$SERVICES" env)"

export GPUMETER_KAFKA_BROKERS="$GPUMETER_TEST_KAFKA"
export GPUMETER_CLICKHOUSE_ADDR="$GPUMETER_TEST_CLICKHOUSE"
export GPUMETER_CLICKHOUSE_DATABASE=gpumeter_demo
# A topic of this run's own, so earlier demos' records do not flow into the fresh database.
export GPUMETER_TOPIC="gpumeter.demo.$RUN_ID.usage.v1"
rm -rf "$OUT/spool"
mkdir -p "$OUT"
ch() { clickhouse-client --port "${GPUMETER_TEST_CLICKHOUSE##*:}" "$@"; }
ch -q "DROP DATABASE IF EXISTS gpumeter_demo"

hours=$((DAYS * 24))
speed=$((DAYS * 86400 / SECONDS_WANTED))
start_epoch=$(( $(date +%s) / 3600 * 3600 - DAYS * 86400 ))
start="$(date -u -d "@$start_epoch" +%Y-%m-%dT%H:%M:%SZ)"
end_epoch=$(( start_epoch + DAYS * 86400 ))
end="$(date -u -d "@$end_epoch" +%Y-%m-%dT%H:%M:%SZ)"
term_end="$(date -u -d "@$(( start_epoch + 30 * 86400 ))" +%Y-%m-%dT%H:%M:%SZ)"
asked="$(date -u -d "@$(( start_epoch - 86400 ))" +%Y-%m-%dT%H:%M:%SZ)"
answered="$(date -u -d "@$(( start_epoch - 43200 ))" +%Y-%m-%dT%H:%M:%SZ)"
request_end="$(date -u -d "@$(( end_epoch - 6 * 3600 ))" +%Y-%m-%dT%H:%M:%SZ)"
sed -e "s/@START@/$start/g" -e "s/@END@/$term_end/g" -e "s/@ASKED@/$asked/g" -e "s/@ANSWERED@/$answered/g" \
  -e "s/@REQ_END@/$request_end/g" "$HERE/demo-commitments.yaml" >"$OUT/commitments.yaml"

say "collector: consuming $GPUMETER_TOPIC into ClickHouse database gpumeter_demo (logs: out/demo/collector.log)"
say "           commitments from out/demo/commitments.yaml, alerts to $GPUMETER_TEST_ALERTMANAGER"
"$BIN/gpumeter-collector" --group "gpumeter-demo-$RUN_ID" --dlq-topic "gpumeter.demo.$RUN_ID.usage.dlq" \
  --batch-wait 1s --commitments "$OUT/commitments.yaml" --alertmanager-url "$GPUMETER_TEST_ALERTMANAGER" \
  --alert-interval 5s >"$OUT/collector.log" 2>&1 &
collector=$!
pids+=("$collector")
for _ in $(seq 60); do
  ch -q "EXISTS TABLE gpumeter_demo.gpu_usage" 2>/dev/null | grep -q 1 && break
  sleep 0.5
done

# The fleet: name provider region instance-type workload teams records-per-minute [agent flags]. Teams joined by +
# hold one GPU together (--sim-teams, agent/attribution ParseTeams): on a MIG GPU the k-th instance serves the k-th
# team; a whole GPU is time-sliced, split by its simulated processes' utilization (--sim-procs, the k-th process in
# the k-th team's pod). Records per minute: one per device (MIG instance, unpartitioned remainder) and pod. The MIG
# node is in West US 3, outside the East US reservation, which keeps the reservation's idle room (the leakage) in the
# story.
fleet=(
  "aks-ndh100-0 azure eastus Standard_ND96isr_H100_v5 diurnal:low=0.25,high=0.85,peak=15h research:6,inference:2 8"
  "aks-ndh100-1 azure eastus Standard_ND96isr_H100_v5 diurnal:low=0.1,high=0.6,peak=14h research:4 8"
  "aks-ndh100-2 azure eastus Standard_ND96isr_H100_v5 0.35 inference:8 8"
  "aks-ndh100-mig-0 azure westus3 Standard_ND96isr_H100_v5 diurnal:low=0.3,high=0.8,peak=13h research+inference+inference+research:1,research+inference:1,research:4 13 --sim-mig=0:3g.40gb+2g.20gb+1g.10gb*2,1:3g.40gb*2"
  "oke-h100-0 oracle_cloud us-ashburn-1 BM.GPU.H100.8 bursty:base=0.2,burst=0.95,duty=0.5,period=2h,seed=3 research:8 8"
  "oke-h100-1 oracle_cloud us-ashburn-1 BM.GPU.H100.8 bursty:base=0.3,burst=0.9,duty=0.4,period=3h,seed=9 research:8 8"
  "eks-p5-0 aws us-east-1 p5.48xlarge 0.8 inference:8 8"
  "eks-p5-shared-0 aws us-east-1 p5.48xlarge 0.8 inference+research:2,inference:4 10 --sim-procs=0:1001=0.75+1002=0.25,1:1003=0.5+1004=0.5"
)
say "fleet: ${#fleet[@]} simulated DGX H100 nodes (8 GPUs each) on azure, oracle_cloud and aws; aks-ndh100-mig-0 has"
say "       two GPUs in MIG (instances held by research and inference), eks-p5-shared-0 two GPUs time-sliced by both"
say "       ${DAYS} simulated days from $start at ${speed}x (about ${SECONDS_WANTED}s)"
agents=()
expected=0
for spec in "${fleet[@]}"; do
  read -r name provider region itype util teams rpm flags <<<"$spec"
  read -r -a extra <<<"${flags:-}"
  "$BIN/gpumeter-agent" --simulate dgxh100 --node-name "$name" --provider "$provider" --region "$region" \
    --instance-type "$itype" --sim-util "$util" --sim-teams "$teams" --sim-start "$start" --sim-speed "$speed" \
    --sample-period 10s --duration "${hours}h" --spool-dir "$OUT/spool/$name" --metrics-addr "" "${extra[@]}" \
    >"$OUT/agent-$name.log" 2>&1 &
  agents+=("$!")
  pids+=("$!")
  expected=$(( expected + rpm * hours * 60 ))
done

progress() {
  ch -q "SELECT count(), replaceOne(toString(max(interval_end)), ' ', 'T'), round(sum(provisioned_seconds)/3600) FROM gpumeter_demo.gpu_usage" \
    2>/dev/null | tr '\t' ' '
}
while :; do
  running=0
  for p in "${agents[@]}"; do kill -0 "$p" 2>/dev/null && running=$((running + 1)); done
  read -r rows upto gpuh <<<"$(progress)"
  say "$(printf 'agents running %d/%d  records stored %7s/%d  simulated clock %s  GPU-hours %s' \
    "$running" "${#agents[@]}" "${rows:-0}" "$expected" "${upto:-?}" "${gpuh:-0}")"
  [ "$running" -eq 0 ] && break
  sleep 5
done
for p in "${agents[@]}"; do
  wait "$p" || { say "an agent failed; see $OUT/agent-*.log"; exit 1; }
done
for _ in $(seq 120); do
  read -r rows _ _ <<<"$(progress)"
  [ "${rows:-0}" -ge "$expected" ] && break
  sleep 0.5
done
say "collector caught up: ${rows:-0} records; waiting for its next commitment evaluation"
sleep 7
say "stopping the collector (SIGTERM flushes and commits)"
kill -TERM "$collector"
wait "$collector" || { say "collector exited with an error; see $OUT/collector.log"; exit 1; }

echo
"$BIN/gpumeter-collector" report --at "$end" --format table | tee "$OUT/report.txt"
"$BIN/gpumeter-collector" report --at "$end" --format html --out "$OUT/report.html"
"$BIN/gpumeter-collector" report --at "$end" --format json --out "$OUT/report.json"
echo
# Per-team figures (the report is per commitment and provider): every team's GPU-hours, and how the MIG node's and the
# time-sliced node's GPUs were split among the teams holding them (busy GPU-hours count only what is known: a MIG
# GPU's unpartitioned remainder has none).
say "GPU-hours per team (gpu_usage), and on the MIG and time-sliced nodes:"
{
  ch -d gpumeter_demo --format PrettyCompactNoEscapes -q "SELECT if(team = '', '(unassigned)', team) AS who,
      round(sum(provisioned_seconds) / 3600, 1) AS gpu_hours, round(sum(busy_seconds) / 3600, 1) AS busy_gpu_hours
    FROM gpu_usage WHERE interval_end <= parseDateTimeBestEffort('$end') GROUP BY who ORDER BY who"
  ch -d gpumeter_demo --format PrettyCompactNoEscapes -q "SELECT node, if(team = '', '(unassigned)', team) AS who,
      round(sum(provisioned_seconds) / 3600, 1) AS gpu_hours, round(sum(busy_seconds) / 3600, 1) AS busy_gpu_hours
    FROM gpu_usage WHERE node IN ('aks-ndh100-mig-0', 'eks-p5-shared-0')
      AND interval_end <= parseDateTimeBestEffort('$end') GROUP BY node, who ORDER BY node, who"
} | tee "$OUT/teams.txt"
echo
say "alerts active in Alertmanager ($GPUMETER_TEST_ALERTMANAGER):"
curl -s "$GPUMETER_TEST_ALERTMANAGER/api/v2/alerts?active=true&filter=commitment%3D~%22.%2B%22" | python3 -c '
import json, sys
for a in json.load(sys.stdin):
    l = a["labels"]
    print("  FIRING %-34s commitment=%s provider=%s team=%s" % (l.get("alertname"), l.get("commitment"), l.get("provider"), l.get("team")))
    print("         " + a["annotations"].get("summary", ""))
' || true
echo
say "report: out/demo/report.txt, out/demo/report.html (open it in a browser), out/demo/report.json; per team: out/demo/teams.txt"
say "query it yourself: clickhouse-client --port ${GPUMETER_TEST_CLICKHOUSE##*:} -d gpumeter_demo"
