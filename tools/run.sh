#!/usr/bin/env bash
# `make run`: start Vireo on this machine with a local host and a demo VM.
# Idempotent: a second run changes nothing; it restarts vireod if it died.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/lib.sh

STATE=${VIREO_STATE_DIR:-/var/lib/vireo}
LISTEN=${VIREO_LISTEN:-127.0.0.1:8780}
URL="https://$LISTEN"
CA="$STATE/tls/ca.pem"   # made by vireod at its first start
GUEST=/var/cache/vireo/guest
VIREOD=${VIREOD_BIN:-/usr/local/sbin/vireod}
VIREO=${VIREO_BIN:-/usr/local/bin/vireo}

# 2 MiB huge pages for guests that ask for them (VIREO_HUGEPAGES=0: none)
if [ "${VIREO_HUGEPAGES:-64}" -gt 0 ]; then
  vr_ensure_hugepages "${VIREO_HUGEPAGES:-64}"
fi
vr_ensure_libvirt
tools/mkguest.sh "$GUEST"

alive() {
  [ -f "$STATE/vireod.pid" ] && kill -0 "$(cat "$STATE/vireod.pid")" 2>/dev/null
}
answers() {
  [ -f "$CA" ] && curl -fs -o /dev/null --max-time 2 --cacert "$CA" \
    "$URL/api/v1/health"
}
if alive && answers; then
  echo "vireod is running (pid $(cat "$STATE/vireod.pid"))"
else
  if alive; then
    # running but not answering here (an older version, another address):
    # restart it; VMs keep running and are adopted
    echo "vireod (pid $(cat "$STATE/vireod.pid")) does not answer on $URL;" \
      "restarting it"
    VIREO_STATE_DIR=$STATE tools/stop.sh
  fi
  echo "starting vireod (state in $STATE, log in $STATE/vireod.log)"
  "$VIREOD" --daemon --state-dir "$STATE" --listen "$LISTEN"
fi

# root's CLI: a token now, renewed from the password file when it expires
export VIREO_URL="$URL"
if ! "$VIREO" host list >/dev/null 2>&1; then
  "$VIREO" login --user admin --password-file "$STATE/admin-password" \
    --ca-file "$CA" >/dev/null
fi
PIN=$(certtool -i --infile "$STATE/tls/server.pem" \
  | sed -n 's|.*pin-sha256:|sha256//|p' | head -1)

if ! "$VIREO" image show guest >/dev/null 2>&1; then
  "$VIREO" image create guest --file "$GUEST/vireo-guest.qcow2"
fi
if ! "$VIREO" vm show demo >/dev/null 2>&1; then
  "$VIREO" vm create demo --image guest --cpu 1 --memory 256M --wait
fi

cat <<MSG

Vireo is running.
  API:          $URL/api/v1   (OpenAPI: $URL/api/v1/openapi.json)
  TLS:          CA certificate $CA
                server key pin $PIN
                (curl --cacert $CA ...; from another machine:
                 vireo --url https://HOST:PORT login --fingerprint $PIN)
  admin user:   admin; password in $STATE/admin-password (root only)
  CLI:          root is logged in (~/.config/vireo/config.json)
  state, log:   $STATE, $STATE/vireod.log

Try:
  vireo host list
  vireo vm list
  vireo vm console-log demo
  vireo vm create web1 --image guest --cpu 1 --memory 256M --wait
  vireo vm stop web1 --wait && vireo vm delete web1 --wait
Stop the daemon with 'make stop' (VMs keep running).
MSG
