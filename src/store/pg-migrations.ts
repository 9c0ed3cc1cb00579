// Numbered schema migrations of the PostgreSQL vault store (src/store/postgres.ts). As for
// SQLite (migrations.ts): a migration is never edited once it has shipped; a change of
// schema is a new entry at the end. The runner applies every entry above the database's
// version in one transaction, under an advisory lock, so that several core nodes starting
// together on one database migrate it once.
//
// Unique Identifiers are scoped per tenant from the start: every table that refers to an
// object keys it by (tenant, uid) (issue 16 §2: a uid held by another tenant must look
// exactly like a free one, so two tenants may hold the same uid).
import { DATE_COLUMNS } from './attributes-index.ts';
import type { Migration } from './migrations.ts';

const dateColumns = DATE_COLUMNS.map(([col]) => `  ${col} BIGINT`).join(',\n');

export const PG_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'objects, names, groups, system blobs, key hierarchy',
    sql: `
-- Creation order, assigned by the store from one sequence shared by every node: Locate
-- answers newest first (KMIP 2.1 §6.1.28 leaves the order to the server; PyKMIP expects it).
CREATE SEQUENCE objects_created_seq AS BIGINT;

CREATE TABLE objects (
  tenant TEXT NOT NULL,
  uid TEXT NOT NULL,
  service TEXT NOT NULL,
  object_type INTEGER NOT NULL,
  state INTEGER NOT NULL,
  -- Optimistic concurrency: an update names the revision it read (StoreConflictError otherwise).
  revision INTEGER NOT NULL,
  -- Unique by construction (one sequence). Deliberately no index of its own: one on the
  -- creation order alone lets the planner walk every tenant's newest rows and filter them,
  -- which at a million objects reads them all; every Locate index starts with the tenant.
  created_seq BIGINT NOT NULL,
  -- Binary TTLV of a 2.1 Attributes structure: the source of truth for every attribute.
  attributes BYTEA NOT NULL,
  -- Object value wrapped by the key hierarchy; NULL once destroyed.
  wrapped_value BYTEA,
  -- Columns derived from the attributes (attributes-index.ts), for Locate's prefilter.
  cryptographic_algorithm INTEGER,
  cryptographic_length INTEGER,
${dateColumns},
  PRIMARY KEY (tenant, uid)
);
-- The same Locate indexes as SQLite (migrations.ts), each ending in the creation order so
-- that a page is an index walk with no sort.
CREATE INDEX objects_by_tenant_seq ON objects (tenant, created_seq DESC);
CREATE INDEX objects_by_type_state ON objects (tenant, object_type, state, created_seq DESC);
CREATE INDEX objects_by_state ON objects (tenant, state, created_seq DESC);
CREATE INDEX objects_by_algorithm ON objects (tenant, cryptographic_algorithm, cryptographic_length, created_seq DESC);
CREATE INDEX objects_by_initial_date ON objects (tenant, initial_date);
CREATE INDEX objects_by_activation_date ON objects (tenant, activation_date);

-- Multi-instance attributes: one row per distinct value, with the object's creation order,
-- so an exact Name or Object Group lookup walks its index newest first and stops early.
CREATE TABLE object_names (
  tenant TEXT NOT NULL,
  uid TEXT NOT NULL,
  name TEXT NOT NULL,
  created_seq BIGINT NOT NULL,
  FOREIGN KEY (tenant, uid) REFERENCES objects (tenant, uid) ON DELETE CASCADE
);
CREATE UNIQUE INDEX object_names_by_name ON object_names (tenant, name, created_seq DESC, uid);
CREATE INDEX object_names_by_uid ON object_names (tenant, uid);

CREATE TABLE object_groups (
  tenant TEXT NOT NULL,
  uid TEXT NOT NULL,
  grp TEXT NOT NULL,
  created_seq BIGINT NOT NULL,
  FOREIGN KEY (tenant, uid) REFERENCES objects (tenant, uid) ON DELETE CASCADE
);
CREATE UNIQUE INDEX object_groups_by_group ON object_groups (tenant, grp, created_seq DESC, uid);
CREATE INDEX object_groups_by_uid ON object_groups (tenant, uid);

-- Server-wide wrapped keys (the interim data-encryption key). Only wrapped blobs.
CREATE TABLE system_blobs (
  name TEXT PRIMARY KEY,
  blob BYTEA NOT NULL,
  created_at BIGINT NOT NULL
);

-- The key hierarchy (DESIGN.md §2), as SQLite migration 4: only wrapped blobs; no column or
-- table holds any other copy of an L2, so without the tenant's L1 nothing below it opens.
CREATE TABLE tenants_l1 (
  tenant TEXT PRIMARY KEY,
  provider_ref TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('active', 'disabled')),
  updated_at BIGINT NOT NULL
);
CREATE TABLE l2_keys (
  tenant TEXT NOT NULL,
  version INTEGER NOT NULL CHECK (version > 0),
  wrapped BYTEA NOT NULL,
  created_at BIGINT NOT NULL,
  current BOOLEAN NOT NULL DEFAULT false,
  PRIMARY KEY (tenant, version)
);
CREATE UNIQUE INDEX l2_keys_current ON l2_keys (tenant) WHERE current;
CREATE TABLE l3_keys (
  tenant TEXT NOT NULL,
  service TEXT NOT NULL,
  version INTEGER NOT NULL CHECK (version > 0),
  l2_version INTEGER NOT NULL,
  wrapped BYTEA NOT NULL,
  created_at BIGINT NOT NULL,
  current BOOLEAN NOT NULL DEFAULT false,
  PRIMARY KEY (tenant, service, version)
);
CREATE UNIQUE INDEX l3_keys_current ON l3_keys (tenant, service) WHERE current;
`,
  },
  {
    version: 2,
    name: 'drop the object indexes no query uses (issue 12 §1: durable Creates)',
    // As SQLite migration 14: no statement of the store filters or orders by these, and each
    // costs every Create an index entry (test/store/postgres.test.ts "every index is used").
    sql: `
DROP INDEX IF EXISTS objects_by_tenant_seq;
DROP INDEX IF EXISTS objects_by_initial_date;
DROP INDEX IF EXISTS objects_by_activation_date;
`,
  },
];

export const PG_LATEST_SCHEMA_VERSION = PG_MIGRATIONS[PG_MIGRATIONS.length - 1]!.version;
