/**
 * The Mainline promotion backend plugin.
 *
 * @packageDocumentation
 */

export { promotionPlugin as default } from './plugin';
