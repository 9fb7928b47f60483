#!/usr/bin/env bash
# Vendor the browser libraries of `cnmri serve` (NiiVue) from npm into the Python package, so that the web
# app loads nothing from outside the machine and `pip install` needs no npm. The result is committed
# (src/cnmri/web/static/vendor/); run this again after changing the pinned version in web/package.json.
set -euo pipefail
cd "$(dirname "$0")/.."
VENDOR=src/cnmri/web/static/vendor
command -v npm >/dev/null || { echo "vendor_web: npm is needed (Debian: apt-get install npm)" >&2; exit 2; }
(cd web && npm ci --no-audit --no-fund --ignore-scripts --omit=optional >&2)
dist=web/node_modules/@niivue/niivue/dist/index.js
# The ESM build is one self-contained file; refuse a future build that imports other modules.
if grep -qE '^import |^export \* from' "$dist"; then
  echo "vendor_web: $dist imports other modules; vendoring it alone would break the viewer" >&2
  exit 3
fi
mkdir -p "$VENDOR"
# Drop the source-map comment: the map is not vendored and the browser would request it.
sed '/^\/\/# sourceMappingURL=/d' "$dist" > "$VENDOR/niivue.js"
version=$(node -p "require('./web/node_modules/@niivue/niivue/package.json').version")
printf '@niivue/niivue %s BSD-2-Clause (c) niivue authors, https://github.com/niivue/niivue\n' "$version" \
  > "$VENDOR/NIIVUE_VERSION"
echo "vendor_web: $VENDOR/niivue.js is @niivue/niivue $version" >&2
