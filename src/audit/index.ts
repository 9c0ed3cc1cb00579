export * from './record.ts';
export * from './schema.ts';
export * from './verify.ts';
export * from './log.ts';
