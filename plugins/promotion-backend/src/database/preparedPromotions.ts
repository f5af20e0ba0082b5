import crypto from 'node:crypto';
import { Knex } from 'knex';
import { PreparedPromotion } from '@mainline/plugin-promotion-node';

/**
 * Records a finished promotion or rollback a preparation brought (the demo's history) in the
 * ledger, with its own times, as succeeded with every step done. A row with its id already there
 * is left as it is, so a restart records nothing twice.
 */
export async function recordPreparedPromotion(
  knex: Knex,
  promotion: PreparedPromotion,
): Promise<void> {
  const at = new Date(promotion.at);
  const steps =
    promotion.kind === 'promotion'
      ? ['checks', 'tag', 'retag', 'deploy']
      : ['checks', 'deploy'];
  await knex.transaction(async trx => {
    const existing = await trx('promotion_promotions')
      .where({ id: promotion.id })
      .first('id');
    if (existing) return;
    await trx('promotion_promotions').insert({
      id: promotion.id,
      entity_ref: promotion.entityRef,
      kind: promotion.kind,
      environment: promotion.environment,
      sha: promotion.sha,
      tag: promotion.tag,
      tag_automatic: false,
      version: promotion.version,
      status: 'succeeded',
      idempotency_key: null,
      request_hash: crypto
        .createHash('sha256')
        .update(`prepared\n${promotion.id}`)
        .digest('hex'),
      requested_by: promotion.requestedBy,
      error: null,
      created_at: at,
      updated_at: at,
    });
    await trx('promotion_steps').insert(
      steps.map((name, position) => ({
        promotion_id: promotion.id,
        position,
        name,
        status: 'succeeded',
        detail:
          name === 'deploy'
            ? `point ${promotion.environment} at ${promotion.version} (demo history)`
            : 'demo history',
        started_at: at,
        finished_at: at,
      })),
    );
  });
}
