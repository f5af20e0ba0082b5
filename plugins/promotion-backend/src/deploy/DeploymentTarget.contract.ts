// Moved to @mainline/plugin-promotion-node/testUtils; kept so that imports of this path still compile.
export * from '@mainline/plugin-promotion-node/testUtils';
