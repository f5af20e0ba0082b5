import { createPermission } from '@backstage/plugin-permission-common';
import { RESOURCE_TYPE_CATALOG_ENTITY } from '@backstage/plugin-catalog-common/alpha';

/**
 * Promote a commit's artifact to a non-production environment (e.g. stage, demo) of an entity.
 *
 * @public
 */
export const promotionPromotePermission = createPermission({
  name: 'promotion.promote',
  attributes: { action: 'create' },
  resourceType: RESOURCE_TYPE_CATALOG_ENTITY,
});

/**
 * Promote to a production environment. Separate from {@link promotionPromotePermission} so that
 * policies can restrict prod releases to a smaller group.
 *
 * @public
 */
export const promotionPromoteProductionPermission = createPermission({
  name: 'promotion.promote.production',
  attributes: { action: 'create' },
  resourceType: RESOURCE_TYPE_CATALOG_ENTITY,
});

/**
 * Re-point an environment at an earlier artifact.
 *
 * @public
 */
export const promotionRollbackPermission = createPermission({
  name: 'promotion.rollback',
  attributes: { action: 'update' },
  resourceType: RESOURCE_TYPE_CATALOG_ENTITY,
});

/**
 * Delete a commit's artifacts so it can never be promoted.
 *
 * @public
 */
export const promotionYankPermission = createPermission({
  name: 'promotion.yank',
  attributes: { action: 'delete' },
  resourceType: RESOURCE_TYPE_CATALOG_ENTITY,
});

/**
 * Approve, reject, or withdraw one's decision on a promotion that awaits approvals. Being allowed
 * is not enough: the approver must also be a member of the entity's owner group (nested groups
 * count) and neither the requester nor an author of the commit or its pull request.
 *
 * @public
 */
export const promotionApprovePermission = createPermission({
  name: 'promotion.approve',
  attributes: { action: 'update' },
  resourceType: RESOURCE_TYPE_CATALOG_ENTITY,
});

/**
 * Every permission of the promotion plugin, for registration with the permissions registry.
 *
 * @public
 */
export const promotionPermissions = [
  promotionPromotePermission,
  promotionPromoteProductionPermission,
  promotionRollbackPermission,
  promotionYankPermission,
  promotionApprovePermission,
];
