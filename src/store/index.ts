export * from './types.ts';
export { openSqliteStore, SqliteStore, StoreSchemaError, BUSY_TIMEOUT_MS, SCAN_PAGE_SIZE, FIRST_PAGE_SIZE } from './sqlite.ts';
export { MIGRATIONS, LATEST_SCHEMA_VERSION, type Migration } from './migrations.ts';
export { deriveIndexColumns, type IndexColumns } from './attributes-index.ts';
