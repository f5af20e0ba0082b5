// @ts-check

/**
 * Release tags people push in GitHub: one row per repository and tag, inserted by whichever path
 * (webhook or reconcile pass, on any replica) sees the tag first, so a pushed tag becomes at most
 * one promotion. A repository's first reconcile pass records the tags it already has as
 * `existing` (history, not pushes to act on) in `promotion_tag_baselines`.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('promotion_pushed_tags', table => {
    table.string('repo', 255).notNullable();
    table.string('tag', 255).notNullable();
    table.string('sha', 40).nullable();
    table
      .string('source', 16)
      .notNullable()
      .comment('webhook, reconcile or baseline');
    table
      .string('outcome', 16)
      .notNullable()
      .comment('claimed, promoted, refused, mainline, existing, ignored');
    table.text('detail').nullable();
    table.timestamp('received_at', { useTz: true }).notNullable();
    table.primary(['repo', 'tag']);
  });
  await knex.schema.createTable('promotion_tag_baselines', table => {
    table.string('repo', 255).notNullable().primary();
    table.timestamp('at', { useTz: true }).notNullable();
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.dropTable('promotion_tag_baselines');
  await knex.schema.dropTable('promotion_pushed_tags');
};
