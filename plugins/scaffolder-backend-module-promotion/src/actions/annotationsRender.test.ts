import { createMockActionContext } from '@backstage/plugin-scaffolder-node-test-utils';
import yaml from 'yaml';
import { createAnnotationsRenderAction } from './annotationsRender';
import { examples } from './annotationsRender.examples';

describe('promotion:annotations:render', () => {
  const action = createAnnotationsRenderAction();

  it.each(examples.map(e => [e.description, e.example]))(
    'renders the annotations of the example: %s',
    async (_description, example) => {
      const input = yaml.parse(example).steps[0].input;
      const ctx = createMockActionContext({ input });
      await action.handler(ctx);
      expect(ctx.output).toHaveBeenCalledWith(
        'annotations',
        expect.any(Object),
      );
      const annotations = (ctx.output as jest.Mock).mock.calls[0][1];
      expect(annotations['github.com/project-slug']).toBe(input.repoSlug);
      expect(annotations['mainline.dev/artifact-kind']).toBe(
        input.artifactKind,
      );
      expect(annotations['mainline.dev/versioning']).toBe(
        input.versioning ?? 'semver',
      );
    },
  );

  it('refuses a container service without a manifest repository, naming the annotation', async () => {
    await expect(
      action.handler(
        createMockActionContext({
          input: {
            repoSlug: 'acme/checkout',
            artifactKind: 'image',
            artifactLocation: 'local/checkout',
            versioning: 'semver',
          },
        }),
      ),
    ).rejects.toThrow(/mainline.dev\/manifest-repo missing/);
  });

  it('refuses a traversal in the manifest path', async () => {
    await expect(
      action.handler(
        createMockActionContext({
          input: {
            repoSlug: 'acme/checkout',
            artifactKind: 'image',
            artifactLocation: 'local/checkout',
            manifestRepo: 'acme/deployments',
            manifestPath: '../{environment}/k.yaml',
            versioning: 'semver',
          },
        }),
      ),
    ).rejects.toThrow(/mainline.dev\/manifest-path/);
  });
});
