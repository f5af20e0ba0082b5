import yaml from 'yaml';
import { DEPLOY_WORKFLOW_RUN_NAME } from '@mainline/plugin-promotion-common';

/** What the workflows are rendered from: a service's kind and where its artifacts live. */
export type WorkflowOptions = {
  /** Catalog entity the Mainline API knows the service by, e.g. component:default/checkout. */
  entityRef: string;
  /** Where Backstage (Mainline) answers, for the stage-validation yank. */
  mainlineUrl: string;
  awsRegion: string;
  /** Command that validates stage end to end; a failure yanks the commit. */
  validationCommand: string;
} & (
  | {
      kind: 'container';
      /** ECR repository URI, `<account>.dkr.ecr.<region>.amazonaws.com/<name>`. */
      ecrRepository: string;
      manifestRepo: string;
      /** Each environment's kustomization in the manifest repo, with `{environment}`. */
      manifestPath: string;
    }
  | {
      kind: 'serverless';
      /** The bucket and prefix the packages are copied to: `s3://<bucket>/<prefix>`. */
      packageLocation: string;
    }
);

const DOCS_ONLY = ['docs/**', '**/*.md'];
const awsCredentials = (options: WorkflowOptions) => ({
  name: 'AWS credentials',
  uses: 'aws-actions/configure-aws-credentials@v4',
  with: {
    'role-to-assume': '${{ secrets.AWS_DEPLOY_ROLE_ARN }}',
    'aws-region': options.awsRegion,
  },
});
const SHORT_SHA = {
  name: 'Short sha',
  id: 'sha',
  run: 'echo "short=${GITHUB_SHA::7}" >> "$GITHUB_OUTPUT"',
};

function entityPath(entityRef: string): string {
  const [kind, rest] = entityRef.split(':');
  const [namespace, name] = rest.split('/');
  return `${kind.toLowerCase()}/${namespace}/${name}`;
}

/** Rewrites one environment's image tag in the manifest repository and pushes (containers). */
function manifestUpdate(
  options: Extract<WorkflowOptions, { kind: 'container' }>,
  environment: string,
  tag: string,
) {
  const file = options.manifestPath.replace(/\{environment\}/g, environment);
  return [
    {
      name: 'Check out the manifest repository',
      uses: 'actions/checkout@v4',
      with: {
        repository: options.manifestRepo,
        token: '${{ secrets.MANIFEST_REPO_TOKEN }}',
        path: 'manifests',
      },
    },
    {
      name: `Point ${environment} at ${tag}`,
      'working-directory': 'manifests',
      run: [
        `yq -i '(.images[] | select(.name == "${options.ecrRepository}")).newTag = "${tag}"' ${file}`,
        'git config user.name "mainline-ci[bot]"',
        'git config user.email "ci@mainline.invalid"',
        `git commit -am "${environment}: ${options.ecrRepository} ${tag}"`,
        'git push',
      ].join('\n'),
    },
  ];
}

function serverlessDeploy(
  options: Extract<WorkflowOptions, { kind: 'serverless' }>,
  environment: string,
  sha: string,
) {
  return [
    {
      name: 'Fetch the package built for this commit',
      run: `aws s3 cp --recursive "${options.packageLocation}/${sha}/" "${sha}/"`,
    },
    {
      name: `sls deploy -s ${environment}`,
      run: `npx serverless deploy -s ${environment} -p "${sha}"`,
    },
  ];
}

/** Starts the deploy workflow; every Lambda deploy runs there, so its runs say what runs where. */
function dispatchCommand(stage: string, version: string, origin: string) {
  return `gh workflow run mainline-deploy.yaml --ref main -f stage=${stage} -f sha="$GITHUB_SHA" -f version=${version} -f request="${origin}-$GITHUB_RUN_ID" -f actor="$GITHUB_ACTOR"`;
}

function dispatchDeploy(stage: string, version: string, origin: string) {
  return {
    name: `Deploy to ${stage} through the deploy workflow`,
    run: dispatchCommand(stage, `"${version}"`, origin),
    env: { GH_TOKEN: '${{ github.token }}' },
  };
}

/**
 * Serverless: the one workflow that runs `sls deploy`, dispatched by CI for stage, by the tag
 * workflow, and by Mainline for promotions and rollbacks. Its run-name carries the inputs, which
 * is how Mainline finds the run it started and reads what each stage runs.
 */
function deployWorkflow(
  options: Extract<WorkflowOptions, { kind: 'serverless' }>,
) {
  const input = (description: string) => ({
    description,
    required: true,
    type: 'string',
  });
  return {
    name: 'Deploy',
    'run-name': DEPLOY_WORKFLOW_RUN_NAME,
    on: {
      workflow_dispatch: {
        inputs: {
          stage: input('Serverless stage (environment) to deploy to'),
          sha: input('Full sha of the commit whose package is deployed'),
          version: input(
            'What the stage runs afterwards: the release tag or the short sha',
          ),
          request: input(
            'Who started this: a Mainline promotion id, push-<run>, tag-<run>',
          ),
          actor: input('The user who asked'),
        },
      },
    },
    permissions: { contents: 'read', 'id-token': 'write' },
    concurrency: {
      group: 'deploy-${{ inputs.stage }}',
      'cancel-in-progress': false,
    },
    jobs: {
      deploy: {
        'runs-on': 'ubuntu-latest',
        environment: '${{ inputs.stage }}',
        // Inputs reach the shell as variables, never spliced into the script.
        env: { STAGE: '${{ inputs.stage }}', SHA: '${{ inputs.sha }}' },
        steps: [
          {
            name: 'Check the inputs',
            run: '[[ "$SHA" =~ ^[0-9a-f]{40}$ && "$STAGE" =~ ^[a-z][a-z0-9-]{0,31}$ ]] || { echo "::error::sha must be a full commit sha and stage an environment name"; exit 1; }',
          },
          { uses: 'actions/checkout@v4' },
          awsCredentials(options),
          ...serverlessDeploy(options, '$STAGE', '$SHA'),
        ],
      },
    },
  };
}

function buildWorkflow(options: WorkflowOptions) {
  const build =
    options.kind === 'container'
      ? [
          { uses: 'actions/checkout@v4' },
          awsCredentials(options),
          SHORT_SHA,
          { name: 'Log in to ECR', uses: 'aws-actions/amazon-ecr-login@v2' },
          { uses: 'docker/setup-buildx-action@v3' },
          {
            name: 'Build and push the image once, tagged with the short sha',
            // One OCI manifest (no provenance index) annotated with its build time and commit:
            // Mainline reads a page of commits' images by tag in one call (BatchGetImage), and
            // the annotation gives the build time that call does not report.
            run: [
              'docker buildx build --provenance=false \\',
              `  --output "type=image,name=${options.ecrRepository}:\${{ steps.sha.outputs.short }},push=true,oci-mediatypes=true" \\`,
              '  --annotation "org.opencontainers.image.created=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \\',
              '  --annotation "org.opencontainers.image.revision=$GITHUB_SHA" \\',
              '  .',
            ].join('\n'),
          },
        ]
      : [
          { uses: 'actions/checkout@v4' },
          awsCredentials(options),
          {
            name: 'Package once',
            run: 'npx serverless package --package "$GITHUB_SHA"',
          },
          {
            name: 'Copy the package under the sha',
            run: `aws s3 cp --recursive "$GITHUB_SHA/" "${options.packageLocation}/$GITHUB_SHA/"`,
          },
        ];
  const deploy =
    options.kind === 'container'
      ? [
          SHORT_SHA,
          ...manifestUpdate(options, 'stage', '${{ steps.sha.outputs.short }}'),
        ]
      : [dispatchDeploy('stage', '${GITHUB_SHA::7}', 'push')];
  return {
    name: 'Build once, deploy to stage',
    on: { push: { branches: ['main'], 'paths-ignore': DOCS_ONLY } },
    permissions: {
      contents: 'read',
      'id-token': 'write',
      ...(options.kind === 'serverless' ? { actions: 'write' } : {}),
    },
    concurrency: { group: 'stage', 'cancel-in-progress': false },
    jobs: {
      build: { 'runs-on': 'ubuntu-latest', steps: build },
      'deploy-stage': {
        needs: 'build',
        'runs-on': 'ubuntu-latest',
        environment: 'stage',
        steps: deploy,
      },
    },
  };
}

function promoteWorkflow(options: WorkflowOptions) {
  const artifactCheck =
    options.kind === 'container'
      ? `aws ecr describe-images --repository-name "${options.ecrRepository
          .split('/')
          .slice(1)
          .join('/')}" --image-ids imageTag="\${GITHUB_SHA::7}" > /dev/null`
      : `aws s3 ls "${options.packageLocation}/$GITHUB_SHA/" > /dev/null`;
  const retag =
    options.kind === 'container'
      ? {
          name: 'Add the release tag to the image built for this commit (no rebuild)',
          run: [
            `REPO="${options.ecrRepository.split('/').slice(1).join('/')}"`,
            // The exact bytes and media type the build pushed (an OCI manifest), so the digest stays.
            'IMAGE=$(aws ecr batch-get-image --repository-name "$REPO" --image-ids imageTag="${GITHUB_SHA::7}" --accepted-media-types application/vnd.oci.image.manifest.v1+json application/vnd.docker.distribution.manifest.v2+json application/vnd.oci.image.index.v1+json application/vnd.docker.distribution.manifest.list.v2+json --output json)',
            'MANIFEST=$(jq -r ".images[0].imageManifest" <<< "$IMAGE")',
            'MEDIA_TYPE=$(jq -r ".images[0].imageManifestMediaType" <<< "$IMAGE")',
            'aws ecr put-image --repository-name "$REPO" --image-tag "$GITHUB_REF_NAME" --image-manifest "$MANIFEST" --image-manifest-media-type "$MEDIA_TYPE" 2>err.txt || grep -q ImageAlreadyExistsException err.txt',
          ].join('\n'),
        }
      : {
          name: 'Record the release tag next to the package (no copy)',
          run: `echo "$GITHUB_SHA" | aws s3 cp - "${options.packageLocation}/tags/$GITHUB_REF_NAME"`,
        };
  const deploy =
    options.kind === 'container'
      ? manifestUpdate(
          options,
          '${{ needs.preflight.outputs.environment }}',
          '$GITHUB_REF_NAME',
        )
      : [
          {
            name: 'Deploy through the deploy workflow, unless Mainline created this tag (it deploys itself)',
            run: [
              'git fetch --force origin "refs/tags/$GITHUB_REF_NAME:refs/tags/$GITHUB_REF_NAME"',
              'if git for-each-ref --format="%(contents)" "refs/tags/$GITHUB_REF_NAME" | grep -q "^Requested-by: "; then',
              '  echo "Mainline created $GITHUB_REF_NAME and dispatched the deploy itself"',
              'else',
              `  ${dispatchCommand(
                '"$ENVIRONMENT"',
                '"$GITHUB_REF_NAME"',
                'tag',
              )}`,
              'fi',
            ].join('\n'),
            env: {
              GH_TOKEN: '${{ github.token }}',
              ENVIRONMENT: '${{ needs.preflight.outputs.environment }}',
            },
          },
        ];
  return {
    name: 'Promote by release tag',
    on: { push: { tags: ['rc-*', 'v*'] } },
    permissions: {
      contents: 'read',
      'id-token': 'write',
      ...(options.kind === 'serverless' ? { actions: 'write' } : {}),
    },
    jobs: {
      preflight: {
        'runs-on': 'ubuntu-latest',
        outputs: { environment: '${{ steps.environment.outputs.name }}' },
        steps: [
          { uses: 'actions/checkout@v4', with: { 'fetch-depth': 0 } },
          {
            name: 'Environment for this tag',
            id: 'environment',
            run: 'case "$GITHUB_REF_NAME" in rc-*) echo "name=demo" ;; v*) echo "name=prod" ;; esac >> "$GITHUB_OUTPUT"',
          },
          {
            name: 'The tagged commit must be on main',
            run: 'git merge-base --is-ancestor "$GITHUB_SHA" origin/main || { echo "::error::$GITHUB_REF_NAME points at ${GITHUB_SHA::7}, which is not on main: tag a main commit"; exit 1; }',
          },
          awsCredentials(options),
          {
            name: 'The tagged commit must have an artifact',
            run: `${artifactCheck} || { echo "::error::\${GITHUB_SHA::7} has no artifact (a docs-only commit, or its build was skipped or yanked); tag the nearest commit that has one"; exit 1; }`,
          },
        ],
      },
      notify: {
        needs: 'preflight',
        if: '${{ failure() }}',
        'runs-on': 'ubuntu-latest',
        steps: [
          {
            name: 'Tell the owners the promotion was refused',
            run: 'curl -fsS -X POST -H "content-type: application/json" -d "{\\"text\\":\\"$GITHUB_REPOSITORY: $GITHUB_REF_NAME was not promoted; see $GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID\\"}" "${{ secrets.NOTIFY_WEBHOOK_URL }}"',
          },
        ],
      },
      promote: {
        needs: 'preflight',
        'runs-on': 'ubuntu-latest',
        environment: '${{ needs.preflight.outputs.environment }}',
        concurrency: {
          group: '${{ needs.preflight.outputs.environment }}',
          'cancel-in-progress': false,
        },
        steps: [
          { uses: 'actions/checkout@v4' },
          awsCredentials(options),
          retag,
          ...deploy,
        ],
      },
    },
  };
}

function validationWorkflow(options: WorkflowOptions) {
  return {
    name: 'Validate stage',
    on: {
      workflow_run: {
        workflows: ['Build once, deploy to stage'],
        types: ['completed'],
      },
    },
    permissions: { contents: 'read' },
    jobs: {
      validate: {
        if: "${{ github.event.workflow_run.conclusion == 'success' }}",
        'runs-on': 'ubuntu-latest',
        steps: [
          {
            uses: 'actions/checkout@v4',
            with: { ref: '${{ github.event.workflow_run.head_sha }}' },
          },
          {
            name: 'End-to-end validation against stage',
            run: options.validationCommand,
          },
          {
            name: 'Yank the commit: it must never be promoted',
            if: '${{ failure() }}',
            run: [
              'curl -fsS -X POST \\',
              '  -H "Authorization: Bearer ${{ secrets.MAINLINE_TOKEN }}" \\',
              '  -H "content-type: application/json" \\',
              '  -d "{\\"sha\\":\\"${{ github.event.workflow_run.head_sha }}\\",\\"reason\\":\\"Stage validation failed: $GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID\\",\\"force\\":true}" \\',
              `  "${options.mainlineUrl.replace(
                /\/$/,
                '',
              )}/api/promotion/v1/entities/${entityPath(
                options.entityRef,
              )}/yanks"`,
            ].join('\n'),
          },
        ],
      },
    },
  };
}

/**
 * The GitHub Actions workflows of the main/rc/v discipline for one service, as file name →
 * content. Pure and deterministic: the same options always render the same bytes.
 */
export function renderWorkflows(
  options: WorkflowOptions,
): Record<string, string> {
  const header =
    '# Rendered by Mainline (promotion:workflows:render). Build once; promote by tag.\n';
  const render = (doc: object) =>
    header + yaml.stringify(doc, { lineWidth: 0 });
  return {
    'mainline-build.yaml': render(buildWorkflow(options)),
    'mainline-promote.yaml': render(promoteWorkflow(options)),
    'mainline-validate-stage.yaml': render(validationWorkflow(options)),
    ...(options.kind === 'serverless'
      ? { 'mainline-deploy.yaml': render(deployWorkflow(options)) }
      : {}),
  };
}
