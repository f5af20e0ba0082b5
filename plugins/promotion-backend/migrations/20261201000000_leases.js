// @ts-check

/**
 * Locks become leases: each lock names the backend instance working on its promotion and when
 * the lease runs out unless that instance renews it. A lease that ran out while its promotion is
 * still running marks a worker that died; the reconciler claims it and recovers the promotion.
 * Webhook deliveries already acted on are remembered so that a redelivery does nothing twice.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('promotion_locks', table => {
    table
      .string('owner', 64)
      .nullable()
      .comment('Backend instance that holds the lease');
    table
      .timestamp('expires_at', { useTz: true })
      .nullable()
      .comment('When the lease runs out unless renewed');
  });
  // Locks from before leases: treat them as held for the old stale limit from when they were taken.
  const locks = await knex('promotion_locks').select();
  for (const lock of locks) {
    await knex('promotion_locks')
      .where({ entity_ref: lock.entity_ref, environment: lock.environment })
      .update({
        expires_at: new Date(
          new Date(lock.acquired_at).getTime() + 10 * 60 * 1000,
        ),
      });
  }
  await knex.schema.createTable('promotion_webhook_deliveries', table => {
    table.comment(
      'Webhook deliveries already acted on (X-GitHub-Delivery), pruned after a retention period',
    );
    table.string('delivery_id', 128).primary();
    table.string('topic', 64).notNullable();
    table.timestamp('received_at', { useTz: true }).notNullable();
    table.index(['received_at']);
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.dropTable('promotion_webhook_deliveries');
  await knex.schema.alterTable('promotion_locks', table => {
    table.dropColumn('owner');
    table.dropColumn('expires_at');
  });
};
