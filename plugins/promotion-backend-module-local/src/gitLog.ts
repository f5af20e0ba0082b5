/*
 * How the local source control reads `git log`: field and record separators that never occur in
 * commit text, and the format of one commit record. Internal to this module.
 */

/** Field separator for `git log --format`. */
export const FIELD = '\x1f';
/** Record separator for `git log --format`. */
export const RECORD = '\x1e';
/** The `git log --format` of one commit record, fields separated by `FIELD`. */
export const COMMIT_FORMAT = ['%H', '%P', '%an', '%ae', '%cI', '%s', '%b']
  .join('%x1f')
  .concat('%x1e');
