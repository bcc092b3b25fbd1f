import type { SecurityEvent } from '@ugallu/emitter';
import { defaultMessage } from './ocsf.js';

/** Slack's limits for the blocks used (Block Kit reference). */
const HEADER_MAX = 150;
const SECTION_TEXT_MAX = 3000;
const FIELD_MAX = 2000;

const SEVERITY_MARK = {
  info: ':information_source:',
  low: ':large_blue_circle:',
  medium: ':large_yellow_circle:',
  high: ':red_circle:',
  critical: ':rotating_light:',
} as const;

/**
 * A Slack incoming-webhook message (`text` as the notification fallback,
 * `blocks` for the layout).
 *
 * @example `{ text: '[high] PodExec …', blocks: [{ type: 'header', text: { type: 'plain_text', text: '…' } }] }`
 */
export interface SlackMessage {
  text: string;
  blocks: SlackBlock[];
}

/** @example `{ type: 'section', text: { type: 'mrkdwn', text: '*who*' } }` */
export type SlackBlock =
  | { type: 'header'; text: SlackText & { type: 'plain_text' } }
  | { type: 'section'; text?: SlackText; fields?: SlackText[] }
  | { type: 'context'; elements: SlackText[] }
  | { type: 'divider' };

/** @example `{ type: 'mrkdwn', text: '*Severity*\nhigh' }` */
export interface SlackText {
  type: 'plain_text' | 'mrkdwn';
  text: string;
}

/**
 * A readable Slack message for a SecurityEvent, in the payload Slack's
 * incoming webhooks take (`{"text": …, "blocks": […]}`): a header (severity
 * and type), the message, fields for severity, rule, who (user, and the user
 * impersonated), what (verb, resource, namespace/name), source IP and
 * cluster, and a context line with the SecurityEvent name and time. User
 * text is escaped for mrkdwn (`&`, `<`, `>`) and cut to Slack's limits.
 *
 * @example
 * ```ts
 * await fetch(slackWebhookUrl, { method: 'POST', body: JSON.stringify(toSlackMessage(se)) });
 * ```
 */
export function toSlackMessage(se: SecurityEvent): SlackMessage {
  const { spec } = se;
  const e = spec.evidence;
  const message = spec.message ?? defaultMessage(se);
  const who =
    (e.user?.username ?? 'unknown') +
    (e.impersonatedUser?.username === undefined ? '' : ` (as ${e.impersonatedUser.username})`);
  const ref = e.objectRef;
  const resource =
    ref === undefined
      ? spec.subject.kind
      : `${ref.resource ?? spec.subject.kind}${ref.subresource === undefined ? '' : `/${ref.subresource}`}`;
  const target =
    spec.subject.name === undefined
      ? ''
      : ` ${spec.subject.namespace === undefined ? '' : `${spec.subject.namespace}/`}${spec.subject.name}`;
  const what = `${e.verb} ${resource}${target}`;
  const fields: SlackText[] = [
    field('Severity', `${SEVERITY_MARK[spec.severity]} ${spec.severity}`),
    field('Rule', spec.source.rule),
    field('Who', who),
    field('What', what),
    field('Cluster', spec.clusterIdentity.clusterID),
  ];
  if (e.sourceIPs !== undefined && e.sourceIPs.length > 0)
    fields.push(field('Source IP', e.sourceIPs.join(', ')));
  if (spec.tags !== undefined) fields.push(field('Tags', spec.tags.join(', ')));
  return {
    text: cut(`[${spec.severity}] ${spec.type}: ${message}`, SECTION_TEXT_MAX),
    blocks: [
      {
        type: 'header',
        text: { type: 'plain_text', text: cut(`${spec.severity.toUpperCase()}: ${spec.type}`, HEADER_MAX) },
      },
      { type: 'section', text: { type: 'mrkdwn', text: cut(escape(message), SECTION_TEXT_MAX) } },
      { type: 'section', fields },
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: cut(
              `${escape(se.metadata.name)} · ${escape(spec.detectedAt)} · auditID ${escape(e.auditID)}`,
              FIELD_MAX,
            ),
          },
        ],
      },
    ],
  };
}

function field(label: string, value: string): SlackText {
  return { type: 'mrkdwn', text: cut(`*${label}*\n${escape(value)}`, FIELD_MAX) };
}

/** Slack's mrkdwn needs only these three escaped. */
function escape(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

function cut(text: string, max: number): string {
  return text.length <= max ? text : text.slice(0, max - 1) + '…';
}
