import { runDetectorCli } from '@ugallu/engine';
import { fileDetector } from './spec.js';

process.exitCode = await runDetectorCli(fileDetector, process.argv.slice(2));
