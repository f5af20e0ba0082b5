import { TemplateExample } from '@backstage/plugin-scaffolder-node';
import yaml from 'yaml';

export const examples: TemplateExample[] = [
  {
    description:
      'Workflows for a container service released through a GitOps manifest repository',
    example: yaml.stringify({
      steps: [
        {
          id: 'workflows',
          action: 'promotion:workflows:render',
          name: 'Release workflows',
          input: {
            kind: 'container',
            entityRef: 'component:default/checkout',
            mainlineUrl: 'https://backstage.example.com',
            awsRegion: 'eu-west-1',
            ecrRepository:
              '123456789012.dkr.ecr.eu-west-1.amazonaws.com/checkout',
            manifestRepo: 'acme/deployments',
            manifestPath:
              'apps/checkout/overlays/{environment}/kustomization.yaml',
            manifestBranch: 'main',
            argocdUrl: 'https://argocd.example.com',
          },
        },
      ],
    }),
  },
  {
    description:
      'Workflows for a Lambda service packaged with the Serverless framework',
    example: yaml.stringify({
      steps: [
        {
          id: 'workflows',
          action: 'promotion:workflows:render',
          name: 'Release workflows',
          input: {
            kind: 'serverless',
            entityRef: 'component:default/invoices',
            mainlineUrl: 'https://backstage.example.com',
            awsRegion: 'eu-west-1',
            packageLocation: 's3://acme-artifacts/invoices',
            validationCommand: 'npm run test:stage',
          },
        },
      ],
    }),
  },
];
