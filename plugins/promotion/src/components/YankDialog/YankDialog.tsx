import { useState } from 'react';
import { ResponseErrorPanel, WarningPanel } from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import { CompoundEntityRef } from '@backstage/catalog-model';
import Button from '@material-ui/core/Button';
import Checkbox from '@material-ui/core/Checkbox';
import Dialog from '@material-ui/core/Dialog';
import DialogActions from '@material-ui/core/DialogActions';
import DialogContent from '@material-ui/core/DialogContent';
import DialogTitle from '@material-ui/core/DialogTitle';
import FormControlLabel from '@material-ui/core/FormControlLabel';
import TextField from '@material-ui/core/TextField';
import Typography from '@material-ui/core/Typography';
import { LineageCommit, YankResult } from '@mainline/plugin-promotion-common';
import { promotionApiRef } from '../../api';
import useAsyncFn from 'react-use/esm/useAsyncFn';

/** Yank a commit: a reason, and the short sha typed again to confirm. */
export const YankDialog = (props: {
  entity: CompoundEntityRef;
  commit: LineageCommit;
  onClose: (changed: boolean) => void;
}) => {
  const { entity, commit, onClose } = props;
  const api = useApi(promotionApiRef);
  const [reason, setReason] = useState('');
  const [confirm, setConfirm] = useState('');
  const [force, setForce] = useState(false);
  const running = commit.environments;
  const ready =
    reason.trim().length >= 3 &&
    confirm === commit.shortSha &&
    (running.length === 0 || force);

  const [submission, submit] = useAsyncFn(
    (): Promise<YankResult> =>
      api.yank(entity, { sha: commit.sha, reason, force: force || undefined }),
    [api, entity, commit, reason, force],
  );
  const { value: result, error, loading: busy } = submission;

  return (
    <Dialog
      open
      onClose={() => onClose(Boolean(result))}
      maxWidth="sm"
      fullWidth
    >
      <DialogTitle>Yank {commit.shortSha}</DialogTitle>
      <DialogContent>
        <Typography variant="body2" paragraph>
          {commit.message}. Its artifacts are deleted from the registry, so it
          can never be promoted; the lineage keeps a tombstone with your reason.
        </Typography>
        {running.length > 0 && (
          <WarningPanel title={`Runs in ${running.join(', ')}`}>
            Roll {running.length > 1 ? 'them' : 'it'} back first, or force the
            yank: the running deployment keeps working but cannot be redeployed.
          </WarningPanel>
        )}
        {!result && (
          <>
            <TextField
              fullWidth
              required
              label="Reason"
              value={reason}
              onChange={e => setReason(e.target.value)}
              inputProps={{ 'aria-label': 'reason' }}
            />
            <TextField
              fullWidth
              label={`Type ${commit.shortSha} to confirm`}
              value={confirm}
              onChange={e => setConfirm(e.target.value.trim())}
              inputProps={{ 'aria-label': 'confirm sha' }}
            />
            {running.length > 0 && (
              <FormControlLabel
                control={
                  <Checkbox
                    checked={force}
                    onChange={e => setForce(e.target.checked)}
                  />
                }
                label={`Yank although it runs in ${running.join(', ')}`}
              />
            )}
          </>
        )}
        {result && (
          <Typography>
            Yanked by {result.yank.yankedBy}
            {result.deleted ? `; deleted ${result.deleted.uri}` : ''}.
          </Typography>
        )}
        {error && <ResponseErrorPanel error={error} />}
      </DialogContent>
      <DialogActions>
        <Button onClick={() => onClose(Boolean(result))}>
          {result ? 'Close' : 'Cancel'}
        </Button>
        {!result && (
          <Button
            color="secondary"
            variant="contained"
            disabled={!ready || busy}
            onClick={submit}
          >
            Yank
          </Button>
        )}
      </DialogActions>
    </Dialog>
  );
};
