import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  ArtifactLocation,
  BareRepoBuilder,
  Signature,
} from '@mainline/plugin-promotion-node';
import {
  LocalArtifactRegistry,
  LambdaDeploymentRecord,
  LocalLambdaDeployments,
  localLayout,
} from '@mainline/plugin-promotion-backend-module-local';
import {
  MONOREPO,
  ManifestEvent,
  generateMonorepo,
  monorepoImage,
} from './monorepo';
import { RUNTIME_SCENARIO, generateRuntimeScenario } from './runtimeScenario';

/**
 * Bumped when the demo changes, so that a kept data directory is generated again.
 *
 * @public
 */
export const DEMO_VERSION = 5;

/**
 * A tombstone the demo leaves for the commit it yanked.
 *
 * @public
 */
export interface DemoYank {
  entityRef: string;
  sha: string;
  yankedBy: string;
  reason: string;
  yankedAt: string;
}

/**
 * What the generator wrote, saved as `<dataDir>/demo.json`.
 *
 * @public
 */
export interface DemoManifest {
  version?: number;
  generatedAt: string;
  services: string[];
  yanks: DemoYank[];
}

const OWNER = 'mainline-demo';
const DAY = 24 * 60 * 60 * 1000;

const PEOPLE = [
  { name: 'Ada Lovelace', email: 'ada@example.com', login: 'ada' },
  { name: 'Grace Hopper', email: 'grace@example.com', login: 'grace' },
  { name: 'Linus Ops', email: 'linus@example.com', login: 'linus' },
  {
    name: 'Margaret Hamilton',
    email: 'margaret@example.com',
    login: 'margaret',
  },
];
const CI = { name: 'mainline-ci[bot]', email: 'ci@mainline.invalid' };

const CODE_CHANGES = [
  'Add idempotency keys to payment capture',
  'Retry card authorisation on gateway timeouts',
  'Cache tax rates per region',
  'Emit a metric per abandoned cart',
  'Validate postal codes before address lookup',
  'Move currency rounding into one helper',
  'Log the gateway request id with each failure',
  'Paginate the order history endpoint',
  'Reject empty carts at checkout',
  'Support partial refunds',
  'Upgrade the HTTP client',
  'Tighten the payment webhook signature check',
  'Add a feature flag for wallet payments',
  'Speed up the basket total query',
  'Render invoice totals with the customer locale',
  'Batch PDF rendering for monthly statements',
];
const DOCS_CHANGES = [
  'Document the refund flow',
  'Fix typos in the runbook',
  'Add an architecture diagram to the README',
  'Describe on-call escalation',
  'Explain the release workflow in CONTRIBUTING',
];

/** A small deterministic generator, so the demo is the same on every machine. */
function random(seed: number) {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

interface ServicePlan {
  name: string;
  kind: 'image' | 'archive';
  versioning: 'semver' | 'calver';
  commits: number;
  docsOnly: number[];
  hotfixAt: number;
  /** A second fix merged from a fix/* branch, never cherry-picked to the release branch. */
  laterFixAt?: number;
  yankAt: number;
  yankReason: string;
  rcAt: number[];
  /** Indexes into rcAt that were released to prod. */
  releasedRc: number[];
  /** The release branch: cut at an rc, one pick with `-x` (trailer), one without (patch id). */
  releaseBranch?: {
    fromRc: number;
    cherryPickAt: number;
    plainPickAt?: number;
  };
}

const PLANS: ServicePlan[] = [
  {
    name: 'checkout',
    kind: 'image',
    versioning: 'semver',
    commits: 36,
    docsOnly: [3, 9, 15, 23, 33],
    hotfixAt: 18,
    laterFixAt: 28,
    yankAt: 31,
    yankReason:
      'Failed end-to-end validation in stage: checkout of an empty cart returns 500',
    rcAt: [5, 11, 17, 20, 26, 29],
    releasedRc: [0, 1, 3, 4],
    releaseBranch: { fromRc: 3, cherryPickAt: 24, plainPickAt: 25 },
  },
  {
    name: 'invoices',
    kind: 'archive',
    versioning: 'calver',
    commits: 32,
    docsOnly: [2, 8, 14, 21, 27],
    hotfixAt: 16,
    yankAt: 29,
    yankReason:
      'Failed validation in stage: rendered PDFs lost their page numbers',
    rcAt: [6, 12, 19, 24, 28],
    releasedRc: [0, 2, 3],
  },
];

function short(sha: string) {
  return sha.slice(0, 7);
}

function artifactLocation(plan: ServicePlan): ArtifactLocation {
  return plan.kind === 'image'
    ? { kind: 'image', location: `local/${plan.name}` }
    : { kind: 'archive', location: `local://${plan.name}` };
}

function person(rand: () => number) {
  return PEOPLE[Math.floor(rand() * PEOPLE.length)];
}

function kustomization(image: string, tag: string) {
  return [
    'apiVersion: kustomize.config.k8s.io/v1beta1',
    'kind: Kustomization',
    'resources:',
    '  - ../../base',
    'images:',
    `  - name: ${image}`,
    // A short sha of digits alone (or digits, `e`, digits) reads as a YAML number: quoted.
    `    newTag: ${/^[0-9]+(e[0-9]+)?$/.test(tag) ? `"${tag}"` : tag}`,
    '',
  ].join('\n');
}

/**
 * The base of the service whose overlay `event` writes, when no earlier commit added it: a
 * Deployment of the image the overlay's `images` entry names.
 */
function baseFor(
  event: { file: string; content: string },
  withBase: Set<string>,
): Record<string, string> {
  const match = /^apps\/([^/]+)\/overlays\/[^/]+\/kustomization\.yaml$/.exec(
    event.file,
  );
  const image = /^ {2}- name: (\S+)$/m.exec(event.content)?.[1];
  if (!match || !image || withBase.has(match[1])) return {};
  const service = match[1];
  withBase.add(service);
  return {
    [`apps/${service}/base/kustomization.yaml`]: [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      'resources:',
      '  - deployment.yaml',
      '',
    ].join('\n'),
    [`apps/${service}/base/deployment.yaml`]: [
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata:',
      `  name: ${service}`,
      'spec:',
      '  selector:',
      '    matchLabels:',
      `      app: ${service}`,
      '  template:',
      '    metadata:',
      '      labels:',
      `        app: ${service}`,
      '    spec:',
      '      containers:',
      `        - name: ${service}`,
      `          image: ${image}`,
      '',
    ].join('\n'),
  };
}

function imageManifest(service: string, sha: string): Buffer {
  const digest = (s: string) =>
    `sha256:${crypto.createHash('sha256').update(s).digest('hex')}`;
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: digest(`${service}:${sha}:config`),
        size: 1400 + (parseInt(sha.slice(0, 4), 16) % 600),
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: digest('base-layer'),
          size: 31_457_280,
        },
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: digest(`${service}:${sha}:app`),
          size: 2_000_000 + (parseInt(sha.slice(4, 8), 16) % 500_000),
        },
      ],
    }),
  );
}

function versionTag(
  plan: ServicePlan,
  released: number,
  at: Date,
  existing: string[],
) {
  if (plan.versioning === 'semver') {
    const minor = Math.floor(released / 2);
    const patch = released % 2;
    return `v1.${minor}.${patch}`;
  }
  const prefix = `v${at.getUTCFullYear()}.${at.getUTCMonth() + 1}.`;
  return `${prefix}${existing.filter(t => t.startsWith(prefix)).length}`;
}

/**
 * Generates the embedded default's demo: per service a repository with weeks of history on main
 * (several authors, docs-only commits without artifacts, a `fix/*` hotfix merged by pull request),
 * an artifact for every code commit, release tags, one yanked commit, the GitOps manifest
 * repository with stage/demo/prod entries (containers) or recorded Serverless deploys (Lambda),
 * and for checkout a `release/*` branch carrying a cherry-picked fix (the discouraged flow).
 *
 * @public
 */
export async function generateDemoData(
  dataDir: string,
  now = new Date(),
): Promise<DemoManifest> {
  const layout = localLayout(dataDir);
  // Start from nothing of the demo's own (a generation cut short leaves no demo.json and is redone).
  await Promise.all([
    fs.rm(path.join(layout.git, OWNER), { recursive: true, force: true }),
    ...PLANS.map(plan =>
      fs.rm(
        path.join(
          layout.artifacts,
          plan.kind === 'image' ? 'images' : 'archives',
          plan.name,
        ),
        {
          recursive: true,
          force: true,
        },
      ),
    ),
    ...MONOREPO.services.map(service =>
      fs.rm(
        path.join(
          layout.artifacts,
          'images',
          monorepoImage(service).replace(/^local\//, ''),
        ),
        { recursive: true, force: true },
      ),
    ),
    ...RUNTIME_SCENARIO.map(service =>
      fs.rm(path.join(layout.artifacts, 'images', service.name), {
        recursive: true,
        force: true,
      }),
    ),
    ...PLANS.map(plan =>
      fs.rm(path.join(layout.deployments, `${plan.name}.jsonl`), {
        force: true,
      }),
    ),
  ]);
  const registry = new LocalArtifactRegistry(layout.artifacts);
  const lambda = new LocalLambdaDeployments(layout.deployments);
  const manifests = await BareRepoBuilder.open(
    path.join(layout.git, OWNER, 'deployments.git'),
  );
  const yanks: DemoYank[] = [];
  const lambdaEvents: Array<{
    service: string;
    record: LambdaDeploymentRecord;
  }> = [];

  // Manifest-repo changes are collected from every service, then committed in time order.
  const manifestEvents: ManifestEvent[] = [];
  manifestEvents.push({
    at: new Date(now.getTime() - 60 * DAY),
    file: 'README.md',
    content:
      '# Deployments\n\nWatched by Argo CD. One overlay per service and environment.\n',
    message: 'Start the GitOps manifest repository',
    by: { ...PEOPLE[2], date: new Date(now.getTime() - 60 * DAY) },
  });

  for (const [serviceIndex, plan] of PLANS.entries()) {
    const rand = random(42 + serviceIndex);
    const repo = await BareRepoBuilder.open(
      path.join(layout.git, OWNER, `${plan.name}.git`),
    );
    const start = now.getTime() - 45 * DAY;
    const step = (44 * DAY) / plan.commits;
    const at = (i: number) =>
      new Date(start + i * step + Math.floor(rand() * 3) * 60 * 60 * 1000);
    const image = `local/${plan.name}`;
    const archive = `local://${plan.name}`;
    const shas: string[] = [];
    const hasArtifact: boolean[] = [];
    let pr = 100 + serviceIndex * 200;

    for (let i = 0; i < plan.commits; i++) {
      const date = at(i);
      const who = person(rand);
      const signature = { name: who.name, email: who.email, date };
      const github = { name: 'GitHub', email: 'noreply@github.com', date };
      let sha: string;
      if (i === 0) {
        sha = await repo.commit({
          branch: 'main',
          files: {
            'README.md': `# ${plan.name}\n`,
            'src/index.ts': `export const service = '${plan.name}';\n`,
            ...(plan.kind === 'archive'
              ? { 'serverless.yml': `service: ${plan.name}\n` }
              : { Dockerfile: 'FROM node:24-slim\n' }),
          },
          message: `Create ${plan.name}`,
          author: signature,
          committer: github,
        });
      } else if (plan.docsOnly.includes(i)) {
        pr += 1;
        sha = await repo.commit({
          branch: 'main',
          files: {
            [`docs/note-${i}.md`]: `${DOCS_CHANGES[i % DOCS_CHANGES.length]}\n`,
          },
          message: `${DOCS_CHANGES[i % DOCS_CHANGES.length]} (#${pr})`,
          author: signature,
          committer: github,
        });
      } else if (i === plan.hotfixAt || i === plan.laterFixAt) {
        pr += 1;
        const later = i === plan.laterFixAt;
        const branch = later
          ? `fix/${plan.name}-currency-rounding`
          : `fix/${plan.name}-gateway-timeout`;
        const title = later
          ? 'Fix currency rounding of refunds'
          : 'Fix gateway timeout handling';
        await repo.branch(branch, shas[i - 1]);
        await repo.commit({
          branch,
          files: later
            ? { 'src/rounding.ts': `export const roundingDigits = 2;\n` }
            : { 'src/gateway.ts': `export const timeoutMs = ${2000 + i};\n` },
          message: later
            ? `${title}\n\nRefunds in JPY were rounded to cents.`
            : `${title}\n\nThe gateway closes idle connections after 2 s.`,
          author: signature,
        });
        sha = await repo.merge({
          into: 'main',
          from: branch,
          message: `Merge pull request #${pr} from ${OWNER}/${branch}\n\n${title}`,
          author: {
            ...signature,
            date: new Date(date.getTime() + 30 * 60 * 1000),
          },
        });
        // Merged pull-request branches are deleted, as GitHub does.
        await repo.git.output(['update-ref', '-d', `refs/heads/${branch}`]);
      } else {
        pr += 1;
        const change =
          CODE_CHANGES[(i + serviceIndex * 3) % CODE_CHANGES.length];
        sha = await repo.commit({
          branch: 'main',
          files: {
            [`src/change-${i}.ts`]: `// ${change}\nexport const change${i} = ${i};\n`,
          },
          message: `${change} (#${pr})`,
          author: signature,
          committer: github,
        });
      }
      shas.push(sha);
      const built = !plan.docsOnly.includes(i);
      hasArtifact.push(built);
      if (!built) continue;

      const builtAt = new Date(date.getTime() + 12 * 60 * 1000);
      if (plan.kind === 'image') {
        await registry.putImage(
          image,
          short(sha),
          imageManifest(plan.name, sha),
          builtAt,
        );
        manifestEvents.push({
          at: new Date(builtAt.getTime() + 3 * 60 * 1000),
          file: `apps/${plan.name}/overlays/stage/kustomization.yaml`,
          content: kustomization(image, short(sha)),
          message: `stage: ${plan.name} ${short(sha)}`,
          by: { ...CI, date: new Date(builtAt.getTime() + 3 * 60 * 1000) },
        });
      } else {
        await registry.putArchive(
          archive,
          sha,
          {
            [`${plan.name}.zip`]: `PK-demo ${plan.name} ${sha}`.padEnd(
              4096 + (i % 7) * 512,
              '.',
            ),
            'serverless-state.json': JSON.stringify({
              service: plan.name,
              package: sha,
            }),
          },
          builtAt,
        );
        lambdaEvents.push({
          service: plan.name,
          record: {
            environment: 'stage',
            sha,
            deployedAt: new Date(
              builtAt.getTime() + 3 * 60 * 1000,
            ).toISOString(),
            deployedBy: CI.name,
          },
        });
      }
    }

    // Release candidates and versions: tag, then point demo / prod at the same artifact.
    const versions: string[] = [];
    for (const [n, index] of plan.rcAt.entries()) {
      const sha = shas[index];
      const rcDate = new Date(at(index).getTime() + 0.5 * DAY);
      const who = PEOPLE[n % PEOPLE.length];
      const rc = `rc-${n + 1}`;
      await repo.tag(rc, sha);
      await tagArtifact(plan, sha, rc);
      await deploy(plan, 'demo', rc, sha, rcDate, who);
      const released = plan.releasedRc.indexOf(n);
      if (released >= 0) {
        const vDate = new Date(rcDate.getTime() + 1.5 * DAY);
        const version = versionTag(plan, released, vDate, versions);
        versions.push(version);
        await repo.tag(
          version,
          sha,
          { ...who, date: vDate },
          `Release ${version}`,
        );
        await tagArtifact(plan, sha, version);
        await deploy(plan, 'prod', version, sha, vDate, who);
      }
    }

    // The discouraged flow: a release branch from a shipped version with a cherry-picked fix.
    if (plan.releaseBranch) {
      const fromSha = shas[plan.rcAt[plan.releaseBranch.fromRc]];
      const branch = `release/${versions[
        Math.min(2, versions.length - 1)
      ].replace(/\.\d+$/, '')}`;
      await repo.branch(branch, fromSha);
      /** Commits a main commit's files and message again on the branch, as a cherry-pick does. */
      const pickOnto = async (
        sha: string,
        author: Signature,
        trailer: boolean,
      ) => {
        const files: Record<string, string> = {};
        for (const file of await repo.changedFiles(sha)) {
          files[file] = await repo.git.output(['show', `${sha}:${file}`]);
        }
        const message = (
          await repo.git.output(['log', '-1', '--format=%B', sha])
        ).trim();
        return repo.commit({
          branch,
          files,
          message: trailer
            ? `${message}\n\n(cherry picked from commit ${sha})`
            : message,
          author,
        });
      };
      const pickDate = new Date(
        at(plan.releaseBranch.cherryPickAt).getTime() + 2 * 60 * 60 * 1000,
      );
      const picked = [
        await pickOnto(
          shas[plan.releaseBranch.cherryPickAt],
          { ...PEOPLE[0], date: pickDate },
          true,
        ),
      ];
      if (plan.releaseBranch.plainPickAt !== undefined) {
        // Picked without -x: only the patch identity ties it to its main commit.
        picked.push(
          await pickOnto(
            shas[plan.releaseBranch.plainPickAt],
            {
              ...PEOPLE[1],
              date: new Date(pickDate.getTime() + 60 * 60 * 1000),
            },
            false,
          ),
        );
      }
      if (plan.kind === 'image') {
        for (const [n, sha] of picked.entries()) {
          await registry.putImage(
            image,
            short(sha),
            imageManifest(plan.name, sha),
            new Date(pickDate.getTime() + n * 60 * 60 * 1000 + 10 * 60 * 1000),
          );
        }
      }
    }

    // The yank: the commit failed validation in stage; its artifact is deleted, a tombstone kept.
    const yanked = shas[plan.yankAt];
    const yankedAt = new Date(at(plan.yankAt).getTime() + 2 * 60 * 60 * 1000);
    await registry.deleteArtifact(artifactLocation(plan), yanked);
    yanks.push({
      entityRef: `component:default/${plan.name}`,
      sha: yanked,
      yankedBy: 'user:default/ada',
      reason: plan.yankReason,
      yankedAt: yankedAt.toISOString(),
    });
  }

  /** A release tag on the commit's artifact: the same image or package, never a rebuild. */
  async function tagArtifact(plan: ServicePlan, sha: string, tag: string) {
    await registry.addTag(artifactLocation(plan), sha, tag);
  }

  async function deploy(
    plan: ServicePlan,
    environment: string,
    tag: string,
    sha: string,
    date: Date,
    who: (typeof PEOPLE)[number],
  ) {
    if (plan.kind === 'image') {
      manifestEvents.push({
        at: date,
        file: `apps/${plan.name}/overlays/${environment}/kustomization.yaml`,
        content: kustomization(`local/${plan.name}`, tag),
        message: `${environment}: ${plan.name} ${tag}`,
        by: { name: who.name, email: who.email, date },
      });
    } else {
      lambdaEvents.push({
        service: plan.name,
        record: {
          environment,
          sha,
          tag,
          deployedAt: date.toISOString(),
          deployedBy: `user:default/${who.login}`,
        },
      });
    }
  }

  manifestEvents.push(
    ...(await generateRuntimeScenario({
      gitRoot: layout.git,
      owner: OWNER,
      registry,
      now,
      people: PEOPLE,
      ci: CI,
      kustomization,
      imageManifest,
    })),
  );
  manifestEvents.push(
    ...(await generateMonorepo({
      gitRoot: layout.git,
      owner: OWNER,
      registry,
      now,
      people: PEOPLE,
      ci: CI,
      kustomization,
      imageManifest,
    })),
  );

  lambdaEvents.sort((a, b) =>
    a.record.deployedAt.localeCompare(b.record.deployedAt),
  );
  for (const event of lambdaEvents) {
    await lambda.record(event.service, event.record);
  }
  manifestEvents.sort((a, b) => a.at.getTime() - b.at.getTime());
  // A service's first overlay commit also adds the base it builds on, so that every overlay
  // builds with kustomize (as Argo CD would) from the first commit that has it.
  const withBase = new Set<string>();
  for (const event of manifestEvents) {
    await manifests.commit({
      branch: 'main',
      files: { [event.file]: event.content, ...baseFor(event, withBase) },
      message: event.message,
      author: event.by,
    });
  }

  const manifest: DemoManifest = {
    version: DEMO_VERSION,
    generatedAt: now.toISOString(),
    services: [
      ...PLANS.map(p => p.name),
      ...MONOREPO.services,
      ...RUNTIME_SCENARIO.map(s => s.name),
    ],
    yanks,
  };
  await fs.writeFile(
    path.join(dataDir, 'demo.json'),
    JSON.stringify(manifest, null, 2),
  );
  return manifest;
}
