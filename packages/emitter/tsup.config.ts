import { library } from '../../tsup.shared.js';

export default library(['src/index.ts', 'src/kubernetes.ts'], { dts: { entry: ['src/index.ts', 'src/kubernetes.ts'] } });
