// The shared control plane for the tests that apply or install the chart.
import { sharedControlPlaneSetup } from '@ugallu/testenv';

export default sharedControlPlaneSetup();
