// @ts-check

/**
 * Tombstones of yanked commits: the artifacts are gone from the registry, this row keeps who
 * yanked the commit, when and why, so the lineage can show it and promotions can refuse it.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('promotion_yanks', table => {
    table.comment(
      'Commits whose artifacts were deleted so they can never be promoted',
    );
    table
      .string('entity_ref', 255)
      .notNullable()
      .comment('Catalog entity the commit belongs to');
    table.string('sha', 64).notNullable().comment('Full commit sha');
    table
      .string('yanked_by', 255)
      .notNullable()
      .comment('User entity ref of who yanked it');
    table.text('reason').notNullable();
    table.timestamp('yanked_at', { useTz: true }).notNullable();
    table.primary(['entity_ref', 'sha']);
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.dropTable('promotion_yanks');
};
