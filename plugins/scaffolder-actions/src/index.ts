/**
 * Scaffolder actions of the Mainline release workflow.
 *
 * @packageDocumentation
 */

export { scaffolderModulePromotion as default } from './module';
export { createAnnotationsRenderAction } from './actions/annotationsRender';
export { createWorkflowsRenderAction } from './actions/workflowsRender';
