import { app } from '../../tsup.shared.js';

export default app();
