import { describe, expect, it } from 'vitest';
import { decodeLogLine } from './decode.js';
import type { DecodedBatch } from './decode.js';
import { AuditLineScanner } from './prefilter.js';

const HEAD = '"kind":"Event","apiVersion":"audit.k8s.io/v1"';
const scanner = new AuditLineScanner();
/** The scan's answer: the fields read, or false when it cannot tell. */
const scan = (line: string, withUsername = true) =>
  scanner.scan(line, withUsername)
    ? { verb: scanner.verb, stage: scanner.stage, resource: scanner.resource, subresource: scanner.subresource, username: scanner.username }
    : false;
const fields = (verb: string, more: { stage?: string; resource?: string; subresource?: string; username?: string } = {}) => ({
  verb,
  stage: more.stage,
  resource: more.resource,
  subresource: more.subresource,
  username: more.username,
});

describe('AuditLineScanner', () => {
  it.each<[string, string, ReturnType<typeof fields>]>([
    [
      'an apiserver line',
      `{${HEAD},"level":"Metadata","auditID":"a","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/d/pods/p/exec","verb":"create","user":{"username":"alice","groups":["g"]},"objectRef":{"resource":"pods","namespace":"d","name":"p","subresource":"exec","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":101}}`,
      fields('create', { stage: 'ResponseComplete', resource: 'pods', subresource: 'exec', username: 'alice' }),
    ],
    ['keys in any order', `{"verb":"get","objectRef":{"resource":"nodes"},"apiVersion":"audit.k8s.io/v1beta1","kind":"Event"}`, fields('get', { resource: 'nodes' })],
    ['white space anywhere', ` \t{ "kind" :\t"Event" , "apiVersion": "audit.k8s.io/v1alpha1" ,"verb" : "list" , "objectRef" : { "resource" : "pods" } }\r `, fields('list', { resource: 'pods' })],
    [
      'a key name inside a string value',
      `{${HEAD},"userAgent":"\\"verb\\":\\"delete\\",\\"objectRef\\":{","verb":"get","requestURI":"/x?\\"stage\\""}`,
      fields('get'),
    ],
    [
      'nested objects with verb, objectRef and user keys',
      `{${HEAD},"requestObject":{"verb":"delete","objectRef":{"resource":"secrets"},"user":{"username":"root"},"a":[{"stage":"Panic"},"]}",[[]]]},"verb":"get"}`,
      fields('get'),
    ],
    ['a string ending in an escaped backslash', `{${HEAD},"userAgent":"x\\\\","verb":"watch"}`, fields('watch')],
    ['a duplicate verb: the last one', `{${HEAD},"verb":"delete","verb":"get"}`, fields('get')],
    [
      'a duplicate objectRef: the last one, whole',
      `{${HEAD},"verb":"create","objectRef":{"resource":"pods","subresource":"exec"},"objectRef":{"resource":"nodes"}}`,
      fields('create', { resource: 'nodes' }),
    ],
    ['a duplicate resource inside objectRef', `{${HEAD},"verb":"get","objectRef":{"resource":"pods","resource":"secrets"}}`, fields('get', { resource: 'secrets' })],
    ['a duplicate user: the last one', `{${HEAD},"verb":"get","user":{"username":"a"},"user":{"groups":[]}}`, fields('get')],
    ['escapes elsewhere: in other keys and values', `{${HEAD},"verb":"get","annotations":{"a\\u0062":"\\u00fc\\n"},"user":{"username":"bob","extra":{"k\\"":["v"]}}}`, fields('get', { username: 'bob' })],
    ['numbers, booleans and null as other values', `{${HEAD},"verb":"get","x":-1.5e3,"y":true,"z":null,"w":[1,false,null]}`, fields('get')],
    ['an empty objectRef and user', `{${HEAD},"verb":"get","objectRef":{},"user":{}}`, fields('get')],
    [
      'objects nested in objectRef and user, with their own resource and username keys',
      `{${HEAD},"verb":"get","objectRef":{"x":{"resource":"secrets","subresource":"exec"},"resource":"pods","y":[{"resource":"nodes"}]},"user":{"extra":{"username":["root"]},"username":"bob"}}`,
      fields('get', { resource: 'pods', username: 'bob' }),
    ],
    [
      'brackets and quotes inside strings at every level',
      JSON.stringify({ kind: 'Event', apiVersion: 'audit.k8s.io/v1', a: '{[\\"', verb: 'get', objectRef: { name: '}]"', resource: 'pods' } }),
      fields('get', { resource: 'pods' }),
    ],
    ['non-ASCII text', `{${HEAD},"verb":"get","user":{"username":"ünï 😀"}}`, fields('get', { username: 'ünï 😀' })],
  ])('reads %s as JSON.parse does', (_name, line, expected) => {
    expect(scan(line)).toEqual(expected);
    const parsed = JSON.parse(line);
    expect(parsed.verb).toBe(expected.verb);
    expect(parsed.objectRef?.resource).toBe(expected.resource);
    expect(parsed.objectRef?.subresource).toBe(expected.subresource);
    expect(parsed.user?.username).toBe(expected.username);
  });

  it('leaves the user unread when not asked for it (and then does not care what it holds)', () => {
    expect(scan(`{${HEAD},"verb":"get","user":{"usern\\u0061me":"x"}}`, false)).toEqual(fields('get'));
    expect(scan(`{${HEAD},"verb":"get","user":{"usern\\u0061me":"x"}}`, true)).toBe(false);
  });

  it.each<[string, string]>([
    ['a backslash in a top-level key', `{${HEAD},"ve\\u0072b":"get"}`],
    ['a backslash in an objectRef key', `{${HEAD},"verb":"get","objectRef":{"resourc\\u0065":"secrets"}}`],
    ['a backslash in a user key', `{${HEAD},"verb":"get","user":{"user\\u006eame":"a"}}`],
    ['an escape in the verb', `{${HEAD},"verb":"g\\u0065t"}`],
    ['an escape in the resource', `{${HEAD},"verb":"get","objectRef":{"resource":"po\\u0064s"}}`],
    ['an escaped quote in the username', `{${HEAD},"verb":"get","user":{"username":"a\\"b"}}`],
    ['an escape in kind', `{"kind":"Ev\\u0065nt","apiVersion":"audit.k8s.io/v1","verb":"get"}`],
    ['no kind', '{"apiVersion":"audit.k8s.io/v1","verb":"get"}'],
    ['no apiVersion', '{"kind":"Event","verb":"get"}'],
    ['another kind', '{"kind":"EventList","apiVersion":"audit.k8s.io/v1","verb":"get","items":[]}'],
    ['a later kind that is not Event', `{${HEAD},"verb":"get","kind":"EventList"}`],
    ['another apiVersion', '{"kind":"Event","apiVersion":"audit.k8s.io/v2","verb":"get"}'],
    ['an apiVersion with a suffix', '{"kind":"Event","apiVersion":"audit.k8s.io/v1x","verb":"get"}'],
    ['no verb', `{${HEAD},"stage":"Panic"}`],
    ['an empty verb', `{${HEAD},"verb":""}`],
    ['a verb that is not a string', `{${HEAD},"verb":7}`],
    ['a null stage', `{${HEAD},"verb":"get","stage":null}`],
    ['an objectRef that is not an object', `{${HEAD},"verb":"get","objectRef":null}`],
    ['a resource that is not a string', `{${HEAD},"verb":"get","objectRef":{"resource":["pods"]}}`],
    ['a user that is not an object', `{${HEAD},"verb":"get","user":"alice"}`],
    ['an objectRef that is an array', `{${HEAD},"verb":"get","objectRef":[{"resource":"pods"}]}`],
    ['a resource that is an object', `{${HEAD},"verb":"get","objectRef":{"resource":{"name":"pods"}}}`],
    ['a verb that is an object', `{${HEAD},"verb":{"v":"get"}}`],
    ['a username that is null', `{${HEAD},"verb":"get","user":{"username":null}}`],
    ['an AKS record beside the event fields', `{${HEAD},"verb":"get","records":[]}`],
    ['a CloudWatch message', `{${HEAD},"verb":"get","messageType":"DATA_MESSAGE","logEvents":[]}`],
    ['a GKE entry', `{${HEAD},"verb":"get","protoPayload":{}}`],
    ['an AKS single record', `{${HEAD},"verb":"get","category":"kube-audit","properties":{}}`],
    ['an array', `[{${HEAD},"verb":"get"}]`],
    ['an empty object', '{}'],
    ['a cut line', `{${HEAD},"verb":"get","requestObject":{"a":[1,2`],
    ['a cut string', `{${HEAD},"verb":"get","userAgent":"kub`],
    ['a cut scalar', `{${HEAD},"verb":"get","x":12`],
    ['a missing colon', `{${HEAD},"verb" "get"}`],
    ['a missing comma', `{${HEAD} "verb":"get"}`],
    ['a trailing comma', `{${HEAD},"verb":"get",}`],
    ['a second object after the first', `{${HEAD},"verb":"get"} {}`],
    ['a closing brace too many', `{${HEAD},"verb":"get"}}`],
    ['a byte order mark in front', `\ufeff{${HEAD},"verb":"get"}`],
    ['nothing', ''],
  ])('cannot tell (the line is parsed) with %s', (_name, line) => {
    expect(scan(line)).toBe(false);
  });

  it('never says more than the decoder would: a line it reads decodes to one event with the same fields', () => {
    const samples = [
      `{${HEAD},"verb":"get","objectRef":{"resource":"pods"}}`,
      `{"verb":"delete","verb":"create","apiVersion":"audit.k8s.io/v1","kind":"Event","objectRef":{"resource":"a","subresource":"b"},"objectRef":{"subresource":"c"}}`,
    ];
    for (const line of samples) {
      expect(scan(line)).not.toBe(false);
      const batch: DecodedBatch = { events: [], errors: [] };
      decodeLogLine(line, {}, batch);
      expect(batch.events).toHaveLength(1);
      const event = batch.events[0]!;
      expect(scan(line)).toEqual(
        fields(event.verb, {
          ...(event.objectRef?.resource === undefined ? {} : { resource: event.objectRef.resource }),
          ...(event.objectRef?.subresource === undefined ? {} : { subresource: event.objectRef.subresource }),
        }),
      );
    }
  });

  it('walks deep nesting without recursion', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(scan(`{${HEAD},"verb":"get","requestObject":${deep}}`)).toEqual(fields('get'));
  });
});
