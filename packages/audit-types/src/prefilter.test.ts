import { describe, expect, it } from 'vitest';
import { decodeLogLine } from './decode.js';
import type { DecodedBatch } from './decode.js';
import { AuditLineScanner } from './prefilter.js';

const HEAD = '"kind":"Event","apiVersion":"audit.k8s.io/v1"';
const scanner = new AuditLineScanner();
/** The scan's answer: the fields read, or false when it cannot tell. */
const scan = (line: string, withUsername = true) =>
  scanner.scan(line, withUsername)
    ? {
        verb: scanner.verb,
        stage: scanner.stage,
        resource: scanner.resource,
        subresource: scanner.subresource,
        username: scanner.username,
      }
    : false;
const fields = (
  verb: string,
  more: { stage?: string; resource?: string; subresource?: string; username?: string } = {},
) => ({
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
      fields('create', {
        stage: 'ResponseComplete',
        resource: 'pods',
        subresource: 'exec',
        username: 'alice',
      }),
    ],
    [
      'keys in any order',
      `{"verb":"get","objectRef":{"resource":"nodes"},"apiVersion":"audit.k8s.io/v1beta1","kind":"Event"}`,
      fields('get', { resource: 'nodes' }),
    ],
    [
      'white space anywhere',
      ` \t{ "kind" :\t"Event" , "apiVersion": "audit.k8s.io/v1alpha1" ,"verb" : "list" , "objectRef" : { "resource" : "pods" } }\r `,
      fields('list', { resource: 'pods' }),
    ],
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
    [
      'a string ending in an escaped backslash',
      `{${HEAD},"userAgent":"x\\\\","verb":"watch"}`,
      fields('watch'),
    ],
    ['a duplicate verb: the last one', `{${HEAD},"verb":"delete","verb":"get"}`, fields('get')],
    [
      'a duplicate objectRef: the last one, whole',
      `{${HEAD},"verb":"create","objectRef":{"resource":"pods","subresource":"exec"},"objectRef":{"resource":"nodes"}}`,
      fields('create', { resource: 'nodes' }),
    ],
    [
      'a duplicate resource inside objectRef',
      `{${HEAD},"verb":"get","objectRef":{"resource":"pods","resource":"secrets"}}`,
      fields('get', { resource: 'secrets' }),
    ],
    [
      'a duplicate user: the last one',
      `{${HEAD},"verb":"get","user":{"username":"a"},"user":{"groups":[]}}`,
      fields('get'),
    ],
    [
      'escapes elsewhere: in other keys and values',
      `{${HEAD},"verb":"get","annotations":{"a\\u0062":"\\u00fc\\n"},"user":{"username":"bob","extra":{"k\\"":["v"]}}}`,
      fields('get', { username: 'bob' }),
    ],
    [
      'numbers, booleans and null as other values',
      `{${HEAD},"verb":"get","x":-1.5e3,"y":true,"z":null,"w":[1,false,null]}`,
      fields('get'),
    ],
    ['an empty objectRef and user', `{${HEAD},"verb":"get","objectRef":{},"user":{}}`, fields('get')],
    [
      'objects nested in objectRef and user, with their own resource and username keys',
      `{${HEAD},"verb":"get","objectRef":{"x":{"resource":"secrets","subresource":"exec"},"resource":"pods","y":[{"resource":"nodes"}]},"user":{"extra":{"username":["root"]},"username":"bob"}}`,
      fields('get', { resource: 'pods', username: 'bob' }),
    ],
    [
      'brackets and quotes inside strings at every level',
      JSON.stringify({
        kind: 'Event',
        apiVersion: 'audit.k8s.io/v1',
        a: '{[\\"',
        verb: 'get',
        objectRef: { name: '}]"', resource: 'pods' },
      }),
      fields('get', { resource: 'pods' }),
    ],
    [
      'non-ASCII text',
      `{${HEAD},"verb":"get","user":{"username":"ünï 😀"}}`,
      fields('get', { username: 'ünï 😀' }),
    ],
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

  it('takes no key for another that differs in one character, first or last', () => {
    const near = (key: string): string[] => [
      `x${key.slice(1)}`,
      `${key.slice(0, -1)}x`,
      `${key.slice(0, 1)}x${key.slice(2)}`,
    ];
    for (const top of ['verb', 'stage', 'kind', 'apiVersion', 'objectRef', 'user']) {
      for (const k of near(top)) {
        const line = `{${HEAD},"verb":"get","stage":"Panic","objectRef":{"resource":"pods"},"user":{"username":"u"},"${k}":${k === near(top)[0] ? '"create"' : '{"resource":"secrets","username":"v"}'}}`;
        expect(scan(line), line).toEqual(fields('get', { stage: 'Panic', resource: 'pods', username: 'u' }));
      }
    }
    for (const inner of ['resource', 'subresource']) {
      for (const k of near(inner))
        expect(scan(`{${HEAD},"verb":"get","objectRef":{"${k}":"secrets"}}`), k).toEqual(fields('get'));
    }
    for (const k of near('username'))
      expect(scan(`{${HEAD},"verb":"get","user":{"${k}":"root"}}`), k).toEqual(fields('get'));
    for (const k of [...near('userAgent'), ...near('responseStatus'), ...near('impersonatedUser')]) {
      const line = `{${HEAD},"verb":"get","${k}":{"code":403,"username":"root"}}`;
      expect(soft(line), k).toEqual(none);
    }
    for (const k of near('code')) expect(soft(ev(`"responseStatus":{"${k}":403}`)), k).toEqual(none);
    for (const k of near('username'))
      expect(soft(ev(`"impersonatedUser":{"${k}":"root"}`)), k).toEqual({ ...none, impersonatedUser: true });
  });

  it('reads the username with a bit of FIELDS as with true', () => {
    const line = `{${HEAD},"verb":"get","user":{"username":"bob"}}`;
    expect(scanner.scan(line, AuditLineScanner.FIELDS.Username) && scanner.username).toBe('bob');
    expect(scanner.scan(line, AuditLineScanner.FIELDS.ResponseCode) && scanner.username).toBeUndefined();
  });

  it('walks deep nesting without recursion', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(scan(`{${HEAD},"verb":"get","requestObject":${deep}}`)).toEqual(fields('get'));
  });
});

/** Every optional field. */
const ALL =
  AuditLineScanner.FIELDS.Username |
  AuditLineScanner.FIELDS.ResponseCode |
  AuditLineScanner.FIELDS.UserAgent |
  AuditLineScanner.FIELDS.ImpersonatedUser;
/** The soft fields read (undefined: unknown), or false when the scan gives up the line. */
const soft = (line: string, want = ALL) =>
  scanner.scan(line, want)
    ? {
        responseCode: scanner.responseCode,
        userAgent: scanner.userAgent,
        impersonatedUser: scanner.impersonatedUser,
        impersonatedUsername: scanner.impersonatedUsername,
      }
    : false;
type Soft = Exclude<ReturnType<typeof soft>, false>;
/** An event line with these members after the head and the verb. */
const ev = (members: string): string => `{${HEAD},"verb":"get"${members === '' ? '' : `,${members}`}}`;
const none: Soft = {
  responseCode: null,
  userAgent: null,
  impersonatedUser: false,
  impersonatedUsername: null,
};

describe('AuditLineScanner: response code, user agent and impersonated user', () => {
  it.each<[string, string, Partial<Soft>]>([
    ['none of them', ev(''), {}],
    [
      'an apiserver line',
      ev(
        '"user":{"username":"alice"},"userAgent":"kubectl/v1.34.1 (linux/amd64) kubernetes/abc","responseStatus":{"metadata":{},"status":"Failure","message":"pods \\"x\\" is forbidden","reason":"Forbidden","details":{"name":"x","kind":"pods"},"code":403}',
      ),
      { responseCode: 403, userAgent: 'kubectl/v1.34.1 (linux/amd64) kubernetes/abc' },
    ],
    [
      'an impersonated user',
      ev('"impersonatedUser":{"username":"system:admin","groups":["system:masters"]}'),
      { impersonatedUser: true, impersonatedUsername: 'system:admin' },
    ],
    [
      'an impersonated user with groups only',
      ev('"impersonatedUser":{"groups":["system:masters"]}'),
      { impersonatedUser: true },
    ],
    ['an empty impersonated user', ev('"impersonatedUser":{}'), { impersonatedUser: true }],
    ['a responseStatus without a code', ev('"responseStatus":{"metadata":{}}'), {}],
    ['an empty responseStatus', ev('"responseStatus":{}'), {}],
    ['white space around the code', ev('"responseStatus":{ "code" :\t201 }'), { responseCode: 201 }],
    ['a code that is no HTTP status', ev('"responseStatus":{"code":0}'), { responseCode: 0 }],
    [
      'a nested code: the top one',
      ev('"responseStatus":{"details":{"code":500,"causes":[{"code":1}]},"code":200}'),
      { responseCode: 200 },
    ],
    ['only a nested code', ev('"responseStatus":{"details":{"code":500}}'), {}],
    [
      "the fields inside bodies and strings: not the event's",
      ev(
        '"requestObject":{"responseStatus":{"code":403},"userAgent":"x","impersonatedUser":{"username":"y"}},"requestURI":"/?\\"userAgent\\":\\"z\\""',
      ),
      {},
    ],
    [
      'a user agent holding key names',
      ev('"userAgent":"{\\"responseStatus\\":{\\"code\\":403}}"'),
      { userAgent: undefined },
    ],
    [
      'a user agent holding key names, unescaped',
      ev('"userAgent":"responseStatus: {code: 403}, impersonatedUser"'),
      { userAgent: 'responseStatus: {code: 403}, impersonatedUser' },
    ],
    ['an empty user agent', ev('"userAgent":""'), { userAgent: '' }],
    ['a non-ASCII user agent', ev('"userAgent":"ünï 😀"'), { userAgent: 'ünï 😀' }],
    [
      'a duplicate responseStatus: the last, whole',
      ev('"responseStatus":{"code":403},"responseStatus":{"metadata":{}}'),
      {},
    ],
    ['a duplicate code: the last', ev('"responseStatus":{"code":403,"code":200}'), { responseCode: 200 }],
    [
      'a duplicate user agent: the last',
      ev('"userAgent":"trufflehog","userAgent":"kubectl"'),
      { userAgent: 'kubectl' },
    ],
    [
      'a duplicate impersonated user: the last, whole',
      ev('"impersonatedUser":{"username":"a"},"impersonatedUser":{}'),
      { impersonatedUser: true },
    ],
    [
      'an unknown value then a plain one: the plain one',
      ev('"responseStatus":{"co\\u0064e":403,"code":200},"userAgent":5,"userAgent":"k"'),
      { responseCode: 200, userAgent: 'k' },
    ],
    // Unknown: the scan cannot say what JSON.parse gives, so it says nothing (undefined).
    ['a fractional code', ev('"responseStatus":{"code":403.0}'), { responseCode: undefined }],
    ['a code with an exponent', ev('"responseStatus":{"code":4.03e2}'), { responseCode: undefined }],
    ['a negative code', ev('"responseStatus":{"code":-1}'), { responseCode: undefined }],
    ['a code in a string', ev('"responseStatus":{"code":"403"}'), { responseCode: undefined }],
    ['a null code', ev('"responseStatus":{"code":null}'), { responseCode: undefined }],
    ['a code that is an array', ev('"responseStatus":{"code":[403],"x":1}'), { responseCode: undefined }],
    ['a code that is an object', ev('"responseStatus":{"code":{"value":403}}'), { responseCode: undefined }],
    ['a code of many digits', ev('"responseStatus":{"code":4030000000000}'), { responseCode: undefined }],
    [
      'an escaped key in responseStatus',
      ev('"responseStatus":{"co\\u0064e":403}'),
      { responseCode: undefined },
    ],
    ['a null responseStatus', ev('"responseStatus":null'), { responseCode: undefined }],
    ['a responseStatus in a string', ev('"responseStatus":"403"'), { responseCode: undefined }],
    ['a responseStatus that is an array', ev('"responseStatus":[{"code":403}]'), { responseCode: undefined }],
    ['an escaped user agent', ev('"userAgent":"a\\"b"'), { userAgent: undefined }],
    ['a null user agent', ev('"userAgent":null'), { userAgent: undefined }],
    ['a user agent that is a number', ev('"userAgent":7'), { userAgent: undefined }],
    ['a user agent that is an object', ev('"userAgent":{"a":"b"}'), { userAgent: undefined }],
    ['a user agent that is an array, last', ev('"userAgent":["trufflehog"]'), { userAgent: undefined }],
    [
      'a null impersonated user',
      ev('"impersonatedUser":null'),
      { impersonatedUser: undefined, impersonatedUsername: undefined },
    ],
    [
      'an impersonated user in a string',
      ev('"impersonatedUser":"bob"'),
      { impersonatedUser: undefined, impersonatedUsername: undefined },
    ],
    [
      'an impersonated user that is an array',
      ev('"impersonatedUser":[{"username":"bob"}]'),
      { impersonatedUser: undefined, impersonatedUsername: undefined },
    ],
    [
      'an escaped impersonated username',
      ev('"impersonatedUser":{"username":"system:\\u0061dmin"}'),
      { impersonatedUser: true, impersonatedUsername: undefined },
    ],
    [
      'a null impersonated username',
      ev('"impersonatedUser":{"username":null}'),
      { impersonatedUser: true, impersonatedUsername: undefined },
    ],
    [
      'an impersonated username that is an object',
      ev('"impersonatedUser":{"username":{"a":1}}'),
      { impersonatedUser: true, impersonatedUsername: undefined },
    ],
    [
      'an escaped key in impersonatedUser',
      ev('"impersonatedUser":{"user\\u006eame":"bob"}'),
      { impersonatedUser: true, impersonatedUsername: undefined },
    ],
  ])('%s', (_name, line, changes) => {
    const expected = { ...none, ...changes };
    expect(soft(line)).toEqual(expected);
    // Whatever the scan says it knows, JSON.parse agrees with.
    const parsed = JSON.parse(line) as Record<string, unknown>;
    const status = parsed.responseStatus as { code?: unknown } | undefined;
    const impersonated = parsed.impersonatedUser as { username?: unknown } | undefined;
    if (expected.responseCode !== undefined) expect(status?.code ?? null).toBe(expected.responseCode);
    if (expected.userAgent !== undefined) expect(parsed.userAgent ?? null).toBe(expected.userAgent);
    if (expected.impersonatedUser !== undefined)
      expect(impersonated !== undefined).toBe(expected.impersonatedUser);
    if (expected.impersonatedUsername !== undefined)
      expect(impersonated?.username ?? null).toBe(expected.impersonatedUsername);
  });

  it('an odd value of these fields costs only that field: the line is still read', () => {
    const line = ev(
      '"objectRef":{"resource":"pods"},"responseStatus":{"code":"x"},"userAgent":null,"impersonatedUser":7',
    );
    expect(scan(line)).toEqual(fields('get', { resource: 'pods' }));
    expect(soft(line)).toEqual({
      responseCode: undefined,
      userAgent: undefined,
      impersonatedUser: undefined,
      impersonatedUsername: undefined,
    });
  });

  it('leaves them unknown when not asked for, and does not care what they hold', () => {
    const line = ev('"responseStatus":{"code":403},"userAgent":"a","impersonatedUser":{"username":"b"}');
    expect(soft(line, 0)).toEqual({
      responseCode: undefined,
      userAgent: undefined,
      impersonatedUser: undefined,
      impersonatedUsername: undefined,
    });
    expect(soft(line, AuditLineScanner.FIELDS.UserAgent)).toEqual({
      responseCode: undefined,
      userAgent: 'a',
      impersonatedUser: undefined,
      impersonatedUsername: undefined,
    });
    // Asked for once, not the next time: nothing left over from the line before.
    expect(soft(ev('"responseStatus":{"code":403}'), AuditLineScanner.FIELDS.ResponseCode)).toMatchObject({
      responseCode: 403,
    });
    expect(soft(ev('"responseStatus":{"code":403}'), 0)).toMatchObject({ responseCode: undefined });
    expect(soft(ev(''), ALL)).toEqual(none);
  });

  it.each<[string, string]>([
    ['a backslash in the key userAgent', ev('"user\\u0041gent":"a"')],
    ['a responseStatus cut inside', `{${HEAD},"verb":"get","responseStatus":{"code":40`],
    ['an impersonatedUser cut inside', `{${HEAD},"verb":"get","impersonatedUser":{"username":"a`],
  ])('still gives up the line with %s', (_name, line) => {
    expect(soft(line)).toBe(false);
  });
});
