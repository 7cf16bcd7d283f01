#!/usr/bin/env bash
# The deployment checks `make test` runs (make deploy-check): what used to be checked by hand.
#
#   helm lint --strict          the chart, with its defaults and with every option on (ci/full-values.yaml)
#   helm template | deploy/check  the rendered manifests decoded strictly into the Kubernetes and Prometheus Operator
#                               API types (unknown or misspelt fields fail)
#   values.schema.json          values that used to render and crash at pod start are refused by helm
#   chart README                its values table names every value
#   deploy/kubernetes           the plain manifests equal the chart rendered by render.sh
#   deploy/prometheus/check.sh  promtool check rules, the rule unit tests, the copies in step
#   every shell script        checked by Debian's shellcheck
#   go mod tidy -diff           go.mod and go.sum tidy, in both modules
#   deploy/Dockerfile           static checks (build stage on $BUILDPLATFORM, no library path, every package the
#                               binaries need is copied in), and both binaries cross-compiled with cgo for linux/amd64
#                               and linux/arm64 as its build stage does: right architecture, NVML not linked (go-nvml
#                               dlopens libnvidia-ml.so.1), glibc symbols the runtime image (Debian 12, 2.36) has.
#                               The image itself is not built: that needs a Docker daemon (deploy/README.md).
#
# Installs what is missing: helm with `go install` into .local/bin, shellcheck and promtool (prometheus) from Debian,
# and Debian's C cross compiler for the other architecture.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
cd "$REPO"
HELM_VERSION=v3.22.0
# helm built by go install does not know the Kubernetes version of its release: tell it (the chart needs >= 1.25).
KUBE_VERSION=1.34.0
BIN="$REPO/.local/bin"
HELM="$BIN/helm"
CHART=deploy/helm/gpumeter

log() { printf '[deploy-check] %s\n' "$*" >&2; }
fail() { printf '[deploy-check] FAIL: %s\n' "$*" >&2; exit 1; }

# The C cross compiler for a GOARCH, as the Dockerfile's build stage names it, and its Debian package.
cross_cc() { case "$1" in amd64) echo x86_64-linux-gnu-gcc ;; arm64) echo aarch64-linux-gnu-gcc ;; esac; }
cross_pkg() { case "$1" in amd64) echo gcc-x86-64-linux-gnu ;; arm64) echo gcc-aarch64-linux-gnu ;; esac; }

install() {
  if [ ! -x "$HELM" ] || ! "$HELM" version --template '{{.Version}}' 2>/dev/null | grep -q "^${HELM_VERSION%.*}"; then
    log "go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION into .local/bin (a few minutes the first time)"
    mkdir -p "$BIN"
    GOBIN="$BIN" GOFLAGS=-buildvcs=false go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  fi
  local missing=()
  command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  local arch
  for arch in amd64 arm64; do
    [ "$arch" = "$(go env GOHOSTARCH)" ] && continue
    command -v "$(cross_cc "$arch")" >/dev/null 2>&1 || missing+=("$(cross_pkg "$arch")" "libc6-dev-$arch-cross")
  done
  command -v file >/dev/null 2>&1 || missing+=(file)
  command -v readelf >/dev/null 2>&1 || missing+=(binutils)
  if [ "${#missing[@]}" -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

helm_checks() {
  local values
  for values in "" "$CHART/ci/full-values.yaml"; do
    local args=()
    [ -z "$values" ] || args=(-f "$values")
    log "helm lint --strict ${values:-(defaults)}"
    "$HELM" lint --strict --kube-version "$KUBE_VERSION" "$CHART" "${args[@]}" >/dev/null || fail "helm lint ${values:-(defaults)}"
    log "helm template ${values:-(defaults)} | deploy/check"
    "$HELM" template gpumeter "$CHART" --kube-version "$KUBE_VERSION" "${args[@]}" | (cd deploy/check && go run . -)
  done
  # Values that rendered fine and crashed at pod start before the chart had a schema.
  local bad
  for bad in collector.replicas=abc agent.interval=5x kafka.brokers= clickhouse.addr= agent.provider=azur; do
    if "$HELM" template gpumeter "$CHART" --kube-version "$KUBE_VERSION" --set "$bad" >/dev/null 2>&1; then
      fail "helm template --set $bad renders: values.schema.json should refuse it"
    fi
  done
  if "$HELM" template gpumeter "$CHART" --kube-version "$KUBE_VERSION" --set-json 'kafka.brokers=[]' >/dev/null 2>&1; then
    fail "an empty broker list renders: values.schema.json should refuse it"
  fi
  log "values.schema.json refuses the bad values"
  (cd deploy/check && go run . values-doc ../helm/gpumeter/values.yaml ../helm/gpumeter/README.md) || fail "chart README"
  # The plain manifests are the chart rendered: they must not drift from it.
  HELM="$HELM" deploy/kubernetes/render.sh >/dev/null
  git diff --exit-code --stat -- deploy/kubernetes || fail "deploy/kubernetes differs from the chart rendered by render.sh: commit what it wrote"
  local pkg
  pkg=$(mktemp -d)
  "$HELM" package "$CHART" -d "$pkg" >/dev/null || fail "helm package"
  rm -rf "$pkg"
}

shell_checks() {
  local scripts=() f
  while IFS= read -r f; do
    case "$f" in
      *.sh) scripts+=("$f") ;;
      *) [ -f "$f" ] && head -n1 "$f" | grep -Eq '^#!.*\b(ba)?sh\b' && scripts+=("$f") ;;
    esac
  done < <(git ls-files --cached --others --exclude-standard)
  log "shellcheck ${#scripts[@]} scripts"
  shellcheck "${scripts[@]}" || fail "shellcheck"
}

tidy_checks() {
  local dir
  for dir in . deploy/check; do
    log "go mod tidy -diff in $dir"
    (cd "$dir" && go mod tidy -diff) || fail "go mod tidy changes $dir/go.mod or go.sum: run go mod tidy there"
  done
  # deploy/check is a module of its own: the root's vet and gofmt do not reach it.
  (cd deploy/check && go vet ./... && test -z "$(gofmt -l .)") || fail "deploy/check: go vet or gofmt"
}

image_checks() {
  local df=deploy/Dockerfile
  log "$df: static checks"
  local bp="\$BUILDPLATFORM" ta="\$TARGETARCH"
  grep -Eq "^FROM --platform=\\$bp .* AS build$" "$df" || fail "$df: the build stage must run on --platform=$bp"
  if [ "$(grep -c '^FROM ' "$df")" -ne 2 ] || grep '^FROM ' "$df" | tail -n1 | grep -q -- '--platform'; then
    fail "$df: want two stages, the runtime one on the target platform (no --platform)"
  fi
  if ! grep -qF "GOARCH=$ta" "$df" || ! grep -q 'CGO_ENABLED=1' "$df"; then
    fail "$df: the build must cross-compile with cgo for $ta"
  fi
  if grep -nE '/[^ "]*libnvidia-ml|LD_LIBRARY_PATH' "$df"; then
    fail "$df: names a library path; the NVIDIA Container Toolkit puts libnvidia-ml.so.1 where the loader finds it"
  fi
  local copied pkgdir missing=()
  copied=$(sed -nE 's|^COPY ([a-z]+)/ .*|\1|p' "$df")
  while IFS= read -r pkgdir; do
    grep -qx "${pkgdir%%/*}" <<<"$copied" || missing+=("$pkgdir")
  done < <(go list -deps -f '{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}' \
    ./agent/cmd/gpumeter-agent ./collector/cmd/gpumeter-collector | sed "s|^$REPO/||" | sort -u)
  [ "${#missing[@]}" -eq 0 ] || fail "$df: the binaries need ${missing[*]}, which the build stage does not COPY"
  local arch out want glibc
  out=$(mktemp -d)
  for arch in amd64 arm64; do
    log "cross-compile both binaries for linux/$arch with cgo ($(cross_cc "$arch"))"
    CGO_ENABLED=1 GOOS=linux GOARCH="$arch" CC="$(cross_cc "$arch")" GOFLAGS=-buildvcs=false \
      CGO_CFLAGS="-O2 -g -Wno-deprecated-declarations" go build -trimpath -ldflags="-s -w" -o "$out/$arch/" \
      ./agent/cmd/gpumeter-agent ./collector/cmd/gpumeter-collector || fail "cross-compile for linux/$arch"
    case "$arch" in amd64) want="x86-64" ;; arm64) want="ARM aarch64" ;; esac
    local bin
    for bin in "$out/$arch"/*; do
      file -b "$bin" | grep -q "ELF 64-bit LSB .*$want.*dynamically linked" || fail "$bin: $(file -b "$bin")"
      if readelf -d "$bin" | grep -q 'NEEDED.*libnvidia-ml'; then
        fail "$bin links libnvidia-ml: go-nvml must dlopen it (the image has none)"
      fi
      glibc=$(readelf -V "$bin" | grep -oE 'GLIBC_[0-9]+\.[0-9]+' | sort -uV | tail -n1)
      [ "$(printf '%s\n' "$glibc" GLIBC_2.36 | sort -V | tail -n1)" = GLIBC_2.36 ] ||
        fail "$bin needs $glibc; the runtime image (Debian 12) has glibc 2.36"
      log "  $(basename "$bin") linux/$arch: ELF $want, needs up to $glibc, NVML not linked"
    done
  done
  rm -rf "$out"
}

install
helm_checks
deploy/prometheus/check.sh
shell_checks
tidy_checks
image_checks
log "all deployment checks passed"
