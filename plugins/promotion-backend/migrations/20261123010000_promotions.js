// @ts-check

/**
 * Promotions and rollbacks with their steps, the per-environment lock that makes one promotion
 * at a time a database guarantee (it holds across replicas), and the append-only audit trail.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('promotion_promotions', table => {
    table.comment('Promotions and rollbacks of an entity to an environment');
    table.string('id', 36).primary();
    table.string('entity_ref', 255).notNullable();
    table.string('kind', 16).notNullable().comment('promotion or rollback');
    table.string('environment', 64).notNullable();
    table.string('sha', 64).notNullable();
    table.string('tag', 128).nullable();
    table
      .string('version', 128)
      .notNullable()
      .comment('What the environment pins');
    table
      .string('status', 16)
      .notNullable()
      .comment('running, succeeded or failed');
    table.string('idempotency_key', 255).nullable();
    table.string('request_hash', 64).notNullable();
    table.string('requested_by', 255).notNullable();
    table.text('error').nullable();
    table.timestamp('created_at', { useTz: true }).notNullable();
    table.timestamp('updated_at', { useTz: true }).notNullable();
    table.unique(['entity_ref', 'idempotency_key']);
    table.index(['entity_ref', 'created_at']);
  });
  await knex.schema.createTable('promotion_steps', table => {
    table.comment('Steps of a promotion, in order');
    table
      .string('promotion_id', 36)
      .notNullable()
      .references('id')
      .inTable('promotion_promotions')
      .onDelete('CASCADE');
    table.integer('position').notNullable();
    table.string('name', 32).notNullable();
    table
      .string('status', 16)
      .notNullable()
      .comment('pending, running, succeeded, failed');
    table.text('detail').nullable();
    table.timestamp('started_at', { useTz: true }).nullable();
    table.timestamp('finished_at', { useTz: true }).nullable();
    table.primary(['promotion_id', 'position']);
  });
  await knex.schema.createTable('promotion_locks', table => {
    table.comment('At most one running promotion per entity and environment');
    table.string('entity_ref', 255).notNullable();
    table.string('environment', 64).notNullable();
    table.string('promotion_id', 36).notNullable();
    table.timestamp('acquired_at', { useTz: true }).notNullable();
    table.primary(['entity_ref', 'environment']);
  });
  await knex.schema.createTable('promotion_audit', table => {
    table.comment('Append-only trail of every write and refused write');
    table.bigIncrements('id').primary();
    table.timestamp('at', { useTz: true }).notNullable();
    table.string('actor', 255).notNullable();
    table.string('action', 32).notNullable();
    table.string('entity_ref', 255).notNullable();
    table.string('environment', 64).nullable();
    table.string('sha', 64).nullable();
    table.string('tag', 128).nullable();
    table
      .string('outcome', 16)
      .notNullable()
      .comment('succeeded, failed or refused');
    table.text('detail').nullable();
    table.string('promotion_id', 36).nullable();
    table.index(['entity_ref', 'at']);
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.dropTable('promotion_audit');
  await knex.schema.dropTable('promotion_locks');
  await knex.schema.dropTable('promotion_steps');
  await knex.schema.dropTable('promotion_promotions');
};
