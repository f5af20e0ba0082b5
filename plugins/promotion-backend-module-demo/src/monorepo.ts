import path from 'node:path';
import { LocalArtifactRegistry } from '@mainline/plugin-promotion-backend-module-local';
import { BareRepoBuilder, Signature } from '@mainline/plugin-promotion-node';

/** The monorepo of the demo: three container services in one repository. */
export const MONOREPO = {
  repo: 'shop',
  services: ['cart', 'pricing', 'search'] as const,
};

export type MonorepoService = (typeof MONOREPO.services)[number];

/** A change to the manifest repository, committed later in time order with the others. */
export interface ManifestEvent {
  at: Date;
  file: string;
  content: string;
  message: string;
  by: Signature;
}

const DAY = 24 * 60 * 60 * 1000;
const short = (sha: string) => sha.slice(0, 7);

/** Which services each commit of the monorepo's main touches (none: a docs-only commit). */
const TOUCHES: MonorepoService[][] = [
  ['cart', 'pricing', 'search'],
  ['cart'],
  ['pricing'],
  [],
  ['search'],
  ['cart', 'pricing'],
  ['cart'],
  ['search'],
  ['pricing'],
  [],
  ['cart'],
  ['pricing', 'search'],
  ['cart'],
  ['search'],
  ['pricing'],
  ['cart'],
];

const CHANGES: Record<MonorepoService, string[]> = {
  cart: [
    'Keep carts for 30 days',
    'Merge guest carts on sign-in',
    'Reject negative quantities',
    'Expose the cart total with taxes',
  ],
  pricing: [
    'Round prices per currency',
    'Apply volume discounts',
    'Read price lists from the new store',
  ],
  search: [
    'Rank in-stock products first',
    'Add synonyms for colours',
    'Cache facet counts',
  ],
};

export function monorepoImage(service: MonorepoService): string {
  return `local/shop-${service}`;
}

export function monorepoManifestPath(
  service: MonorepoService,
  environment: string,
): string {
  return `apps/shop-${service}/overlays/${environment}/kustomization.yaml`;
}

/**
 * The monorepo: every commit builds an image only for the services whose folder it changed
 * (`services/<name>/`), deploys those to stage, and release tags ship what was built at the
 * tagged commit — the services a tagged commit did not touch keep their earlier artifact.
 * The newest commit touches only cart and is not released yet.
 */
export async function generateMonorepo(options: {
  gitRoot: string;
  owner: string;
  registry: LocalArtifactRegistry;
  now: Date;
  people: Array<{ name: string; email: string }>;
  ci: { name: string; email: string };
  kustomization: (image: string, tag: string) => string;
  imageManifest: (service: string, sha: string) => Buffer;
}): Promise<ManifestEvent[]> {
  const { registry, now, people, ci } = options;
  const repo = await BareRepoBuilder.open(
    path.join(options.gitRoot, options.owner, `${MONOREPO.repo}.git`),
  );
  const events: ManifestEvent[] = [];
  const start = now.getTime() - 30 * DAY;
  const step = (29 * DAY) / TOUCHES.length;
  const built = new Map<MonorepoService, string[]>();
  const shas: string[] = [];
  let pr = 700;
  /** How many changes each service has led so far: each commit gets the next message. */
  const changesMade = new Map<MonorepoService, number>();

  for (const [i, touched] of TOUCHES.entries()) {
    const date = new Date(start + i * step);
    const who = people[i % people.length];
    const signature = { name: who.name, email: who.email, date };
    pr += 1;
    const files: Record<string, string> = {};
    let subject: string;
    if (i === 0) {
      files['README.md'] = '# shop\n\nCart, pricing and search services.\n';
      for (const service of touched) {
        files[
          `services/${service}/src/index.ts`
        ] = `export const service = '${service}';\n`;
        files[`services/${service}/Dockerfile`] = 'FROM node:24-slim\n';
      }
      subject = 'Create the shop monorepo';
    } else if (touched.length === 0) {
      files[`docs/adr-${i}.md`] = `# Decision ${i}\n`;
      subject = `Record architecture decision ${i} (#${pr})`;
    } else {
      for (const service of touched) {
        files[
          `services/${service}/src/change-${i}.ts`
        ] = `export const change${i} = ${i};\n`;
      }
      const lead = touched[0];
      const n = changesMade.get(lead) ?? 0;
      changesMade.set(lead, n + 1);
      subject = `${lead}: ${CHANGES[lead][n % CHANGES[lead].length]}${
        touched.length > 1 ? ` (with ${touched.slice(1).join(', ')})` : ''
      } (#${pr})`;
    }
    const sha = await repo.commit({
      branch: 'main',
      files,
      message: subject,
      author: signature,
      committer: { name: 'GitHub', email: 'noreply@github.com', date },
    });
    shas.push(sha);
    for (const service of touched) {
      const builtAt = new Date(date.getTime() + 10 * 60 * 1000);
      await registry.putImage(
        monorepoImage(service),
        short(sha),
        options.imageManifest(`shop-${service}`, sha),
        builtAt,
      );
      built.set(service, [...(built.get(service) ?? []), sha]);
      const at = new Date(builtAt.getTime() + 3 * 60 * 1000);
      events.push({
        at,
        file: monorepoManifestPath(service, 'stage'),
        content: options.kustomization(monorepoImage(service), short(sha)),
        message: `stage: shop-${service} ${short(sha)}`,
        by: { ...ci, date: at },
      });
    }
  }

  // Releases: a tag ships what was built at its commit; the other services stay as they are.
  const releases: Array<{ index: number; rc: string; version?: string }> = [
    { index: 0, rc: 'rc-1', version: 'v1.0.0' },
    { index: 5, rc: 'rc-2', version: 'v1.1.0' },
    { index: 11, rc: 'rc-3' },
  ];
  /** Tags the commit, adds the tag to each image built there and points the environment at it. */
  const ship = async (
    tag: string,
    sha: string,
    environment: string,
    touched: MonorepoService[],
    by: Signature,
    annotated: boolean,
  ) => {
    await (annotated
      ? repo.tag(tag, sha, by, `Release ${tag}`)
      : repo.tag(tag, sha));
    for (const service of touched) {
      await registry.addTag(
        { kind: 'image', location: monorepoImage(service) },
        sha,
        tag,
      );
      events.push({
        at: by.date,
        file: monorepoManifestPath(service, environment),
        content: options.kustomization(monorepoImage(service), tag),
        message: `${environment}: shop-${service} ${tag}`,
        by,
      });
    }
  };
  for (const [n, release] of releases.entries()) {
    const sha = shas[release.index];
    const who = people[n % people.length];
    const rcDate = new Date(start + release.index * step + 0.4 * DAY);
    const touched = TOUCHES[release.index];
    const by = (date: Date) => ({ name: who.name, email: who.email, date });
    await ship(release.rc, sha, 'demo', touched, by(rcDate), false);
    if (release.version) {
      const vDate = new Date(rcDate.getTime() + DAY);
      await ship(release.version, sha, 'prod', touched, by(vDate), true);
    }
  }
  return events;
}
