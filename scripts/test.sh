#!/usr/bin/env bash
# Every check, in the order that fails fastest. Run through ./mainline test, which has set PATH.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# No Docker engine on these machines: Backstage's TestDatabases use SQLite, plus PostgreSQL 15 when
# BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING points at a server (.ci/run starts one).
export BACKSTAGE_TEST_DISABLE_DOCKER=1

step() { printf '\n=== %s\n' "$*"; }
started=$SECONDS

step "format (prettier)"
yarn prettier --check . --loglevel warn

step "OpenAPI module up to date"
node scripts/openapi-generate.mjs plugins/promotion-backend --check

step "lint"
yarn backstage-cli repo lint

step "type check"
# From nothing, as on a fresh clone: an incremental build orders inferred unions differently in the
# declarations the API reports read.
rm -rf dist-types
yarn tsc

# Reads the declarations the type check just wrote to dist-types/; fails when a package's public API
# changed without its report (yarn build:api-reports writes them, every package under plugins/).
step "API reports up to date"
yarn build:api-reports:only --ci

step "release metadata (license, repository.directory, CHANGELOG.md, API report)"
node scripts/release-check.mjs

# The executed Serverless workflows package with the real framework, which is not in the lockfile:
# installed here once (cold: one npm install, docs/workflow.md has the numbers), not in a test.
step "Serverless v3 for the executed workflows"
node --require @backstage/cli/config/nodeTransform.cjs scripts/serverless-v3.ts

step "unit and integration tests"
if [[ -n "${BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING:-}" ]]; then
  echo "databases: SQLite and PostgreSQL 15"
else
  echo "databases: SQLite (set BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING to add PostgreSQL 15)"
fi
CI=true yarn backstage-cli repo test --maxWorkers=2

step "benchmark smoke run (numbers: yarn bench, docs/performance.md)"
yarn bench --quick

step "browser end-to-end"
node scripts/e2e.mjs

# A fresh create-app app with the packed packages (docs/adopting.md): minutes of install and start,
# so only on request.
if [[ "${MAINLINE_ADOPTION_CHECK:-}" == "1" ]]; then
  step "adoption check (fresh create-app app, packed packages)"
  node scripts/adoption-check.mjs
fi

printf '\nall checks passed in %ss\n' "$((SECONDS - started))"
