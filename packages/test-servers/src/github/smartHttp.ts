import { spawn } from 'node:child_process';
import http from 'node:http';

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
export function serveGit(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  options: { root: string; pathname: string; search: string; user: string },
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
        GIT_CONFIG_COUNT: '1',
        GIT_CONFIG_KEY_0: 'http.receivepack',
        GIT_CONFIG_VALUE_0: 'true',
        PATH_INFO: decodeURIComponent(options.pathname),
        QUERY_STRING: options.search.replace(/^\?/, ''),
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        REMOTE_USER: options.user,
        REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
        ...(req.headers['content-encoding']
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
    child.stdout.on('data', (chunk: Buffer) => {
      if (headersSent) {
        res.write(chunk);
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
        } else {
          res.setHeader(name, value);
        }
      }
      res.statusCode = status;
      headersSent = true;
      res.write(head.subarray(end + separator));
    });
    child.on('close', () => {
      if (!headersSent) res.statusCode = 500;
      res.end();
      resolve(headersSent ? status : 500);
    });
    child.on('error', () => {
      if (!headersSent) res.statusCode = 500;
      res.end();
      resolve(500);
    });
    req.pipe(child.stdin);
    child.stdin.on('error', () => {
      // The backend may exit before reading everything (e.g. a refused push).
    });
  });
}
