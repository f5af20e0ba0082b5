import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Writes `<root>/<owner>/<name>.git`, the bare repository the GitHub test server serves as
 * `owner/name`, with one commit on main holding `files` (path → content).
 */
export function seedRepository(
  root: string,
  slug: string,
  files: Record<string, string>,
  author = { name: 'ops', email: 'ops@example.com' },
): string {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'seed-repository-'));
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: author.name,
    GIT_AUTHOR_EMAIL: author.email,
    GIT_COMMITTER_NAME: author.name,
    GIT_COMMITTER_EMAIL: author.email,
  };
  try {
    execFileSync('git', ['init', '--quiet', '--initial-branch=main', work]);
    for (const [file, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(work, file)), { recursive: true });
      fs.writeFileSync(path.join(work, file), content);
    }
    execFileSync('git', ['-C', work, 'add', '.'], { env });
    execFileSync('git', ['-C', work, 'commit', '--quiet', '-m', 'start'], {
      env,
    });
    const bare = path.join(root, `${slug}.git`);
    execFileSync('git', ['clone', '--quiet', '--bare', work, bare]);
    return bare;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
