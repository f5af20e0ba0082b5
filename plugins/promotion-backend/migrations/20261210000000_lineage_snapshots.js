// @ts-check

/**
 * The last lineage read of each service (per branch and page size), kept so that the release
 * board of a replica that just started, or of services whose cached lineage expired, is served
 * at once from here, marked with its age, while the background warmer reads it afresh within
 * GitHub's rate budget.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('promotion_lineage_snapshots', table => {
    table.string('entity_ref', 255).notNullable();
    table.string('branch', 255).notNullable();
    table.integer('page_limit').notNullable();
    table
      .string('generation', 64)
      .notNullable()
      .comment('the cache generation the lineage was read under');
    table.text('lineage').notNullable().comment('the lineage as JSON');
    table.timestamp('taken_at', { useTz: true }).notNullable();
    table.primary(['entity_ref', 'branch', 'page_limit']);
    table.index(['taken_at'], 'promotion_lineage_snapshots_taken_at_idx');
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.dropTable('promotion_lineage_snapshots');
};
