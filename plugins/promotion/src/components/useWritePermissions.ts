import { stringifyEntityRef } from '@backstage/catalog-model';
import { useEntity } from '@backstage/plugin-catalog-react';
import { usePermission } from '@backstage/plugin-permission-react';
import {
  promotionPromotePermission,
  promotionPromoteProductionPermission,
  promotionRollbackPermission,
  promotionYankPermission,
} from '@mainline/plugin-promotion-common';

/** A write the user may or may not take, and the reason shown on a disabled button. */
export interface WriteAllowance {
  allowed: boolean;
  reason?: string;
}

function allowance(
  result: { loading: boolean; allowed: boolean },
  name: string,
): WriteAllowance {
  if (result.loading)
    return { allowed: false, reason: 'checking permissions…' };
  return result.allowed
    ? { allowed: true }
    : {
        allowed: false,
        reason: `You do not have the ${name} permission for this entity`,
      };
}

/** What the signed-in user may do to this entity, as the permission policy decides. */
export function useWritePermissions() {
  const { entity } = useEntity();
  const resourceRef = stringifyEntityRef(entity);
  const promote = usePermission({
    permission: promotionPromotePermission,
    resourceRef,
  });
  const promoteProduction = usePermission({
    permission: promotionPromoteProductionPermission,
    resourceRef,
  });
  const rollback = usePermission({
    permission: promotionRollbackPermission,
    resourceRef,
  });
  const yank = usePermission({
    permission: promotionYankPermission,
    resourceRef,
  });
  return {
    promote: (production: boolean) =>
      production
        ? allowance(
            promoteProduction,
            promotionPromoteProductionPermission.name,
          )
        : allowance(promote, promotionPromotePermission.name),
    rollback: allowance(rollback, promotionRollbackPermission.name),
    yank: allowance(yank, promotionYankPermission.name),
  };
}
