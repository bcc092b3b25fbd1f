import { runDetectorCli } from '@ugallu/engine';
import { webhookDetector } from './spec.js';

process.exitCode = await runDetectorCli(webhookDetector, process.argv.slice(2));
