import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

/** `git` on one bare repository of a data directory (`<dataDir>/git/<owner>/<name>.git`). */
export function gitIn(dataDir: string, repo: string, ...args: string[]) {
  return execFileSync(
    'git',
    ['--git-dir', path.join(dataDir, 'git', `${repo}.git`), ...args],
    { encoding: 'utf8' },
  ).trim();
}

/** The tags of `repo` on commit `sha` whose names start with `prefix` (`rc-`, `v`). */
export function tagsAt(
  dataDir: string,
  repo: string,
  sha: string,
  prefix: string,
): string[] {
  return gitIn(dataDir, repo, 'tag', '--points-at', sha)
    .split('\n')
    .filter(tag => tag.startsWith(prefix));
}

function files(root: string, dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap(entry => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return files(root, file);
    const hash = crypto
      .createHash('sha1')
      .update(fs.readFileSync(file))
      .digest('hex');
    return [`${path.relative(root, file)} ${hash}`];
  });
}

/**
 * Everything a write could change in a data directory, read with real git and from the artifact
 * store's files: every ref of every repository, the prod manifest of checkout, every artifact
 * and tag file, every recorded deploy.
 */
export function upstreamState(dataDir: string) {
  const gitRoot = path.join(dataDir, 'git');
  const repos = fs
    .readdirSync(gitRoot)
    .flatMap(owner =>
      fs
        .readdirSync(path.join(gitRoot, owner))
        .map(repo => `${owner}/${repo.replace(/\.git$/, '')}`),
    );
  return {
    refs: Object.fromEntries(
      repos.map(repo => [
        repo,
        gitIn(
          dataDir,
          repo,
          'for-each-ref',
          '--format=%(refname) %(objectname)',
        ),
      ]),
    ),
    prodManifest: gitIn(
      dataDir,
      'mainline-demo/deployments',
      'show',
      'main:apps/checkout/overlays/prod/kustomization.yaml',
    ),
    artifacts: files(dataDir, path.join(dataDir, 'artifacts')),
    deployments: files(dataDir, path.join(dataDir, 'deployments')),
  };
}
