// @ts-check

/**
 * Automatic rollbacks (`promotion.environments[].verify.rollback`): a rollback the engine started
 * because a promotion's verify step failed names that promotion (`rollback_of`) and who asked
 * for the promotion (`on_behalf_of`; the rollback itself is requested by the plugin). The unique
 * index makes the decision once: a failed promotion has at most one automatic rollback, whichever
 * replica or restarted process decides it.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('promotion_promotions', table => {
    table
      .string('rollback_of', 36)
      .nullable()
      .comment(
        'The promotion whose failed verification this rollback restores from',
      );
    table
      .string('on_behalf_of', 255)
      .nullable()
      .comment(
        'Who requested the promotion an automatic rollback restores from',
      );
    table.unique(['rollback_of'], {
      indexName: 'promotion_promotions_rollback_of_uniq',
    });
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.alterTable('promotion_promotions', table => {
    table.dropUnique(['rollback_of'], 'promotion_promotions_rollback_of_uniq');
    table.dropColumn('rollback_of');
    table.dropColumn('on_behalf_of');
  });
};

// Outside a transaction, so that on SQLite knex can switch foreign keys off while it rebuilds
// promotion_promotions to drop the columns (see 20261201000000_tag_choice.js).
exports.config = { transaction: false };
