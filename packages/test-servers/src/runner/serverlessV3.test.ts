import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { installServerlessV3 } from './serverlessV3';

// eslint-disable-next-line no-restricted-syntax
const npx = path.join(__dirname, 'bin', 'npx');

/** `npx --yes serverless@<version> …` as a rendered workflow step runs it, in `cwd`. */
function serverless(cwd: string, env: Record<string, string>, args: string[]) {
  const result = spawnSync(npx, ['--yes', ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: cwd, ...env },
    encoding: 'utf8',
  });
  return { code: result.status, stderr: result.stderr };
}

/** A package as Serverless v3 writes it (the parts the deploy reads), compiled for `stage`. */
function writePackage(dir: string, stage: string) {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'invoices.zip'), 'zip bytes');
  fs.writeFileSync(
    path.join(dir, 'serverless-state.json'),
    JSON.stringify({
      service: {
        service: 'invoices',
        provider: { name: 'aws', stage: 'dev', region: 'eu-west-1' },
        functions: { handler: { name: `invoices-${stage}-handler` } },
      },
      package: {
        artifactDirectoryName: `serverless/invoices/${stage}/1`,
        artifact: 'invoices.zip',
      },
    }),
  );
  fs.writeFileSync(
    path.join(dir, 'cloudformation-template-update-stack.json'),
    JSON.stringify({
      Resources: {
        HandlerLogGroup: { Type: 'AWS::Logs::LogGroup', Properties: {} },
        HandlerLambdaFunction: {
          Type: 'AWS::Lambda::Function',
          Properties: { FunctionName: `invoices-${stage}-handler` },
        },
      },
    }),
  );
}

describe('Serverless v3 in the workflow runner', () => {
  let work: string;
  beforeEach(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'serverless-v3-'));
  });
  afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

  it('refuses to package with another version than the workflow pins', () => {
    const installed = path.join(work, 'serverless');
    fs.mkdirSync(installed);
    fs.writeFileSync(
      path.join(installed, 'package.json'),
      JSON.stringify({ name: 'serverless', version: '3.39.0' }),
    );
    const result = serverless(work, { MAINLINE_SERVERLESS_V3: installed }, [
      'serverless@3.40.0',
      'package',
      '--stage',
      'stage',
      '--region',
      'eu-west-1',
      '--package',
      'package/stage',
    ]);
    expect(result).toEqual({
      code: 1,
      stderr: `serverless: the workflow runs serverless@3.40.0, the runner has 3.39.0 (${installed})\n`,
    });
  });

  it("deploys a v3 package only to the stage compiled into it, and records the stage's function", () => {
    const deploys = path.join(work, 'deploys.jsonl');
    writePackage(path.join(work, 'stage'), 'stage');
    const deploy = (stage: string) =>
      serverless(work, { SERVERLESS_STAND_IN_DEPLOYS: deploys }, [
        'serverless@3.40.0',
        'deploy',
        '--stage',
        stage,
        '--region',
        'eu-west-1',
        '--package',
        path.join(work, 'stage'),
      ]);
    expect(deploy('demo')).toEqual({
      code: 1,
      stderr:
        'serverless stand-in: the package was compiled for another stage (function invoices-stage-handler), not demo\n',
    });
    expect(fs.existsSync(deploys)).toBe(false);
    expect(deploy('stage').code).toBe(0);
    expect(JSON.parse(fs.readFileSync(deploys, 'utf8'))).toEqual({
      service: 'invoices',
      stage: 'stage',
      region: 'eu-west-1',
      function: 'invoices-stage-handler',
      codeSha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
  });

  it('refuses a version that is not an exact v3 one before installing anything', async () => {
    await expect(
      installServerlessV3('4.0.0', { cacheRoot: work }),
    ).rejects.toThrow('serverless 4.0.0 is not an exact v3 version');
    expect(fs.readdirSync(work)).toEqual([]);
  });
});
