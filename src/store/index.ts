export * from './types.ts';
export { openSqliteStore, SqliteStore, BUSY_TIMEOUT_MS, SCAN_PAGE_SIZE, FIRST_PAGE_SIZE } from './sqlite.ts';
export { openPostgresStore, PostgresStore, StoreConnectionError, PG_POOL_MAX, GROUP_COMMIT_MAX_BATCH, type HierarchyChange, type PostgresStoreOptions } from './postgres.ts';
export { MIGRATIONS, LATEST_SCHEMA_VERSION, type Migration } from './migrations.ts';
export { PG_MIGRATIONS, PG_LATEST_SCHEMA_VERSION } from './pg-migrations.ts';
export { deriveIndexColumns, type IndexColumns } from './attributes-index.ts';
