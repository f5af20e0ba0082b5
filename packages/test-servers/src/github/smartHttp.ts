import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { Git, ZERO_SHA } from './git';
import { mayPush } from './permissions';
import { evaluateChange, RefChange } from './rules';
import { ServerEnv } from './routes';
import { actorLogin, Identity } from './state';

/** Whether a path is a smart-HTTP git request (`/<owner>/<name>.git/...`). */
export function isGitPath(pathname: string): boolean {
  return /^\/[^/]+\/[^/]+\.git\/(info\/refs|git-upload-pack|git-receive-pack|HEAD|objects\/.*)$/.test(
    pathname,
  );
}

/**
 * Serves clone, fetch and push by running `git http-backend` as a CGI program over the same root
 * the API serves, so a push is visible to the API at once and the reverse.
 */
/** One smart-HTTP request: where the repositories are, what was asked, and by whom. */
export interface GitRequest {
  root: string;
  pathname: string;
  search: string;
  actor: Identity;
  env: ServerEnv;
}

export async function serveGit(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  options: GitRequest,
): Promise<number> {
  const [, owner, name] = /^\/([^/]+)\/([^/]+)\.git\//.exec(options.pathname)!;
  const pushing =
    options.pathname.endsWith('/git-receive-pack') ||
    /(^|&|\?)service=git-receive-pack(&|$)/.test(options.search);
  if (
    pushing &&
    (!mayPush(options.actor) ||
      ['read', 'triage'].includes(options.actor.role ?? 'admin'))
  ) {
    // What git shows for a token without write access: GitHub's text, then the HTTP status.
    res
      .writeHead(403, { 'content-type': 'text/plain' })
      .end(
        `Permission to ${owner}/${name}.git denied to ${actorLogin(
          options.actor,
        )}.\n`,
      );
    return 403;
  }
  if (req.method === 'POST' && options.pathname.endsWith('/git-receive-pack')) {
    return receivePack(req, res, options, owner, name);
  }
  return runBackend(req, res, options, req);
}

function runBackend(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  options: GitRequest,
  input: NodeJS.ReadableStream | Buffer,
  extra: {
    env?: Record<string, string>;
    rewrite?: (body: Buffer) => Buffer;
    decoded?: boolean;
  } = {},
): Promise<number> {
  return new Promise(resolve => {
    const child = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        GIT_PROJECT_ROOT: options.root,
        GIT_HTTP_EXPORT_ALL: '1',
        GIT_CONFIG_NOSYSTEM: '1',
        // Repositories written by fixtures do not enable pushes themselves.
        GIT_CONFIG_COUNT: extra.env ? '2' : '1',
        GIT_CONFIG_KEY_0: 'http.receivepack',
        GIT_CONFIG_VALUE_0: 'true',
        ...(extra.env ?? {}),
        PATH_INFO: decodeURIComponent(options.pathname),
        QUERY_STRING: options.search.replace(/^\?/, ''),
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        REMOTE_USER: actorLogin(options.actor),
        REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
        ...(req.headers['content-encoding'] && !extra.decoded
          ? { HTTP_CONTENT_ENCODING: String(req.headers['content-encoding']) }
          : {}),
        ...(req.headers['git-protocol']
          ? { GIT_PROTOCOL: String(req.headers['git-protocol']) }
          : {}),
      },
    });
    let head = Buffer.alloc(0);
    let headersSent = false;
    let status = 200;
    const held: Buffer[] = [];
    const write = (chunk: Buffer) => {
      if (extra.rewrite) held.push(chunk);
      else res.write(chunk);
    };
    child.stdout.on('data', (chunk: Buffer) => {
      if (headersSent) {
        write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const crlf = head.indexOf('\r\n\r\n');
      const lf = head.indexOf('\n\n');
      const end = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf : lf;
      if (end < 0) return;
      const separator = end === crlf ? 4 : 2;
      const lines = head.subarray(0, end).toString('latin1').split(/\r?\n/);
      for (const line of lines) {
        const colon = line.indexOf(':');
        if (colon < 0) continue;
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === 'status') {
          status = Number(value.split(' ')[0]) || 200;
        } else if (
          !(extra.rewrite && name.toLowerCase() === 'content-length')
        ) {
          res.setHeader(name, value);
        }
      }
      res.statusCode = status;
      headersSent = true;
      write(head.subarray(end + separator));
    });
    child.on('close', () => {
      if (!headersSent) res.statusCode = 500;
      if (extra.rewrite && headersSent)
        res.write(extra.rewrite(Buffer.concat(held)));
      res.end();
      resolve(headersSent ? status : 500);
    });
    child.on('error', () => {
      if (!headersSent) res.statusCode = 500;
      res.end();
      resolve(500);
    });
    if (Buffer.isBuffer(input)) child.stdin.end(input);
    else input.pipe(child.stdin);
    child.stdin.on('error', () => {
      // The backend may exit before reading everything (e.g. a refused push).
    });
  });
}

function pkt(payload: Buffer | string): Buffer {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  return Buffer.concat([
    Buffer.from((data.length + 4).toString(16).padStart(4, '0')),
    data,
  ]);
}

/** pkt-lines of `data` from `offset`: payloads (null for a flush) and where they ended. */
function readPkts(data: Buffer, start = 0, untilFlush = false) {
  const lines: Array<Buffer | null> = [];
  let offset = start;
  while (offset + 4 <= data.length) {
    const length = parseInt(data.subarray(offset, offset + 4).toString(), 16);
    if (Number.isNaN(length)) break;
    if (length < 4) {
      lines.push(null);
      offset += 4;
      if (untilFlush) break;
      continue;
    }
    lines.push(data.subarray(offset + 4, offset + length));
    offset += length;
  }
  return { lines, offset };
}

let hooksDir: Promise<string> | undefined;

/**
 * An `update` hook that refuses a ref with the verdict the server wrote for it: the file for a
 * fast-forward or for a forced update (git tells which, after the objects have arrived), whose
 * text goes to the pusher as `remote:` lines.
 */
function updateHook(): Promise<string> {
  hooksDir ??= (async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'github-test-hooks-'));
    const script = [
      '#!/bin/sh',
      '[ -n "$MAINLINE_PUSH_RULES" ] || exit 0',
      `key=$(printf %s "$1" | od -An -tx1 | tr -d ' \\n')`,
      'mode=ff',
      `zero=${ZERO_SHA}`,
      'if [ "$2" != "$zero" ] && [ "$3" != "$zero" ] && ! git merge-base --is-ancestor "$2" "$3" 2>/dev/null; then mode=nonff; fi',
      'f="$MAINLINE_PUSH_RULES/$key.$mode"',
      '[ -f "$f" ] || exit 0',
      'cat "$f" >&2',
      '[ -f "$f.refuse" ] && exit 1',
      'exit 0',
      '',
    ].join('\n');
    await fs.writeFile(path.join(dir, 'update'), script, { mode: 0o755 });
    return dir;
  })();
  return hooksDir;
}

/**
 * A push: the commands are read before git sees them and each ref change is judged by the
 * repository's rulesets and branch protection, so that git's report says `ng <ref> <reason>` with
 * GitHub's reason and the pusher reads GitHub's GH013/GH006 text.
 */
async function receivePack(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  options: GitRequest,
  owner: string,
  name: string,
): Promise<number> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  let body = Buffer.concat(chunks);
  const gzip = /gzip/i.test(String(req.headers['content-encoding'] ?? ''));
  if (gzip) body = zlib.gunzipSync(body);
  const commands = readPkts(body, 0, true)
    .lines.filter((l): l is Buffer => l !== null)
    .map(l => /^([0-9a-f]{40}) ([0-9a-f]{40}) ([^\0\n]+)/.exec(l.toString()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map(([, before, after, ref]) => ({ before, after, ref }));

  const git = new Git(path.join(options.root, owner, `${name}.git`));
  const verdicts = await fs.mkdtemp(path.join(os.tmpdir(), 'github-push-'));
  const reasons = new Map<string, string>();
  const web = `${options.env.htmlBase}/${owner}/${name}`;
  try {
    for (const command of commands) {
      const key = Buffer.from(command.ref).toString('hex');
      for (const fastForward of [true, false]) {
        const change: RefChange = {
          ref: command.ref,
          before: command.before === ZERO_SHA ? undefined : command.before,
          after: command.after === ZERO_SHA ? undefined : command.after,
          fastForward,
        };
        const verdict = await evaluateChange(
          options.env,
          owner,
          name,
          git,
          options.actor,
          change,
          'push',
        );
        const file = path.join(
          verdicts,
          `${key}.${fastForward ? 'ff' : 'nonff'}`,
        );
        const list = (items: string[]) => items.map(v => `\n- ${v}\n`).join('');
        let text = '';
        if (verdict.ruleset.length > 0) {
          const rules = `${web}/rules?ref=${encodeURIComponent(command.ref)}`;
          text = `error: GH013: Repository rule violations found for ${
            command.ref
          }.\nReview all repository rules at ${rules}\n${list(
            verdict.ruleset,
          )}\n`;
          reasons.set(
            command.ref,
            'push declined due to repository rule violations',
          );
        } else if (verdict.protection.length > 0) {
          text = `error: GH006: Protected branch update failed for ${
            command.ref
          }.\n${verdict.protection.map(v => `error: ${v}\n`).join('')}`;
          if (!reasons.has(command.ref)) {
            reasons.set(command.ref, 'protected branch hook declined');
          }
        } else if (verdict.bypassed.length > 0) {
          text = `Bypassed rule violations for ${command.ref}:\n${list(
            verdict.bypassed,
          )}\n`;
        }
        if (text) await fs.writeFile(file, text);
        if (verdict.ruleset.length > 0 || verdict.protection.length > 0) {
          await fs.writeFile(`${file}.refuse`, '');
        }
      }
    }
    const hooks = await updateHook();
    const release = options.env.hooks.hold();
    try {
      const status = await runBackend(req, res, options, body, {
        decoded: gzip,
        env: {
          GIT_CONFIG_KEY_1: 'core.hooksPath',
          GIT_CONFIG_VALUE_1: hooks,
          MAINLINE_PUSH_RULES: verdicts,
        },
        rewrite: output => rewriteReport(output, reasons),
      });
      // The webhooks of the refs that landed (a refused ref changed nothing and raises none).
      const landed = [];
      for (const command of commands) {
        const now = await git.revParse(command.ref);
        const after = command.after === ZERO_SHA ? undefined : command.after;
        if (now === after && command.before !== command.after) {
          landed.push({
            ref: command.ref,
            before: command.before === ZERO_SHA ? undefined : command.before,
            after,
          });
        }
      }
      if (landed.length > 0) {
        await options.env.hooks.refsChanged(owner, name, options.actor, landed);
      }
      return status;
    } finally {
      release();
    }
  } finally {
    await fs.rm(verdicts, { recursive: true, force: true });
  }
}

/** git's `ng <ref> hook declined` becomes GitHub's reason, inside the side band or not. */
function rewriteReport(output: Buffer, reasons: Map<string, string>): Buffer {
  const fix = (line: Buffer): Buffer => {
    const match = /^ng (\S+) hook declined\n?$/.exec(line.toString());
    const reason = match && reasons.get(match[1]);
    return reason ? Buffer.from(`ng ${match![1]} ${reason}\n`) : line;
  };
  const { lines } = readPkts(output);
  const banded = lines.some(l => l !== null && l.length > 0 && l[0] <= 3);
  if (!banded) {
    return Buffer.concat(
      lines.map(l => (l === null ? Buffer.from('0000') : pkt(fix(l)))),
    );
  }
  const others: Buffer[] = [];
  const report: Buffer[] = [];
  for (const line of lines) {
    if (line === null) continue;
    if (line[0] === 1) report.push(line.subarray(1));
    else if (
      !/^error: hook declined to update /.test(line.subarray(1).toString())
    ) {
      // git's own note on the hook is not what GitHub prints; GitHub's text came from the hook.
      others.push(pkt(line));
    }
  }
  const inner = readPkts(Buffer.concat(report)).lines;
  const rebuilt = Buffer.concat(
    inner.map(l => (l === null ? Buffer.from('0000') : pkt(fix(l)))),
  );
  const out: Buffer[] = [...others];
  for (let i = 0; i < rebuilt.length; i += 65515) {
    out.push(
      pkt(Buffer.concat([Buffer.from([1]), rebuilt.subarray(i, i + 65515)])),
    );
  }
  out.push(Buffer.from('0000'));
  return Buffer.concat(out);
}
