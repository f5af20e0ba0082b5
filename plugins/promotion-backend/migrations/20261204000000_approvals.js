// @ts-check

/**
 * Approvals: a promotion to an environment whose policy asks for approvals is recorded in the
 * status `awaiting-approval` (the status column grows to hold it) with what it needs beside it:
 * how many approvals, the owner groups, and the authors that may not approve
 * (`approval_context`, JSON). Each user's decision on it is one row of `promotion_approvals`
 * (approved or rejected; a withdrawal deletes it), so the count survives restarts and replicas
 * agree on it. Down ends every promotion still awaiting approval as failed (nothing upstream was
 * changed for them) and drops the rest.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  if (!String(knex.client.config.client).includes('sqlite')) {
    // SQLite does not enforce a varchar's length; the others do.
    await knex.schema.alterTable('promotion_promotions', table => {
      table
        .string('status', 32)
        .notNullable()
        .comment('awaiting-approval, running, succeeded or failed')
        .alter();
    });
  }
  await knex.schema.alterTable('promotion_promotions', table => {
    table
      .integer('required_approvals')
      .nullable()
      .comment('Approvals the promotion needs before it proceeds (null: none)');
    table
      .text('approval_context')
      .nullable()
      .comment(
        'JSON: the owner groups and the authors, as the checks found them',
      );
  });
  await knex.schema.createTable('promotion_approvals', table => {
    table.comment('Each user’s decision on a promotion awaiting approvals');
    table
      .string('promotion_id', 36)
      .notNullable()
      .references('id')
      .inTable('promotion_promotions')
      .onDelete('CASCADE');
    table.string('approver', 255).notNullable();
    table.string('decision', 16).notNullable().comment('approved or rejected');
    table.text('comment').nullable();
    table.timestamp('decided_at', { useTz: true }).notNullable();
    table.primary(['promotion_id', 'approver']);
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.dropTable('promotion_approvals');
  await knex('promotion_promotions')
    .where({ status: 'awaiting-approval' })
    .update({ status: 'failed', error: 'approvals were removed' });
  await knex.schema.alterTable('promotion_promotions', table => {
    table.dropColumn('required_approvals');
    table.dropColumn('approval_context');
  });
  if (!String(knex.client.config.client).includes('sqlite')) {
    await knex.schema.alterTable('promotion_promotions', table => {
      table
        .string('status', 16)
        .notNullable()
        .comment('running, succeeded or failed')
        .alter();
    });
  }
};

// Outside a transaction, so that on SQLite knex can switch foreign keys off while it rebuilds
// promotion_promotions to drop the columns (see 20261201000000_tag_choice.js).
exports.config = { transaction: false };
