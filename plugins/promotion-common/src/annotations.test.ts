import { Entity } from '@backstage/catalog-model';
import { isPromotionAvailable, readPromotionTarget } from './annotations';

function component(annotations: Record<string, string>): Entity {
  return {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: { name: 'svc', annotations },
    spec: {},
  };
}

describe('readPromotionTarget', () => {
  it('reads a container service', () => {
    const result = readPromotionTarget(
      component({
        'github.com/project-slug': 'acme/checkout',
        'mainline.dev/artifact-kind': 'image',
        'mainline.dev/artifact-location':
          '123456789012.dkr.ecr.eu-west-1.amazonaws.com/checkout',
        'mainline.dev/manifest-repo': 'acme/deployments',
        'mainline.dev/manifest-path':
          'apps/checkout/{environment}/kustomization.yaml',
        'mainline.dev/versioning': 'calver',
      }),
    );
    expect(result).toEqual({
      ok: true,
      target: expect.objectContaining({
        sourceRepo: 'acme/checkout',
        artifactKind: 'image',
        manifestRepo: 'acme/deployments',
        versioning: 'calver',
        releaseBranches: false,
      }),
    });
  });

  it('reads where the image tag is in a manifest that is not kustomize or Helm values', () => {
    const annotations = {
      'github.com/project-slug': 'acme/checkout',
      'mainline.dev/artifact-kind': 'image',
      'mainline.dev/artifact-location': 'ghcr.io/acme/checkout',
      'mainline.dev/manifest-repo': 'acme/deployments',
      'mainline.dev/manifest-path': 'apps/checkout/{environment}.yaml',
    };
    expect(
      readPromotionTarget(
        component({
          ...annotations,
          'mainline.dev/manifest-image-path': 'spec.values.image.tag',
        }),
      ),
    ).toMatchObject({
      ok: true,
      target: { manifestImagePath: 'spec.values.image.tag' },
    });
    expect(
      readPromotionTarget(
        component({
          ...annotations,
          'mainline.dev/manifest-image-path': 'spec..tag',
        }),
      ),
    ).toEqual({
      ok: false,
      problems: [
        {
          annotation: 'mainline.dev/manifest-image-path',
          message: '"spec..tag" is not a YAML path such as app.image.tag',
        },
      ],
    });
  });

  it('reads a Lambda service', () => {
    const result = readPromotionTarget(
      component({
        'github.com/project-slug': 'acme/invoices',
        'mainline.dev/artifact-kind': 'archive',
        'mainline.dev/artifact-location': 's3://acme-artifacts/invoices',
        'mainline.dev/serverless-service': 'invoices',
      }),
    );
    expect(result.ok && result.target.serverlessService).toBe('invoices');
  });

  it('names every missing or unsafe annotation at once', () => {
    const result = readPromotionTarget(
      component({
        'github.com/project-slug': '../etc',
        'mainline.dev/artifact-kind': 'image',
        'mainline.dev/manifest-repo': 'acme/deployments',
        'mainline.dev/manifest-path': '../../{environment}/secrets.yaml',
      }),
    );
    expect(result.ok).toBe(false);
    const names = !result.ok ? result.problems.map(p => p.annotation) : [];
    expect(names).toEqual([
      'github.com/project-slug',
      'mainline.dev/artifact-location',
      'mainline.dev/manifest-path',
    ]);
  });

  it('shows the tab only for entities with a repository and an artifact kind', () => {
    expect(isPromotionAvailable(component({}))).toBe(false);
    expect(
      isPromotionAvailable(
        component({
          'github.com/project-slug': 'a/b',
          'mainline.dev/artifact-kind': 'image',
        }),
      ),
    ).toBe(true);
  });
});
