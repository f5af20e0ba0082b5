import yaml from 'yaml';
import { DEPLOY_WORKFLOW_RUN_NAME } from '@mainline/plugin-promotion-common';
import {
  DEFAULT_PIPELINE,
  PipelineEnvironments,
  environmentNames,
  pipelineEnvironments,
} from '../actions/environments';

/** What the workflows are rendered from: a service's kind and where its artifacts live. */
export type WorkflowOptions = {
  /** Catalog entity the Mainline API knows the service by, e.g. component:default/checkout. */
  entityRef: string;
  /** Where Backstage (Mainline) answers, for the stage-validation yank. */
  mainlineUrl: string;
  awsRegion: string;
  /** Command that validates stage end to end; a failure yanks the commit. */
  validationCommand: string;
  /**
   * The configured environments (`promotion.environments`): the first follows the branch every
   * merge deploys from, the others are reached by release tags. Default stage/main, demo, prod.
   */
  environments?: PipelineEnvironments;
} & (
  | {
      kind: 'container';
      /** ECR repository URI, `<account>.dkr.ecr.<region>.amazonaws.com/<name>`. */
      ecrRepository: string;
      manifestRepo: string;
      /** Each environment's kustomization in the manifest repo, with `{environment}`. */
      manifestPath: string;
      /** The manifest repository's branch Argo CD watches (and Mainline writes). */
      manifestBranch: string;
      /** Argo CD's base URL; the deploy jobs wait there until the environment runs the image. */
      argocdUrl: string;
      /** Each environment's Argo CD Application, with `{environment}`. */
      argocdApplication: string;
    }
  | {
      kind: 'serverless';
      /** The bucket and prefix the packages are copied to: `s3://<bucket>/<prefix>`. */
      packageLocation: string;
    }
);

type Serverless = Extract<WorkflowOptions, { kind: 'serverless' }>;
type Step = Record<string, unknown>;

/**
 * The Serverless stages a build packages for. Serverless v3 compiles the stage into the package
 * (function, role and log group names, the stack's outputs, `serverless-state.json`), and
 * `sls deploy -p` deploys that compiled template as it is, so each stage needs its own package.
 * They are made in the one build of the commit, from one checkout, and the build checks that the
 * code zip is the same bytes for every stage.
 */
export const SERVERLESS_STAGES = environmentNames(DEFAULT_PIPELINE);

/** The options' environments, checked again: their names reach YAML and expressions. */
function pipelineOf(options: WorkflowOptions): PipelineEnvironments {
  const p = options.environments ?? DEFAULT_PIPELINE;
  return pipelineEnvironments([
    { name: p.first, branch: p.branch },
    ...p.tagged.map(t => ({ name: t.name, tagPattern: t.pattern })),
  ]);
}

/** Serverless v3 (v4 refuses a v3 service without a license key); pinned for repeatable builds. */
export const SERVERLESS = 'serverless@3.40.0';

/** Third-party actions, each pinned to the full commit sha of a release (the comment names it). */
export const ACTIONS = {
  checkout: {
    uses: 'actions/checkout',
    sha: '3d3c42e5aac5ba805825da76410c181273ba90b1',
    version: 'v7.0.1',
  },
  setupNode: {
    uses: 'actions/setup-node',
    sha: '820762786026740c76f36085b0efc47a31fe5020',
    version: 'v7.0.0',
  },
  awsCredentials: {
    uses: 'aws-actions/configure-aws-credentials',
    sha: 'e6de054238d6b7531b4efff3b6587d9aade6a06c',
    version: 'v6.2.3',
  },
  ecrLogin: {
    uses: 'aws-actions/amazon-ecr-login',
    sha: '03f1aad4c6c7ffd436567f42f9384779290529bd',
    version: 'v2.1.7',
  },
  setupBuildx: {
    uses: 'docker/setup-buildx-action',
    sha: '37fe631027851001ddb9b187196cc803df7f5f0e',
    version: 'v4.3.0',
  },
} as const;

/** A pinned action's `uses:` value; toYaml appends the release it is as a comment. */
const uses = (action: keyof typeof ACTIONS) =>
  `${ACTIONS[action].uses}@${ACTIONS[action].sha}`;

const DOCS_ONLY = ['docs/**', '**/*.md'];
const buildWorkflowName = (p: PipelineEnvironments) =>
  `Build once, deploy to ${p.first}`;

const script = (...lines: string[]) => `${lines.join('\n')}\n`;

const checkout = (extra: Record<string, unknown> = {}): Step => ({
  uses: uses('checkout'),
  // The job's token is not left in .git/config for later steps to pick up.
  with: { 'persist-credentials': false, ...extra },
});
const setupNode = (): Step => ({
  uses: uses('setupNode'),
  with: { 'node-version': 24 },
});
const awsCredentials = (): Step => ({
  name: 'AWS credentials',
  uses: uses('awsCredentials'),
  with: {
    'role-to-assume': '${{ secrets.AWS_DEPLOY_ROLE_ARN }}',
    'aws-region': '${{ env.AWS_REGION }}',
  },
});
const shortSha = (): Step => ({
  name: 'Short sha',
  id: 'sha',
  run: 'echo "short=${GITHUB_SHA::7}" >> "$GITHUB_OUTPUT"\n',
});

function entityPath(entityRef: string): string {
  const [kind, rest] = entityRef.split(':');
  const [namespace, name] = rest.split('/');
  return `${kind.toLowerCase()}/${namespace}/${name}`;
}

/**
 * Template inputs reach the scripts only as environment variables set here, never spliced into
 * a script; the action validated every one of them (no `$`, quote, space or `${{`).
 */
function workflowEnv(options: WorkflowOptions): Record<string, string> {
  const common = { AWS_REGION: options.awsRegion };
  return options.kind === 'container'
    ? {
        ...common,
        ECR_REPOSITORY: options.ecrRepository,
        MANIFEST_REPO: options.manifestRepo,
        MANIFEST_BRANCH: options.manifestBranch,
        MANIFEST_PATH: options.manifestPath,
        ARGOCD_URL: options.argocdUrl.replace(/\/$/, ''),
        ARGOCD_APPLICATION: options.argocdApplication,
      }
    : { ...common, PACKAGE_LOCATION: options.packageLocation };
}

/**
 * Points one environment's overlay at an image tag and pushes to the manifest branch. A push
 * that loses a race re-reads the branch and re-applies the edit (a rebase of the same line would
 * conflict); an overlay that already pins the tag is done, so a re-run commits nothing.
 */
function manifestUpdate(environment: string, tag: string): Step[] {
  return [
    {
      name: 'Check out the manifest repository',
      uses: uses('checkout'),
      with: {
        repository: '${{ env.MANIFEST_REPO }}',
        ref: '${{ env.MANIFEST_BRANCH }}',
        token: '${{ secrets.MANIFEST_REPO_TOKEN }}',
        path: 'manifests',
      },
    },
    {
      name: `Point ${environment} at the image`,
      'working-directory': 'manifests',
      env: { ENVIRONMENT: environment, TAG: tag },
      run: script(
        'file="${MANIFEST_PATH//\\{environment\\}/$ENVIRONMENT}"',
        'git config user.name "mainline-ci[bot]"',
        'git config user.email "ci@mainline.invalid"',
        'for attempt in 1 2 3 4 5; do',
        '  git fetch --quiet origin "+refs/heads/$MANIFEST_BRANCH:refs/remotes/origin/$MANIFEST_BRANCH"',
        '  git reset --quiet --hard "origin/$MANIFEST_BRANCH"',
        '  IMAGE="$ECR_REPOSITORY" yq -i \'(.images[] | select(.name == strenv(IMAGE))).newTag = strenv(TAG)\' "$file"',
        '  if [[ "$(IMAGE="$ECR_REPOSITORY" yq \'.images[] | select(.name == strenv(IMAGE)) | .newTag\' "$file")" != "$TAG" ]]; then',
        '    echo "::error file=$file::$file has no images entry named $ECR_REPOSITORY"',
        '    exit 1',
        '  fi',
        '  if git diff --quiet; then',
        '    echo "$ENVIRONMENT already runs $TAG"',
        '    exit 0',
        '  fi',
        '  git commit --quiet -am "$ENVIRONMENT: $ECR_REPOSITORY $TAG"',
        '  if git push --quiet origin "HEAD:$MANIFEST_BRANCH"; then',
        '    exit 0',
        '  fi',
        '  echo "::warning::$MANIFEST_BRANCH moved while pointing $ENVIRONMENT at $TAG (attempt $attempt); retrying"',
        '  sleep "$((attempt * 3))"',
        'done',
        'echo "::error::could not push $ENVIRONMENT: $TAG to $MANIFEST_REPO $MANIFEST_BRANCH"',
        'exit 1',
      ),
    },
    {
      name: `Wait until Argo CD runs the image in ${environment}`,
      env: {
        ENVIRONMENT: environment,
        TAG: tag,
        ARGOCD_AUTH_TOKEN: '${{ secrets.ARGOCD_AUTH_TOKEN }}',
      },
      run: script(
        'app="${ARGOCD_APPLICATION//\\{environment\\}/$ENVIRONMENT}"',
        'want="$ECR_REPOSITORY:$TAG"',
        // refresh=normal makes Argo CD read the manifest branch now instead of at its next poll.
        'refresh="?refresh=normal"',
        'for _ in $(seq 1 90); do',
        '  if app_json=$(curl -fsS --max-time 20 -H "Authorization: Bearer $ARGOCD_AUTH_TOKEN" "$ARGOCD_URL/api/v1/applications/$app$refresh"); then',
        '    refresh=""',
        '    if jq -e --arg want "$want" \'((.status.summary.images // []) | index($want)) != null and .status.sync.status == "Synced" and .status.health.status == "Healthy"\' <<<"$app_json" >/dev/null; then',
        '      echo "$app runs $want, synced and healthy"',
        '      exit 0',
        '    fi',
        '  fi',
        '  sleep 10',
        'done',
        'echo "::error::$app did not run $want (synced and healthy) within 15 minutes"',
        'exit 1',
      ),
    },
  ];
}

/**
 * Starts the deploy workflow and waits for its run: every Lambda deploy runs there (so its runs
 * say what runs where), and the caller's job ends with the deploy's outcome. Plain curl and jq
 * against the REST API (`GITHUB_API_URL`, so GitHub Enterprise too): no `gh` CLI is needed on
 * the runner.
 */
function dispatchAndWait(stage: string, version: string, ref: string): Step {
  return {
    name: `Deploy to ${stage} through the deploy workflow and wait for it`,
    env: {
      GITHUB_TOKEN: '${{ github.token }}',
      // The run's ref is what the environment's deployment policy checks: the branch.
      REF: ref,
      STAGE: stage,
      VERSION: version,
      REQUEST: 'push-${{ github.run_id }}-${{ github.run_attempt }}',
    },
    run: script(
      'api="$GITHUB_API_URL/repos/$GITHUB_REPOSITORY/actions"',
      'github_api() { curl -fsS --retry 3 --max-time 30 -H "Authorization: Bearer $GITHUB_TOKEN" -H "Accept: application/vnd.github+json" "$@"; }',
      'body=$(jq -n --arg ref "$REF" --arg stage "$STAGE" --arg sha "$GITHUB_SHA" --arg version "$VERSION" --arg request "$REQUEST" --arg actor "$GITHUB_ACTOR" \\',
      "  '{ref: $ref, inputs: {stage: $stage, sha: $sha, version: $version, request: $request, actor: $actor}}')",
      'github_api -X POST -H "content-type: application/json" --data "$body" "$api/workflows/mainline-deploy.yaml/dispatches"',
      // The dispatch answers without the run; its title carries the request id.
      'run_id=""',
      'for _ in $(seq 1 30); do',
      '  run_id=$(github_api "$api/workflows/mainline-deploy.yaml/runs?event=workflow_dispatch&per_page=50" | jq -r --arg want "[$REQUEST]" \\',
      "    '[.workflow_runs[] | select(.display_title | contains($want))][0].id // empty')",
      '  [[ -n "$run_id" ]] && break',
      '  sleep 5',
      'done',
      'if [[ -z "$run_id" ]]; then',
      '  echo "::error::the deploy run for $REQUEST did not start"',
      '  exit 1',
      'fi',
      'echo "Deploy run: $GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$run_id"',
      'for _ in $(seq 1 180); do',
      '  run_json=$(github_api "$api/runs/$run_id")',
      '  if [[ "$(jq -r .status <<<"$run_json")" == completed ]]; then',
      '    conclusion=$(jq -r .conclusion <<<"$run_json")',
      '    echo "The deploy run ended: $conclusion"',
      '    [[ "$conclusion" == success ]]',
      '    exit',
      '  fi',
      '  sleep 5',
      'done',
      'echo "::error::the deploy run $run_id did not finish within 15 minutes"',
      'exit 1',
    ),
  };
}

/**
 * Serverless: the one workflow that runs `sls deploy`, dispatched by the build for stage and by
 * Mainline for promotions (whether asked in Backstage or by a pushed release tag) and rollbacks. Its run-name carries the inputs, which
 * is how Mainline finds the run it started and reads what each stage runs.
 */
function deployWorkflow(options: Serverless) {
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
            'Who started this: a Mainline promotion id, or push-<run> for the build',
          ),
          actor: input('The user who asked'),
        },
      },
    },
    permissions: {},
    // One deploy per stage at a time; a deploy is never cancelled halfway.
    concurrency: {
      group: 'mainline-deploy-${{ inputs.stage }}',
      'cancel-in-progress': false,
    },
    env: workflowEnv(options),
    jobs: {
      deploy: {
        'runs-on': 'ubuntu-latest',
        environment: '${{ inputs.stage }}',
        permissions: { contents: 'read', 'id-token': 'write' },
        // Inputs reach the shell as variables, never spliced into the script.
        env: { STAGE: '${{ inputs.stage }}', SHA: '${{ inputs.sha }}' },
        steps: [
          {
            name: 'Check the inputs',
            run: script(
              'if [[ ! "$SHA" =~ ^[0-9a-f]{40}$ || ! "$STAGE" =~ ^[a-z][a-z0-9-]{0,31}$ ]]; then',
              '  echo "::error::sha must be a full commit sha and stage an environment name"',
              '  exit 1',
              'fi',
            ),
          },
          // serverless.yml of the commit whose package is deployed, not the dispatched ref's.
          checkout({ ref: '${{ inputs.sha }}' }),
          setupNode(),
          awsCredentials(),
          {
            name: 'Fetch the package built for this commit and stage',
            run: script(
              'aws s3 cp --recursive --only-show-errors "$PACKAGE_LOCATION/$SHA/$STAGE/" "$RUNNER_TEMP/package/"',
              'if [[ ! -f "$RUNNER_TEMP/package/serverless-state.json" ]]; then',
              '  echo "::error::$PACKAGE_LOCATION/$SHA/$STAGE/ holds no package: ${SHA::7} was not built for $STAGE, or it was yanked"',
              '  exit 1',
              'fi',
            ),
          },
          {
            name: 'sls deploy from that package',
            run: script(
              `npx --yes ${SERVERLESS} deploy --stage "$STAGE" --region "$AWS_REGION" --package "$RUNNER_TEMP/package"`,
            ),
          },
        ],
      },
    },
  };
}

/** The required `build` check of the main ruleset: every pull request, docs-only ones too. */
function pullRequestWorkflow(options: WorkflowOptions) {
  const p = pipelineOf(options);
  const build =
    options.kind === 'container'
      ? {
          name: 'Build the image (not pushed)',
          run: script('docker build --tag pull-request-check .'),
        }
      : {
          name: 'Package for every stage (not uploaded)',
          run: script(
            `for stage in ${environmentNames(p).join(' ')}; do`,
            `  npx --yes ${SERVERLESS} package --stage "$stage" --region "$AWS_REGION" --package "$RUNNER_TEMP/package/$stage"`,
            'done',
          ),
        };
  return {
    name: 'Pull request',
    on: { pull_request: { branches: [p.branch] } },
    permissions: {},
    // Superseded pushes to the same pull request are not worth finishing.
    concurrency: {
      group: 'mainline-pr-${{ github.event.pull_request.number }}',
      'cancel-in-progress': true,
    },
    env: { AWS_REGION: options.awsRegion },
    jobs: {
      // The job id is the check's name: the ruleset requires `build`.
      build: {
        'runs-on': 'ubuntu-latest',
        permissions: { contents: 'read' },
        steps: [
          checkout(),
          setupNode(),
          {
            name: 'Tests',
            run: script('npm test'),
          },
          build,
        ],
      },
    },
  };
}

function buildWorkflow(options: WorkflowOptions) {
  const p = pipelineOf(options);
  const build: Step[] =
    options.kind === 'container'
      ? [
          checkout(),
          awsCredentials(),
          shortSha(),
          { name: 'Log in to ECR', uses: uses('ecrLogin') },
          { uses: uses('setupBuildx') },
          {
            name: 'Build and push the image once, tagged with the short sha',
            // One OCI manifest (no provenance index) annotated with its build time and commit:
            // Mainline reads a page of commits' images by tag in one call (BatchGetImage), and
            // the annotation gives the build time that call does not report.
            env: { SHORT_SHA: '${{ steps.sha.outputs.short }}' },
            run: script(
              'docker buildx build --provenance=false \\',
              '  --output "type=image,name=$ECR_REPOSITORY:$SHORT_SHA,push=true,oci-mediatypes=true" \\',
              '  --annotation "org.opencontainers.image.created=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \\',
              '  --annotation "org.opencontainers.image.revision=$GITHUB_SHA" \\',
              '  .',
            ),
          },
        ]
      : [
          checkout(),
          setupNode(),
          awsCredentials(),
          {
            name: 'Package once, compiled for every stage',
            run: script(
              'if [[ -f package-lock.json ]]; then npm ci --omit=dev; fi',
              `for stage in ${environmentNames(p).join(' ')}; do`,
              `  npx --yes ${SERVERLESS} package --stage "$stage" --region "$AWS_REGION" --package "package/$stage"`,
              'done',
              // The stages differ only in their compiled templates: the code is one build.
              'if [[ "$(sha256sum package/*/*.zip | cut -d" " -f1 | sort -u | wc -l)" != 1 ]]; then',
              '  echo "::error::the stages\' code zips differ; the package would not be one build"',
              '  sha256sum package/*/*.zip',
              '  exit 1',
              'fi',
            ),
          },
          {
            name: 'Copy the package under the sha',
            run: script(
              'aws s3 cp --recursive --only-show-errors package/ "$PACKAGE_LOCATION/$GITHUB_SHA/"',
            ),
          },
        ];
  const deploy =
    options.kind === 'container'
      ? {
          // One stage deploy at a time; a newer commit's deploy may replace a pending one (stage
          // runs the newest), but builds are never in this group, so every commit is built.
          concurrency: {
            group: `mainline-deploy-${p.first}`,
            'cancel-in-progress': false,
          },
          permissions: { contents: 'read' },
          steps: [
            shortSha(),
            ...manifestUpdate(p.first, '${{ steps.sha.outputs.short }}'),
          ],
        }
      : {
          // The deploy workflow serializes the stage's deploys (sharing its group would deadlock).
          permissions: { actions: 'write', contents: 'read' },
          steps: [
            dispatchAndWait(
              p.first,
              '${{ needs.build.outputs.short }}',
              p.branch,
            ),
          ],
        };
  return {
    name: buildWorkflowName(p),
    // release/* commits (the discouraged exception) build their own artifact, which Mainline
    // takes to production by a v* tag; only main's are deployed to stage.
    on: {
      push: { branches: [p.branch, 'release/*'], 'paths-ignore': DOCS_ONLY },
    },
    permissions: {},
    env: workflowEnv(options),
    jobs: {
      build: {
        'runs-on': 'ubuntu-latest',
        permissions: { contents: 'read', 'id-token': 'write' },
        ...(options.kind === 'serverless'
          ? { outputs: { short: '${{ steps.sha.outputs.short }}' } }
          : {}),
        steps: options.kind === 'serverless' ? [shortSha(), ...build] : build,
      },
      'deploy-stage': {
        needs: 'build',
        if: `github.ref == 'refs/heads/${p.branch}'`,
        'runs-on': 'ubuntu-latest',
        // Serverless: the deploy workflow's job is the stage's deployment (and its approval).
        ...(options.kind === 'container' ? { environment: p.first } : {}),
        ...deploy,
      },
    },
  };
}

/**
 * Whether stage still runs the validated commit, as step output `current`: a stage that moved on
 * (a newer commit deployed) makes the validation say nothing about this commit, so it must not
 * yank it. Mainline's runtime read is asked first (what stage's runtime reports against what
 * Mainline declared): the step waits, bounded, until stage runs the commit without drift and
 * healthy, and fails when it never does. Without a runtime observer (or Mainline unreachable)
 * it asks directly: containers Argo CD, what the stage Application runs; Serverless, the newest
 * successful stage run of the deploy workflow (its title names the sha).
 */
function stageRunsCommit(
  options: WorkflowOptions,
  id: string,
  name: string,
  condition?: string,
): Step {
  const superseded =
    'echo "::warning::$STAGE_ENVIRONMENT runs $running, not ${COMMIT_SHA::7}: a newer deploy superseded it, so this validation yanks nothing"';
  const runtimeRead = [
    // Mainline's runtime read: `current` once stage runs the commit (declared, no drift,
    // healthy), `other` when Mainline declares another commit there, `unknown` without an
    // observer's answer; `pending` (deployed, not yet running healthy) is waited out, bounded.
    'state=unknown',
    'for _ in $(seq 1 30); do',
    '  if ! view=$(curl -fsS --max-time 20 -H "Authorization: Bearer $MAINLINE_TOKEN" "$MAINLINE_URL/api/promotion/v1/entities/$MAINLINE_ENTITY/runtime"); then',
    '    state=unknown',
    '    break',
    '  fi',
    '  state=$(jq -r --arg env "$STAGE_ENVIRONMENT" --arg sha "$COMMIT_SHA" \'([.environments[]? | select(.name == $env)][0]) as $e | if $e == null or $e.running == null then "unknown" elif ($e.declared.sha // "") != $sha then "other" elif ($e.drift | not) and $e.running.health.status == "Healthy" then "current" else "pending" end\' <<<"$view")',
    '  [[ "$state" == pending ]] || break',
    '  sleep 10',
    'done',
    'case "$state" in',
    '  current)',
    '    echo "Mainline: $STAGE_ENVIRONMENT runs ${COMMIT_SHA::7}, healthy"',
    '    echo "current=true" >> "$GITHUB_OUTPUT"',
    '    exit 0',
    '    ;;',
    '  other)',
    '    running=$(jq -r --arg env "$STAGE_ENVIRONMENT" \'[.environments[] | select(.name == $env)][0].declared.version // "nothing"\' <<<"$view")',
    `    ${superseded}`,
    '    echo "current=false" >> "$GITHUB_OUTPUT"',
    '    exit 0',
    '    ;;',
    '  pending)',
    '    echo "::error::$STAGE_ENVIRONMENT did not run ${COMMIT_SHA::7} healthy within 5 minutes, as Mainline\'s runtime read reports it"',
    '    exit 1',
    '    ;;',
    'esac',
    // unknown: the runtime is asked directly.
    'echo "Mainline\'s runtime read has no answer for $STAGE_ENVIRONMENT; asking its runtime directly"',
  ];
  return {
    name,
    id,
    ...(condition ? { if: condition } : {}),
    ...(options.kind === 'container'
      ? {
          env: {
            MAINLINE_TOKEN: '${{ secrets.MAINLINE_TOKEN }}',
            ARGOCD_AUTH_TOKEN: '${{ secrets.ARGOCD_AUTH_TOKEN }}',
          },
          run: script(
            ...runtimeRead,
            'app="${ARGOCD_APPLICATION//\\{environment\\}/$STAGE_ENVIRONMENT}"',
            'app_json=$(curl -fsS --retry 3 --max-time 20 -H "Authorization: Bearer $ARGOCD_AUTH_TOKEN" "$ARGOCD_URL/api/v1/applications/$app")',
            'running=$(jq -r \'(.status.summary.images // []) | join(", ")\' <<<"$app_json")',
            'if jq -e --arg want "$ECR_REPOSITORY:${COMMIT_SHA::7}" \'((.status.summary.images // []) | index($want)) != null\' <<<"$app_json" >/dev/null; then',
            '  echo "current=true" >> "$GITHUB_OUTPUT"',
            'else',
            `  ${superseded}`,
            '  echo "current=false" >> "$GITHUB_OUTPUT"',
            'fi',
          ),
        }
      : {
          env: {
            MAINLINE_TOKEN: '${{ secrets.MAINLINE_TOKEN }}',
            GITHUB_TOKEN: '${{ github.token }}',
          },
          run: script(
            ...runtimeRead,
            // The newest successful deploy run to stage (the list is newest first).
            'title=$(curl -fsS --retry 3 --max-time 30 -H "Authorization: Bearer $GITHUB_TOKEN" -H "Accept: application/vnd.github+json" "$GITHUB_API_URL/repos/$GITHUB_REPOSITORY/actions/workflows/mainline-deploy.yaml/runs?status=success&per_page=100" | jq -r --arg prefix "mainline deploy $STAGE_ENVIRONMENT " \'[.workflow_runs[].display_title | select(startswith($prefix))][0] // ""\')',
            'running=$(cut -d" " -f4 <<<"$title")',
            'if [[ "$running" == "$COMMIT_SHA" ]]; then',
            '  echo "current=true" >> "$GITHUB_OUTPUT"',
            'else',
            `  ${superseded}`,
            '  echo "current=false" >> "$GITHUB_OUTPUT"',
            'fi',
          ),
        }),
  };
}

function validationWorkflow(options: WorkflowOptions) {
  const p = pipelineOf(options);
  return {
    name: `Validate ${p.first}`,
    on: {
      workflow_run: {
        workflows: [buildWorkflowName(p)],
        types: ['completed'],
      },
    },
    permissions: {},
    env: {
      ...workflowEnv(options),
      MAINLINE_URL: options.mainlineUrl.replace(/\/$/, ''),
      MAINLINE_ENTITY: entityPath(options.entityRef),
      STAGE_ENVIRONMENT: p.first,
    },
    jobs: {
      validate: {
        // The build run succeeds only once stage runs its commit (its deploy job waited).
        if: `github.event.workflow_run.conclusion == 'success' && github.event.workflow_run.event == 'push' && github.event.workflow_run.head_branch == '${p.branch}'`,
        'runs-on': 'ubuntu-latest',
        permissions:
          options.kind === 'container'
            ? { contents: 'read' }
            : { actions: 'read', contents: 'read' },
        concurrency: {
          group: `mainline-validate-${p.first}`,
          'cancel-in-progress': false,
        },
        env: { COMMIT_SHA: '${{ github.event.workflow_run.head_sha }}' },
        steps: [
          checkout({ ref: '${{ github.event.workflow_run.head_sha }}' }),
          setupNode(),
          stageRunsCommit(options, 'before', 'Stage runs this commit?'),
          {
            name: 'End-to-end validation against stage',
            if: "steps.before.outputs.current == 'true'",
            env: { STAGE_URL: '${{ vars.STAGE_URL }}' },
            run: script(options.validationCommand),
          },
          // A failure while stage moved on says nothing about this commit: red, but no yank.
          stageRunsCommit(
            options,
            'after',
            'Stage still runs this commit?',
            "always() && steps.before.outputs.current == 'true'",
          ),
          {
            name: 'Yank the commit: it must never be promoted',
            if: "failure() && steps.before.outputs.current == 'true' && steps.after.outputs.current == 'true'",
            env: { MAINLINE_TOKEN: '${{ secrets.MAINLINE_TOKEN }}' },
            run: script(
              'body=$(jq -n --arg sha "$COMMIT_SHA" --arg reason "Stage validation failed: $GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID" \'{sha: $sha, reason: $reason, force: true}\')',
              'curl -fsS --retry 3 --max-time 30 -X POST \\',
              '  -H "Authorization: Bearer $MAINLINE_TOKEN" \\',
              '  -H "content-type: application/json" \\',
              '  --data "$body" \\',
              '  "$MAINLINE_URL/api/promotion/v1/entities/$MAINLINE_ENTITY/yanks"',
            ),
          },
        ],
      },
    },
  };
}

/** YAML text without anchors or aliases, every pinned action followed by its version. */
function toYaml(doc: object): string {
  const text = yaml.stringify(doc, {
    lineWidth: 0,
    aliasDuplicateObjects: false,
  });
  return Object.values(ACTIONS).reduce(
    (out, action) =>
      out.replaceAll(
        `uses: ${action.uses}@${action.sha}\n`,
        `uses: ${action.uses}@${action.sha} # ${action.version}\n`,
      ),
    text,
  );
}

/**
 * The GitHub Actions workflows of the main/rc/v discipline for one service, as file name →
 * content. Pure and deterministic: the same options always render the same bytes.
 */
export function renderWorkflows(
  options: WorkflowOptions,
): Record<string, string> {
  const header =
    '# Rendered by Mainline (promotion:workflows:render). Build once; Mainline promotes by tag.\n';
  const render = (doc: object) => header + toYaml(doc);
  return {
    'mainline-build.yaml': render(buildWorkflow(options)),
    'mainline-validate-stage.yaml': render(validationWorkflow(options)),
    'mainline-pr.yaml': render(pullRequestWorkflow(options)),
    ...(options.kind === 'serverless'
      ? { 'mainline-deploy.yaml': render(deployWorkflow(options)) }
      : {}),
  };
}
