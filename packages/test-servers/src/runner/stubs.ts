import { execFile } from 'node:child_process';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import yaml from 'yaml';

const run = promisify(execFile);

/** One request a stub received. */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface RecordingServer {
  url: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/**
 * A loopback HTTP server that records every request and answers with `respond` (default 200
 * `{}`): the Mainline API for a workflow's yank call, or a broken stage for its validation.
 */
export async function startRecordingServer(
  respond: (request: RecordedRequest) => {
    status: number;
    body?: string;
    contentType?: string;
  } = () => ({ status: 200, body: '{}' }),
): Promise<RecordingServer> {
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', c => chunks.push(c));
    req.on('end', () => {
      const request = {
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(request);
      const answer = respond(request);
      res.writeHead(answer.status, {
        'content-type': answer.contentType ?? 'application/json',
      });
      res.end(answer.body ?? '');
    });
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise(resolve => server.close(() => resolve())),
  };
}

export interface ArgoCdStub extends RecordingServer {}

/**
 * The part of Argo CD's API the rendered workflows read (`GET /api/v1/applications/<name>`),
 * answered from the manifest repository itself: an Application is synced to the head of
 * `branch` at once, and its `status.summary.images` are the kustomization's `images` entries
 * (`<newName or name>:<newTag>`). What it leaves out is the cluster: every sync is healthy.
 */
export async function startArgoCdStub(options: {
  /** The manifest repository's bare git directory. */
  gitDir: string;
  branch: string;
  /** The kustomization file of an Application, or undefined for an unknown one (404). */
  kustomization(application: string): string | undefined;
}): Promise<ArgoCdStub> {
  const requests: RecordedRequest[] = [];
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    requests.push({
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: req.headers,
      body: '',
    });
    const match = /^\/api\/v1\/applications\/([^/]+)$/.exec(url.pathname);
    const file = match
      ? options.kustomization(decodeURIComponent(match[1]))
      : undefined;
    if (!match || !file || req.method !== 'GET') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'not found', code: 5 }));
      return;
    }
    try {
      const git = (...args: string[]) =>
        run('git', ['--git-dir', options.gitDir, ...args]).then(r =>
          r.stdout.trim(),
        );
      const revision = await git('rev-parse', `refs/heads/${options.branch}`);
      const text = await git('show', `${revision}:${file}`);
      const images = (
        (yaml.parse(text)?.images ?? []) as Array<{
          name: string;
          newName?: string;
          newTag?: string;
        }>
      ).map(i => `${i.newName ?? i.name}:${i.newTag ?? 'latest'}`);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          metadata: { name: match[1] },
          status: {
            sync: { status: 'Synced', revision },
            health: { status: 'Healthy' },
            summary: { images },
          },
        }),
      );
    } catch (error) {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: String(error) }));
    }
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise(resolve => server.close(() => resolve())),
  };
}
