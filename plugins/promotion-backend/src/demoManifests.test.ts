import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import yaml from 'yaml';
import { demoDataDir } from './__testUtils__/demoData';

const run = promisify(execFile);

jest.setTimeout(300_000);

/*
 * The demo's GitOps manifest repository is what Argo CD would sync: every service's overlay, in
 * every environment, must build with kustomize (kubectl's, as `kubectl kustomize`), and render
 * the Deployment with the image the overlay pins.
 */
describe('the demo manifest repository', () => {
  let dataDir: string;
  let checkout: string;
  let kubectl: string;

  beforeAll(async () => {
    const which = spawnSync('kubectl', ['version', '--client'], {
      encoding: 'utf8',
    });
    if (which.status !== 0) {
      throw new Error(
        'kubectl is required (Debian package kubernetes-client; .ci/run installs it)',
      );
    }
    kubectl = which.stdout.split('\n')[0].trim();
    ({ dataDir } = await demoDataDir('mainline-demo-manifests-'));
    checkout = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-manifests-'));
    await run('git', [
      'clone',
      '--quiet',
      path.join(dataDir, 'git', 'mainline-demo', 'deployments.git'),
      checkout,
    ]);
  });

  afterAll(() => {
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(checkout, { recursive: true, force: true });
  });

  it('builds with kubectl kustomize for every service and environment', async () => {
    const overlays = fs
      .readdirSync(path.join(checkout, 'apps'))
      .flatMap(service => {
        const dir = path.join(checkout, 'apps', service, 'overlays');
        return fs.existsSync(dir)
          ? fs.readdirSync(dir).map(environment => ({ service, environment }))
          : [];
      });
    const environments = [...new Set(overlays.map(o => o.environment))];
    expect(environments.sort()).toEqual(['demo', 'prod', 'stage']);
    expect(overlays.length).toBeGreaterThanOrEqual(3);
    // Each overlay's outcome in plain words, so a failure on another machine (another kubectl,
    // another kustomize) says which overlay and why, in one line each.
    const problems: string[] = [];
    const built: string[] = [];
    for (const { service, environment } of overlays) {
      const at = `${service}/${environment}`;
      const dir = path.join(checkout, 'apps', service, 'overlays', environment);
      const overlay = yaml.parse(
        fs.readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8'),
      );
      let stdout: string;
      try {
        ({ stdout } = await run('kubectl', ['kustomize', dir]));
      } catch (error) {
        const { code, signal, stderr } = error as {
          code?: number | string;
          signal?: string;
          stderr?: string;
        };
        problems.push(
          `${at}: kubectl kustomize failed (exit ${code ?? '?'}${
            signal ? `, signal ${signal}` : ''
          }): ${String(stderr ?? (error as Error).message).trim()}`,
        );
        continue;
      }
      const images = yaml
        .parseAllDocuments(stdout)
        .map(d => d.toJSON())
        .filter(r => r?.kind === 'Deployment')
        .flatMap(r => r.spec.template.spec.containers.map((c: any) => c.image));
      const [pinned] = overlay.images ?? [];
      const expected = pinned
        ? `${pinned.newName ?? pinned.name}:${pinned.newTag}`
        : '(no images entry in the overlay)';
      if (images.length !== 1 || images[0] !== expected) {
        problems.push(
          `${at}: renders image(s) [${images.join(
            ', ',
          )}], the overlay pins ${expected}`,
        );
        continue;
      }
      built.push(at);
    }
    expect({ kubectl, problems }).toEqual({ kubectl, problems: [] });
    expect(built).toHaveLength(overlays.length);
  });
});
