import { TemplateExample } from '@backstage/plugin-scaffolder-node';
import yaml from 'yaml';

export const examples: TemplateExample[] = [
  {
    description:
      'Register checkout in the manifest repository Argo CD watches, as one commit',
    example: yaml.stringify({
      steps: [
        {
          id: 'gitops',
          action: 'promotion:gitops:register',
          name: 'GitOps manifests',
          input: {
            manifestRepo: 'acme/deployments',
            service: 'checkout',
            image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/checkout',
          },
        },
      ],
    }),
  },
  {
    description: 'The same through a pull request the platform team reviews',
    example: yaml.stringify({
      steps: [
        {
          id: 'gitops',
          action: 'promotion:gitops:register',
          name: 'GitOps manifests',
          input: {
            manifestRepo: 'acme/deployments',
            service: 'checkout',
            image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/checkout',
            publishMode: 'pull-request',
          },
        },
      ],
    }),
  },
];
