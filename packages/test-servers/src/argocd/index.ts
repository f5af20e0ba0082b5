export * from './ArgoCdTestServer';
