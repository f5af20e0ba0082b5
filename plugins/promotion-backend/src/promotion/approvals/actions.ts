import { BackstageCredentials } from '@backstage/backend-plugin-api';
import { ActionsRegistryService } from '@backstage/backend-plugin-api/alpha';
import { Actors } from '../../service/actors';
import { EntityTargets } from '../../service/EntityTargets';
import { toPromotion } from '../api';
import { ApprovalService } from './ApprovalService';

/**
 * Offers "decide on a promotion's approval" through Backstage's actions registry (and so the MCP
 * actions backend): approve, reject or withdraw, with exactly the checks and audit of the HTTP
 * API (POST/DELETE /v1/entities/{kind}/{namespace}/{name}/promotions/{id}/approvals, POST
 * .../rejections), as the caller.
 */
export function registerApprovalActions(options: {
  actionsRegistry: ActionsRegistryService;
  targets: EntityTargets;
  actors: Actors;
  approvals: ApprovalService;
}) {
  const { actionsRegistry, targets, actors, approvals } = options;
  actionsRegistry.register({
    name: 'decide-promotion-approval',
    title: 'Approve, reject or withdraw on a promotion',
    description:
      "Records the caller's decision on a promotion that awaits approvals: approve (the approval that completes the count runs the promotion), reject (the promotion ends failed, nothing changed), or withdraw the caller's earlier decision. Only members of the entity's owner group (nested groups count) with the promotion.approve permission may decide, never the requester or the author of the commit or its pull request.",
    attributes: { readOnly: false, idempotent: true, destructive: false },
    examples: [
      {
        title: 'Approve a prod promotion',
        input: {
          entityRef: 'component:default/checkout',
          promotionId: '2f6c1c0e-7c53-4c1b-9a57-3f0f5d1f9b11',
          decision: 'approve',
          comment: 'release notes checked',
        },
      },
      {
        title: 'Withdraw an approval given by mistake',
        input: {
          entityRef: 'component:default/checkout',
          promotionId: '2f6c1c0e-7c53-4c1b-9a57-3f0f5d1f9b11',
          decision: 'withdraw',
        },
      },
    ],
    schema: {
      input: z =>
        z.object({
          entityRef: z
            .string()
            .describe(
              'Catalog entity reference, e.g. component:default/checkout',
            ),
          promotionId: z
            .string()
            .regex(/^[0-9a-f-]{36}$/)
            .describe('The promotion awaiting approvals'),
          decision: z
            .enum(['approve', 'reject', 'withdraw'])
            .describe('approve, reject, or withdraw your earlier decision'),
          comment: z
            .string()
            .max(2000)
            .optional()
            .describe('Why (kept with the decision and shown in the tab)'),
        }),
      output: z =>
        z.object({
          approvals: z
            .any()
            .describe(
              'The approvals after the decision, as GET .../promotions/{id}/approvals answers',
            ),
        }),
    },
    action: async ({ input, credentials }) => {
      const creds = credentials as BackstageCredentials;
      const entity = await targets.get(input.entityRef, creds);
      const ctx = { credentials: creds, actor: await actors.of(creds) };
      const comment = input.comment?.trim()
        ? { comment: input.comment.trim() }
        : {};
      let view;
      if (input.decision === 'approve') {
        view = await approvals.approve(entity, input.promotionId, comment, ctx);
      } else if (input.decision === 'reject') {
        view = await approvals.reject(entity, input.promotionId, comment, ctx);
      } else {
        view = await approvals.withdraw(entity, input.promotionId, ctx);
      }
      const result = { ...view, promotion: toPromotion(view.promotion) };
      return { output: { approvals: JSON.parse(JSON.stringify(result)) } };
    },
  });
}
