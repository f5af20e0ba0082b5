// Integration tests here start real servers, git and backends; on a busy two-core machine the
// default five seconds fail them for no fault of their own. (Jest reads `testTimeout` only from
// the root config when the repository runs every package as a project, so it is set here.)
jest.setTimeout(120_000);
