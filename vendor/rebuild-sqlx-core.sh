#!/usr/bin/env bash
# Rebuilds vendor/sqlx-core from the released crate plus vendor/sqlx-core.patch.
#
#   vendor/rebuild-sqlx-core.sh            # rewrites vendor/sqlx-core
#   vendor/rebuild-sqlx-core.sh OUT_DIR    # writes the result to OUT_DIR instead (CI compares)
#
# The crate comes from Cargo's download cache (~/.cargo/registry/cache); when it is not
# there, Cargo downloads it from crates.io through a throw-away project. Its SHA-256 is
# pinned below (the checksum crates.io's index gives for sqlx-core 0.9.0), so a changed
# download fails instead of being vendored. To move to another release: change VERSION and
# SHA256, rebuild, and refresh the patch (see vendor/README.md).
set -euo pipefail

VERSION=0.9.0
SHA256=05b44e85bf579a8eeb4ceaa77a3a523baf2bf0e9bac7e40f405d537b5d2d5ccb

here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/sqlx-core}"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"

find_crate() {
  compgen -G "$cargo_home/registry/cache/*/sqlx-core-$VERSION.crate" | head -n 1 || true
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

crate="$(find_crate)"
if [ -z "$crate" ]; then
  echo "sqlx-core $VERSION is not in Cargo's cache; fetching it from crates.io" >&2
  mkdir -p "$work/fetch/src"
  printf '[package]\nname = "fetch-sqlx-core"\nversion = "0.0.0"\nedition = "2021"\n\n[workspace]\n\n[dependencies]\nsqlx-core = { version = "=%s", default-features = false }\n' \
    "$VERSION" >"$work/fetch/Cargo.toml"
  : >"$work/fetch/src/lib.rs"
  cargo fetch --quiet --manifest-path "$work/fetch/Cargo.toml"
  crate="$(find_crate)"
  [ -n "$crate" ] || { echo "cargo fetch did not leave sqlx-core-$VERSION.crate in $cargo_home/registry/cache" >&2; exit 1; }
fi
echo "$SHA256  $crate" | sha256sum --check --quiet - \
  || { echo "$crate does not have the pinned SHA-256 $SHA256" >&2; exit 1; }

tar -xzf "$crate" -C "$work"
# No fuzz: a patch that no longer applies exactly is not the change that was reviewed.
patch --quiet --forward --batch --fuzz=0 --no-backup-if-mismatch -p1 \
  -d "$work/sqlx-core-$VERSION" <"$here/sqlx-core.patch" \
  || { echo "sqlx-core.patch does not apply to sqlx-core $VERSION" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$(dirname "$out")"
mv "$work/sqlx-core-$VERSION" "$out"
echo "sqlx-core $VERSION + sqlx-core.patch -> $out"
