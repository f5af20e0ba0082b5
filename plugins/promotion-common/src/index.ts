/**
 * Types, permissions, catalog annotations and release-tag rules shared by the Mainline promotion
 * frontend and backend.
 *
 * @packageDocumentation
 */

export * from './annotations';
export * from './api';
export * from './deployRuns';
export * from './environments';
export * from './permissions';
export * from './releaseTags';
