// One real etcd + kube-apiserver shared by this package's control-plane
// tests (see @ugallu/testenv); the files that restart the apiserver or need
// its audit webhook pointed at them start their own.
import { sharedControlPlaneSetup } from '@ugallu/testenv';

export default sharedControlPlaneSetup();
