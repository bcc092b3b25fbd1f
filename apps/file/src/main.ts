import { runBacktestCli, runDetectorCli } from '@ugallu/engine';
import { fileDetector } from './spec.js';

const argv = process.argv.slice(2);
// `backtest` is a subcommand: the detector's runner takes flags only, and a
// backtest takes logs and directories as positional arguments.
process.exitCode =
  argv[0] === 'backtest'
    ? await runBacktestCli(argv.slice(1), {
        name: `${fileDetector.name} backtest`,
        version: fileDetector.version,
      })
    : await runDetectorCli(
        {
          ...fileDetector,
          summary: `${fileDetector.summary}\nTo try rules on saved logs instead: ${fileDetector.name} backtest --help.`,
        },
        argv,
      );
