import {
  DEPLOY_WORKFLOW_RUN_NAME,
  deployRunTitle,
  parseDeployRunTitle,
} from './deployRuns';

describe('deploy run titles', () => {
  const inputs = {
    stage: 'prod',
    sha: 'a'.repeat(40),
    version: 'v1.2.0',
    request: '0b5c7c1e-7d7c-4b8e-9a51-0c7b3f1f5c1a',
    actor: 'user:default/ada',
  };

  it('reads back what a dispatched run was for', () => {
    expect(parseDeployRunTitle(deployRunTitle(inputs))).toEqual(inputs);
  });

  it('renders the same title GitHub would from the run-name expression', () => {
    const rendered = DEPLOY_WORKFLOW_RUN_NAME.replace(
      /\$\{\{ inputs\.(\w+) \}\}/g,
      (_, name: keyof typeof inputs) => inputs[name],
    );
    expect(rendered).toBe(deployRunTitle(inputs));
  });

  it('ignores runs of other workflows and malformed titles', () => {
    expect(parseDeployRunTitle('Build once, deploy to stage')).toBeUndefined();
    expect(
      parseDeployRunTitle(`mainline deploy prod abc v1 [x] by y`),
    ).toBeUndefined();
    expect(parseDeployRunTitle(undefined)).toBeUndefined();
  });
});
