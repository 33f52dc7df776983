#!/usr/bin/env bash
# Debian packages the tests need, installed when missing: chromium (the dashboard's browser
# test drives /usr/bin/chromium; nothing downloads a browser) and PostgreSQL 15 (the suite's
# PostgreSQL run starts its own cluster from /usr/lib/postgresql/15/bin).
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "missing Debian packages (${missing[*]}) and no way to install them: run as root or install sudo" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
