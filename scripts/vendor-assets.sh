#!/usr/bin/env bash
# The console's vendored browser libraries (crates/sluice/assets/vendor/), fetched from npm at
# pinned versions and checked against the SHA-256 sums committed beside them. The files are
# committed and embedded in the binary at build time (include_bytes!): building needs neither
# npm nor the network, and no page of the console loads anything from elsewhere.
#
#   scripts/vendor-assets.sh           # fetch the pinned versions again and check the sums
#   scripts/vendor-assets.sh --update  # write the fetched files and their new sums
set -euo pipefail
cd "$(dirname "$0")/.."
vendor=crates/sluice/assets/vendor
update=false
[ "${1:-}" = "--update" ] && update=true

# package@version | file in the package | file here
files=(
  "htmx.org@2.0.11|package/dist/htmx.min.js|htmx.min.js"
  "htmx.org@2.0.11|package/LICENSE|htmx.LICENSE"
  # The session page's terminal replay (its emulator is WebAssembly inside the bundle).
  "asciinema-player@3.18.0|package/dist/bundle/asciinema-player.min.js|asciinema-player.min.js"
  "asciinema-player@3.18.0|package/dist/bundle/asciinema-player.css|asciinema-player.css"
  "asciinema-player@3.18.0|package/LICENSE|asciinema-player.LICENSE"
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for row in "${files[@]}"; do
  IFS='|' read -r pkg inner here <<<"$row"
  dir="$work/${pkg//[@\/]/_}"
  if [ ! -d "$dir" ]; then
    mkdir -p "$dir"
    (cd "$dir" && npm pack "$pkg" --silent >/dev/null && tar xzf ./*.tgz)
  fi
  if $update; then
    cp "$dir/$inner" "$vendor/$here"
  elif ! cmp -s "$dir/$inner" "$vendor/$here"; then
    echo "vendor-assets: $vendor/$here differs from $pkg's $inner" >&2
    exit 1
  fi
done
if $update; then
  here_files=()
  for row in "${files[@]}"; do here_files+=("${row##*|}"); done
  (cd "$vendor" && sha256sum "${here_files[@]}" > SHA256SUMS)
fi
(cd "$vendor" && sha256sum --quiet -c SHA256SUMS)
echo "vendor-assets: $(wc -l < "$vendor/SHA256SUMS") files match their pinned packages and sums"
