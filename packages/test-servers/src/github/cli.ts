/*
 * Serves a directory of bare repositories (`<dir>/<owner>/<name>.git`) as a GitHub API on a fixed
 * port, for running the backend in GitHub mode on a laptop:
 *
 *   node --require @backstage/cli/config/nodeTransform.cjs \
 *     packages/test-servers/src/github/cli.ts --root <dir> [--port 7070] [--token <t>] \
 *     [--complete-runs-after-ms 3000] [--accept-any-workflow]
 */
import { parseArgs } from 'node:util';
import { startGitHubTestServer } from './GitHubTestServer';

async function main() {
  const { values } = parseArgs({
    options: {
      root: { type: 'string' },
      port: { type: 'string', default: '7070' },
      host: { type: 'string', default: '127.0.0.1' },
      token: { type: 'string' },
      login: { type: 'string' },
      'latency-ms': { type: 'string', default: '0' },
      'complete-runs-after-ms': { type: 'string' },
      'accept-any-workflow': { type: 'boolean', default: false },
    },
  });
  if (!values.root) {
    process.stderr.write(
      'usage: cli.ts --root <dir> [--port 7070] [--token <t>]\n',
    );
    process.exit(2);
  }
  const completeAfter = values['complete-runs-after-ms'];
  const server = await startGitHubTestServer({
    root: values.root,
    port: Number(values.port),
    host: values.host,
    token: values.token,
    login: values.login,
    latencyMs: Number(values['latency-ms']),
    acceptAnyWorkflow: values['accept-any-workflow'],
    autoCompleteRuns:
      completeAfter !== undefined
        ? { afterMs: Number(completeAfter) }
        : undefined,
  });
  process.stdout.write(`${server.baseUrl}\n`);
  const stop = () => {
    server.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch(error => {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exit(1);
});
