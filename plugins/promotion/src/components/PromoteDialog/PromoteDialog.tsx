import { useEffect, useMemo, useReducer, useState } from 'react';
import {
  ResponseErrorPanel,
  StatusError,
  StatusOK,
} from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import {
  CompoundEntityRef,
  stringifyEntityRef,
} from '@backstage/catalog-model';
import Box from '@material-ui/core/Box';
import Checkbox from '@material-ui/core/Checkbox';
import FormControlLabel from '@material-ui/core/FormControlLabel';
import Button from '@material-ui/core/Button';
import Dialog from '@material-ui/core/Dialog';
import DialogActions from '@material-ui/core/DialogActions';
import DialogContent from '@material-ui/core/DialogContent';
import DialogTitle from '@material-ui/core/DialogTitle';
import MenuItem from '@material-ui/core/MenuItem';
import TextField from '@material-ui/core/TextField';
import Typography from '@material-ui/core/Typography';
import {
  ComponentOutcome,
  EnvironmentState,
  Promotion,
  PromotionCheck,
  checkTagName,
  matchesTagPattern,
} from '@mainline/plugin-promotion-common';
import { checkData, promotionApiRef, refusedChecks } from '../../api';
import { usePromotionPlan, usePromotionProgress } from '../../hooks';
import { newIdempotencyKey, plural } from '../format';
import { StepList } from '../StepList';
import { ApprovalPanel } from '../Approvals';
import { RollbackNote } from '../RollbackNote';
import { FreezeOverride, FreezeOverrideState } from './FreezeOverride';

export interface PromoteDialogProps {
  entity: CompoundEntityRef;
  environments: EnvironmentState[];
  initialEnvironment: string;
  initialSha: string;
  onClose: (changed: boolean) => void;
  /** For a monorepo component: its repository, whose other components the commit may release too. */
  repository?: string;
}

/** What the user edits: the target, the commit, the tag and whether the whole repository goes. */
interface Form {
  environment: string;
  sha: string;
  tag: string;
  /** False while the tag is the rules' suggestion. */
  tagEdited: boolean;
  wholeRepository: boolean;
}

type FormChange =
  | { type: 'environment'; environment: string }
  | { type: 'sha'; sha: string }
  | { type: 'tag'; tag: string }
  | { type: 'suggested'; tag: string }
  | { type: 'wholeRepository'; wholeRepository: boolean };

function reduceForm(form: Form, change: FormChange): Form {
  switch (change.type) {
    case 'environment':
      // Another environment has its own tag pattern: the rules suggest again.
      return { ...form, environment: change.environment, tagEdited: false };
    case 'sha':
      return { ...form, sha: change.sha };
    case 'tag':
      return { ...form, tag: change.tag, tagEdited: true };
    case 'suggested':
      return form.tagEdited ? form : { ...form, tag: change.tag };
    case 'wholeRepository':
      return { ...form, wholeRepository: change.wholeRepository };
    default:
      return form;
  }
}

/** The promotion once submitted: its result, or each component's for a repository-wide one. */
interface Submission {
  submitting: boolean;
  result?: Promotion;
  outcomes?: ComponentOutcome[];
  submitError?: Error;
}

type SubmissionReport =
  | { type: 'submitted' }
  | { type: 'promoted'; result: Promotion }
  | {
      type: 'released';
      outcomes: ComponentOutcome[];
      result?: Promotion;
      error?: Error;
    }
  | { type: 'failed'; error: Error }
  | { type: 'dismissed' };

function reduceSubmission(
  state: Submission,
  report: SubmissionReport,
): Submission {
  switch (report.type) {
    case 'submitted':
      return { ...state, submitting: true, submitError: undefined };
    case 'promoted':
      return { ...state, submitting: false, result: report.result };
    case 'released':
      return {
        ...state,
        submitting: false,
        outcomes: report.outcomes,
        result: report.result ?? state.result,
        submitError: report.error,
      };
    case 'failed':
      return { ...state, submitting: false, submitError: report.error };
    case 'dismissed':
      return { ...state, submitError: undefined };
    default:
      return state;
  }
}

/**
 * The commit a refusal offers instead, from its checks' data: the nearest ancestor with an
 * artifact, or the commit the rules suggest.
 */
function commitInstead(checks: PromotionCheck[]): string | undefined {
  return (
    checkData(checks, 'nearestBuiltSha') ?? checkData(checks, 'suggestedSha')
  );
}

/** Each component's outcome of a repository-wide release, or of its dry run. */
const ComponentOutcomes = (props: {
  label: string;
  title: string;
  outcomes: ComponentOutcome[];
}) => (
  <Box mt={2} aria-label={props.label}>
    <Typography variant="subtitle2">{props.title}</Typography>
    {props.outcomes.map(outcome => {
      // A refusal names each failed check, as a single promotion's refusal does.
      const why = outcome.checks?.length
        ? outcome.checks.map(c => `${c.name}: ${c.reason}`).join('; ')
        : outcome.message;
      const text = `${outcome.entityRef}: ${why}`;
      if (outcome.outcome === 'promoted' || outcome.outcome === 'planned')
        return <StatusOK key={outcome.entityRef}>{text}</StatusOK>;
      if (outcome.outcome === 'refused')
        return <StatusError key={outcome.entityRef}>{text}</StatusError>;
      return (
        <Typography key={outcome.entityRef} variant="body2">
          {text}
        </Typography>
      );
    })}
  </Box>
);

/**
 * Promote a commit: target environment and commit preselected, the suggested tag editable and
 * validated as it is typed, the commits being promoted, every check with its outcome from a dry
 * run, then the promotion's steps as they complete.
 */
export const PromoteDialog = (props: PromoteDialogProps) => {
  const { entity, environments, initialEnvironment, onClose, repository } =
    props;
  const api = useApi(promotionApiRef);
  const tagEnvironments = environments.filter(e => e.trigger.type === 'tag');
  const [form, change] = useReducer(reduceForm, {
    environment: initialEnvironment,
    sha: props.initialSha,
    tag: '',
    tagEdited: false,
    wholeRepository: Boolean(repository),
  });
  const { environment, sha, tag, tagEdited } = form;
  const [submission, report] = useReducer(reduceSubmission, {
    submitting: false,
  });
  const { submitting, result, outcomes, submitError } = submission;
  // An emergency override of an open freeze window, offered only with its permission.
  const [override, setOverride] = useState<FreezeOverrideState>({
    requested: false,
    reason: '',
  });
  const releasesRepository = Boolean(repository && form.wholeRepository);
  // One key per intent: a double-click or a resubmit after a failure never promotes twice.
  const idempotencyKey = useMemo(() => newIdempotencyKey(), []);
  const ownRef = stringifyEntityRef(entity).toLocaleLowerCase('en-US');
  const isOwn = (outcome: ComponentOutcome) =>
    outcome.entityRef.toLocaleLowerCase('en-US') === ownRef;

  const pattern =
    environments.find(e => e.name === environment)?.trigger.pattern ?? '';
  const tagProblem = tagEdited
    ? checkTagName(tag) ??
      (matchesTagPattern(tag, pattern) ? undefined : `must match ${pattern}`)
    : undefined;

  // An untouched tag is the rules' suggestion: the dry run asks without one and shows the answer.
  const { plan, planError, comparison, repositoryPlan, repositoryPlanError } =
    usePromotionPlan(
      entity,
      tagProblem || !/^[0-9a-f]{7,40}$/.test(sha)
        ? undefined
        : { environment, sha, tag: tagEdited ? tag : undefined },
      { repository: releasesRepository },
    );
  useEffect(() => {
    if (plan?.tag) change({ type: 'suggested', tag: plan.tag });
  }, [plan]);
  // The request runs to completion server-side; meanwhile its steps show as they are recorded.
  const running = usePromotionProgress(
    entity,
    submitting ? { environment, sha } : undefined,
  );

  const failedChecks = plan?.checks.filter(c => !c.passed) ?? [];
  const freezeCheck = failedChecks.find(c => c.name === 'freeze');
  // A repository-wide release takes no override (its API has none): untick to release alone.
  const offersOverride = Boolean(freezeCheck && !releasesRepository);
  const overridesFreeze = Boolean(
    offersOverride && override.requested && override.reason.trim(),
  );
  // The override lifts the freeze check only; any other failed check still refuses.
  const blockingChecks = overridesFreeze
    ? failedChecks.filter(c => c !== freezeCheck)
    : failedChecks;

  const submit = async () => {
    report({ type: 'submitted' });
    const request = {
      environment,
      sha,
      tag: tagEdited ? tag : plan?.tag ?? undefined,
      ...(overridesFreeze
        ? { freezeOverride: { reason: override.reason.trim() } }
        : {}),
    };
    try {
      if (releasesRepository) {
        const released = await api.promoteRepository(
          entity,
          request,
          idempotencyKey,
        );
        const own = released.components.find(isOwn);
        report({
          type: 'released',
          outcomes: released.components,
          result: own?.promotion,
          error:
            own?.outcome === 'refused' ? new Error(own.message) : undefined,
        });
      } else {
        report({
          type: 'promoted',
          result: await api.promote(entity, request, idempotencyKey),
        });
      }
    } catch (error) {
      report({ type: 'failed', error: error as Error });
    }
  };

  // The dry run of the repository-wide release: this component's own plan is the checks above,
  // so the list shows the others (and this one only when it is refused there).
  const repositoryPreview = releasesRepository ? repositoryPlan : undefined;
  const refusedComponents =
    repositoryPreview?.filter(c => c.outcome === 'refused') ?? [];
  const previewedComponents = repositoryPreview?.filter(
    c => !isOwn(c) || c.outcome === 'refused',
  );
  const insteadSha = commitInstead([
    ...refusedChecks(submitError),
    ...refusedChecks(planError),
    ...failedChecks,
  ]);
  const shown = result ?? running;
  // Once a promotion runs or a repository-wide one has reported, the form no longer applies.
  const done = Boolean(shown || outcomes);

  return (
    <Dialog
      open
      onClose={() => onClose(Boolean(result || outcomes))}
      maxWidth="md"
      fullWidth
    >
      <DialogTitle>Promote {entity.name}</DialogTitle>
      <DialogContent>
        <Box display="flex" style={{ gap: 16 }}>
          <TextField
            select
            label="Environment"
            value={environment}
            onChange={e =>
              change({ type: 'environment', environment: e.target.value })
            }
            disabled={done}
          >
            {tagEnvironments.map(e => (
              <MenuItem key={e.name} value={e.name}>
                {e.name}
              </MenuItem>
            ))}
          </TextField>
          <TextField
            label="Commit"
            value={sha}
            onChange={e => change({ type: 'sha', sha: e.target.value.trim() })}
            disabled={done}
            inputProps={{ 'aria-label': 'commit' }}
          />
          <TextField
            label="Release tag"
            value={tag}
            error={Boolean(tagProblem)}
            helperText={
              tagProblem ?? (tagEdited ? '' : 'suggested by the rules')
            }
            onChange={e => change({ type: 'tag', tag: e.target.value })}
            disabled={done}
            inputProps={{ 'aria-label': 'release tag' }}
          />
        </Box>

        {repository && (
          <FormControlLabel
            control={
              <Checkbox
                checked={form.wholeRepository}
                onChange={e =>
                  change({
                    type: 'wholeRepository',
                    wholeRepository: e.target.checked,
                  })
                }
                disabled={done}
                color="primary"
              />
            }
            label={`Release every component of ${repository} built at this commit (the others are reported unchanged)`}
          />
        )}

        {comparison && !shown && (
          <Box mt={2}>
            <Typography variant="subtitle2">
              {plural(comparison.commits.length, 'commit')} reach {environment}{' '}
              with this promotion
            </Typography>
            {comparison.commits.slice(0, 10).map(c => (
              <Typography key={c.sha} variant="body2">
                <code>{c.shortSha}</code> {c.message}
              </Typography>
            ))}
          </Box>
        )}

        {plan && !shown && (
          <Box mt={2} aria-label="checks">
            <Typography variant="subtitle2">Checks</Typography>
            {plan.checks.map(check =>
              check.passed ? (
                <StatusOK key={check.name}>
                  {check.name}: {check.reason}
                </StatusOK>
              ) : (
                <StatusError key={check.name}>
                  {check.name}: {check.reason}
                </StatusError>
              ),
            )}
            <Typography variant="subtitle2">Plan (dry run)</Typography>
            <StepList steps={plan.steps} />
          </Box>
        )}
        {freezeCheck && offersOverride && !done && (
          <FreezeOverride
            entity={entity}
            check={freezeCheck}
            state={override}
            onChange={setOverride}
            disabled={submitting}
          />
        )}
        {planError && !shown && <ResponseErrorPanel error={planError} />}
        {previewedComponents && !done && (
          <ComponentOutcomes
            label="components (dry run)"
            title={`Other components of ${repository} (dry run)`}
            outcomes={previewedComponents}
          />
        )}
        {refusedComponents.length > 0 && !done && (
          <Typography color="error">
            Not releasable across {repository}:{' '}
            {refusedComponents.map(c => c.entityRef).join(', ')}{' '}
            {refusedComponents.length === 1 ? 'is' : 'are'} refused. Untick the
            box to release {entity.name} alone.
          </Typography>
        )}
        {releasesRepository && repositoryPlanError && !done && (
          <ResponseErrorPanel error={repositoryPlanError} />
        )}
        {shown && <StepList steps={shown.steps} />}
        {outcomes && (
          <ComponentOutcomes
            label="components"
            title={`Components of ${repository}`}
            outcomes={outcomes}
          />
        )}
        {result?.status === 'failed' && (
          <Typography color="error">
            Failed: {result.error}.
            {result.rolledBackBy ? '' : ' Retry resumes from that step.'}
          </Typography>
        )}
        {result && <RollbackNote promotion={result} />}
        {result?.status === 'awaiting-approval' && (
          <Box mt={1}>
            <Typography>
              Awaiting approvals: nothing has changed yet. The approvers were
              notified; the promotion runs once enough of them approve.
            </Typography>
            <ApprovalPanel promotion={result} />
          </Box>
        )}
        {submitError && <ResponseErrorPanel error={submitError} />}
        {insteadSha && !done && (
          <Button
            variant="outlined"
            onClick={() => {
              change({ type: 'sha', sha: insteadSha });
              report({ type: 'dismissed' });
            }}
          >
            Promote {insteadSha.slice(0, 7)} instead
          </Button>
        )}
      </DialogContent>
      <DialogActions>
        <Button onClick={() => onClose(Boolean(result || outcomes))}>
          {result || outcomes ? 'Close' : 'Cancel'}
        </Button>
        {result?.status === 'failed' && (
          <Button
            color="primary"
            onClick={async () =>
              report({
                type: 'promoted',
                result: await api.retryPromotion(entity, result.id),
              })
            }
          >
            Retry
          </Button>
        )}
        {!result && !outcomes && (
          <Button
            color="primary"
            variant="contained"
            disabled={
              submitting ||
              !plan ||
              blockingChecks.length > 0 ||
              Boolean(tagProblem) ||
              (releasesRepository &&
                (!repositoryPreview || refusedComponents.length > 0))
            }
            onClick={submit}
          >
            Promote to {environment}
          </Button>
        )}
      </DialogActions>
    </Dialog>
  );
};
