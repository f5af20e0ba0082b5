import { screen } from '@testing-library/react';
import { renderInTestApp, TestApiProvider } from '@backstage/test-utils';
import { EntityProvider } from '@backstage/plugin-catalog-react';
import { Entity } from '@backstage/catalog-model';
import { ResponseError } from '@backstage/errors';
import { DEFAULT_ENVIRONMENTS } from '@mainline/plugin-promotion-common';
import { PromotionApi, promotionApiRef } from '../../api';
import { EnvironmentsContent } from './EnvironmentsContent';

const entity: Entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: { name: 'invoices', namespace: 'default' },
  spec: {},
};

function render(api: PromotionApi) {
  return renderInTestApp(
    <TestApiProvider apis={[[promotionApiRef, api]]}>
      <EntityProvider entity={entity}>
        <EnvironmentsContent />
      </EntityProvider>
    </TestApiProvider>,
  );
}

describe('EnvironmentsContent', () => {
  it('shows a lane per environment and where the service releases from', async () => {
    const requested: string[] = [];
    await render({
      listEnvironments: async () => DEFAULT_ENVIRONMENTS.map(e => ({ ...e })),
      getPromotionTarget: async ref => {
        requested.push(`${ref.kind}:${ref.namespace}/${ref.name}`);
        return {
          entityRef: 'component:default/invoices',
          sourceRepo: 'acme/invoices',
          artifactKind: 'archive',
          artifactLocation: 's3://acme-artifacts/invoices',
          serverlessService: 'invoices',
          versioning: 'calver',
          releaseBranches: false,
        };
      },
    });
    expect(requested).toEqual(['Component:default/invoices']);
    expect(await screen.findByText('stage')).toBeInTheDocument();
    expect(screen.getByText('promoted from stage')).toBeInTheDocument();
    expect(
      screen.getByText('Deployed by tag v* on a main commit.'),
    ).toBeInTheDocument();
    expect(screen.getByText('production')).toBeInTheDocument();
    expect(
      screen.getByText('Serverless package in s3://acme-artifacts/invoices'),
    ).toBeInTheDocument();
    expect(screen.getByText('calver')).toBeInTheDocument();
  });

  it('shows the server error, naming the missing annotation', async () => {
    const response = new Response(
      JSON.stringify({
        error: {
          name: 'NotFoundError',
          message:
            'component:default/invoices is not set up for promotion: annotation mainline.dev/artifact-location missing',
        },
        response: { statusCode: 404 },
      }),
      { status: 404, headers: { 'content-type': 'application/json' } },
    );
    const error = await ResponseError.fromResponse(response);
    await render({
      listEnvironments: async () => [],
      getPromotionTarget: async () => {
        throw error;
      },
    });
    const shown = await screen.findAllByText(
      /annotation mainline.dev\/artifact-location missing/,
    );
    expect(shown[0]).toBeInTheDocument();
  });
});
