// Installs the Serverless Framework v3 the rendered workflows pin, for the executed workflow
// tests (plugins/scaffolder-backend-module-promotion/src/workflows/executedServerless.test.ts),
// into the cache folder they read (.toolchain/serverless-<version>, or
// MAINLINE_SERVERLESS_V3_CACHE). Cached: well under a second; cold: one `npm install`.
// Run by scripts/test.sh before the tests; `node --require @backstage/cli/config/nodeTransform.cjs
// scripts/serverless-v3.ts` by hand.
import { installServerlessV3 } from '../packages/test-servers/src/runner/serverlessV3';
import { SERVERLESS } from '../plugins/scaffolder-backend-module-promotion/src/workflows/renderWorkflows';

installServerlessV3(SERVERLESS.split('@')[1]).then(
  ({ dir, version, installMs }) => {
    process.stdout.write(
      installMs
        ? `serverless@${version} installed in ${(installMs / 1000).toFixed(
            1,
          )} s: ${dir}\n`
        : `serverless@${version} cached: ${dir}\n`,
    );
  },
  error => {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  },
);
