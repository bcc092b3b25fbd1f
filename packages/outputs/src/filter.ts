import type { SecurityEvent } from '@ugallu/emitter';
import { SEVERITY_RANK } from './severity.js';
import type { SecurityEventClassName, SecurityEventSeverity } from './severity.js';

/**
 * Which SecurityEvents a consumer takes. Every field given must match (an
 * AND); within a list, any entry matches (an OR). No field: everything.
 *
 * @example `{ minSeverity: 'high', classes: ['Detection'], rules: ['pod-exec'], tags: ['attack.t1609'] }`
 */
export interface ConsumerFilter {
  /** Only SecurityEvents at or above this severity. */
  readonly minSeverity?: SecurityEventSeverity;
  /** Only SecurityEvents of these classes. */
  readonly classes?: readonly SecurityEventClassName[];
  /** Only SecurityEvents raised by these rules (`spec.source.rule`). */
  readonly rules?: readonly string[];
  /** Only SecurityEvents carrying at least one of these tags (`spec.tags`, case-insensitive). */
  readonly tags?: readonly string[];
}

/**
 * Compiles a filter once into a predicate: lists become Sets, an absent
 * field costs nothing.
 *
 * @example
 * ```ts
 * const accepts = compileFilter({ minSeverity: 'high' });
 * accepts(se); // true for high and critical
 * ```
 */
export function compileFilter(filter: ConsumerFilter): (se: SecurityEvent) => boolean {
  const min = filter.minSeverity === undefined ? 0 : SEVERITY_RANK[filter.minSeverity];
  const classes = filter.classes === undefined ? undefined : new Set<string>(filter.classes);
  const rules = filter.rules === undefined ? undefined : new Set(filter.rules);
  const tags = filter.tags === undefined ? undefined : new Set(filter.tags.map((t) => t.toLowerCase()));
  return (se) => {
    const spec = se.spec;
    if (min > 0 && (SEVERITY_RANK[spec.severity] ?? 0) < min) return false;
    if (classes !== undefined && !classes.has(spec.class)) return false;
    if (rules !== undefined && !rules.has(spec.source.rule)) return false;
    if (tags !== undefined) {
      const own = spec.tags;
      if (own === undefined) return false;
      let any = false;
      for (const t of own) {
        if (tags.has(t.toLowerCase())) {
          any = true;
          break;
        }
      }
      if (!any) return false;
    }
    return true;
  };
}
