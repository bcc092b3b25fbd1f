import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { parser } from '@prometheus-io/lezer-promql';
import { METRICS } from '@ugallu/api';
import { afterAll, describe, expect, it } from 'vitest';

import { cleanupHelm, only, render } from './helm.js';
import { MONITORING_DIR, REPO_ROOT } from './paths.js';

afterAll(cleanupHelm);

/**
 * The metrics users are promised, name → labels: @ugallu/api's METRICS, which
 * its own test holds equal to the README's "Metrics" table.
 */
function readmeMetrics(): Map<string, string[]> {
  return new Map(Object.values(METRICS).map((m) => [m.name as string, [...m.labelNames] as string[]]));
}

/** The position of the first syntax error, or undefined. Grafana's macros are replaced as Grafana would. */
function promqlError(expr: string): number | undefined {
  const query = expr.replaceAll('$__rate_interval', '5m').replaceAll('$__range', '6h');
  let at: number | undefined;
  parser.parse(query).iterate({
    enter: (node) => {
      if (at === undefined && node.type.isError) at = node.from;
      return at === undefined;
    },
  });
  return at;
}

const metricNames = (expr: string) => [...expr.matchAll(/\bugallu_[a-z_]+/g)].map((m) => m[0]);

interface Panel {
  type: string;
  id: number;
  title: string;
  datasource?: { uid: string };
  targets?: { expr: string }[];
}
interface Alert {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

const dashboard = JSON.parse(await readFile(join(MONITORING_DIR, 'files/dashboard.json'), 'utf8')) as {
  panels: Panel[];
  templating: { list: { name: string }[] };
};
const panels = dashboard.panels.filter((p) => p.type !== 'row');
const panelExprs = panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
const rule = only(
  await render({
    values: { 'audit-detection': { clusterIdentity: { clusterID: 'x' } }, monitoring: { enabled: true } },
    namespace: 'mon',
  }),
  'PrometheusRule',
) as unknown as {
  spec: { groups: { rules: Alert[] }[] };
};
const alerts = rule.spec.groups.flatMap((g) => g.rules);

describe('the README metrics table', () => {
  it('names the metrics, all ugallu_audit_*', () => {
    const metrics = readmeMetrics();
    expect(metrics.size).toBeGreaterThanOrEqual(13);
    for (const name of metrics.keys()) expect(name).toMatch(/^ugallu_audit_/);
  });
});

describe('the Grafana dashboard', () => {
  it('has a panel over every metric in the README table', () => {
    const shown = new Set(panelExprs.flatMap(metricNames));
    const missing = [...readmeMetrics().keys()].filter((m) => !shown.has(m));
    expect(missing).toEqual([]);
  });

  it('names only metrics the README table has (no typo reads an empty series)', () => {
    const known = readmeMetrics();
    expect(panelExprs.flatMap(metricNames).filter((m) => !known.has(m))).toEqual([]);
  });

  it('groups only by labels those metrics have (or the pod and namespace Prometheus adds)', () => {
    const known = readmeMetrics();
    for (const expr of panelExprs) {
      const labels = [...expr.matchAll(/by \(([^)]*)\)/g)].flatMap((m) =>
        m[1]!.split(',').map((l) => l.trim()),
      );
      const allowed = new Set(['pod', 'namespace', ...metricNames(expr).flatMap((m) => known.get(m) ?? [])]);
      for (const label of labels) expect(allowed, `${label} in ${expr}`).toContain(label);
    }
  });

  it.each(panels.map((p) => [p.title, p] as const))(
    'panel "%s" queries valid PromQL through the chosen data source',
    (_title, panel) => {
      expect(panel.datasource?.uid).toBe('${datasource}');
      expect(panel.targets?.length).toBeGreaterThan(0);
      for (const target of panel.targets!) expect(promqlError(target.expr), target.expr).toBeUndefined();
    },
  );

  it('has unique panel ids and the datasource, namespace and pod variables', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(dashboard.templating.list.map((v) => v.name)).toEqual(['datasource', 'namespace', 'pod']);
  });

  it('has a detections panel by rule and severity, joining ugallu_audit_rule_info on the pod and rule (issue #18)', () => {
    const panel = panels.find((p) => p.title === 'Detections by rule and severity');
    expect(panel).toBeDefined();
    const expr = panel!.targets![0]!.expr;
    expect(expr).toMatch(/^sum by \(rule, severity\) \(rate\(ugallu_audit_rule_matches_total\{/);
    expect(expr).toContain(
      '* on (namespace, pod, rule) group_left (severity, class) ugallu_audit_rule_info{',
    );
    expect(expr).toContain('class="Detection"');
  });

  it('would catch a broken query', () => {
    expect(promqlError('sum by (pod (rate(ugallu_audit_file_lines_total[5m]))')).toBeDefined();
  });
});

describe('the PrometheusRule', () => {
  it.each([
    [
      'UgalluAuditRuleCompileErrors',
      ['ugallu_audit_rule_compile_errors_total', 'ugallu_audit_rule_load_failures', 'ugallu_audit_rules'],
    ],
    ['UgalluAuditWebhookAuthFailures', ['ugallu_audit_webhook_auth_failures_total']],
    ['UgalluAuditWebhookBackpressure', ['ugallu_audit_webhook_backpressure_total']],
    ['UgalluAuditEmitErrors', ['ugallu_audit_rule_emit_errors_total']],
    ['UgalluAuditEmitRetrying', ['ugallu_audit_emit_retries_total']],
    [
      'UgalluAuditParseErrors',
      ['ugallu_audit_file_parse_errors_total', 'ugallu_audit_webhook_parse_errors_total'],
    ],
    ['UgalluAuditNoEvents', ['ugallu_audit_events_evaluated_total']],
    [
      'UgalluAuditDetection',
      [
        'ugallu_audit_rule_matches_total',
        'ugallu_audit_rule_matches_total',
        'ugallu_audit_rule_matches_total',
        'ugallu_audit_rule_info',
      ],
    ],
    ['UgalluAuditWebhookRequestsTooLarge', ['ugallu_audit_webhook_requests_refused_total']],
    ['UgalluAuditCursorNotSaved', ['ugallu_audit_file_cursor_write_errors_total']],
    ['UgalluAuditLogGaps', ['ugallu_audit_file_gaps_total']],
    [
      'UgalluAuditConsumerFailing',
      [
        'ugallu_audit_consumer_dropped_total',
        'ugallu_audit_consumer_failed_total',
        'ugallu_audit_consumer_sent_total',
      ],
    ],
  ])('%s alerts on %j', (name, metrics) => {
    const alert = alerts.find((a) => a.alert === name);
    expect(alert, `alert ${name}`).toBeDefined();
    expect(metricNames(alert!.expr).sort()).toEqual([...metrics].sort());
  });

  it.each(alerts.map((a) => [a.alert, a] as const))(
    '%s: valid PromQL on this release only, a duration, a severity, and Prometheus templates left for Prometheus',
    (_name, alert) => {
      expect(promqlError(alert.expr), alert.expr).toBeUndefined();
      const known = readmeMetrics();
      for (const metric of metricNames(alert.expr)) expect(known.has(metric), metric).toBe(true);
      // Every selector is scoped to this release's scrape job and namespace.
      for (const selector of alert.expr.matchAll(/\b(?:ugallu_[a-z_]+|up)\{([^}]*)\}/g))
        expect(selector[1]).toContain('job="audit-detection",namespace="mon"');
      expect(alert.for).toMatch(/^\d+[smh]$/);
      expect(['info', 'warning', 'critical']).toContain(alert.labels.severity);
      expect(alert.annotations.summary).toBeTruthy();
      expect(alert.annotations.description).toBeTruthy();
      expect(alert.annotations.description).not.toContain('<no value>');
    },
  );

  describe('UgalluAuditDetection (issue #18)', () => {
    const detection = () => alerts.find((a) => a.alert === 'UgalluAuditDetection')!;
    const compact = (expr: string) => expr.replace(/\s+/g, ' ');

    it('joins the matches with ugallu_audit_rule_info on the pod and rule, for Detection rules of high or critical severity', () => {
      const expr = compact(detection().expr);
      expect(expr).toContain(
        '* on (namespace, pod, rule) group_left (severity, class) ugallu_audit_rule_info{',
      );
      expect(expr).toContain('class=~"Detection",severity=~"high|critical"}');
      // The rule's severity is kept as rule_severity: the alert's own severity label would overwrite it.
      expect(expr).toContain('"rule_severity", "$1", "severity", "(.*)"');
      expect(expr).toMatch(/^sum by \(namespace, rule, rule_severity\)/);
      expect(detection().labels.severity).toBe('critical');
      expect(detection().annotations.description).toContain(
        '{{ $labels.rule }} ({{ $labels.rule_severity }})',
      );
    });

    it("catches a rule's first match, whose series the match creates (increase() alone needs two samples)", () => {
      const expr = compact(detection().expr);
      expect(expr).toContain(
        '(increase(ugallu_audit_rule_matches_total{job="audit-detection",namespace="mon"}[5m]) > 0) or',
      );
      expect(expr).toContain(
        '((ugallu_audit_rule_matches_total{job="audit-detection",namespace="mon"} > 0) unless (ugallu_audit_rule_matches_total{job="audit-detection",namespace="mon"} offset 5m))',
      );
    });

    it('takes its severities and classes from the values, and can be switched off', async () => {
      const render1 = async (alertValues: Record<string, unknown>) =>
        (
          only(
            await render({
              values: {
                'audit-detection': { clusterIdentity: { clusterID: 'x' } },
                monitoring: { enabled: true, prometheusRule: { alerts: { detections: alertValues } } },
              },
            }),
            'PrometheusRule',
          ) as unknown as { spec: { groups: { rules: Alert[] }[] } }
        ).spec.groups[0]!.rules;
      const tuned = (
        await render1({ ruleSeverities: ['medium', 'high', 'critical'], severity: 'warning' })
      ).find((a) => a.alert === 'UgalluAuditDetection')!;
      expect(tuned.expr).toContain('severity=~"medium|high|critical"');
      expect(tuned.labels.severity).toBe('warning');
      expect((await render1({ enabled: false })).map((a) => a.alert)).not.toContain('UgalluAuditDetection');
    });
  });

  describe('UgalluAuditWebhookRequestsTooLarge (issue #18)', () => {
    it('covers every 413 reason of the webhook source (kube-apiserver never retries a 413), and nothing else', async () => {
      const source = await readFile(join(REPO_ROOT, 'packages/sources/src/webhook/reject.ts'), 'utf8');
      // Each reason's TSDoc starts with its status: `/** 413: … */ TooManyItems: 'TooManyItems'`.
      const reasons = [...source.matchAll(/\/\*\*\s*(?:\*\s*)?(\d{3})\b[\s\S]*?\*\/\s*(\w+):/g)]
        .filter((m) => m[1] === '413')
        .map((m) => m[2]!);
      expect(reasons.length).toBeGreaterThanOrEqual(3);
      const alert = alerts.find((a) => a.alert === 'UgalluAuditWebhookRequestsTooLarge')!;
      const regex = /reason=~"([^"]*)"/.exec(alert.expr)?.[1];
      expect(regex?.split('|').sort()).toEqual(reasons.sort());
      expect(alert.for).toBe('0m');
    });
  });

  it('keeps $labels templates for Prometheus (helm does not eat them)', () => {
    const auth = alerts.find((a) => a.alert === 'UgalluAuditWebhookAuthFailures')!;
    expect(auth.annotations.description).toContain('{{ $labels.pod }}');
    expect(auth.annotations.description).toContain('{{ $labels.reason }}');
  });
});
