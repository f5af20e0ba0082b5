#!/usr/bin/env node
// Release metadata every workspace package needs, checked by the test command so that a package
// added later cannot ship without it: the license, `repository.directory` (`yarn fix --publish`
// writes it from the root package.json), and for each published package a CHANGELOG.md (written by
// `yarn changeset version` from the changesets) and its API report (`yarn build:api-reports`).
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(
  path.dirname(new URL(import.meta.url).pathname),
  '..',
);
const rootPkg = JSON.parse(
  fs.readFileSync(path.join(root, 'package.json'), 'utf8'),
);
const problems = [];

if (rootPkg.license !== 'Apache-2.0')
  problems.push('package.json: license is not Apache-2.0');
if (!fs.existsSync(path.join(root, 'LICENSE')))
  problems.push('LICENSE is missing');

for (const workspace of ['packages', 'plugins']) {
  for (const name of fs.readdirSync(path.join(root, workspace)).sort()) {
    const dir = `${workspace}/${name}`;
    const file = path.join(root, dir, 'package.json');
    if (!fs.existsSync(file)) continue;
    const pkg = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (pkg.license !== 'Apache-2.0') {
      problems.push(
        `${dir}: license is ${pkg.license ?? 'missing'}, not Apache-2.0`,
      );
    }
    if (
      pkg.repository?.directory !== dir ||
      pkg.repository?.url !== rootPkg.repository?.url
    ) {
      problems.push(
        `${dir}: repository is not the root's with directory "${dir}" (yarn fix --publish)`,
      );
    }
    if (pkg.private) continue;
    if (!fs.existsSync(path.join(root, dir, 'CHANGELOG.md'))) {
      problems.push(`${dir}: CHANGELOG.md is missing`);
    }
    // yarn build:api-reports covers every package under plugins/.
    if (
      workspace === 'plugins' &&
      !fs.existsSync(path.join(root, dir, 'report.api.md'))
    ) {
      problems.push(
        `${dir}: report.api.md is missing (yarn build:api-reports)`,
      );
    }
  }
}

if (problems.length) {
  console.error(problems.map(p => `  ${p}`).join('\n'));
  process.exit(1);
}
console.log('release metadata complete');
