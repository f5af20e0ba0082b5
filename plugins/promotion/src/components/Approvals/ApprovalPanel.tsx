import { useCallback, useState } from 'react';
import useAsyncRetry from 'react-use/esm/useAsyncRetry';
import { getCompoundEntityRef } from '@backstage/catalog-model';
import { useApi } from '@backstage/core-plugin-api';
import { useEntity } from '@backstage/plugin-catalog-react';
import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import TextField from '@material-ui/core/TextField';
import Tooltip from '@material-ui/core/Tooltip';
import Typography from '@material-ui/core/Typography';
import { Promotion } from '@mainline/plugin-promotion-common';
import { promotionApiRef } from '../../api';

/**
 * The approvals of a promotion that awaits them, in the tab's promotion view: how many it has of
 * how many it needs, who may approve, and (for a user who may decide) Approve, Reject and
 * Withdraw. The backend decides who may: a button shows its reason when the user may not.
 */
export const ApprovalPanel = ({
  promotion,
  onChanged,
}: {
  promotion: Promotion;
  onChanged?: () => void;
}) => {
  const { entity } = useEntity();
  const api = useApi(promotionApiRef);
  const ref = getCompoundEntityRef(entity);
  const [comment, setComment] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  const approvals = useAsyncRetry(
    () => api.getApprovals(ref, promotion.id),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [api, ref.kind, ref.namespace, ref.name, promotion.id, promotion.updatedAt],
  );
  const act = useCallback(
    async (what: 'approve' | 'reject' | 'withdraw') => {
      setBusy(true);
      setError(undefined);
      try {
        if (what === 'approve') {
          await api.approvePromotion(ref, promotion.id, comment || undefined);
        } else if (what === 'reject') {
          await api.rejectPromotion(ref, promotion.id, comment || undefined);
        } else {
          await api.withdrawApproval(ref, promotion.id);
        }
        setComment('');
      } catch (e) {
        setError(e as Error);
      } finally {
        setBusy(false);
        approvals.retry();
        onChanged?.();
      }
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [api, ref.kind, ref.namespace, ref.name, promotion.id, comment, onChanged],
  );
  const value = approvals.value;
  if (approvals.error) {
    return (
      <Typography variant="body2" color="error">
        Approvals could not be loaded: {approvals.error.message}
      </Typography>
    );
  }
  if (!value) return null;
  const { you } = value;
  const guarded = (label: string, what: 'approve' | 'reject') => {
    const button = (
      <Button
        size="small"
        variant={what === 'approve' ? 'contained' : 'outlined'}
        color={what === 'approve' ? 'primary' : 'default'}
        disabled={!you.canDecide || you.decision !== null || busy}
        onClick={() => act(what)}
      >
        {label}
      </Button>
    );
    return you.canDecide ? (
      button
    ) : (
      <Tooltip title={you.reason}>
        <span>{button}</span>
      </Tooltip>
    );
  };
  return (
    <Box mt={1} data-testid={`approvals-${promotion.id}`}>
      <Typography variant="body2">
        {value.approvedBy.length} of {value.required} approval
        {value.required === 1 ? '' : 's'}
        {value.approvedBy.length > 0 &&
          ` (approved by ${value.approvedBy.join(', ')})`}
        ; may approve: {value.eligibleApprovers.join(', ') || 'nobody'}
      </Typography>
      {value.decisions
        .filter(d => d.decision === 'rejected')
        .map(d => (
          <Typography key={d.approver} variant="body2" color="error">
            Rejected by {d.approver}
            {d.comment ? `: ${d.comment}` : ''}
          </Typography>
        ))}
      {promotion.status === 'awaiting-approval' && (
        <Box display="flex" alignItems="center" mt={1} style={{ gap: 8 }}>
          {you.canDecide && you.decision === null && (
            <TextField
              size="small"
              label="Comment"
              value={comment}
              onChange={e => setComment(e.target.value)}
              inputProps={{ maxLength: 2000, 'aria-label': 'approval comment' }}
            />
          )}
          {guarded('Approve', 'approve')}
          {guarded('Reject', 'reject')}
          {you.decision !== null && (
            <Button
              size="small"
              disabled={busy}
              onClick={() => act('withdraw')}
            >
              Withdraw my{' '}
              {you.decision === 'approved' ? 'approval' : 'rejection'}
            </Button>
          )}
        </Box>
      )}
      {!you.canDecide && you.decision === null && (
        <Typography variant="caption" display="block">
          You cannot decide: {you.reason}
        </Typography>
      )}
      {error && (
        <Typography variant="body2" color="error" role="alert">
          {error.message}
        </Typography>
      )}
    </Box>
  );
};
