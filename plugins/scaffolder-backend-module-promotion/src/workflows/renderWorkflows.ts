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
export const SERVERLESS_STAGES = ['stage', 'demo', 'prod'];

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
const BUILD_WORKFLOW = 'Build once, deploy to stage';

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
 * say what runs where), and the caller's job ends with the deploy's outcome.
 */
function dispatchAndWait(
  stage: string,
  version: string,
  origin: string,
  ref: string,
): Step {
  return {
    name: `Deploy to ${stage} through the deploy workflow and wait for it`,
    env: {
      GH_TOKEN: '${{ github.token }}',
      // The run's ref is what the environment's deployment policy checks: main for stage, the
      // release tag for demo (rc-*) and prod (v*).
      REF: ref,
      STAGE: stage,
      VERSION: version,
      REQUEST: `${origin}-\${{ github.run_id }}-\${{ github.run_attempt }}`,
    },
    run: script(
      'gh workflow run mainline-deploy.yaml --repo "$GITHUB_REPOSITORY" --ref "$REF" -f stage="$STAGE" -f sha="$GITHUB_SHA" -f version="$VERSION" -f request="$REQUEST" -f actor="$GITHUB_ACTOR"',
      // The dispatch answers without the run; its title carries the request id.
      'run_id=""',
      'for _ in $(seq 1 30); do',
      '  run_id=$(gh run list --repo "$GITHUB_REPOSITORY" --workflow mainline-deploy.yaml --event workflow_dispatch --limit 50 --json databaseId,displayTitle --jq "map(select(.displayTitle | contains(\\"[$REQUEST]\\"))) | .[0].databaseId // empty")',
      '  [[ -n "$run_id" ]] && break',
      '  sleep 5',
      'done',
      'if [[ -z "$run_id" ]]; then',
      '  echo "::error::the deploy run for $REQUEST did not start"',
      '  exit 1',
      'fi',
      'echo "Deploy run: $GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$run_id"',
      'gh run watch "$run_id" --repo "$GITHUB_REPOSITORY" --interval 10 --exit-status > /dev/null',
    ),
  };
}

/**
 * Serverless: the one workflow that runs `sls deploy`, dispatched by CI for stage, by the tag
 * workflow, and by Mainline for promotions and rollbacks. Its run-name carries the inputs, which
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
            'Who started this: a Mainline promotion id, push-<run>, tag-<run>',
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
          // serverless.yml of the commit whose package is deployed, not main's.
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
  const build =
    options.kind === 'container'
      ? {
          name: 'Build the image (not pushed)',
          run: script('docker build --tag pull-request-check .'),
        }
      : {
          name: 'Package for every stage (not uploaded)',
          run: script(
            `for stage in ${SERVERLESS_STAGES.join(' ')}; do`,
            `  npx --yes ${SERVERLESS} package --stage "$stage" --region "$AWS_REGION" --package "$RUNNER_TEMP/package/$stage"`,
            'done',
          ),
        };
  return {
    name: 'Pull request',
    on: { pull_request: { branches: ['main'] } },
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
              `for stage in ${SERVERLESS_STAGES.join(' ')}; do`,
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
            group: 'mainline-deploy-stage',
            'cancel-in-progress': false,
          },
          permissions: { contents: 'read' },
          steps: [
            shortSha(),
            ...manifestUpdate('stage', '${{ steps.sha.outputs.short }}'),
          ],
        }
      : {
          // The deploy workflow serializes the stage's deploys (sharing its group would deadlock).
          permissions: { actions: 'write', contents: 'read' },
          steps: [
            dispatchAndWait(
              'stage',
              '${{ needs.build.outputs.short }}',
              'push',
              'main',
            ),
          ],
        };
  return {
    name: BUILD_WORKFLOW,
    on: { push: { branches: ['main'], 'paths-ignore': DOCS_ONLY } },
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
        'runs-on': 'ubuntu-latest',
        // Serverless: the deploy workflow's job is the stage's deployment (and its approval).
        ...(options.kind === 'container' ? { environment: 'stage' } : {}),
        ...deploy,
      },
    },
  };
}

function promoteWorkflow(options: WorkflowOptions) {
  const artifactCheck =
    options.kind === 'container'
      ? script(
          'if ! aws ecr describe-images --repository-name "${ECR_REPOSITORY#*/}" --image-ids imageTag="${GITHUB_SHA::7}" > /dev/null; then',
          '  echo "::error::${GITHUB_SHA::7} has no image (a docs-only commit, or its build was skipped or yanked); tag the nearest commit that has one"',
          '  exit 1',
          'fi',
        )
      : script(
          'if ! aws s3 ls "$PACKAGE_LOCATION/$GITHUB_SHA/$ENVIRONMENT/serverless-state.json" > /dev/null; then',
          '  echo "::error::${GITHUB_SHA::7} has no package for $ENVIRONMENT (a docs-only commit, or its build was skipped or yanked); tag the nearest commit that has one"',
          '  exit 1',
          'fi',
        );
  const promote: Step[] =
    options.kind === 'container'
      ? [
          {
            name: 'Add the release tag to the image built for this commit (no rebuild)',
            run: script(
              'repo="${ECR_REPOSITORY#*/}"',
              // The exact bytes and media type the build pushed (an OCI manifest), so the digest stays.
              'image=$(aws ecr batch-get-image --repository-name "$repo" --image-ids imageTag="${GITHUB_SHA::7}" --accepted-media-types application/vnd.oci.image.manifest.v1+json application/vnd.docker.distribution.manifest.v2+json application/vnd.oci.image.index.v1+json application/vnd.docker.distribution.manifest.list.v2+json --output json)',
              'manifest=$(jq -r ".images[0].imageManifest" <<< "$image")',
              'media_type=$(jq -r ".images[0].imageManifestMediaType" <<< "$image")',
              'if ! aws ecr put-image --repository-name "$repo" --image-tag "$GITHUB_REF_NAME" --image-manifest "$manifest" --image-manifest-media-type "$media_type" 2> "$RUNNER_TEMP/put-image.txt"; then',
              // A re-run finds the tag already on this image.
              '  grep -q ImageAlreadyExistsException "$RUNNER_TEMP/put-image.txt" || { cat "$RUNNER_TEMP/put-image.txt"; exit 1; }',
              'fi',
            ),
          },
          ...manifestUpdate(
            '${{ needs.preflight.outputs.environment }}',
            '${{ github.ref_name }}',
          ),
        ]
      : [
          {
            name: 'Record the release tag next to the package (a marker, no copy)',
            run: script(
              // The layout Mainline reads: an empty object tags/<tag>/<sha>; one tag, one package.
              // No marker yet makes `aws s3 ls` fail: that is the usual case, not an error.
              'marked=$(aws s3 ls "$PACKAGE_LOCATION/tags/$GITHUB_REF_NAME/" | awk \'{print $4}\' || true)',
              'if [[ -n "$marked" && "$marked" != "$GITHUB_SHA" ]]; then',
              '  echo "::error::$GITHUB_REF_NAME already marks another package ($marked)"',
              '  exit 1',
              'fi',
              'aws s3 cp --only-show-errors - "$PACKAGE_LOCATION/tags/$GITHUB_REF_NAME/$GITHUB_SHA" < /dev/null',
            ),
          },
          dispatchAndWait(
            '${{ needs.preflight.outputs.environment }}',
            '${{ github.ref_name }}',
            'tag',
            '${{ github.ref_name }}',
          ),
        ];
  return {
    name: 'Promote by release tag',
    on: { push: { tags: ['rc-*', 'v*'] } },
    permissions: {},
    env: workflowEnv(options),
    jobs: {
      preflight: {
        'runs-on': 'ubuntu-latest',
        permissions: { contents: 'read', 'id-token': 'write' },
        outputs: {
          environment: '${{ steps.environment.outputs.name }}',
          mainline: '${{ steps.origin.outputs.mainline }}',
        },
        steps: [
          // Keeps the (read-only) token: the tag object is fetched again below.
          { uses: uses('checkout'), with: { 'fetch-depth': 0 } },
          {
            name: 'Environment for this tag',
            id: 'environment',
            run: script(
              'case "$GITHUB_REF_NAME" in',
              '  rc-*) echo "name=demo" >> "$GITHUB_OUTPUT" ;;',
              '  v*) echo "name=prod" >> "$GITHUB_OUTPUT" ;;',
              'esac',
            ),
          },
          {
            // Mainline's tags carry a Requested-by trailer: it already retagged and deployed,
            // so this workflow must not promote a second time.
            name: 'Did Mainline create this tag?',
            id: 'origin',
            run: script(
              // checkout may have fetched the tag as a lightweight one; read the tag object itself.
              'git fetch --quiet --force origin "refs/tags/$GITHUB_REF_NAME:refs/tags/$GITHUB_REF_NAME"',
              'if git for-each-ref --format="%(contents)" "refs/tags/$GITHUB_REF_NAME" | grep -q "^Requested-by: "; then',
              '  echo "Mainline created $GITHUB_REF_NAME and promoted it itself"',
              '  echo "mainline=true" >> "$GITHUB_OUTPUT"',
              'else',
              '  echo "mainline=false" >> "$GITHUB_OUTPUT"',
              'fi',
            ),
          },
          {
            name: 'The tagged commit must be on main (or, for v*, on a release/* branch)',
            if: "steps.origin.outputs.mainline != 'true'",
            run: script(
              'if git merge-base --is-ancestor "$GITHUB_SHA" origin/main; then',
              '  exit 0',
              'fi',
              'if [[ "$GITHUB_REF_NAME" == v* ]] && git branch -r --contains "$GITHUB_SHA" | grep -q "^ *origin/release/"; then',
              '  echo "::warning::$GITHUB_REF_NAME is on a release branch, not on main: the discouraged exception"',
              '  exit 0',
              'fi',
              'echo "::error::$GITHUB_REF_NAME points at ${GITHUB_SHA::7}, which is not on main: tag a main commit"',
              'exit 1',
            ),
          },
          {
            ...awsCredentials(),
            if: "steps.origin.outputs.mainline != 'true'",
          },
          {
            name: 'The tagged commit must have an artifact',
            if: "steps.origin.outputs.mainline != 'true'",
            env: { ENVIRONMENT: '${{ steps.environment.outputs.name }}' },
            run: artifactCheck,
          },
        ],
      },
      promote: {
        needs: 'preflight',
        if: "needs.preflight.outputs.mainline != 'true'",
        'runs-on': 'ubuntu-latest',
        permissions:
          options.kind === 'container'
            ? { contents: 'read', 'id-token': 'write' }
            : { actions: 'write', contents: 'read', 'id-token': 'write' },
        // Serverless: the deploy workflow's job is the environment's deployment (and approval).
        ...(options.kind === 'container'
          ? {
              environment: '${{ needs.preflight.outputs.environment }}',
              concurrency: {
                group:
                  'mainline-deploy-${{ needs.preflight.outputs.environment }}',
                'cancel-in-progress': false,
              },
            }
          : {}),
        steps: [awsCredentials(), ...promote],
      },
      notify: {
        needs: ['preflight', 'promote'],
        if: 'failure()',
        'runs-on': 'ubuntu-latest',
        permissions: { issues: 'write' },
        env: {
          GH_TOKEN: '${{ github.token }}',
          NOTIFY_WEBHOOK_URL: '${{ secrets.NOTIFY_WEBHOOK_URL }}',
        },
        steps: [
          {
            name: 'Tell the owners the promotion failed',
            run: script(
              'run_url="$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID"',
              'message="$GITHUB_REPOSITORY: $GITHUB_REF_NAME (${GITHUB_SHA::7}) was not promoted; see $run_url"',
              'echo "::error::$message"',
              'echo "$message" >> "$GITHUB_STEP_SUMMARY"',
              // An issue reaches everyone watching the repository, with or without a webhook.
              'gh issue create --repo "$GITHUB_REPOSITORY" --title "Promotion of $GITHUB_REF_NAME failed" --body "$message"',
              'if [[ -n "$NOTIFY_WEBHOOK_URL" ]]; then',
              '  curl -fsS --retry 3 --max-time 30 -X POST -H "content-type: application/json" --data "$(jq -n --arg text "$message" \'{text: $text}\')" "$NOTIFY_WEBHOOK_URL"',
              'fi',
            ),
          },
        ],
      },
    },
  };
}

/**
 * Whether stage still runs the validated commit, as step output `current`: a stage that moved on
 * (a newer commit deployed) makes the validation say nothing about this commit, so it must not
 * yank it. Containers ask Argo CD what the stage Application runs; Serverless, the newest
 * successful stage run of the deploy workflow (its title names the sha).
 */
function stageRunsCommit(
  options: WorkflowOptions,
  id: string,
  name: string,
  condition?: string,
): Step {
  const superseded =
    'echo "::warning::stage runs $running, not ${COMMIT_SHA::7}: a newer deploy superseded it, so this validation yanks nothing"';
  return {
    name,
    id,
    ...(condition ? { if: condition } : {}),
    ...(options.kind === 'container'
      ? {
          env: { ARGOCD_AUTH_TOKEN: '${{ secrets.ARGOCD_AUTH_TOKEN }}' },
          run: script(
            'app="${ARGOCD_APPLICATION//\\{environment\\}/stage}"',
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
          env: { GH_TOKEN: '${{ github.token }}' },
          run: script(
            'title=$(gh run list --repo "$GITHUB_REPOSITORY" --workflow mainline-deploy.yaml --status success --limit 100 --json displayTitle --jq \'map(.displayTitle | select(startswith("mainline deploy stage "))) | .[0] // ""\')',
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
  return {
    name: 'Validate stage',
    on: {
      workflow_run: {
        workflows: [BUILD_WORKFLOW],
        types: ['completed'],
      },
    },
    permissions: {},
    env: {
      ...workflowEnv(options),
      MAINLINE_URL: options.mainlineUrl.replace(/\/$/, ''),
      MAINLINE_ENTITY: entityPath(options.entityRef),
    },
    jobs: {
      validate: {
        // The build run succeeds only once stage runs its commit (its deploy job waited).
        if: "github.event.workflow_run.conclusion == 'success' && github.event.workflow_run.event == 'push'",
        'runs-on': 'ubuntu-latest',
        permissions:
          options.kind === 'container'
            ? { contents: 'read' }
            : { actions: 'read', contents: 'read' },
        concurrency: {
          group: 'mainline-validate-stage',
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
    '# Rendered by Mainline (promotion:workflows:render). Build once; promote by tag.\n';
  const render = (doc: object) => header + toYaml(doc);
  return {
    'mainline-build.yaml': render(buildWorkflow(options)),
    'mainline-promote.yaml': render(promoteWorkflow(options)),
    'mainline-validate-stage.yaml': render(validationWorkflow(options)),
    'mainline-pr.yaml': render(pullRequestWorkflow(options)),
    ...(options.kind === 'serverless'
      ? { 'mainline-deploy.yaml': render(deployWorkflow(options)) }
      : {}),
  };
}
