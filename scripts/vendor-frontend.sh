#!/usr/bin/env bash
# Vendors the dashboard's (and /docs') front-end libraries from the npm registry into
# src/chronos/server/dashboard/static/vendor/ and records name, version, file and SHA-256 in
# vendor.json there, with the npm tarball's SHA-512 (checked against the registry's). Run it
# to upgrade (edit the versions below); `pip install` never needs
# Node. tests/dashboard/test_assets.py checks the files still match vendor.json.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=src/chronos/server/dashboard/static/vendor
# package@version  file-inside-the-package  name-in-vendor/
LIBS=(
  "htmx.org@2.0.8 dist/htmx.min.js htmx.min.js"
  "uplot@1.6.32 dist/uPlot.iife.min.js uPlot.iife.min.js"
  "uplot@1.6.32 dist/uPlot.min.css uPlot.min.css"
  # /docs (Swagger UI), served from the package so it works offline (api/docs.py).
  "swagger-ui-dist@5.35.0 swagger-ui-bundle.js swagger-ui-bundle.js"
  "swagger-ui-dist@5.35.0 swagger-ui.css swagger-ui.css"
)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$DEST"
echo "[" > "$work/vendor.json"
first=1
for entry in "${LIBS[@]}"; do
  read -r spec inner name <<<"$entry"
  tarball=$(cd "$work" && npm pack --silent "$spec")
  # The tarball must be the one the registry published (its recorded SHA-512).
  integrity=$(npm view "$spec" dist.integrity)
  actual="sha512-$(openssl dgst -sha512 -binary "$work/$tarball" | base64 -w0)"
  if [ "$integrity" != "$actual" ]; then
    echo "$spec: tarball checksum $actual does not match the registry's $integrity" >&2
    exit 1
  fi
  mkdir -p "$work/x" && tar -xzf "$work/$tarball" -C "$work/x"
  cp "$work/x/package/$inner" "$DEST/$name"
  rm -rf "$work/x"
  sum=$(sha256sum "$DEST/$name" | cut -d' ' -f1)
  [ $first -eq 1 ] || echo "," >> "$work/vendor.json"
  first=0
  printf '  {"package": "%s", "version": "%s", "source": "%s", "file": "%s", "sha256": "%s", "integrity": "%s"}' \
    "${spec%@*}" "${spec##*@}" "$inner" "$name" "$sum" "$integrity" >> "$work/vendor.json"
done
printf '\n]\n' >> "$work/vendor.json"
cp "$work/vendor.json" "$DEST/vendor.json"
echo "vendored into $DEST:"
cat "$DEST/vendor.json"
