// The OASIS KMIP 2.1 and 1.4 profile test cases kept in the repository (spec/kmip-vectors,
// unmodified OASIS files with their notices; issue 14 §1b: a clone stands alone). Suites read
// them from here; a missing copy fails those suites instead of skipping them.
import { fileURLToPath } from 'node:url';

export const VECTORS = fileURLToPath(new URL('../../spec/kmip-vectors', import.meta.url));
