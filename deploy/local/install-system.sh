#!/usr/bin/env bash
# Installs what the local stack and the tests need on a Debian machine (run as root):
# system packages from Debian, then this project with its dev extras from PyPI.
# Idempotent: apt is only consulted when something is missing.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need=()
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
command -v go >/dev/null || need+=(golang-go)
command -v curl >/dev/null || need+=(curl)
command -v prometheus >/dev/null || need+=(prometheus)
command -v promtool >/dev/null || need+=(prometheus)
command -v mosquitto >/dev/null || need+=(mosquitto)
command -v setsid >/dev/null || need+=(util-linux)
command -v openssl >/dev/null || need+=(openssl)
[[ -x /usr/sbin/mosquitto ]] || need+=(mosquitto)
# Status page tests (headless browser), report PDFs (WeasyPrint needs Pango) and their checks.
command -v chromium >/dev/null || need+=(chromium)
command -v pdftoppm >/dev/null || need+=(poppler-utils)
ldconfig -p | grep -q libpangoft2-1.0 || need+=(libpango-1.0-0 libpangoft2-1.0-0)
fc-list 2>/dev/null | grep -qi dejavu || need+=(fonts-dejavu-core)
# The ledger's PostgreSQL store is tested against a real server (initdb + postgres per run).
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || command -v postgres >/dev/null \
  || need+=(postgresql)

if ((${#need[@]})); then
  log "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null \
    || die "apt-get install ${need[*]} failed"
fi

PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
  || die "Python 3.11 is required as '$PYTHON' (set PYTHON=...)"
log "installing the project and its dev dependencies with pip"
"$PYTHON" -m pip install -q --disable-pip-version-check --root-user-action=ignore -e "$CW_REPO[dev]" \
  || die "pip install -e .[dev] failed"
