import Button, { ButtonProps } from '@material-ui/core/Button';
import Tooltip from '@material-ui/core/Tooltip';
import { WriteAllowance } from './useWritePermissions';

/** A button for a write: disabled, with the reason in a tooltip, when the user may not take it. */
export const GuardedButton = ({
  allowance,
  ...props
}: ButtonProps & { allowance: WriteAllowance }) => {
  if (allowance.allowed) return <Button {...props} />;
  return (
    <Tooltip title={allowance.reason ?? ''}>
      {/* A disabled button fires no events; the span carries the tooltip. */}
      <span>
        <Button {...props} disabled aria-disabled />
      </span>
    </Tooltip>
  );
};
