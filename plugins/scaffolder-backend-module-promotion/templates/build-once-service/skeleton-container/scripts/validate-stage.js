// Stage validation, run by .github/workflows/mainline-validate-stage.yaml once stage runs the
// commit (COMMIT_SHA); a failure yanks that commit. Replace with your end-to-end suite.
//
// With STAGE_URL (the repository variable) it checks stage itself. Without it, it starts this
// commit's server locally and checks that: a real check of the code, not of stage, so set
// STAGE_URL once stage has an address.
const { once } = require('node:events');
const { createServer } = require('../index');

const expected = '${{ values.name }}\n';

async function check(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const body = await res.text();
  if (res.status !== 200 || body !== expected) {
    throw new Error(`${url} answered ${res.status} ${JSON.stringify(body)}, expected 200 ${JSON.stringify(expected)}`);
  }
  console.log(`${url} answered 200 ${JSON.stringify(body)}`);
}

async function main() {
  if (process.env.STAGE_URL) {
    await check(process.env.STAGE_URL);
    return;
  }
  console.log('::warning::STAGE_URL is not set: checking this commit locally instead of stage');
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    await check(`http://127.0.0.1:${server.address().port}/`);
  } finally {
    server.close();
  }
}

main().catch(error => {
  console.error(`::error::stage validation failed: ${error.message}`);
  process.exit(1);
});
