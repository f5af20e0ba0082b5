import { TemplateExample } from '@backstage/plugin-scaffolder-node';
import yaml from 'yaml';

export const examples: TemplateExample[] = [
  {
    description: 'The image repository of a new container service',
    example: yaml.stringify({
      steps: [
        {
          id: 'ecr',
          action: 'promotion:aws:ecr:create',
          name: 'Image repository',
          input: {
            accountId: '123456789012',
            region: 'eu-west-1',
            repositoryName: 'checkout',
          },
        },
      ],
    }),
  },
];
