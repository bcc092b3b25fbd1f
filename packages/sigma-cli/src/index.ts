export { main } from './cli.js';
export type { Output } from './cli.js';
