// The programs the tests spawn. They run the TypeScript sources (scripts/dev-bin/, through
// tsx), never bin/ (which runs the compiled dist/): a test must judge the code of the
// checkout, and dist/ may be missing or older than src/ (issue 14 §1). test/build/ checks
// the compiled package itself, built fresh from the same sources; test/build/launchers.test.ts
// keeps every other test off bin/ and dist/.
import { fileURLToPath } from 'node:url';

/** `openkcm` from src/cli/openkcm.ts. */
export const OPENKCM = fileURLToPath(new URL('../../scripts/dev-bin/openkcm.js', import.meta.url));
/** `kmipctl` from src/cli/kmipctl.ts. */
export const KMIPCTL = fileURLToPath(new URL('../../scripts/dev-bin/kmipctl.js', import.meta.url));
