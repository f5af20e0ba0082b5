import { TemplateExample } from '@backstage/plugin-scaffolder-node';
import yaml from 'yaml';

export const examples: TemplateExample[] = [
  {
    description:
      'Publish on the configured main branch and create one GitHub environment per configured environment',
    example: yaml.stringify({
      steps: [
        { id: 'pipeline', action: 'promotion:pipeline:read', name: 'Pipeline' },
        {
          id: 'publish',
          action: 'publish:github',
          name: 'Repository',
          input: {
            repoUrl: 'github.com?owner=acme&repo=checkout',
            defaultBranch: '${{ steps.pipeline.output.branch }}',
          },
        },
        {
          id: 'environments',
          name: 'Environments',
          each: '${{ steps.pipeline.output.environments }}',
          action: 'github:environment:create',
          input: {
            repoUrl: 'github.com?owner=acme&repo=checkout',
            name: '${{ each.value.name }}',
            deploymentBranchPolicy: '${{ each.value.deploymentBranchPolicy }}',
            customBranchPolicyNames:
              '${{ each.value.customBranchPolicyNames }}',
            customTagPolicyNames: '${{ each.value.customTagPolicyNames }}',
          },
        },
      ],
    }),
  },
];
