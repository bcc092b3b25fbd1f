// The shared control plane for this package's own tests: the same setup
// other packages use (see sharedControlPlaneSetup's docs).
import { sharedControlPlaneSetup } from './vitestSetup.js';

export default sharedControlPlaneSetup();
