import {
  CompoundEntityRef,
  stringifyEntityRef,
} from '@backstage/catalog-model';
import { usePermission } from '@backstage/plugin-permission-react';
import Box from '@material-ui/core/Box';
import Checkbox from '@material-ui/core/Checkbox';
import FormControlLabel from '@material-ui/core/FormControlLabel';
import TextField from '@material-ui/core/TextField';
import Typography from '@material-ui/core/Typography';
import {
  PromotionCheck,
  promotionFreezeOverridePermission,
} from '@mainline/plugin-promotion-common';

/** Whether the user asks to override the open freeze window, and why. */
export interface FreezeOverrideState {
  requested: boolean;
  reason: string;
}

/**
 * The open freeze window a dry run refused (its name and end) and, for a user with the
 * `promotion.freeze.override` permission on the entity, the emergency override: a tick and a
 * required reason, sent as `freezeOverride` with the promotion (audited and told to the owners).
 */
export const FreezeOverride = (props: {
  entity: CompoundEntityRef;
  check: PromotionCheck;
  state: FreezeOverrideState;
  onChange: (state: FreezeOverrideState) => void;
  disabled?: boolean;
}) => {
  const { check, state, onChange, disabled } = props;
  const permission = usePermission({
    permission: promotionFreezeOverridePermission,
    resourceRef: stringifyEntityRef(props.entity),
  });
  const window = check.data?.freezeWindow;
  const until = check.data?.frozenUntil;
  const end = until ? new Date(until) : undefined;
  return (
    <Box mt={2} aria-label="freeze window">
      <Typography variant="subtitle2">
        Frozen{window ? ` by ${window}` : ''}
        {end && !Number.isNaN(end.getTime())
          ? ` until ${end.toLocaleString()} (${until})`
          : ''}
      </Typography>
      {permission.loading && (
        <Typography variant="body2">checking permissions…</Typography>
      )}
      {!permission.loading && !permission.allowed && (
        <Typography variant="body2">
          Only a user with the {promotionFreezeOverridePermission.name}{' '}
          permission can override the freeze.
        </Typography>
      )}
      {permission.allowed && (
        <>
          <FormControlLabel
            control={
              <Checkbox
                checked={state.requested}
                onChange={e =>
                  onChange({ ...state, requested: e.target.checked })
                }
                disabled={disabled}
                color="secondary"
              />
            }
            label="Emergency override: promote through the freeze (audited, the owners are told)"
          />
          {state.requested && (
            <TextField
              required
              fullWidth
              label="Reason for the override"
              value={state.reason}
              error={!state.reason.trim()}
              helperText={
                state.reason.trim()
                  ? ''
                  : 'an emergency override needs a reason'
              }
              onChange={e => onChange({ ...state, reason: e.target.value })}
              disabled={disabled}
              inputProps={{ 'aria-label': 'override reason' }}
            />
          )}
        </>
      )}
    </Box>
  );
};
