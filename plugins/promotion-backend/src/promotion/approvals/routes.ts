import { createValidatedOpenApiRouter } from '@backstage/backend-openapi-utils';
import { HttpAuthService } from '@backstage/backend-plugin-api';
import { InputError } from '@backstage/errors';
import type { Request } from 'express';
import { spec } from '../../schema/openapi.generated';
import { Actors } from '../../service/actors';
import { EntityTargets } from '../../service/EntityTargets';
import { entityRefOf } from '../../service/requests';
import { toPromotion } from '../api';
import { ApprovalService, ApprovalsView } from './ApprovalService';

type ApiRouter = ReturnType<typeof createValidatedOpenApiRouter<typeof spec>>;

/** The optional `comment` of an approval or rejection (the schema bounds it). */
function parseComment(req: Request): { comment?: string } {
  const comment = (req.body as { comment?: unknown } | undefined)?.comment;
  if (comment === undefined) return {};
  if (typeof comment !== 'string') {
    throw new InputError('comment must be a string');
  }
  const trimmed = comment.trim();
  return trimmed ? { comment: trimmed } : {};
}

function toView(view: ApprovalsView) {
  return { ...view, promotion: toPromotion(view.promotion) };
}

/**
 * The approvals API: GET shows a promotion's approvals and what the caller may do, POST approves,
 * DELETE withdraws the caller's decision, POST .../rejections rejects. Each write checks the
 * caller (401), parses the request (400), then looks the entity up afresh.
 */
export function addApprovalRoutes(
  router: ApiRouter,
  options: {
    httpAuth: HttpAuthService;
    targets: EntityTargets;
    actors: Actors;
    approvals: ApprovalService;
  },
) {
  const { httpAuth, targets, actors, approvals } = options;
  const caller = (req: Request) =>
    httpAuth.credentials(req, { allow: ['user', 'service'] });
  const path =
    '/v1/entities/:kind/:namespace/:name/promotions/:id/approvals' as const;

  const write = async <T>(req: Request, parse: () => T) => {
    const credentials = await caller(req);
    const input = parse();
    const ctx = {
      credentials,
      actor: await actors.of(credentials),
      request: req,
    };
    const entity = await targets.get(
      entityRefOf(
        req.params as { kind: string; namespace: string; name: string },
      ),
      credentials,
    );
    return { ctx, input, entity };
  };

  router.get(path, async (req, res) => {
    const credentials = await caller(req);
    const entity = await targets.get(entityRefOf(req.params), credentials);
    const actor = await actors.of(credentials);
    res.json(
      toView(
        await approvals.view(entity, req.params.id, {
          credentials,
          entityRef: actor.entityRef,
        }),
      ),
    );
  });

  router.post(path, async (req, res) => {
    const { ctx, input, entity } = await write(req, () => parseComment(req));
    res.json(
      toView(await approvals.approve(entity, req.params.id, input, ctx)),
    );
  });

  router.delete(path, async (req, res) => {
    const { ctx, entity } = await write(req, () => undefined);
    res.json(toView(await approvals.withdraw(entity, req.params.id, ctx)));
  });

  router.post(
    '/v1/entities/:kind/:namespace/:name/promotions/:id/rejections',
    async (req, res) => {
      const { ctx, input, entity } = await write(req, () => parseComment(req));
      res.json(
        toView(await approvals.reject(entity, req.params.id, input, ctx)),
      );
    },
  );
}
