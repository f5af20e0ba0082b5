import { TemplateExample } from '@backstage/plugin-scaffolder-node';
import yaml from 'yaml';

export const examples: TemplateExample[] = [
  {
    description:
      'A container service deployed through a kustomize overlay per environment',
    example: yaml.stringify({
      steps: [
        {
          id: 'annotations',
          action: 'promotion:annotations:render',
          name: 'Release annotations',
          input: {
            repoSlug: 'acme/checkout',
            artifactKind: 'image',
            artifactLocation:
              '123456789012.dkr.ecr.eu-west-1.amazonaws.com/checkout',
            manifestRepo: 'acme/deployments',
            manifestPath:
              'apps/checkout/overlays/{environment}/kustomization.yaml',
          },
        },
      ],
    }),
  },
  {
    description: 'A Lambda service on calendar versions',
    example: yaml.stringify({
      steps: [
        {
          id: 'annotations',
          action: 'promotion:annotations:render',
          name: 'Release annotations',
          input: {
            repoSlug: 'acme/invoices',
            artifactKind: 'archive',
            artifactLocation: 's3://acme-artifacts/invoices',
            serverlessService: 'invoices',
            versioning: 'calver',
          },
        },
      ],
    }),
  },
];
