/**
 * Scaffolder actions of the Mainline release workflow: the backend module registers all of them;
 * each factory is exported for an installation that registers its own selection.
 *
 * @packageDocumentation
 */

export { scaffolderModulePromotion as default } from './module';
export * from './actions';
