// Pure policy decisions (DESIGN.md §5): attribute rules and the lifecycle state machine.
export * from './attributes.ts';
export * from './lifecycle.ts';
