// @ts-check

/**
 * The hand-made audit trail goes: it was written and never read, and every write is audited by
 * Backstage's auditor service instead, with the real actor. Down brings the empty table back.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.dropTable('promotion_audit');
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
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
