import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Ajv2020, { ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { GitHubTestServer, startGitHubTestServer } from './GitHubTestServer';
import { seedRepository } from './seedRepository';

const run = promisify(execFile);
const ADMIN = 'admin-token';
const WRITER = 'writer-token';
const SECRET = 'hook-secret';

/** GitHub's published webhook schemas (`@octokit/openapi-webhooks`, api.github.com). */
const spec = JSON.parse(
  fs.readFileSync(
    path.join(
      path.dirname(require.resolve('@octokit/openapi-webhooks/package.json')),
      'generated/api.github.com.json',
    ),
    'utf8',
  ),
);
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addFormat('uri-template', true);
ajv.addSchema({ $id: 'webhooks', components: spec.components });
const validators = new Map<string, ValidateFunction>();

/** The spec's schema of `event` (with `action`): `push`, `workflow-run-completed`, … */
function schemaOf(event: string, action?: unknown): ValidateFunction {
  const key = [event, action]
    .filter(x => typeof x === 'string')
    .join('-')
    .replace(/_/g, '-');
  let validate = validators.get(key);
  if (!validate) {
    const ref = spec.webhooks[key]?.post.requestBody.content['application/json']
      .schema.$ref as string | undefined;
    if (!ref) throw new Error(`no webhook schema for ${key}`);
    validate = ajv.compile({ $ref: `webhooks${ref}` });
    validators.set(key, validate);
  }
  return validate;
}

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  event: string;
  payload: any;
}

async function git(cwd: string, ...args: string[]) {
  const { stdout } = await run('git', args, {
    cwd,
    env: {
      ...process.env,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_TERMINAL_PROMPT: '0',
      GIT_AUTHOR_NAME: 'Dev',
      GIT_AUTHOR_EMAIL: 'dev@example.com',
      GIT_COMMITTER_NAME: 'Dev',
      GIT_COMMITTER_EMAIL: 'dev@example.com',
    },
  });
  return stdout.trim();
}

describe('repository webhooks', () => {
  let root: string;
  let github: GitHubTestServer;
  let receiver: http.Server;
  let url: string;
  let answer = 202;
  const received: Received[] = [];

  const api = async (
    method: string,
    pathname: string,
    body?: unknown,
    token = ADMIN,
  ) => {
    const res = await fetch(`${github.baseUrl}${pathname}`, {
      method,
      headers: {
        authorization: `token ${token}`,
        'content-type': 'application/json',
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };

  let validated = 0;
  /**
   * What arrived since the last call, once the server has delivered everything queued; every
   * payload the server sent meanwhile (failed deliveries too) must match GitHub's schema.
   */
  const take = async () => {
    await github.webhooksSettled();
    const sent = github.webhookDeliveries().slice(validated);
    validated += sent.length;
    for (const delivery of sent) {
      const validate = schemaOf(delivery.event, delivery.payload.action);
      expect({
        event: delivery.event,
        valid: validate(delivery.payload),
        errors: validate.errors ?? null,
      }).toEqual({ event: delivery.event, valid: true, errors: null });
    }
    return received.splice(0);
  };

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'hooks-'));
    fs.mkdirSync(path.join(root, 'acme'));
    seedRepository(root, 'acme/app', { 'README.md': 'hello\n' });
    github = await startGitHubTestServer({
      root,
      token: ADMIN,
      tokens: { [WRITER]: { login: 'writer', role: 'write' } },
    });
    receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', chunk => {
        body += chunk;
      });
      req.on('end', () => {
        const json = String(req.headers['content-type']).includes('form')
          ? new URLSearchParams(body).get('payload')!
          : body;
        received.push({
          headers: req.headers,
          body,
          event: String(req.headers['x-github-event']),
          payload: JSON.parse(json),
        });
        res.writeHead(answer).end();
      });
    });
    await new Promise<void>(resolve =>
      receiver.listen(0, '127.0.0.1', resolve),
    );
    url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  });

  afterAll(async () => {
    await github?.close();
    await new Promise(resolve => receiver?.close(resolve));
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("judges payloads by GitHub's schemas", () => {
    // The check below can fail: a push without its repository, pusher and commits is refused.
    const validate = schemaOf('push');
    expect(validate({ ref: 'refs/heads/main' })).toBe(false);
    expect(validate.errors!.map(e => e.params)).toContainEqual({
      missingProperty: 'repository',
    });
  });

  it('creates a hook, shows it without its secret, pings it signed', async () => {
    const created = await api('POST', '/repos/acme/app/hooks', {
      config: { url, content_type: 'json', secret: SECRET },
      events: ['*'],
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      type: 'Repository',
      name: 'web',
      active: true,
      events: ['*'],
      config: { url, content_type: 'json', secret: '********' },
    });
    const [ping] = await take();
    expect(ping.event).toBe('ping');
    expect(ping.headers['x-github-hook-id']).toBe(String(created.body.id));
    expect(ping.headers['x-github-delivery']).toMatch(/^[0-9a-f-]{36}$/);
    expect(ping.headers['x-hub-signature-256']).toBe(
      `sha256=${crypto
        .createHmac('sha256', SECRET)
        .update(ping.body)
        .digest('hex')}`,
    );
    expect(ping.payload).toMatchObject({
      hook_id: created.body.id,
      repository: { full_name: 'acme/app' },
    });
    expect((await api('GET', '/repos/acme/app/hooks')).body).toEqual([
      expect.objectContaining({ id: created.body.id }),
    ]);
  });

  it('refuses a hook without a URL, and hides hooks from non-admins', async () => {
    expect(
      await api('POST', '/repos/acme/app/hooks', { config: {} }),
    ).toMatchObject({
      status: 422,
      body: {
        message: 'Validation Failed',
        errors: [
          expect.objectContaining({
            message: 'Config must contain URL for webhooks',
          }),
        ],
      },
    });
    expect(
      (await api('GET', '/repos/acme/app/hooks', undefined, WRITER)).status,
    ).toBe(404);
  });

  it('delivers create and push for a pushed branch and tag, delete and push when removed', async () => {
    const clone = fs.mkdtempSync(path.join(os.tmpdir(), 'hooks-clone-'));
    const remote = `http://x-access-token:${WRITER}@${github.host}/acme/app.git`;
    await git(clone, 'clone', '--quiet', remote, '.');
    fs.writeFileSync(path.join(clone, 'a.txt'), 'a\n');
    await git(clone, 'checkout', '--quiet', '-b', 'feat/a');
    await git(clone, 'add', '.');
    await git(clone, 'commit', '--quiet', '-m', 'Add a');
    const sha = await git(clone, 'rev-parse', 'HEAD');
    await git(clone, 'tag', '-a', 'rc-1', '-m', 'rc 1');
    await git(clone, 'push', '--quiet', 'origin', 'feat/a', 'rc-1');
    const pushed = await take();
    expect(pushed.map(r => [r.event, r.payload.ref])).toEqual([
      ['create', 'feat/a'],
      ['push', 'refs/heads/feat/a'],
      ['create', 'rc-1'],
      ['push', 'refs/tags/rc-1'],
    ]);
    expect(pushed[0].payload).toMatchObject({
      ref_type: 'branch',
      master_branch: 'main',
      sender: { login: 'writer' },
    });
    expect(pushed[1].payload).toMatchObject({
      created: true,
      deleted: false,
      after: sha,
      commits: [
        expect.objectContaining({
          id: sha,
          message: 'Add a',
          added: ['a.txt'],
        }),
      ],
      head_commit: expect.objectContaining({ id: sha }),
      pusher: expect.objectContaining({ name: 'writer' }),
    });
    expect(pushed[2].payload).toMatchObject({ ref_type: 'tag' });
    expect(pushed[3].payload).toMatchObject({ created: true, commits: [] });

    await git(clone, 'push', '--quiet', 'origin', ':refs/tags/rc-1');
    const removed = await take();
    expect(removed.map(r => [r.event, r.payload.ref])).toEqual([
      ['delete', 'rc-1'],
      ['push', 'refs/tags/rc-1'],
    ]);
    expect(removed[1].payload).toMatchObject({
      deleted: true,
      after: '0'.repeat(40),
      head_commit: null,
    });
    fs.rmSync(clone, { recursive: true, force: true });
  });

  it('delivers for refs created, moved and deleted through the API, and for a file written', async () => {
    const main = (await api('GET', '/repos/acme/app/git/ref/heads/main')).body
      .object.sha;
    expect(
      (
        await api('POST', '/repos/acme/app/git/refs', {
          ref: 'refs/tags/v1.0.0',
          sha: main,
        })
      ).status,
    ).toBe(201);
    expect(
      (await api('DELETE', '/repos/acme/app/git/refs/tags/v1.0.0')).status,
    ).toBe(204);
    const written = await api('PUT', '/repos/acme/app/contents/notes.md', {
      message: 'Notes',
      content: Buffer.from('notes\n').toString('base64'),
      branch: 'main',
    });
    expect(written.status).toBe(201);
    const events = await take();
    expect(events.map(r => [r.event, r.payload.ref])).toEqual([
      ['create', 'v1.0.0'],
      ['push', 'refs/tags/v1.0.0'],
      ['delete', 'v1.0.0'],
      ['push', 'refs/tags/v1.0.0'],
      ['push', 'refs/heads/main'],
    ]);
    expect(events[4].payload).toMatchObject({
      before: main,
      after: written.body.commit.sha,
      commits: [expect.objectContaining({ added: ['notes.md'] })],
      sender: { login: 'mainline-bot' },
    });
  });

  it('delivers workflow_run as a run is requested, starts and completes', async () => {
    const record = github.recordWorkflowRun({
      owner: 'acme',
      name: 'app',
      workflow: 'build.yaml',
      workflowName: 'Build',
      event: 'push',
      ref: 'main',
      headSha: (await api('GET', '/repos/acme/app/git/ref/heads/main')).body
        .object.sha,
      actor: 'writer',
    });
    github.completeWorkflowRun(record.id, 'success');
    const events = await take();
    expect(
      events.map(r => [
        r.event,
        r.payload.action,
        r.payload.workflow_run.status,
        r.payload.workflow_run.conclusion,
      ]),
    ).toEqual([
      ['workflow_run', 'requested', 'queued', null],
      ['workflow_run', 'in_progress', 'in_progress', null],
      ['workflow_run', 'completed', 'completed', 'success'],
    ]);
    expect(events[2].payload.workflow_run).toMatchObject({
      id: record.id,
      name: 'Build',
      event: 'push',
      head_branch: 'main',
      path: '.github/workflows/build.yaml',
    });
  });

  it('records failed deliveries, redelivers on request, and sends nothing while inactive', async () => {
    const [hook] = (await api('GET', '/repos/acme/app/hooks')).body;
    answer = 500;
    await api('POST', `/repos/acme/app/hooks/${hook.id}/pings`);
    await take();
    const [failed] = (
      await api('GET', `/repos/acme/app/hooks/${hook.id}/deliveries`)
    ).body;
    expect(failed).toMatchObject({
      event: 'ping',
      status: 'Invalid HTTP Response: 500',
      status_code: 500,
      redelivery: false,
    });
    answer = 202;
    expect(
      (
        await api(
          'POST',
          `/repos/acme/app/hooks/${hook.id}/deliveries/${failed.id}/attempts`,
        )
      ).status,
    ).toBe(202);
    const [again] = await take();
    expect(again.headers['x-github-delivery']).toBe(failed.guid);
    expect(
      (await api('GET', `/repos/acme/app/hooks/${hook.id}/deliveries`)).body[0],
    ).toMatchObject({ guid: failed.guid, redelivery: true, status: 'OK' });

    await api('PATCH', `/repos/acme/app/hooks/${hook.id}`, { active: false });
    await api('POST', '/repos/acme/app/git/refs', {
      ref: 'refs/heads/quiet',
      sha: (
        await api('GET', '/repos/acme/app/git/ref/heads/main')
      ).body.object.sha,
    });
    expect(await take()).toEqual([]);
    await api('PATCH', `/repos/acme/app/hooks/${hook.id}`, { active: true });
  });

  it('keeps the hooks of a renamed repository and tells them of the rename', async () => {
    await github.renameRepository('acme', 'app', 'shop');
    const [renamed] = await take();
    expect(renamed.event).toBe('repository');
    expect(renamed.payload).toMatchObject({
      action: 'renamed',
      changes: { repository: { name: { from: 'app' } } },
      repository: { full_name: 'acme/shop' },
    });
    await github.renameRepository('acme', 'shop', 'app');
    await take();
    expect((await api('GET', '/repos/acme/app/hooks')).body).toHaveLength(1);
  });

  it('sends form-encoded payloads signed over the form body, only for subscribed events', async () => {
    const hooks = (await api('GET', '/repos/acme/app/hooks')).body;
    for (const hook of hooks) {
      expect(
        (await api('DELETE', `/repos/acme/app/hooks/${hook.id}`)).status,
      ).toBe(204);
    }
    const created = await api('POST', '/repos/acme/app/hooks', {
      config: { url, secret: SECRET },
      events: ['delete'],
    });
    expect(created.body.config.content_type).toBe('form');
    await take();
    await api('DELETE', '/repos/acme/app/git/refs/heads/quiet');
    const [deleted, ...others] = await take();
    expect(others).toEqual([]);
    expect(deleted.event).toBe('delete');
    expect(deleted.headers['content-type']).toBe(
      'application/x-www-form-urlencoded',
    );
    expect(deleted.headers['x-hub-signature-256']).toBe(
      `sha256=${crypto
        .createHmac('sha256', SECRET)
        .update(deleted.body)
        .digest('hex')}`,
    );
  });
});
