import { useMemo, useState } from 'react';
import { ResponseErrorPanel } from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import { CompoundEntityRef } from '@backstage/catalog-model';
import Button from '@material-ui/core/Button';
import Dialog from '@material-ui/core/Dialog';
import DialogActions from '@material-ui/core/DialogActions';
import DialogContent from '@material-ui/core/DialogContent';
import DialogTitle from '@material-ui/core/DialogTitle';
import FormControlLabel from '@material-ui/core/FormControlLabel';
import Radio from '@material-ui/core/Radio';
import RadioGroup from '@material-ui/core/RadioGroup';
import Typography from '@material-ui/core/Typography';
import {
  EnvironmentState,
  LineageCommit,
  Promotion,
  matchesTagPattern,
} from '@mainline/plugin-promotion-common';
import { promotionApiRef } from '../../api';
import { newIdempotencyKey, relativeTime } from '../format';
import { StepList } from '../StepList';
import useAsyncFn from 'react-use/esm/useAsyncFn';

/** The earlier artifacts an environment can be re-pointed at: built, not yanked, still there. */
export function rollbackCandidates(
  environment: EnvironmentState,
  commits: LineageCommit[],
) {
  const pattern =
    environment.trigger.type === 'tag'
      ? environment.trigger.pattern
      : undefined;
  return commits
    .filter(
      c =>
        c.sha !== environment.current?.sha &&
        !c.yanked &&
        c.artifacts.length > 0,
    )
    .map(c => ({
      commit: c,
      tag: pattern
        ? c.tags.find(t => matchesTagPattern(t, pattern))
        : undefined,
    }))
    .filter(c => !pattern || c.tag);
}

export const RollbackDialog = (props: {
  entity: CompoundEntityRef;
  environment: EnvironmentState;
  commits: LineageCommit[];
  onClose: (changed: boolean) => void;
}) => {
  const { entity, environment, commits, onClose } = props;
  const api = useApi(promotionApiRef);
  const candidates = rollbackCandidates(environment, commits);
  const [choice, setChoice] = useState(candidates[0]?.commit.sha ?? '');
  const idempotencyKey = useMemo(() => newIdempotencyKey(), []);

  const [submission, submit] = useAsyncFn(async (): Promise<
    Promotion | undefined
  > => {
    const selected = candidates.find(c => c.commit.sha === choice);
    if (!selected) return undefined;
    return api.rollback(
      entity,
      selected.tag
        ? { environment: environment.name, tag: selected.tag }
        : { environment: environment.name, sha: selected.commit.sha },
      idempotencyKey,
    );
  }, [api, entity, environment, choice, idempotencyKey]);
  const { value: result, error, loading: busy } = submission;

  return (
    <Dialog
      open
      onClose={() => onClose(Boolean(result))}
      maxWidth="sm"
      fullWidth
    >
      <DialogTitle>Roll back {environment.name}</DialogTitle>
      <DialogContent>
        <Typography variant="body2">
          Now running:{' '}
          {environment.current?.tag ??
            environment.current?.version ??
            'nothing'}
        </Typography>
        {candidates.length === 0 && (
          <Typography>
            No earlier artifact for {environment.name} still exists.
          </Typography>
        )}
        {!result && (
          <RadioGroup value={choice} onChange={e => setChoice(e.target.value)}>
            {candidates.slice(0, 15).map(({ commit, tag }) => (
              <FormControlLabel
                key={commit.sha}
                value={commit.sha}
                control={<Radio />}
                label={`${tag ?? commit.shortSha} · ${
                  commit.message
                } · ${relativeTime(commit.committedAt)}`}
              />
            ))}
          </RadioGroup>
        )}
        {result && <StepList steps={result.steps} />}
        {error && <ResponseErrorPanel error={error} />}
      </DialogContent>
      <DialogActions>
        <Button onClick={() => onClose(Boolean(result))}>
          {result ? 'Close' : 'Cancel'}
        </Button>
        {!result && (
          <Button
            color="primary"
            variant="contained"
            disabled={busy || !choice}
            onClick={submit}
          >
            Roll back
          </Button>
        )}
      </DialogActions>
    </Dialog>
  );
};
