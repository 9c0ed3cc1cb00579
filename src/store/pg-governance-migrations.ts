// Numbered schema migrations of the CMK's governance on PostgreSQL (src/store/pg-governance.ts;
// issue 10 §4: "the CMK can run on SQLite or PostgreSQL"). Their version table is
// governance_schema_migrations, not the vault's schema_migrations (pg-migrations.ts): a CMK
// database and a regional vault are different databases with different numbers, and neither
// can be taken for the other. As everywhere, a migration is never edited once shipped.
//
// Version 1 is the PostgreSQL form of SQLite migrations 5, 7, 8, 9 and 10 (migrations.ts)
// as they stand: the same tables, columns and constraints, so that one GovernanceStore row
// shape (governance.ts) reads both. When a SQLite governance migration is added, mirror it
// here as the next version (test/governance/pg-mirror.test.ts compares the two schemas).
//
// The CMK's audit trail lives in the same database; its tables are the audit module's own
// (src/audit/pg-chain.ts ensurePgAuditSchema creates and versions them), as in SQLite.
import type { Migration } from './migrations.ts';

/** Tables whose every change bumps gov_meta 'generation' (SQLite: the *_generation triggers). */
const GENERATION_TABLES = ['gov_tenants', 'gov_services', 'gov_roles', 'gov_identities', 'gov_grants', 'gov_l1_pointers', 'gov_tenant_regions', 'gov_rotations', 'gov_core_identities'];

export const PG_GOVERNANCE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'governance: tenants, regions, services, roles, identities, grants, L1 pointers, change log, rotations, core identities, link bookkeeping',
    sql: `
CREATE TABLE gov_tenants (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('active', 'sealed', 'killed')),
  created_at TEXT NOT NULL
);
CREATE TABLE gov_services (
  tenant TEXT NOT NULL REFERENCES gov_tenants (id),
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (tenant, id)
);
-- JSON arrays of names (as SQLite); NULL object_types/object_groups = no limit.
CREATE TABLE gov_roles (
  name TEXT PRIMARY KEY,
  operations TEXT NOT NULL,
  object_types TEXT,
  object_groups TEXT,
  created_at TEXT NOT NULL
);
CREATE TABLE gov_identities (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  service TEXT NOT NULL,
  role TEXT NOT NULL,
  match_kind TEXT NOT NULL CHECK (match_kind IN ('fingerprint', 'subject', 'san-uri')),
  match_value TEXT NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),
  cert_serial TEXT,
  created_at TEXT NOT NULL,
  -- Gateway identities (SQLite migration 10): the other services it acts for, JSON; NULL none.
  also_services TEXT,
  FOREIGN KEY (tenant, service) REFERENCES gov_services (tenant, id)
);
CREATE INDEX gov_identities_by_match ON gov_identities (match_kind, match_value);
CREATE INDEX gov_identities_by_serial ON gov_identities (cert_serial);
CREATE TABLE gov_grants (
  tenant TEXT NOT NULL,
  from_service TEXT NOT NULL,
  to_service TEXT NOT NULL,
  operations TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (tenant, from_service, to_service),
  FOREIGN KEY (tenant, from_service) REFERENCES gov_services (tenant, id),
  FOREIGN KEY (tenant, to_service) REFERENCES gov_services (tenant, id)
);
-- The provider list of SQLite migration 9.
CREATE TABLE gov_l1_pointers (
  tenant TEXT PRIMARY KEY REFERENCES gov_tenants (id),
  provider TEXT NOT NULL CHECK (provider IN ('software', 'pkcs11', 'aws-kms', 'kmip', 'vault-transit', 'azure-keyvault', 'gcp-kms')),
  config TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('active', 'removed')),
  updated_at TEXT NOT NULL
);
-- generation: bumped by every change of the tables above (trigger below); initialised: 0
-- until the first tenant or identity; change_seq: the change log's last seq. The row of
-- change_seq is also the lock every mutation takes first (pg-governance.ts): mutations are
-- serialised as SQLite's single writer serialises them, so the change log's order is the
-- commit order and a check-then-insert cannot race another admin request.
CREATE TABLE gov_meta (
  key TEXT PRIMARY KEY,
  value BIGINT NOT NULL
);
INSERT INTO gov_meta (key, value) VALUES ('generation', 0), ('initialised', 0), ('change_seq', 0);

CREATE TABLE gov_tenant_regions (
  tenant TEXT NOT NULL REFERENCES gov_tenants (id),
  region TEXT NOT NULL,
  PRIMARY KEY (tenant, region)
);
CREATE INDEX gov_tenant_regions_by_region ON gov_tenant_regions (region, tenant);
CREATE TABLE gov_changes (
  seq BIGINT PRIMARY KEY,
  at TEXT NOT NULL,
  tenant TEXT,
  body TEXT NOT NULL
);
CREATE INDEX gov_changes_by_tenant ON gov_changes (tenant, seq);
CREATE TABLE gov_rotations (
  tenant TEXT NOT NULL,
  service TEXT NOT NULL,
  min_version INTEGER NOT NULL CHECK (min_version > 1),
  updated_at TEXT NOT NULL,
  PRIMARY KEY (tenant, service),
  FOREIGN KEY (tenant, service) REFERENCES gov_services (tenant, id)
);
CREATE TABLE gov_core_identities (
  id TEXT PRIMARY KEY,
  region TEXT NOT NULL,
  node TEXT NOT NULL,
  fingerprint TEXT NOT NULL UNIQUE,
  cert_serial TEXT,
  revoked INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),
  created_at TEXT NOT NULL
);
CREATE INDEX gov_core_identities_by_serial ON gov_core_identities (cert_serial);
CREATE TABLE link_node_status (
  node TEXT PRIMARY KEY,
  region TEXT NOT NULL,
  status TEXT NOT NULL,
  received_at TEXT NOT NULL
);
CREATE TABLE link_audit_cursors (
  node TEXT PRIMARY KEY,
  region TEXT NOT NULL,
  accepted_through BIGINT NOT NULL,
  updated_at TEXT NOT NULL
);

-- One statement-level trigger per table (SQLite has row triggers; a statement that changes
-- several rows bumps once here, which is all a cache needs: "it changed").
CREATE FUNCTION gov_bump_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN UPDATE gov_meta SET value = value + 1 WHERE key = 'generation'; RETURN NULL; END $$;
${GENERATION_TABLES.map((t) => `CREATE TRIGGER ${t}_generation AFTER INSERT OR UPDATE OR DELETE ON ${t} FOR EACH STATEMENT EXECUTE FUNCTION gov_bump_generation();`).join('\n')}
`,
  },
  {
    version: 2,
    name: 'L2 rotation requests published to the cores (SQLite migration 11)',
    sql: `
CREATE TABLE gov_l2_rotations (
  tenant TEXT PRIMARY KEY REFERENCES gov_tenants (id),
  generation INTEGER NOT NULL CHECK (generation > 0),
  updated_at TEXT NOT NULL
);
CREATE TRIGGER gov_l2_rotations_generation AFTER INSERT OR UPDATE OR DELETE ON gov_l2_rotations FOR EACH STATEMENT EXECUTE FUNCTION gov_bump_generation();
`,
  },
  {
    version: 3,
    name: 'per-tenant Name policy: unique or duplicates-allowed (SQLite migration 12)',
    sql: `
ALTER TABLE gov_tenants ADD COLUMN names TEXT NOT NULL DEFAULT 'unique' CHECK (names IN ('unique', 'duplicates-allowed'));
`,
  },
];

export const PG_GOVERNANCE_LATEST_VERSION = PG_GOVERNANCE_MIGRATIONS[PG_GOVERNANCE_MIGRATIONS.length - 1]!.version;
