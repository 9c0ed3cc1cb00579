#!/usr/bin/env node
// Runs the `kmipctl` CLI from the TypeScript sources (src/cli/kmipctl.ts) through tsx, with no
// build step: what the tests spawn (test/helpers/cli.ts), so that they always exercise the
// sources of the checkout and a stale dist/ can neither pass nor fail them. bin/kmipctl.cjs is
// the installed program and runs the compiled dist/ instead (issue 14 §1).
import { register } from 'tsx/esm/api';

register();
await import('../../src/cli/kmipctl.ts');
