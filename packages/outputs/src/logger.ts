import type { DeliveryLogger } from '@ugallu/api';

/**
 * Where consumers log: a pino logger fits, as does the emitter's
 * `SinkLogger` (both are `@ugallu/api`'s `DeliveryLogger`). Warnings are
 * rate-limited per consumer and kind (one line every 10 s, with the number
 * suppressed).
 *
 * @example `createConsumer(config, { logger: pino() })`
 */
export type OutputLogger = DeliveryLogger;
