import { useEffect, useMemo, useState } from 'react';
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
  Comparison,
  ComponentOutcome,
  EnvironmentState,
  Promotion,
  PromotionPlan,
  checkTagName,
  matchesTagPattern,
} from '@mainline/plugin-promotion-common';
import { promotionApiRef } from '../../api';
import { newIdempotencyKey, plural } from '../format';
import { StepList } from '../StepList';

export interface PromoteDialogProps {
  entity: CompoundEntityRef;
  environments: EnvironmentState[];
  initialEnvironment: string;
  initialSha: string;
  onClose: (changed: boolean) => void;
  /** For a monorepo component: its repository, whose other components the commit may release too. */
  repository?: string;
}

/** The nearest commit that has an artifact, as the backend names it in a refusal. */
export function nearestBuiltSha(
  message: string | undefined,
): string | undefined {
  return (
    message &&
    /nearest ancestor with an artifact is ([0-9a-f]{7,40})/.exec(message)?.[1]
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
      const text = `${outcome.entityRef}: ${outcome.message}`;
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
  const [environment, setEnvironment] = useState(initialEnvironment);
  const [sha, setSha] = useState(props.initialSha);
  const [tag, setTag] = useState('');
  const [tagEdited, setTagEdited] = useState(false);
  const [plan, setPlan] = useState<PromotionPlan>();
  const [planError, setPlanError] = useState<Error>();
  const [comparison, setComparison] = useState<Comparison>();
  const [running, setRunning] = useState<Promotion>();
  const [result, setResult] = useState<Promotion>();
  const [submitError, setSubmitError] = useState<Error>();
  const [submitting, setSubmitting] = useState(false);
  const [wholeRepository, setWholeRepository] = useState(
    Boolean(props.repository),
  );
  const [outcomes, setOutcomes] = useState<ComponentOutcome[]>();
  // The repository-wide dry run, asked while the whole repository is to be released.
  const [repositoryPlan, setRepositoryPlan] = useState<ComponentOutcome[]>();
  const [repositoryPlanError, setRepositoryPlanError] = useState<Error>();
  const releasesRepository = Boolean(repository && wholeRepository);
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

  useEffect(() => {
    if (tagProblem || !/^[0-9a-f]{7,40}$/.test(sha)) return undefined;
    let cancelled = false;
    const timer = setTimeout(() => {
      const request = { environment, sha, tag: tagEdited ? tag : undefined };
      if (releasesRepository) {
        api.promoteRepository(entity, { ...request, dryRun: true }).then(
          next => {
            if (cancelled) return;
            setRepositoryPlan(next.components);
            setRepositoryPlanError(undefined);
          },
          error => {
            if (cancelled) return;
            setRepositoryPlan(undefined);
            setRepositoryPlanError(error);
          },
        );
      }
      Promise.all([
        api.planPromotion(entity, request),
        api.compare(entity, environment, sha).catch(() => undefined),
      ]).then(
        ([next, between]) => {
          if (cancelled) return;
          setPlan(next);
          setPlanError(undefined);
          setComparison(between);
          if (!tagEdited && next.tag) setTag(next.tag);
        },
        error => {
          if (cancelled) return;
          setPlan(undefined);
          setPlanError(error);
        },
      );
    }, 300);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [
    api,
    entity,
    environment,
    sha,
    tag,
    tagEdited,
    tagProblem,
    releasesRepository,
  ]);

  const submit = async () => {
    setSubmitting(true);
    setSubmitError(undefined);
    // The request runs to completion server-side; meanwhile show its steps as they are recorded.
    const poll = setInterval(async () => {
      const items = await api.listPromotions(entity).catch(() => []);
      const live = items.find(
        p =>
          p.environment === environment &&
          p.sha.startsWith(sha) &&
          p.status === 'running',
      );
      if (live) setRunning(live);
    }, 500);
    const request = {
      environment,
      sha,
      tag: tagEdited ? tag : plan?.tag ?? undefined,
    };
    try {
      if (releasesRepository) {
        const released = await api.promoteRepository(
          entity,
          request,
          idempotencyKey,
        );
        setOutcomes(released.components);
        const own = released.components.find(isOwn);
        if (own?.promotion) setResult(own.promotion);
        else if (own?.outcome === 'refused') {
          setSubmitError(new Error(own.message));
        }
      } else {
        setResult(await api.promote(entity, request, idempotencyKey));
      }
    } catch (error) {
      setSubmitError(error as Error);
    } finally {
      clearInterval(poll);
      setSubmitting(false);
    }
  };

  const failedChecks = plan?.checks.filter(c => !c.passed) ?? [];
  // The dry run of the repository-wide release: this component's own plan is the checks above,
  // so the list shows the others (and this one only when it is refused there).
  const repositoryPreview = releasesRepository ? repositoryPlan : undefined;
  const refusedComponents =
    repositoryPreview?.filter(c => c.outcome === 'refused') ?? [];
  const previewedComponents = repositoryPreview?.filter(
    c => !isOwn(c) || c.outcome === 'refused',
  );
  const insteadSha =
    nearestBuiltSha(submitError?.message) ??
    nearestBuiltSha(planError?.message) ??
    nearestBuiltSha(failedChecks.map(c => c.reason).join(' '));
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
            onChange={e => {
              setEnvironment(e.target.value);
              setTagEdited(false);
            }}
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
            onChange={e => setSha(e.target.value.trim())}
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
            onChange={e => {
              setTag(e.target.value);
              setTagEdited(true);
            }}
            disabled={done}
            inputProps={{ 'aria-label': 'release tag' }}
          />
        </Box>

        {repository && (
          <FormControlLabel
            control={
              <Checkbox
                checked={wholeRepository}
                onChange={e => setWholeRepository(e.target.checked)}
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
            Failed: {result.error}. Retry resumes from that step.
          </Typography>
        )}
        {submitError && <ResponseErrorPanel error={submitError} />}
        {insteadSha && !done && (
          <Button
            variant="outlined"
            onClick={() => {
              setSha(insteadSha);
              setSubmitError(undefined);
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
              setResult(await api.retryPromotion(entity, result.id))
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
              failedChecks.length > 0 ||
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
