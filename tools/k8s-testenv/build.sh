#!/usr/bin/env bash
# Builds the control-plane binaries the test suite runs (kube-apiserver,
# kube-controller-manager, kube-scheduler, etcd, helm) from source with the Go
# toolchain, and caches them by version outside the repository:
#
#   ${UGALLU_CACHE_DIR:-$HOME/.cache/ugallu}/k8s/<kubernetes version>/{kube-apiserver,kube-controller-manager,kube-scheduler,etcd}
#   ${UGALLU_CACHE_DIR:-$HOME/.cache/ugallu}/helm/<helm version>/helm
#
# A binary is built only when it is missing or reports another version. Each
# one is written under a temporary name and renamed into place once complete,
# so an interrupted build is never mistaken for a finished one.
#
# Usage:
#   build.sh            build what is missing, then print the paths as JSON
#   build.sh --paths    print the paths as JSON without building (exit 0)
#   build.sh --check    exit 1 (listing what is missing) unless all are built
#   build.sh --force    rebuild everything
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "${here}/versions.env"

cache_root="${UGALLU_CACHE_DIR:-${HOME}/.cache/ugallu}"
k8s_dir="${cache_root}/k8s/${KUBERNETES_VERSION}"
helm_dir="${cache_root}/helm/${HELM_VERSION}"
kube_apiserver_bin="${k8s_dir}/kube-apiserver"
kube_controller_manager_bin="${k8s_dir}/kube-controller-manager"
kube_scheduler_bin="${k8s_dir}/kube-scheduler"
etcd_bin="${k8s_dir}/etcd"
helm_bin="${helm_dir}/helm"

kube_minor="${KUBERNETES_VERSION#v1.}"
kube_minor="${kube_minor%%.*}"

log() { printf '[k8s-testenv] %s\n' "$*" >&2; }

print_paths() {
  cat <<JSON
{
  "kubernetesVersion": "${KUBERNETES_VERSION}",
  "etcdVersion": "${ETCD_VERSION}",
  "helmVersion": "${HELM_VERSION}",
  "kubeApiserver": "${kube_apiserver_bin}",
  "kubeControllerManager": "${kube_controller_manager_bin}",
  "kubeScheduler": "${kube_scheduler_bin}",
  "etcd": "${etcd_bin}",
  "helm": "${helm_bin}"
}
JSON
}

# The first line a binary prints for its version flag, or nothing if it does
# not run (a truncated or foreign file).
reported_version() {
  local bin="$1"
  shift
  [[ -x "${bin}" ]] || return 0
  "${bin}" "$@" 2>/dev/null | head -n 1 || true
}

kube_ok() { [[ "$(reported_version "$1" --version)" == "Kubernetes ${KUBERNETES_VERSION}" ]]; }
kube_apiserver_ok() { kube_ok "${kube_apiserver_bin}"; }
kube_controller_manager_ok() { kube_ok "${kube_controller_manager_bin}"; }
kube_scheduler_ok() { kube_ok "${kube_scheduler_bin}"; }
etcd_ok() { [[ "$(reported_version "${etcd_bin}" --version)" == "etcd Version: ${ETCD_VERSION#v}" ]]; }
helm_ok() { [[ "$(reported_version "${helm_bin}" version --short)" == "${HELM_VERSION}" ]]; }

require_go() {
  command -v go >/dev/null 2>&1 || {
    log "the Go toolchain (go 1.26 or newer) is needed to build the control plane; it is not on PATH"
    exit 1
  }
}

# go_build <module dir> <package> <output> [ldflags]
# Builds into a temporary file beside the output and renames it into place.
go_build() {
  local module_dir="$1" package="$2" output="$3" ldflags="${4:-}"
  local tmp="${output}.tmp.$$"
  mkdir -p "$(dirname "${output}")"
  rm -f "${tmp}"
  # Remove the partial file if this build is interrupted or fails.
  trap 'rm -f "'"${tmp}"'"' EXIT
  local started=${SECONDS}
  (
    cd "${here}/${module_dir}"
    # -mod=readonly: the committed go.mod/go.sum decide every dependency.
    CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "-s -w ${ldflags}" -o "${tmp}" "${package}"
  )
  chmod 0755 "${tmp}"
  mv -f "${tmp}" "${output}"
  trap - EXIT
  log "built ${output} in $((SECONDS - started))s"
}

# go_build_many <module dir> <output dir> <ldflags> <package>...
# Builds several main packages in one `go build` (one dependency graph, its
# packages compiled once, the links run in parallel) into a temporary
# directory beside the outputs, then renames each binary into place.
go_build_many() {
  local module_dir="$1" output_dir="$2" ldflags="$3"
  shift 3
  local tmp="${output_dir}/.tmp.$$"
  rm -rf "${tmp}"
  mkdir -p "${tmp}"
  trap 'rm -rf "'"${tmp}"'"' EXIT
  local started=${SECONDS}
  (
    cd "${here}/${module_dir}"
    CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "-s -w ${ldflags}" -o "${tmp}/" "$@"
  )
  local package name
  for package in "$@"; do
    name="${package##*/}"
    chmod 0755 "${tmp}/${name}"
    mv -f "${tmp}/${name}" "${output_dir}/${name}"
  done
  rm -rf "${tmp}"
  trap - EXIT
  log "built ${*##*/} in $((SECONDS - started))s"
}

# build_kubernetes <command>...: kube-apiserver, kube-controller-manager,
# kube-scheduler, the ones named, from the one k8s.io/kubernetes module.
build_kubernetes() {
  # buildDate is the release's commit time as recorded by the module proxy,
  # which is what upstream's reproducible builds use (SOURCE_DATE_EPOCH).
  # gitCommit stays empty: the module proxy does not carry the commit hash.
  local build_date
  build_date="$(cd "${here}/kube-apiserver" && go list -mod=readonly -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)"
  local ldflags="" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X ${pkg}.gitVersion=${KUBERNETES_VERSION}"
    ldflags+=" -X ${pkg}.gitMajor=1"
    ldflags+=" -X ${pkg}.gitMinor=${kube_minor}"
    ldflags+=" -X ${pkg}.gitCommit="
    ldflags+=" -X ${pkg}.gitTreeState=clean"
    ldflags+=" -X ${pkg}.buildDate=${build_date}"
  done
  log "building $* ${KUBERNETES_VERSION} (kube-apiserver alone: 7-15 minutes on two cores with a cold Go build cache; kube-controller-manager and kube-scheduler add 2-3)"
  go_build_many kube-apiserver "${k8s_dir}" "${ldflags}" "${@/#/k8s.io/kubernetes/cmd/}"
}

build_etcd() {
  log "building etcd ${ETCD_VERSION} (1-3 minutes when cold)"
  go_build etcd go.etcd.io/etcd/server/v3 "${etcd_bin}"
}

build_helm() {
  # Without these, helm's built-in capabilities claim Kubernetes v1.20 and
  # `helm template` renders charts against that (see helm's Makefile).
  local ldflags=""
  ldflags+=" -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}"
  ldflags+=" -X helm.sh/helm/v3/internal/version.metadata="
  ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  ldflags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1"
  ldflags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=${kube_minor}"
  ldflags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1"
  ldflags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=${kube_minor}"
  log "building helm ${HELM_VERSION} (about 5 minutes when cold)"
  go_build helm helm.sh/helm/v3/cmd/helm "${helm_bin}" "${ldflags}"
}

# The wrapper modules must pin what versions.env says; they are regenerated
# together by update-modules.sh.
check_modules() {
  local stale=()
  grep -q "k8s.io/kubernetes ${KUBERNETES_VERSION}\( \|\$\)" "${here}/kube-apiserver/go.mod" || stale+=(kube-apiserver)
  grep -q "go.etcd.io/etcd/server/v3 ${ETCD_VERSION}\( \|\$\)" "${here}/etcd/go.mod" || stale+=(etcd)
  grep -q "helm.sh/helm/v3 ${HELM_VERSION}\( \|\$\)" "${here}/helm/go.mod" || stale+=(helm)
  if ((${#stale[@]} > 0)); then
    log "the wrapper modules ${stale[*]} do not match versions.env; run tools/k8s-testenv/update-modules.sh ${stale[*]}"
    exit 1
  fi
}

verify() {
  local name="$1" check="$2"
  "${check}" || {
    log "${name} was built but does not report the expected version; see the output above"
    exit 1
  }
}

# Everything runs from main, called on the last line: bash reads a script as
# it goes, and a function is parsed whole before it runs, so editing or
# checking out this file during a long build cannot change what runs.
main() {
  mode="build"
  case "${1:-}" in
    "") ;;
    --paths) print_paths; exit 0 ;;
    --check) mode="check" ;;
    --force) mode="force" ;;
    -h | --help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) log "unknown argument $1 (try --help)"; exit 2 ;;
  esac

  if [[ "${mode}" == "check" ]]; then
    missing=0
    kube_apiserver_ok || { log "missing: ${kube_apiserver_bin}"; missing=1; }
    kube_controller_manager_ok || { log "missing: ${kube_controller_manager_bin}"; missing=1; }
    kube_scheduler_ok || { log "missing: ${kube_scheduler_bin}"; missing=1; }
    etcd_ok || { log "missing: ${etcd_bin}"; missing=1; }
    helm_ok || { log "missing: ${helm_bin}"; missing=1; }
    exit "${missing}"
  fi

  # Make an interrupted build exit through the EXIT trap that removes its
  # partial output.
  trap 'exit 130' INT
  trap 'exit 143' TERM

  check_modules
  mkdir -p "${k8s_dir}" "${helm_dir}"
  # Two test runs that both find the binaries missing build them once: the
  # second waits here, then finds them present.
  if command -v flock >/dev/null 2>&1; then
    exec 9>"${cache_root}/.build.lock"
    if ! flock -n 9; then
      log "another build holds ${cache_root}/.build.lock; waiting for it"
      flock 9
    fi
    # Holding the lock, any temporary file left is from a build that was killed.
    rm -rf "${k8s_dir}"/*.tmp.* "${k8s_dir}"/.tmp.* "${helm_dir}"/*.tmp.*
  fi

  total_started=${SECONDS}
  built=0
  # The Kubernetes commands that are missing, built together.
  kube_missing=()
  for command in kube-apiserver kube-controller-manager kube-scheduler; do
    if [[ "${mode}" == "force" ]] || ! "${command//-/_}_ok"; then
      kube_missing+=("${command}")
    else
      log "${command} ${KUBERNETES_VERSION}: cached in ${k8s_dir}"
    fi
  done
  if ((${#kube_missing[@]} > 0)); then
    require_go; build_kubernetes "${kube_missing[@]}"
    for command in "${kube_missing[@]}"; do verify "${command}" "${command//-/_}_ok"; done
    built=1
  fi
  if [[ "${mode}" == "force" ]] || ! etcd_ok; then
    require_go; build_etcd; verify etcd etcd_ok; built=1
  else
    log "etcd ${ETCD_VERSION}: cached at ${etcd_bin}"
  fi
  if [[ "${mode}" == "force" ]] || ! helm_ok; then
    require_go; build_helm; verify helm helm_ok; built=1
  else
    log "helm ${HELM_VERSION}: cached at ${helm_bin}"
  fi
  if ((built)); then
    log "control-plane binaries ready in $((SECONDS - total_started))s"
  fi
  print_paths
}

main "$@"
