// Numbered schema migrations of the SQLite store. A migration is never edited once it has
// shipped: a change of schema is a new entry at the end. The runner in sqlite.ts applies
// every entry whose number is above the database's, in one transaction, at open.
import { DATE_COLUMNS } from './attributes-index.ts';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

const dateColumns = DATE_COLUMNS.map(([col]) => `  ${col} INTEGER`).join(',\n');
/** Every column of the objects table since migration 1 (migration 6 copies them). */
const objectColumns = [
  'tenant', 'uid', 'service', 'object_type', 'state', 'revision', 'created_seq', 'attributes', 'wrapped_value',
  'cryptographic_algorithm', 'cryptographic_length', ...DATE_COLUMNS.map(([col]) => col),
].join(', ');

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'objects, names, groups',
    sql: `
CREATE TABLE objects (
  uid TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  service TEXT NOT NULL,
  object_type INTEGER NOT NULL,
  state INTEGER NOT NULL,
  revision INTEGER NOT NULL,
  -- Creation order, assigned by the store; Locate answers newest first (KMIP 2.1 §6.1.28
  -- leaves the order to the server, clients such as PyKMIP expect the newest first).
  created_seq INTEGER NOT NULL UNIQUE,
  -- Binary TTLV of a 2.1 Attributes structure: the source of truth for every attribute.
  attributes BLOB NOT NULL,
  -- Object value wrapped by the key hierarchy; NULL once destroyed.
  wrapped_value BLOB,
  -- Columns derived from the attributes (attributes-index.ts), for Locate's prefilter.
  cryptographic_algorithm INTEGER,
  cryptographic_length INTEGER,
${dateColumns}
);
CREATE INDEX objects_by_tenant_seq ON objects (tenant, created_seq DESC);
CREATE INDEX objects_by_type_state ON objects (tenant, object_type, state, created_seq DESC);
CREATE INDEX objects_by_state ON objects (tenant, state, created_seq DESC);
CREATE INDEX objects_by_algorithm ON objects (tenant, cryptographic_algorithm, cryptographic_length, created_seq DESC);
CREATE INDEX objects_by_initial_date ON objects (tenant, initial_date);
CREATE INDEX objects_by_activation_date ON objects (tenant, activation_date);

-- Multi-instance attributes get one row per instance so that an exact lookup is an index probe.
CREATE TABLE object_names (
  uid TEXT NOT NULL REFERENCES objects (uid) ON DELETE CASCADE,
  tenant TEXT NOT NULL,
  name TEXT NOT NULL
);
CREATE INDEX object_names_by_name ON object_names (tenant, name, uid);
CREATE INDEX object_names_by_uid ON object_names (uid);

CREATE TABLE object_groups (
  uid TEXT NOT NULL REFERENCES objects (uid) ON DELETE CASCADE,
  tenant TEXT NOT NULL,
  grp TEXT NOT NULL
);
CREATE INDEX object_groups_by_group ON object_groups (tenant, grp, uid);
CREATE INDEX object_groups_by_uid ON object_groups (uid);
`,
  },
  {
    version: 2,
    name: 'system blobs',
    sql: `
-- Server-wide wrapped keys (the interim data-encryption key today, hierarchy material later).
-- Only wrapped blobs go here, never plaintext.
CREATE TABLE system_blobs (
  name TEXT PRIMARY KEY,
  blob BLOB NOT NULL,
  created_at INTEGER NOT NULL
);
`,
  },
  {
    version: 3,
    name: 'creation order in name and group lookups',
    sql: `
-- With the object's created_seq beside each name/group row, Locate by Name or Object Group
-- walks the lookup index already newest first and stops after MaximumItems, instead of
-- collecting and sorting every member of a large group for each page.
ALTER TABLE object_names ADD COLUMN created_seq INTEGER NOT NULL DEFAULT 0;
UPDATE object_names SET created_seq = (SELECT o.created_seq FROM objects o WHERE o.uid = object_names.uid);
DELETE FROM object_names WHERE rowid NOT IN (SELECT MIN(rowid) FROM object_names GROUP BY uid, name);
DROP INDEX object_names_by_name;
CREATE UNIQUE INDEX object_names_by_name ON object_names (tenant, name, created_seq DESC, uid);

ALTER TABLE object_groups ADD COLUMN created_seq INTEGER NOT NULL DEFAULT 0;
UPDATE object_groups SET created_seq = (SELECT o.created_seq FROM objects o WHERE o.uid = object_groups.uid);
DELETE FROM object_groups WHERE rowid NOT IN (SELECT MIN(rowid) FROM object_groups GROUP BY uid, grp);
DROP INDEX object_groups_by_group;
CREATE UNIQUE INDEX object_groups_by_group ON object_groups (tenant, grp, created_seq DESC, uid);
`,
  },
  {
    version: 4,
    name: 'key hierarchy: tenant L1 pointers, L2 and L3 keys',
    sql: `
-- The key hierarchy (DESIGN.md §2). Only wrapped blobs are stored: an L2 wrapped by the
-- tenant's L1 (outside OpenKCM), an L3 wrapped by an L2. There is deliberately no column or
-- table holding any other copy of an L2: without the tenant's L1, nothing below it opens.

-- The tenant's L1 pointer: a description of the provider and key (JSON, never a secret) and
-- its state. 'disabled' is the kill switch: the tenant stays sealed until re-enabled.
CREATE TABLE tenants_l1 (
  tenant TEXT PRIMARY KEY,
  provider_ref TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('active', 'disabled')),
  updated_at INTEGER NOT NULL
);

-- One current L2 per tenant. Rotation re-wraps every L3 under the new L2 and removes the
-- old L2 in the same transaction, so normally one row per tenant remains.
CREATE TABLE l2_keys (
  tenant TEXT NOT NULL,
  version INTEGER NOT NULL CHECK (version > 0),
  wrapped BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  current INTEGER NOT NULL DEFAULT 0 CHECK (current IN (0, 1)),
  PRIMARY KEY (tenant, version)
);
CREATE UNIQUE INDEX l2_keys_current ON l2_keys (tenant) WHERE current = 1;

-- L3 per (tenant, service), versioned: the current version wraps, every kept version unwraps.
CREATE TABLE l3_keys (
  tenant TEXT NOT NULL,
  service TEXT NOT NULL,
  version INTEGER NOT NULL CHECK (version > 0),
  l2_version INTEGER NOT NULL,
  wrapped BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  current INTEGER NOT NULL DEFAULT 0 CHECK (current IN (0, 1)),
  PRIMARY KEY (tenant, service, version)
);
CREATE UNIQUE INDEX l3_keys_current ON l3_keys (tenant, service) WHERE current = 1;
`,
  },
  {
    version: 5,
    name: 'governance: tenants, services, roles, identities, grants, L1 pointers',
    sql: `
-- CMK's governance data (DESIGN.md §3, issue 7 "Model"); read and written by
-- src/store/governance.ts. Built-in roles are code (src/policy/roles.ts), not rows: only
-- roles created by an operator are stored here.
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
CREATE TABLE gov_roles (
  name TEXT PRIMARY KEY,
  -- JSON arrays of names; NULL object_types/object_groups = no limit.
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
  FOREIGN KEY (tenant, service) REFERENCES gov_services (tenant, id)
);
CREATE INDEX gov_identities_by_match ON gov_identities (match_kind, match_value);
CREATE INDEX gov_identities_by_serial ON gov_identities (cert_serial);
-- fromService lets toService run \`operations\` on fromService's objects.
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
-- The pointer to the tenant's L1 as CMK knows it: provider and references (JSON), never a secret.
CREATE TABLE gov_l1_pointers (
  tenant TEXT PRIMARY KEY REFERENCES gov_tenants (id),
  provider TEXT NOT NULL CHECK (provider IN ('software', 'pkcs11', 'aws-kms')),
  config TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('active', 'removed')),
  updated_at TEXT NOT NULL
);
-- generation: bumped by every change (triggers below), so a server caching the governance
-- data re-reads it when another process (kmipctl, a second node) changed it.
-- initialised: 0 until the first tenant or identity is created; never reset, so deleting
-- every identity later denies everyone instead of falling back to bootstrap mode.
CREATE TABLE gov_meta (
  key TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
INSERT INTO gov_meta (key, value) VALUES ('generation', 0), ('initialised', 0);
${['gov_tenants', 'gov_services', 'gov_roles', 'gov_identities', 'gov_grants', 'gov_l1_pointers'].flatMap((t) => ['INSERT', 'UPDATE', 'DELETE'].map((ev) => `CREATE TRIGGER ${t}_${ev.toLowerCase()}_generation AFTER ${ev} ON ${t}
BEGIN UPDATE gov_meta SET value = value + 1 WHERE key = 'generation'; END;`)).join('\n')}
`,
  },
  {
    version: 6,
    name: 'unique identifiers scoped per tenant',
    sql: `
-- A Unique Identifier names an object within its tenant, not across the server (issue 16):
-- with uid alone as the key, Import of another tenant's identifier answered "exists" where
-- an unused one succeeded (an existence oracle, DESIGN.md §3), and one tenant could claim
-- identifiers another wanted to import. Every table keyed by uid is keyed by (tenant, uid).
-- SQLite cannot change a primary key in place: the tables are rebuilt and the rows copied.
-- The lookup tables are dropped before objects, so no ON DELETE CASCADE fires, and the
-- RENAMEs rewrite the foreign keys of the new lookup tables to point at objects.
CREATE TABLE objects_v6 (
  tenant TEXT NOT NULL,
  uid TEXT NOT NULL,
  service TEXT NOT NULL,
  object_type INTEGER NOT NULL,
  state INTEGER NOT NULL,
  revision INTEGER NOT NULL,
  created_seq INTEGER NOT NULL UNIQUE,
  attributes BLOB NOT NULL,
  wrapped_value BLOB,
  cryptographic_algorithm INTEGER,
  cryptographic_length INTEGER,
${dateColumns},
  PRIMARY KEY (tenant, uid)
);
INSERT INTO objects_v6 (${objectColumns}) SELECT ${objectColumns} FROM objects;

CREATE TABLE object_names_v6 (
  tenant TEXT NOT NULL,
  uid TEXT NOT NULL,
  name TEXT NOT NULL,
  created_seq INTEGER NOT NULL,
  FOREIGN KEY (tenant, uid) REFERENCES objects_v6 (tenant, uid) ON DELETE CASCADE
);
INSERT INTO object_names_v6 (tenant, uid, name, created_seq) SELECT tenant, uid, name, created_seq FROM object_names;

CREATE TABLE object_groups_v6 (
  tenant TEXT NOT NULL,
  uid TEXT NOT NULL,
  grp TEXT NOT NULL,
  created_seq INTEGER NOT NULL,
  FOREIGN KEY (tenant, uid) REFERENCES objects_v6 (tenant, uid) ON DELETE CASCADE
);
INSERT INTO object_groups_v6 (tenant, uid, grp, created_seq) SELECT tenant, uid, grp, created_seq FROM object_groups;

DROP TABLE object_names;
DROP TABLE object_groups;
DROP TABLE objects;
ALTER TABLE objects_v6 RENAME TO objects;
ALTER TABLE object_names_v6 RENAME TO object_names;
ALTER TABLE object_groups_v6 RENAME TO object_groups;

CREATE INDEX objects_by_tenant_seq ON objects (tenant, created_seq DESC);
CREATE INDEX objects_by_type_state ON objects (tenant, object_type, state, created_seq DESC);
CREATE INDEX objects_by_state ON objects (tenant, state, created_seq DESC);
CREATE INDEX objects_by_algorithm ON objects (tenant, cryptographic_algorithm, cryptographic_length, created_seq DESC);
CREATE INDEX objects_by_initial_date ON objects (tenant, initial_date);
CREATE INDEX objects_by_activation_date ON objects (tenant, activation_date);
CREATE UNIQUE INDEX object_names_by_name ON object_names (tenant, name, created_seq DESC, uid);
CREATE INDEX object_names_by_uid ON object_names (tenant, uid);
CREATE UNIQUE INDEX object_groups_by_group ON object_groups (tenant, grp, created_seq DESC, uid);
CREATE INDEX object_groups_by_uid ON object_groups (tenant, uid);
`,
  },
  {
    version: 7,
    name: 'split planes: tenant regions, governance change log, core identities, link bookkeeping',
    sql: `
-- Issue 10 (split planes). A tenant is pinned to zero or more regions: the cores of a region
-- serve it and receive its governance data; a tenant without a region is served only by the
-- all-in-one server (openkcm serve), as before.
CREATE TABLE gov_tenant_regions (
  tenant TEXT NOT NULL REFERENCES gov_tenants (id),
  region TEXT NOT NULL,
  PRIMARY KEY (tenant, region)
);
CREATE INDEX gov_tenant_regions_by_region ON gov_tenant_regions (region, tenant);

-- The change log the CMK streams to its cores (src/link/protocol.ts LinkChange): one row per
-- governance mutation, written in the same transaction as the mutation itself. seq comes
-- from gov_meta 'change_seq' so that it never goes back, even once old rows are pruned.
-- tenant: the tenant the change concerns (NULL for roles, which every region receives).
CREATE TABLE gov_changes (
  seq INTEGER PRIMARY KEY,
  at TEXT NOT NULL,
  tenant TEXT,
  body TEXT NOT NULL
);
CREATE INDEX gov_changes_by_tenant ON gov_changes (tenant, seq);
INSERT INTO gov_meta (key, value) VALUES ('change_seq', 0);

-- \`kmipctl service rotate\` on a CMK: the L3 version every core must reach (the CMK holds no
-- L3 and cannot rotate one itself; the cores do it when the change reaches them).
CREATE TABLE gov_rotations (
  tenant TEXT NOT NULL,
  service TEXT NOT NULL,
  min_version INTEGER NOT NULL CHECK (min_version > 1),
  updated_at TEXT NOT NULL,
  PRIMARY KEY (tenant, service),
  FOREIGN KEY (tenant, service) REFERENCES gov_services (tenant, id)
);

-- Certificates of role core (kmipctl cert issue --role core --region R): a core node of one
-- region. Not a KMIP identity (no tenant, no service): it reaches the link routes only.
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

-- The last status each core node reported (POST /v1/link/status), JSON as received.
CREATE TABLE link_node_status (
  node TEXT PRIMARY KEY,
  region TEXT NOT NULL,
  status TEXT NOT NULL,
  received_at TEXT NOT NULL
);

-- Audit records shipped by core nodes (POST /v1/link/audit): the last nodeSeq of each node
-- that is in the CMK's audit trail, updated in the transaction that appends the records,
-- so a batch sent twice is stored once.
CREATE TABLE link_audit_cursors (
  node TEXT PRIMARY KEY,
  region TEXT NOT NULL,
  accepted_through INTEGER NOT NULL,
  updated_at TEXT NOT NULL
);
${['gov_tenant_regions', 'gov_rotations', 'gov_core_identities'].flatMap((t) => ['INSERT', 'UPDATE', 'DELETE'].map((ev) => `CREATE TRIGGER ${t}_${ev.toLowerCase()}_generation AFTER ${ev} ON ${t}
BEGIN UPDATE gov_meta SET value = value + 1 WHERE key = 'generation'; END;`)).join('\n')}
`,
  },
  {
    version: 8,
    name: 'L1 pointers: kmip and vault-transit providers (issue 15)',
    // SQLite cannot alter a CHECK constraint: the table is rebuilt with the wider list and
    // its generation triggers recreated (they are dropped with the old table).
    sql: `
CREATE TABLE gov_l1_pointers_v8 (
  tenant TEXT PRIMARY KEY REFERENCES gov_tenants (id),
  provider TEXT NOT NULL CHECK (provider IN ('software', 'pkcs11', 'aws-kms', 'kmip', 'vault-transit')),
  config TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('active', 'removed')),
  updated_at TEXT NOT NULL
);
INSERT INTO gov_l1_pointers_v8 (tenant, provider, config, state, updated_at)
  SELECT tenant, provider, config, state, updated_at FROM gov_l1_pointers;
DROP TABLE gov_l1_pointers;
ALTER TABLE gov_l1_pointers_v8 RENAME TO gov_l1_pointers;
${['INSERT', 'UPDATE', 'DELETE'].map((ev) => `CREATE TRIGGER gov_l1_pointers_${ev.toLowerCase()}_generation AFTER ${ev} ON gov_l1_pointers
BEGIN UPDATE gov_meta SET value = value + 1 WHERE key = 'generation'; END;`).join('\n')}
`,
  },
  {
    version: 9,
    name: 'L1 pointers: azure-keyvault and gcp-kms providers (issue 15)',
    // Both cloud providers of issue 15 in one rebuild (they were built side by side), the
    // same way as migration 8: SQLite cannot alter a CHECK constraint.
    sql: `
CREATE TABLE gov_l1_pointers_v9 (
  tenant TEXT PRIMARY KEY REFERENCES gov_tenants (id),
  provider TEXT NOT NULL CHECK (provider IN ('software', 'pkcs11', 'aws-kms', 'kmip', 'vault-transit', 'azure-keyvault', 'gcp-kms')),
  config TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('active', 'removed')),
  updated_at TEXT NOT NULL
);
INSERT INTO gov_l1_pointers_v9 (tenant, provider, config, state, updated_at)
  SELECT tenant, provider, config, state, updated_at FROM gov_l1_pointers;
DROP TABLE gov_l1_pointers;
ALTER TABLE gov_l1_pointers_v9 RENAME TO gov_l1_pointers;
${['INSERT', 'UPDATE', 'DELETE'].map((ev) => `CREATE TRIGGER gov_l1_pointers_${ev.toLowerCase()}_generation AFTER ${ev} ON gov_l1_pointers
BEGIN UPDATE gov_meta SET value = value + 1 WHERE key = 'generation'; END;`).join('\n')}
`,
  },
  {
    version: 10,
    name: 'gateway identities act for several services (issue 11 §1)',
    // The services a gateway identity may act for besides its own `service`, as a JSON list
    // (NULL: none). A column rather than a table: the list travels inside the identity record
    // (change log, link snapshot) and is only ever read with it. Only role gateway has one
    // (src/store/governance.ts addIdentity checks it).
    sql: `
ALTER TABLE gov_identities ADD COLUMN also_services TEXT;
`,
  },
  {
    version: 11,
    name: 'split planes: L2 rotation requests published to the cores (issue 10 §2)',
    sql: `
-- \`kmipctl tenant rotate-l2 T\` on a CMK: the CMK holds no L2 (each region's vault has its
-- own, opened by the tenant's L1 in that region) and publishes a request instead. generation
-- counts the requests; each region rotates its L2 once per generation it sees (requests
-- made while a region is away coalesce into one rotation there).
CREATE TABLE gov_l2_rotations (
  tenant TEXT PRIMARY KEY REFERENCES gov_tenants (id),
  generation INTEGER NOT NULL CHECK (generation > 0),
  updated_at TEXT NOT NULL
);
${['INSERT', 'UPDATE', 'DELETE'].map((ev) => `CREATE TRIGGER gov_l2_rotations_${ev.toLowerCase()}_generation AFTER ${ev} ON gov_l2_rotations
BEGIN UPDATE gov_meta SET value = value + 1 WHERE key = 'generation'; END;`).join('\n')}
`,
  },
  {
    version: 12,
    name: 'per-tenant Name policy: unique (OASIS BL-M-8) or duplicates-allowed (issue 13 §5)',
    // A column of the tenant rather than a table: the policy travels inside the tenant record
    // (change log, link snapshot) to the cores and workers, which read it on every request.
    sql: `
ALTER TABLE gov_tenants ADD COLUMN names TEXT NOT NULL DEFAULT 'unique' CHECK (names IN ('unique', 'duplicates-allowed'));
`,
  },
  {
    version: 13,
    name: 'asynchronous operations: Pending, Poll, Cancel (issue 13 §1)',
    // In this database rather than in memory so that, with `serve --workers N`, a Poll or a
    // Cancel answered by any worker sees the operation another worker runs; the state
    // changes are single UPDATE/DELETE statements, so two workers never both win one
    // (src/store/async-operations.ts). Only the SHA-256 of the correlation value is kept:
    // reading this table does not let anyone Poll.
    sql: `
CREATE TABLE async_operations (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  identity TEXT NOT NULL,
  operation INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('running', 'committing', 'succeeded', 'failed', 'canceled')),
  accepted_at INTEGER NOT NULL,
  deadline INTEGER NOT NULL,
  expires_at INTEGER,
  reason INTEGER,
  message TEXT,
  payload BLOB
);
CREATE INDEX async_operations_tenant ON async_operations (tenant, state);
CREATE INDEX async_operations_expiry ON async_operations (expires_at);
`,
  },
  {
    version: 14,
    name: 'drop the object indexes no query uses (issue 12 §1: durable Creates)',
    // Every Create writes one entry into each index of objects. These three serve no
    // statement the store runs (EXPLAIN QUERY PLAN of every Locate shape, test/store
    // sqlite.test.ts "every index of objects is used"): Locate has no date filter, and a scan
    // without a Name or Group walks objects_by_state or objects_by_type_state per state.
    // Dropping them took a batch of 16 inserts from 45 to 38 WAL pages and ~40 % of the
    // insert's CPU (bench/README.md). The date columns stay: they are the prefilter's data.
    sql: `
DROP INDEX IF EXISTS objects_by_tenant_seq;
DROP INDEX IF EXISTS objects_by_initial_date;
DROP INDEX IF EXISTS objects_by_activation_date;
`,
  },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
