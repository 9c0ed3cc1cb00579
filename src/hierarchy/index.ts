export * from './types.ts';
export { createInterimProtector, KeyProtectionError, INTERIM_DEK_NAME, INTERIM_DEK_CONTEXT, type InterimProtector, type SystemBlobStore } from './interim.ts';
export { createObjectRepository, type RepositoryScope, type ScopedObjectRepository } from './repository.ts';
