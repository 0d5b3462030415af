// Removes build output first, so a build never leaves stale chunks behind.
import { rmSync } from 'node:fs';
for (const pkg of ['receiver', 'browser']) rmSync(new URL(`../packages/${pkg}/dist`, import.meta.url), { recursive: true, force: true });
