#!/usr/bin/env bash
# pgvector for Debian 12's PostgreSQL 15, built from Debian's own source package (trixie's pgvector 0.8.0; Debian 12
# packages none): for running the tests (DASR_TEST_POSTGRES) and `npm run bench -- cluster-index` against a real
# server. Needs root and Debian's archive; the test suite itself does not need it (it uses PGlite).
set -euo pipefail
VERSION=0.8.0
SHA256=867a2c328d4928a5a9d6f052cd3bc78c7d60228a9b914ad32aa3db88e9de27b0 # trixie's Sources, pgvector_0.8.0.orig.tar.gz
apt-get install -y --no-install-recommends postgresql-15 postgresql-server-dev-15 build-essential curl ca-certificates
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
curl -fsSL -o "$work/pgvector.tar.gz" "https://deb.debian.org/debian/pool/main/p/pgvector/pgvector_${VERSION}.orig.tar.gz"
echo "$SHA256  $work/pgvector.tar.gz" | sha256sum -c -
tar -xzf "$work/pgvector.tar.gz" -C "$work"
# OPTFLAGS="": no -march=native, so the build runs on any x86-64 (as the pgvector/pgvector image's does);
# with_llvm=no: no JIT bitcode, which would need clang.
make -C "$work/pgvector-${VERSION}" OPTFLAGS="" with_llvm=no
make -C "$work/pgvector-${VERSION}" install with_llvm=no
echo "pgvector ${VERSION} installed for PostgreSQL 15: CREATE EXTENSION vector; in a database to use it"
