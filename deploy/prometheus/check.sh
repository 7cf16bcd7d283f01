#!/usr/bin/env bash
# Checks the alerting rules and keeps their copies in step.
#
#   deploy/prometheus/check.sh          promtool check rules + unit tests (rules_test.yml) + copies equal to rules.yml
#   deploy/prometheus/check.sh --write  rewrite the copies from rules.yml first
#   deploy/prometheus/check.sh --show   also print every alert's rendered annotations from the unit-test data
#
# rules.yml is the source. Copies: gpumeter-rules.yaml (the same groups in a PrometheusRule, for the Prometheus
# Operator) and ../helm/gpumeter/files/rules.yml (what the chart's PrometheusRule reads). Needs promtool (Debian:
# apt-get install prometheus).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
chart_copy=$here/../helm/gpumeter/files/rules.yml
mode=${1:-}

prometheus_rule() {
  cat <<'HEAD'
# Generated from rules.yml by check.sh --write: edit rules.yml, not this file.
# The gpumeter alerting rules as a PrometheusRule for the Prometheus Operator:
#   kubectl -n monitoring apply -f deploy/prometheus/gpumeter-rules.yaml
# Add the labels your Prometheus selects rules by (ruleSelector), e.g. release: kube-prometheus-stack. Drop the
# gpumeter-commitments group where the collector sends those alerts to Alertmanager itself (see rules.yml).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: gpumeter
  labels:
    app.kubernetes.io/name: gpumeter
    app.kubernetes.io/part-of: gpumeter
spec:
HEAD
  awk 'f || /^groups:/ {f=1; if ($0 == "") print ""; else print "  " $0}' "$here/rules.yml"
}

if [[ $mode == --write ]]; then
  prometheus_rule >"$here/gpumeter-rules.yaml"
  cp "$here/rules.yml" "$chart_copy"
fi

promtool check rules "$here/rules.yml"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The unit tests compare labels only: run them on the rules without their annotations.
awk '/^        annotations:$/ {skip=1; next} skip && /^          / {next} {skip=0; print}' "$here/rules.yml" >"$tmp/rules.yml"
n_full=$(grep -c '^      - alert:' "$here/rules.yml")
n_bare=$(promtool check rules "$tmp/rules.yml" | sed -n 's/.*SUCCESS: \([0-9]*\) rules found.*/\1/p')
if [[ $n_full != "$n_bare" ]]; then
  echo "check.sh: stripping annotations lost rules ($n_full alerts, $n_bare left)" >&2
  exit 1
fi
cp "$here/rules_test.yml" "$tmp/"
promtool test rules "$tmp/rules_test.yml"

if [[ $mode == --show ]]; then
  # With the annotations back, every expected alert "fails" and promtool prints what it rendered.
  cp "$here/rules.yml" "$tmp/rules.yml"
  promtool test rules "$tmp/rules_test.yml" 2>&1 | grep -E '^ *(Labels|Annotations):\{.+\}' | sed 's/^ *//' |
    awk '!seen[$0]++' || true
fi

status=0
if ! diff -u "$here/gpumeter-rules.yaml" <(prometheus_rule); then
  echo "check.sh: gpumeter-rules.yaml differs from rules.yml; run deploy/prometheus/check.sh --write" >&2
  status=1
fi
if ! cmp -s "$here/rules.yml" "$chart_copy"; then
  echo "check.sh: $chart_copy differs from rules.yml; run deploy/prometheus/check.sh --write" >&2
  status=1
fi
[[ $status == 0 ]] && echo "check.sh: rules OK, copies in step"
exit $status
