// Run by cleanup.k8s.test.ts in a separate Node process (through tsx): starts a
// control plane, prints its temp dir, and idles until it is signalled.
import { startControlPlane } from '../controlPlane.js';

const controlPlane = await startControlPlane({ build: false });
process.stdout.write(`${JSON.stringify({ dir: controlPlane.dir })}\n`);
setInterval(() => undefined, 60_000);
