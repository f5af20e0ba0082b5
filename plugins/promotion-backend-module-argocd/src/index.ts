/**
 * The Argo CD runtime observer of the Mainline promotion backend.
 *
 * @packageDocumentation
 */

export { promotionModuleArgoCd as default } from './module';
export * from './module';
export * from './ArgoCdRuntimeObserver';
export * from './config';
export * from './notifications';
