// The shared control plane of this package's Kubernetes sink tests (see
// sharedControlPlaneSetup's docs); the fault tests start their own.
import { sharedControlPlaneSetup } from '@ugallu/testenv';

export default sharedControlPlaneSetup();
