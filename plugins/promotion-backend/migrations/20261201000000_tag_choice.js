// @ts-check

/**
 * Whether the promotion chose its release tag itself (the next `rc-*` or `v*`) or was given one:
 * a chosen tag that another commit took meanwhile is chosen again at the tag step, a given one
 * is a conflict.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('promotion_promotions', table => {
    table
      .boolean('tag_automatic')
      .notNullable()
      .defaultTo(false)
      .comment('True when the release tag was chosen by the promotion');
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.alterTable('promotion_promotions', table => {
    table.dropColumn('tag_automatic');
  });
};

// Outside a transaction, so that on SQLite knex can switch foreign keys off while it rebuilds
// promotion_promotions to drop the column: inside one the pragma is ignored, and dropping the
// old table cascaded to promotion_steps, so rolling back deleted every step (migrations.test.ts).
exports.config = { transaction: false };
