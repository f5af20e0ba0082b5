export * from './ArgoCdTestServer';
export * from './manifestSync';
