/**
 * Every KMIP operation the server implements (DESIGN.md §6.1): one handler file each under
 * src/operations/, listed here once. The batch executor dispatches on this map and Query
 * (s.6.1.40) reports its keys.
 */
import type { OperationHandler } from './types.ts';

const HANDLERS: readonly OperationHandler[] = [];

function byOperation(handlers: readonly OperationHandler[]): ReadonlyMap<number, OperationHandler> {
  const map = new Map<number, OperationHandler>();
  for (const h of handlers) {
    if (map.has(h.operation)) throw new Error(`operation registry: ${h.name} registered twice`);
    map.set(h.operation, h);
  }
  return map;
}

export const OPERATIONS: ReadonlyMap<number, OperationHandler> = byOperation(HANDLERS);
