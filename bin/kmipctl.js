#!/usr/bin/env node
// Thin launcher: registers the TypeScript loader, then runs the CLI (src/cli/kmipctl.ts).
import { register } from 'tsx/esm/api';
register();
await import('../src/cli/kmipctl.ts');
