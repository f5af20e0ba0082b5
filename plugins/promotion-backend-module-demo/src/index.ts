/**
 * Demo data for the embedded default of the Mainline promotion backend: a development-only module.
 *
 * @packageDocumentation
 */

export { promotionModuleDemo as default } from './module';
export * from './module';
export {
  DEMO_VERSION,
  generateDemoData,
  type DemoManifest,
  type DemoYank,
  type DemoPromotion,
} from './generateDemoData';
