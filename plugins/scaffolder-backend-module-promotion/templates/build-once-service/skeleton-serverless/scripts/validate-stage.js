// Stage validation, run by .github/workflows/mainline-validate-stage.yaml once the stage deploy
// of the commit (COMMIT_SHA) has finished; a failure yanks that commit. Replace with your
// end-to-end suite.
//
// With STAGE_URL (the repository variable: the stage function's URL or API) it checks stage
// itself. Without it, it calls this commit's handler locally: a real check of the code, not of
// stage, so set STAGE_URL once stage has an address.
const { main } = require('../handler');

const expected = '${{ values.name }}';

async function run() {
  if (process.env.STAGE_URL) {
    const res = await fetch(process.env.STAGE_URL, { signal: AbortSignal.timeout(10_000) });
    const body = await res.text();
    if (res.status !== 200 || body !== expected) {
      throw new Error(`${process.env.STAGE_URL} answered ${res.status} ${JSON.stringify(body)}, expected 200 ${JSON.stringify(expected)}`);
    }
    console.log(`${process.env.STAGE_URL} answered 200 ${JSON.stringify(body)}`);
    return;
  }
  console.log('::warning::STAGE_URL is not set: checking this commit locally instead of stage');
  const result = await main({});
  if (result.statusCode !== 200 || result.body !== expected) {
    throw new Error(`the handler answered ${JSON.stringify(result)}`);
  }
  console.log(`the handler answered 200 ${JSON.stringify(result.body)}`);
}

run().catch(error => {
  console.error(`::error::stage validation failed: ${error.message}`);
  process.exit(1);
});
