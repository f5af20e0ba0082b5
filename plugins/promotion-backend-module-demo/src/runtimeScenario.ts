import path from 'node:path';
import { LocalArtifactRegistry } from '@mainline/plugin-promotion-backend-module-local';
import { BareRepoBuilder } from '@mainline/plugin-promotion-node';
import { ManifestEvent } from './monorepo';

const HOUR = 60 * 60 * 1000;

/**
 * The local runtime's demo: two small services the embedded runtime observes
 * (`mainline.dev/local-runtime` in catalog/runtime.yaml), so the demo shows declared against
 * running. `ledger`'s demo syncs fail: demo declares rc-2 and still runs rc-1, healthy, its last
 * sync failed. `notifier`'s new versions never become healthy in demo: rc-2 synced, Degraded, the
 * old pod still running beside the new. Promoting either's stage commit to demo fails at verify
 * (sync-failed, degraded). Four commits each: a fraction of a second of git work.
 */
export const RUNTIME_SCENARIO = [
  { name: 'ledger', mode: 'demo=sync-fails' },
  { name: 'notifier', mode: 'demo=never-healthy' },
] as const;

export async function generateRuntimeScenario(options: {
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
  const events: ManifestEvent[] = [];
  for (const [index, service] of RUNTIME_SCENARIO.entries()) {
    const repo = await BareRepoBuilder.open(
      path.join(options.gitRoot, options.owner, `${service.name}.git`),
    );
    const image = `local/${service.name}`;
    const shas: string[] = [];
    const subjects = [
      `Create ${service.name}`,
      `${service.name}: add a health endpoint`,
      `${service.name}: move configuration to the environment`,
      `${service.name}: tune the connection pool`,
    ];
    for (const [i, subject] of subjects.entries()) {
      // Four days back, a day apart: every version has run in stage for longer than any soak.
      const date = new Date(now.getTime() - (4 - i) * 24 * HOUR - index * HOUR);
      const who = people[(i + index) % people.length];
      const sha = await repo.commit({
        branch: 'main',
        files: {
          'README.md': `# ${service.name}\n`,
          [`src/change-${i}.ts`]: `export const change${i} = ${i};\n`,
        },
        message: subject,
        author: { name: who.name, email: who.email, date },
      });
      shas.push(sha);
      const builtAt = new Date(date.getTime() + 10 * 60 * 1000);
      await registry.putImage(
        image,
        sha.slice(0, 7),
        options.imageManifest(service.name, sha),
        builtAt,
      );
      const at = new Date(builtAt.getTime() + 3 * 60 * 1000);
      events.push({
        at,
        file: `apps/${service.name}/overlays/stage/kustomization.yaml`,
        content: options.kustomization(image, sha.slice(0, 7)),
        message: `stage: ${service.name} ${sha.slice(0, 7)}`,
        by: { ...ci, date: at },
      });
    }
    // rc-1 (the second commit) ran in demo; rc-2 (the third) is what demo declares now.
    for (const [n, at] of [1, 2].entries()) {
      const tag = `rc-${n + 1}`;
      const sha = shas[at];
      const who = people[n % people.length];
      const date = new Date(now.getTime() - (3 - n) * 24 * HOUR + 2 * HOUR);
      await repo.tag(tag, sha);
      await registry.addTag({ kind: 'image', location: image }, sha, tag);
      events.push({
        at: date,
        file: `apps/${service.name}/overlays/demo/kustomization.yaml`,
        content: options.kustomization(image, tag),
        message: `demo: ${service.name} ${tag}`,
        by: { name: who.name, email: who.email, date },
      });
    }
  }
  return events;
}
