/*
 * The bad-input corpus: requests a careless or hostile client sends, one per case, against every
 * endpoint. Each must be answered 4xx with a message that names the problem, before anything is
 * asked of GitHub or a registry.
 */

export interface BadInputCase {
  name: string;
  method: 'get' | 'post';
  path: string;
  body?: unknown;
  /** Sent as the raw body with this content type (malformed JSON, huge bodies). */
  raw?: { type: string; data: string };
  headers?: Record<string, string>;
  /** What the error message must mention. */
  mentions: RegExp;
  /**
   * Set when the refusal depends on what a file upstream holds (a manifest's YAML path): the
   * case may read, and must still write nothing.
   */
  reads?: string;
}

const entity = '/api/promotion/v1/entities/component/default/checkout';
const base = '/api/promotion/v1/entities';
const GOOD_SHA = 'a'.repeat(40);

/** Shas and refs that are not commits: wrong length, not hex, shell and ref syntax. */
export const BAD_SHAS = [
  '',
  'abc',
  'a'.repeat(41),
  'g'.repeat(40),
  'ABCDEF1234567',
  '12345 6',
  '$(id)',
  '`id`',
  ';rm -rf /',
  '../../etc/passwd',
  'HEAD~1',
  'main@{1}',
  '--upload-pack=touch /tmp/x',
  '-n',
  'a\u0000b',
  'deadbeef\n',
  'refs/heads/main',
  '\u202edeadbeef',
  'dead\u200bbeef',
  '😀😀😀😀😀😀😀',
];

/** Release tags that git, registries or the rules refuse. */
export const BAD_TAGS = [
  'rc-',
  'v',
  'v1..2',
  'rc-1.lock',
  'rc 1',
  'rc-1~',
  'rc-1^',
  'rc:1',
  'rc-1?',
  'rc-*',
  'rc-[1]',
  'rc-1\\',
  '-rc-1',
  'rc-1/',
  '/rc-1',
  '@{rc}',
  'rc-1\u0000',
  'v1.2.3\n',
  '..',
  'x'.repeat(200),
  'prod-1',
  'v1.2.3; rm -rf /',
  'rc-\u00e9',
];

/**
 * Release tags git accepts (and the environment's pattern matches) but registries refuse: OCI and
 * ECR tags are `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`. Refused before the git tag is created.
 */
export const REGISTRY_REFUSED_TAGS = [
  'rc-1;id',
  'rc-a+b',
  'rc-1@x',
  'rc-1/x',
  'rc-#1',
  'rc-1,2',
  'rc-$x',
  'rc-1=2',
  'rc-(1)',
  'rc-1&x',
  'rc-1|x',
  'rc-<1>',
  'rc-1!',
  "rc-1'",
  'rc-"1"',
  'rc-1%20',
  'rc-{1}',
  'rc-a/b/c',
];

/** Version tags git accepts and registries refuse (semver build metadata, a folder). */
export const REGISTRY_REFUSED_VERSIONS = [
  'v1.2.3+build.7',
  'v1.2.3/x',
  'v1.2@3',
];

/** Branch and ref names for lineage/compare query strings. */
export const BAD_REFS = [
  '..',
  '../main',
  'main..dev',
  '-main',
  'main.lock',
  'main@{1}',
  'ma in',
  'main~1',
  'main^',
  'main:x',
  'x'.repeat(300),
  '$(id)',
  'main;id',
  'release/../main',
  '%00',
];

export const BAD_ENVIRONMENTS = [
  '',
  'Prod',
  'prod ',
  'nowhere',
  '../prod',
  'prod/../../x',
  'p'.repeat(100),
  'stage;id',
];

/** Bodies of the wrong shape for the write endpoints. */
export const WRONG_TYPES: Array<[string, unknown]> = [
  ['a number for sha', { environment: 'demo', sha: 12345 }],
  ['an array for sha', { environment: 'demo', sha: [GOOD_SHA] }],
  ['null sha', { environment: 'demo', sha: null }],
  [
    'an object for environment',
    { environment: { name: 'demo' }, sha: GOOD_SHA },
  ],
  ['missing sha', { environment: 'demo' }],
  ['missing environment', { sha: GOOD_SHA }],
  [
    'a string for dryRun',
    { environment: 'demo', sha: GOOD_SHA, dryRun: 'yes' },
  ],
  [
    'an unknown field',
    { environment: 'demo', sha: GOOD_SHA, force: true, extra: 1 },
  ],
  ['an array body', [{ environment: 'demo', sha: GOOD_SHA }]],
  ['a string body', 'promote please'],
];

/**
 * Cases against real commits, so that nothing but the input is wrong: `sha` is a built main commit
 * of checkout that demo does not run yet, `rollbackSha` an older one, `shopSha` a built commit of
 * the shop monorepo, and
 * `strayImagePath` an entity like checkout whose `manifest-image-path` names a key its manifest
 * files do not have.
 */
export function realCommitCorpus(commits: {
  sha: string;
  /** An older built main commit of checkout that stage does not run. */
  rollbackSha: string;
  shopSha: string;
  strayImagePath: string;
}): BadInputCase[] {
  const cases: BadInputCase[] = [];
  for (const tag of REGISTRY_REFUSED_TAGS) {
    cases.push({
      name: `promote a real commit with tag ${JSON.stringify(tag)}`,
      method: 'post',
      path: `${entity}/promotions`,
      body: { environment: 'demo', sha: commits.sha, tag },
      mentions: /registry tag/,
    });
    cases.push({
      name: `dry run of a real commit with tag ${JSON.stringify(tag)}`,
      method: 'post',
      path: `${entity}/promotions`,
      body: { environment: 'demo', sha: commits.sha, tag, dryRun: true },
      mentions: /registry tag/,
    });
  }
  for (const tag of REGISTRY_REFUSED_TAGS.slice(0, 5)) {
    cases.push({
      name: `repository release of a real commit with tag ${JSON.stringify(
        tag,
      )}`,
      method: 'post',
      path: `${base}/component/default/cart/repository-promotions`,
      body: { environment: 'demo', sha: commits.shopSha, tag },
      mentions: /registry tag/,
    });
  }
  for (const tag of REGISTRY_REFUSED_VERSIONS) {
    cases.push({
      name: `promote a real commit to prod with tag ${JSON.stringify(tag)}`,
      method: 'post',
      path: `${entity}/promotions`,
      body: { environment: 'prod', sha: commits.sha, tag },
      mentions: /registry tag/,
    });
  }
  const stray = `${base}/component/default/${commits.strayImagePath}`;
  for (const [what, body] of [
    ['a promotion', { environment: 'demo', sha: commits.sha }],
    [
      'a promotion by tag',
      { environment: 'demo', sha: commits.sha, tag: 'rc-100' },
    ],
    ['a rollback', { environment: 'stage', sha: commits.rollbackSha }],
  ] as const) {
    cases.push({
      name: `${what} whose manifest YAML path matches nothing`,
      method: 'post',
      path: `${stray}/${what === 'a rollback' ? 'rollbacks' : 'promotions'}`,
      body,
      mentions: /app\.image\.tag/,
      reads: 'the checks read the manifest file to find the YAML path',
    });
  }
  return cases;
}

export function corpus(): BadInputCase[] {
  const cases: BadInputCase[] = [];
  const add = (c: BadInputCase) => cases.push(c);

  for (const sha of BAD_SHAS) {
    add({
      name: `promote sha ${JSON.stringify(sha)}`,
      method: 'post',
      path: `${entity}/promotions`,
      body: { environment: 'demo', sha },
      mentions: /sha|pattern|must|match/i,
    });
    add({
      name: `rollback to sha ${JSON.stringify(sha)}`,
      method: 'post',
      path: `${entity}/rollbacks`,
      body: { environment: 'stage', sha },
      mentions: /sha|pattern|must|match/i,
    });
    add({
      name: `yank sha ${JSON.stringify(sha)}`,
      method: 'post',
      path: `${entity}/yanks`,
      body: { sha, reason: 'bad build' },
      mentions: /sha|pattern|must|match/i,
    });
  }
  for (const tag of BAD_TAGS) {
    add({
      name: `promote with tag ${JSON.stringify(tag)}`,
      method: 'post',
      path: `${entity}/promotions`,
      body: { environment: 'demo', sha: GOOD_SHA, tag },
      mentions: /tag|pattern|must|match|rc-/i,
    });
  }
  // A rollback by a tag git or the registry refuses: nothing is asked to find what it names.
  for (const tag of [...BAD_TAGS.slice(2, 19), ...REGISTRY_REFUSED_TAGS]) {
    add({
      name: `roll demo back to tag ${JSON.stringify(tag)}`,
      method: 'post',
      path: `${entity}/rollbacks`,
      body: { environment: 'demo', tag },
      mentions: /tag/,
    });
  }
  for (const ref of BAD_REFS) {
    add({
      name: `lineage of branch ${JSON.stringify(ref)}`,
      method: 'get',
      path: `${entity}/lineage?branch=${encodeURIComponent(ref)}`,
      mentions: /branch|pattern|must|match/i,
    });
    add({
      name: `compare from ${JSON.stringify(ref)}`,
      method: 'get',
      path: `${entity}/compare?from=${encodeURIComponent(ref)}&to=main`,
      mentions: /from|ref|pattern|must|match/i,
    });
  }
  for (const environment of BAD_ENVIRONMENTS) {
    add({
      name: `promote to environment ${JSON.stringify(environment)}`,
      method: 'post',
      path: `${entity}/promotions`,
      body: { environment, sha: GOOD_SHA },
      mentions: /environment|pattern|must|match/i,
    });
    add({
      name: `roll back environment ${JSON.stringify(environment)}`,
      method: 'post',
      path: `${entity}/rollbacks`,
      body: { environment, sha: GOOD_SHA },
      mentions: /environment|pattern|must|match/i,
    });
  }
  for (const [what, body] of WRONG_TYPES) {
    add({
      name: `promote with ${what}`,
      method: 'post',
      path: `${entity}/promotions`,
      body,
      mentions: /sha|environment|dryRun|must|body|request|additional|type/i,
    });
  }
  for (const limit of ['0', '-1', '501', '1e9', 'ten', '1.5', '']) {
    add({
      name: `lineage limit ${JSON.stringify(limit)}`,
      method: 'get',
      path: `${entity}/lineage?limit=${encodeURIComponent(limit)}`,
      mentions: /limit|must|integer|number/i,
    });
  }
  for (const [what, path] of [
    ['an unknown entity', `${base}/component/default/nothing-here/lineage`],
    ['an unknown namespace', `${base}/component/elsewhere/checkout/lineage`],
    ['an unknown kind', `${base}/spaceship/default/checkout/lineage`],
    ['a group', `${base}/group/default/payments/lineage`],
    [
      'an entity outside the workflow',
      `${base}/component/default/storefront-docs/lineage`,
    ],
    [
      'traversal in the name',
      `${base}/component/default/..%2F..%2Fetc/lineage`,
    ],
    ['a name with a NUL', `${base}/component/default/check%00out/lineage`],
    [
      'a very long name',
      `${base}/component/default/${'x'.repeat(300)}/lineage`,
    ],
    [
      'an unknown promotion',
      `${entity}/promotions/00000000-0000-0000-0000-000000000000`,
    ],
    ['a promotion id that is not a uuid', `${entity}/promotions/..%2F..%2Fetc`],
    [
      'an unknown entity target',
      `${base}/component/default/nothing-here/target`,
    ],
    ['compare without to', `${entity}/compare?from=main`],
    ['compare without from', `${entity}/compare?to=main`],
  ] as const) {
    add({
      name: `read of ${what}`,
      method: 'get',
      path,
      mentions:
        /entity|no |not |promotion|must|required|name|kind|namespace|from|to/i,
    });
  }
  for (const [what, path] of [
    [
      'retry of an unknown promotion',
      `${entity}/promotions/00000000-0000-0000-0000-000000000000/retry`,
    ],
    ['retry of a malformed id', `${entity}/promotions/not-a-uuid/retry`],
    [
      'promotion of an unknown entity',
      `${base}/component/default/nothing-here/promotions`,
    ],
    [
      'yank of an unknown entity',
      `${base}/component/default/nothing-here/yanks`,
    ],
    [
      'rollback of a docs entity',
      `${base}/component/default/storefront-docs/rollbacks`,
    ],
  ] as const) {
    add({
      name: what,
      method: 'post',
      path,
      body: { environment: 'demo', sha: GOOD_SHA, reason: 'x' },
      mentions: /entity|no |not |promotion|must|id|set up/i,
    });
  }
  for (const [what, body] of [
    ['an empty reason', { sha: GOOD_SHA, reason: '' }],
    ['a missing reason', { sha: GOOD_SHA }],
    [
      'a reason of 10,000 characters',
      { sha: GOOD_SHA, reason: 'x'.repeat(10_000) },
    ],
    ['a number for force', { sha: GOOD_SHA, reason: 'bad', force: 1 }],
  ] as const) {
    add({
      name: `yank with ${what}`,
      method: 'post',
      path: `${entity}/yanks`,
      body,
      mentions: /reason|force|must|characters|required/i,
    });
  }
  // (A NUL or non-Latin-1 header cannot even be sent: clients refuse it before the wire.)
  for (const key of [
    '',
    ' ',
    'k'.repeat(300),
    'key\twith\ttabs',
    '../../etc',
  ]) {
    add({
      name: `promote with Idempotency-Key ${JSON.stringify(key.slice(0, 20))}`,
      method: 'post',
      path: `${entity}/promotions`,
      body: { environment: 'demo', sha: GOOD_SHA },
      headers: { 'Idempotency-Key': key },
      mentions: /idempotency/i,
    });
  }
  // The release board, its export, and the repository-wide release of a monorepo commit.
  const api = '/api/promotion/v1';
  // Only names git refuses: `rc-` or `v` are tags that merely do not exist (the board says so).
  for (const tag of BAD_TAGS.filter(
    t => !/^(rc-|v|prod-1|rc-\u00e9)$/.test(t),
  )) {
    add({
      name: `board of tag ${JSON.stringify(tag)}`,
      method: 'get',
      path: `${api}/board?tag=${encodeURIComponent(tag)}`,
      mentions: /tag|pattern|must|match/i,
    });
  }
  for (const ref of [
    'group:',
    ':default/x',
    'group:default/',
    'x'.repeat(300),
  ]) {
    add({
      name: `board of owner ${JSON.stringify(ref.slice(0, 20))}`,
      method: 'get',
      path: `${api}/board?owner=${encodeURIComponent(ref)}`,
      mentions: /owner|must|entity|ref|length|characters/i,
    });
    add({
      name: `export of system ${JSON.stringify(ref.slice(0, 20))}`,
      method: 'get',
      path: `${api}/promotions/export?system=${encodeURIComponent(ref)}`,
      mentions: /system|must|entity|ref|length|characters/i,
    });
  }
  for (const [what, query] of [
    ['format xml', 'format=xml'],
    ['limit 0', 'limit=0'],
    ['limit 10001', 'limit=10001'],
    ['since yesterday', 'since=yesterday'],
  ]) {
    add({
      name: `export with ${what}`,
      method: 'get',
      path: `${api}/promotions/export?${query}`,
      mentions: /format|limit|since|must|date/i,
    });
  }
  for (const sha of BAD_SHAS.slice(0, 8)) {
    add({
      name: `repository release of sha ${JSON.stringify(sha)}`,
      method: 'post',
      path: `${entity}/repository-promotions`,
      body: { environment: 'demo', sha },
      mentions: /sha|pattern|must|match/i,
    });
  }
  for (const [what, body] of [
    ['a branch environment', { environment: 'stage', sha: GOOD_SHA }],
    ['an unknown environment', { environment: 'qa', sha: GOOD_SHA }],
    [
      'a tag of another pattern',
      { environment: 'demo', sha: GOOD_SHA, tag: 'v1.0.0' },
    ],
    ['an extra field', { environment: 'demo', sha: GOOD_SHA, force: true }],
  ] as const) {
    add({
      name: `repository release with ${what}`,
      method: 'post',
      path: `${entity}/repository-promotions`,
      body,
      mentions: /environment|tag|pattern|additional|stage|qa/i,
    });
  }

  // The board's batch runtime read: refused before the catalog or any runtime is asked.
  for (const [what, body] of [
    [
      '101 refs',
      { entityRefs: Array.from({ length: 101 }, (_, i) => `s${i}`) },
    ],
    ['no refs', { entityRefs: [] }],
    ['a ref without a name', { entityRefs: ['component:default/'] }],
    ['a ref without a kind', { entityRefs: [':default/checkout'] }],
    ['a name with spaces', { entityRefs: ['not a ref'] }],
    [
      'a namespace with a slash-free space',
      { entityRefs: ['component:my team/checkout'] },
    ],
    ['an empty ref', { entityRefs: [''] }],
    ['a ref that is a number', { entityRefs: [42] }],
    ['a ref of 300 characters', { entityRefs: ['x'.repeat(300)] }],
    ['refs as a string', { entityRefs: 'component:default/checkout' }],
    ['an extra field', { entityRefs: ['checkout'], fresh: true }],
  ] as const) {
    add({
      name: `runtime query with ${what}`,
      method: 'post',
      path: `${api}/runtime/query`,
      body,
      mentions:
        /entityRefs|entity ref|items|must|additional|characters|form|type|valid entity/i,
    });
  }

  add({
    name: 'malformed JSON',
    method: 'post',
    path: `${entity}/promotions`,
    raw: { type: 'application/json', data: '{"environment": "demo", "sha": ' },
    mentions: /json|body|parse|unexpected/i,
  });
  add({
    name: 'a 2 MB body',
    method: 'post',
    path: `${entity}/promotions`,
    raw: {
      type: 'application/json',
      data: JSON.stringify({
        environment: 'demo',
        sha: GOOD_SHA,
        pad: 'x'.repeat(2_000_000),
      }),
    },
    mentions: /large|limit|size|body|additional/i,
  });
  add({
    name: 'a form-encoded body',
    method: 'post',
    path: `${entity}/promotions`,
    raw: {
      type: 'application/x-www-form-urlencoded',
      data: 'environment=demo&sha=abc',
    },
    mentions: /body|json|content|media type|required|environment/i,
  });
  return cases;
}
