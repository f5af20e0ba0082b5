import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import yaml from 'yaml';
import { manifestFiles } from './actions/gitopsRegister';
import { renderWorkflows } from './workflows/renderWorkflows';

/*
 * The files a scaffolded service starts with, executed: each skeleton rendered as fetch:template
 * would, its default stage validation run as the rendered workflow's step, and the manifests
 * promotion:gitops:register writes built by kubectl kustomize.
 */

const templateDir = path.resolve(__dirname, '../templates/build-once-service');

/** The skeleton with its `${{ values.x }}` filled in, as fetch:template writes it. */
function renderSkeleton(kind: string, values: Record<string, string>) {
  const target = fs.mkdtempSync(path.join(os.tmpdir(), `skeleton-${kind}-`));
  const copy = (from: string, to: string) => {
    for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
      const source = path.join(from, entry.name);
      const dest = path.join(to, entry.name);
      if (entry.isDirectory()) {
        fs.mkdirSync(dest);
        copy(source, dest);
      } else {
        const text = fs
          .readFileSync(source, 'utf8')
          .replace(/\$\{\{ values\.(\w+) \}\}/g, (_, key: string) => {
            if (!(key in values)) throw new Error(`No value ${key}`);
            return values[key];
          });
        fs.writeFileSync(dest, text);
      }
    }
  };
  copy(path.join(templateDir, `skeleton-${kind}`), target);
  return target;
}

/** A bash script as a workflow step runs it, without blocking this process's servers. */
function bash(
  script: string,
  cwd: string,
  env: Record<string, string> = {},
): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'bash',
      ['--noprofile', '--norc', '-e', '-o', 'pipefail'],
      {
        cwd,
        // The toolchain's node and npm first, as setup-node puts them on a runner.
        env: {
          PATH: `${path.dirname(process.execPath)}:${process.env.PATH}`,
          HOME: process.env.HOME,
          npm_config_update_notifier: 'false',
          ...env,
        },
      },
    );
    let output = '';
    child.stdout.on('data', chunk => (output += chunk));
    child.stderr.on('data', chunk => (output += chunk));
    child.on('error', reject);
    child.on('close', status => resolve({ status, output }));
    child.stdin.end(script);
  });
}

describe.each([
  ['container', 'checkout'],
  ['serverless', 'invoices'],
])('the %s skeleton', (kind, name) => {
  let dir: string;
  const validationStep = () => {
    const options =
      kind === 'container'
        ? {
            kind: 'container' as const,
            ecrRepository: `123456789012.dkr.ecr.eu-west-1.amazonaws.com/${name}`,
            manifestRepo: 'acme/deployments',
            manifestPath: `apps/${name}/overlays/{environment}/kustomization.yaml`,
            manifestBranch: 'main',
            argocdUrl: 'https://argocd.example.com',
            argocdApplication: `${name}-{environment}`,
          }
        : {
            kind: 'serverless' as const,
            packageLocation: `s3://acme-artifacts/${name}`,
          };
    const validate = yaml.parse(
      renderWorkflows({
        ...options,
        entityRef: `component:default/${name}`,
        mainlineUrl: 'https://backstage.example.com',
        awsRegion: 'eu-west-1',
        // The action's default.
        validationCommand: 'npm run validate:stage',
      })['mainline-validate-stage.yaml'],
    );
    return validate.jobs.validate.steps.find((s: { name?: string }) =>
      s.name?.startsWith('End-to-end'),
    ).run as string;
  };

  beforeAll(() => {
    dir = renderSkeleton(kind, {
      name,
      owner: 'group:default/payments',
      repoSlug: `acme/${name}`,
      manifestRepo: 'acme/deployments',
      image: `123456789012.dkr.ecr.eu-west-1.amazonaws.com/${name}`,
      packageLocation: `s3://acme-artifacts/${name}`,
      awsRegion: 'eu-west-1',
    });
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('has a package.json whose scripts the workflows run', () => {
    const pkg = JSON.parse(
      fs.readFileSync(path.join(dir, 'package.json'), 'utf8'),
    );
    expect(pkg.name).toBe(name);
    expect(Object.keys(pkg.scripts)).toEqual(
      expect.arrayContaining(['test', 'validate:stage']),
    );
  });

  it('passes its default stage validation, run as the rendered step', async () => {
    const result = await bash(validationStep(), dir, {
      COMMIT_SHA: 'a'.repeat(40),
    });
    expect(result.output).toContain('answered 200');
    expect(result.status).toBe(0);
  }, 60_000);

  it('passes its tests (the pull request check runs them)', async () => {
    const result = await bash('npm test\n', dir);
    expect(result.output).toMatch(/(#|ℹ) pass 1\b/);
    expect(result.status).toBe(0);
  }, 60_000);

  describe('against a stage at STAGE_URL', () => {
    let server: http.Server;
    let body = `${name}\n`;
    beforeAll(async () => {
      server = http.createServer((_req, res) => res.end(body));
      await new Promise<void>(resolve =>
        server.listen(0, '127.0.0.1', () => resolve()),
      );
    });
    afterAll(() => new Promise(resolve => server.close(resolve)));
    const stageUrl = () =>
      `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

    it('goes green when stage answers as the service does', async () => {
      body = kind === 'container' ? `${name}\n` : name;
      const result = await bash(validationStep(), dir, {
        STAGE_URL: stageUrl(),
      });
      expect(result.output).toContain(`${stageUrl()} answered 200`);
      expect(result.status).toBe(0);
    }, 60_000);

    it('fails (and so yanks) when stage answers otherwise', async () => {
      body = 'someone else';
      const result = await bash(validationStep(), dir, {
        STAGE_URL: stageUrl(),
      });
      expect(result.output).toContain('::error::stage validation failed');
      expect(result.status).not.toBe(0);
    }, 60_000);
  });
});

describe('the manifests promotion:gitops:register writes', () => {
  const image = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/checkout';
  const files = manifestFiles({
    service: 'checkout',
    image,
    initialTag: 'latest',
    manifestRepoUrl: 'https://github.com/acme/deployments.git',
    namespace: 'checkout',
    branch: 'deploy',
  });
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'manifests-'));
    for (const [file, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      fs.writeFileSync(path.join(dir, file), content);
    }
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each(['stage', 'demo', 'prod'])(
    'build with kubectl kustomize for %s: the image at its tag, in its namespace',
    environment => {
      const result = spawnSync(
        'kubectl',
        ['kustomize', path.join(dir, `apps/checkout/overlays/${environment}`)],
        { encoding: 'utf8' },
      );
      if (result.error) {
        throw new Error(
          `kubectl is required (Debian package kubernetes-client; .ci/run installs it): ${result.error.message}`,
        );
      }
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      const [deployment] = yaml
        .parseAllDocuments(result.stdout)
        .map(d => d.toJSON());
      expect(deployment).toMatchObject({
        kind: 'Deployment',
        metadata: { name: 'checkout', namespace: `checkout-${environment}` },
      });
      expect(deployment.spec.template.spec.containers[0].image).toBe(
        `${image}:latest`,
      );
    },
  );

  it.each(['stage', 'demo', 'prod'])(
    'an Argo CD Application for %s that watches the branch and creates its namespace',
    environment => {
      const app = yaml.parse(files[`argocd/checkout-${environment}.yaml`]);
      expect(app).toMatchObject({
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'Application',
        metadata: { name: `checkout-${environment}`, namespace: 'argocd' },
        spec: {
          source: {
            repoURL: 'https://github.com/acme/deployments.git',
            targetRevision: 'deploy',
            path: `apps/checkout/overlays/${environment}`,
          },
          destination: { namespace: `checkout-${environment}` },
          syncPolicy: { syncOptions: ['CreateNamespace=true'] },
        },
      });
    },
  );

  it('uses no YAML anchors or aliases', () => {
    for (const text of Object.values(files)) {
      let aliases = 0;
      yaml.visit(yaml.parseDocument(text), { Alias: () => void aliases++ });
      expect(aliases).toBe(0);
    }
  });
});
