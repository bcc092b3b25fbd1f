import type { AuditEvent } from '@ugallu/audit-types';
import { bodyCarriesCredentials } from './credentials.js';
import { CompileReason, SigmaCompileError } from './errors.js';
import { compileJSONPath } from './jsonPath.js';
import type { CompiledJSONPath } from './jsonPath.js';

/**
 * Output message templates: `emit.message` of a rule, such as
 * `{user.username} ran a command in {objectRef.namespace}/{objectRef.name}`,
 * compiled with the rule and rendered for each SecurityEvent it emits.
 *
 * Every value in a message comes from the request, so from whoever made it:
 * each is cut to 256 characters, control and bidirectional-override
 * characters become spaces (a message cannot fake a line of a log or reorder
 * what a terminal shows), and a body is never quoted for the requests of
 * CREDENTIAL_BODIES (Secrets, ConfigMaps, TokenReviews, TokenRequests),
 * whose request or response bodies hold credentials.
 */

const FIELDS: Readonly<Record<string, (e: AuditEvent) => unknown>> = {
  auditID: (e) => e.auditID,
  verb: (e) => e.verb,
  stage: (e) => e.stage,
  requestURI: (e) => e.requestURI,
  userAgent: (e) => e.userAgent,
  sourceIPs: (e) => e.sourceIPs,
  'user.username': (e) => e.user?.username,
  'user.groups': (e) => e.user?.groups,
  'impersonatedUser.username': (e) => e.impersonatedUser?.username,
  'objectRef.resource': (e) => e.objectRef?.resource,
  'objectRef.subresource': (e) => e.objectRef?.subresource,
  'objectRef.namespace': (e) => e.objectRef?.namespace,
  'objectRef.name': (e) => e.objectRef?.name,
  'objectRef.apiGroup': (e) => e.objectRef?.apiGroup,
  'objectRef.apiVersion': (e) => e.objectRef?.apiVersion,
  'responseStatus.code': (e) => e.responseStatus?.code,
  'responseStatus.reason': (e) => e.responseStatus?.reason,
};

/** The placeholders a message may hold, besides `{requestObject:<JSONPath>}`. */
export const MESSAGE_FIELDS: readonly string[] = Object.keys(FIELDS);

/** What an absent value renders as. */
export const MESSAGE_NONE = '<none>';
/** What a body that may hold credentials renders as (see CREDENTIAL_BODIES: Secrets, ConfigMaps, TokenReviews, TokenRequests). */
export const MESSAGE_REDACTED = '<redacted>';

const MAX_VALUE_CHARS = 256;
const MAX_VALUES = 8;
const MAX_MESSAGE_CHARS = 2048;
// C0 and C1 controls, DEL, and the bidirectional embeddings, overrides and isolates: matching
// control characters is the point here.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

type Part =
  | string
  | { readonly field: (e: AuditEvent) => unknown }
  | { readonly body: CompiledJSONPath; readonly response: boolean };

/**
 * A compiled message template. `{{` and `}}` stand for literal braces.
 *
 * @example
 * ```ts
 * const t = MessageTemplate.compile('{user.username} exec into {objectRef.namespace}/{objectRef.name}', 'emit.message');
 * t.render(event); // 'alice@example.com exec into payments/web-0'
 * ```
 */
export class MessageTemplate {
  readonly source: string;
  private readonly parts: readonly Part[];

  private constructor(source: string, parts: readonly Part[]) {
    this.source = source;
    this.parts = parts;
  }

  /** @throws SigmaCompileError `Template` for an unknown placeholder or an unbalanced brace, `JSONPath` for a bad `{requestObject:…}` path. */
  static compile(source: string, path: string): MessageTemplate {
    const parts: Part[] = [];
    let literal = '';
    for (let i = 0; i < source.length; i++) {
      const c = source[i]!;
      if ((c === '{' || c === '}') && source[i + 1] === c) {
        literal += c;
        i++;
      } else if (c === '}') {
        throw new SigmaCompileError(
          CompileReason.Template,
          path,
          `a } at ${i} closes no placeholder (write }} for a literal brace)`,
        );
      } else if (c === '{') {
        const end = source.indexOf('}', i);
        if (end === -1)
          throw new SigmaCompileError(
            CompileReason.Template,
            path,
            `the placeholder at ${i} is not closed (write {{ for a literal brace)`,
          );
        if (literal !== '') parts.push(literal);
        literal = '';
        parts.push(placeholder(source.slice(i + 1, end).trim(), path));
        i = end;
      } else {
        literal += c;
      }
    }
    if (literal !== '') parts.push(literal);
    return new MessageTemplate(source, parts);
  }

  /** The message for one audit event (at most 2048 characters). */
  render(e: AuditEvent): string {
    let out = '';
    for (const part of this.parts) {
      if (typeof part === 'string') out += part;
      else if ('field' in part) out += show(part.field(e));
      else out += bodyValues(part.body, part.response ? e.responseObject : e.requestObject, e);
    }
    return out.length > MAX_MESSAGE_CHARS ? `${out.slice(0, MAX_MESSAGE_CHARS - 1)}…` : out;
  }
}

function placeholder(name: string, path: string): Part {
  if (name.startsWith('requestObject:')) {
    return { body: compileJSONPath(name.slice('requestObject:'.length).trim(), path), response: false };
  }
  if (name.startsWith('responseObject:')) {
    return { body: compileJSONPath(name.slice('responseObject:'.length).trim(), path), response: true };
  }
  const field = FIELDS[name];
  if (field === undefined) {
    throw new SigmaCompileError(
      CompileReason.Template,
      path,
      `unknown placeholder {${name}}; known: ${MESSAGE_FIELDS.join(', ')}, requestObject:<JSONPath>, responseObject:<JSONPath>`,
    );
  }
  return { field };
}

function show(value: unknown): string {
  if (Array.isArray(value)) {
    const items = value.filter(
      (v) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean',
    );
    return list(items.slice(0, MAX_VALUES), items.length > MAX_VALUES);
  }
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
    return scalar(value);
  return MESSAGE_NONE;
}

/** At most MAX_VALUES values, `, …` when there were more. */
function list(values: readonly (string | number | boolean)[], more: boolean): string {
  if (values.length === 0) return MESSAGE_NONE;
  const shown = values.map(scalar).join(', ');
  return more ? `${shown}, …` : shown;
}

function scalar(value: string | number | boolean): string {
  const text = String(value).replace(UNSAFE, ' ');
  if (text === '') return MESSAGE_NONE;
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS - 1)}…` : text;
}

function bodyValues(path: CompiledJSONPath, body: unknown, e: AuditEvent): string {
  if (bodyCarriesCredentials(e)) return MESSAGE_REDACTED;
  const values: string[] = [];
  let more = false;
  path.anyLeaf(body, {
    test: (v) => {
      if (values.length === MAX_VALUES) {
        more = true;
        return true;
      }
      values.push(v);
      return false;
    },
  });
  return list(values, more);
}
