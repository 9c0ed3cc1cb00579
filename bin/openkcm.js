#!/usr/bin/env node
// Thin launcher: registers the TypeScript loader, then runs the server CLI (src/cli/openkcm.ts).
import { register } from 'tsx/esm/api';
register();
await import('../src/cli/openkcm.ts');
