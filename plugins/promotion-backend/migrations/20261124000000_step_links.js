// @ts-check

/**
 * Steps that finish outside the request: a manifest pull request waiting for review, or a deploy
 * workflow run. `url` is the link a user follows; `pending` is the adapter's opaque reference the
 * follower polls until the step is done.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('promotion_steps', table => {
    table.text('url').nullable().comment('Link to what the step started');
    table
      .text('pending')
      .nullable()
      .comment('Reference of an external completion the step waits for');
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.alterTable('promotion_steps', table => {
    table.dropColumn('url');
    table.dropColumn('pending');
  });
};
