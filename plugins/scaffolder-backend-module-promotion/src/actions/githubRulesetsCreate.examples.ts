import { TemplateExample } from '@backstage/plugin-scaffolder-node';
import yaml from 'yaml';

export const examples: TemplateExample[] = [
  {
    description:
      'Protect main and the release tags; only the Backstage GitHub App creates rc-*/v* tags',
    example: yaml.stringify({
      steps: [
        {
          id: 'rulesets',
          action: 'promotion:github:rulesets:create',
          name: 'Release rulesets',
          input: {
            repoUrl: 'github.com?owner=acme&repo=checkout',
            requiredStatusChecks: ['build'],
            bypassActors: [{ actorId: 123456, actorType: 'Integration' }],
          },
        },
      ],
    }),
  },
];
