// What a user of @ugallu/sigma writes, compiled by install.pack.test.ts
// against the packed tarballs installed with npm (under moduleResolution
// node16, nodenext and bundler) and run with node. Inside the workspace it is
// type-checked against the sources.
import { decodeLine } from '@ugallu/audit-types';
import { compile, CompileReason, RuleSet, SigmaCompileError } from '@ugallu/sigma';
import type { CompiledRule, SigmaRuleSpec } from '@ugallu/sigma';
import { sigmaRuleSpecSchema } from '@ugallu/sigma/schema';

const spec: SigmaRuleSpec = {
  match: { verb: ['create'], objectRef: { resource: 'pods', subresource: 'exec' } },
  emit: {
    type: 'PodExec',
    severity: 'high',
    message: '{user.username} ran a command in {objectRef.namespace}/{objectRef.name}',
  },
};
// The types are the spec's, not `any`: a verb is a list.
// @ts-expect-error -- verb must be an array
const wrong: SigmaRuleSpec = { match: { verb: 'create' }, emit: { type: 'X', severity: 'high' } };
void wrong;

const rule: CompiledRule = compile(sigmaRuleSpecSchema.parse(spec));
const rules = new RuleSet();
rules.install('pod-exec', rule);

const line = JSON.stringify({
  kind: 'Event',
  apiVersion: 'audit.k8s.io/v1',
  level: 'Metadata',
  auditID: '6b7b4c43-51c5-4ad1-9d56-4f4a3c0f3b8e',
  stage: 'ResponseComplete',
  requestURI: '/api/v1/namespaces/web/pods/web-0/exec?command=sh',
  verb: 'create',
  user: { username: 'alice@example.com' },
  objectRef: { resource: 'pods', namespace: 'web', name: 'web-0', subresource: 'exec' },
  responseStatus: { code: 101 },
});
const decoded = decodeLine(line);
if (!decoded.ok) throw new Error(`the audit line did not decode: ${decoded.error.reason}`);
for (const { name, rule: matched } of rules.evaluate(decoded.event)) {
  console.log(name, matched.emit.type, matched.renderMessage(decoded.event));
}

try {
  compile({ match: { sourceIPs: ['not-an-address'] }, emit: { type: 'X', severity: 'low' } });
} catch (err) {
  if (err instanceof SigmaCompileError && err.reason === CompileReason.CIDR)
    console.log('refused', err.reason);
}
