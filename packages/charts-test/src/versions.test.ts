import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { DockerfileParser } from 'dockerfile-ast';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

import { APPS, AUDIT_DETECTION_DIR, CHART_DIR, MONITORING_DIR, REPO_ROOT } from './paths.js';

// One version for a release (issue #18 §3): the published packages, the apps
// (whose --version is the image's), the charts' version and appVersion (the
// images' default tag), the umbrella's pins of its subcharts, the images'
// version label and the build commands people copy. No helm needed.

interface Chart {
  name: string;
  version: string;
  appVersion: string;
  dependencies?: { name: string; version: string }[];
}

const chart = async (dir: string) => parse(await readFile(join(dir, 'Chart.yaml'), 'utf8')) as Chart;

/** The packages a release versions: every published package and the two apps. */
async function releasedPackages(): Promise<{ name: string; version: string }[]> {
  const out: { name: string; version: string }[] = [];
  for (const parent of ['packages', 'apps']) {
    for (const entry of await readdir(join(REPO_ROOT, parent), { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const text = await readFile(join(REPO_ROOT, parent, entry.name, 'package.json'), 'utf8').catch(
        () => undefined,
      );
      if (text === undefined) continue;
      const pkg = JSON.parse(text) as { name: string; version: string; private?: boolean };
      if (parent === 'apps' || pkg.private !== true) out.push({ name: pkg.name, version: pkg.version });
    }
  }
  return out;
}

const apps = Object.entries(APPS);
const version = (
  JSON.parse(await readFile(join(APPS.file.dir, 'package.json'), 'utf8')) as { version: string }
).version;

describe(`one version, ${version}`, () => {
  it('is every published package’s and both apps’', async () => {
    const packages = await releasedPackages();
    expect(packages.length).toBeGreaterThan(10);
    expect(packages.filter((p) => p.version !== version)).toEqual([]);
  });

  it.each([
    ['charts/ugallu', CHART_DIR],
    ['charts/ugallu/charts/audit-detection', AUDIT_DETECTION_DIR],
    ['charts/ugallu/charts/monitoring', MONITORING_DIR],
  ])('is the version and appVersion of %s', async (_name, dir) => {
    const { version: chartVersion, appVersion } = await chart(dir);
    expect({ version: chartVersion, appVersion }).toEqual({ version, appVersion: version });
  });

  it('is what the umbrella chart requires of its subcharts', async () => {
    const { dependencies } = await chart(CHART_DIR);
    expect(dependencies?.map((d) => [d.name, d.version])).toEqual([
      ['audit-detection', version],
      ['monitoring', version],
    ]);
  });

  it('is the images’ default tag: image.tag is empty, so the chart uses its appVersion', async () => {
    const values = parse(await readFile(join(AUDIT_DETECTION_DIR, 'values.yaml'), 'utf8')) as {
      image: { tag: string };
    };
    expect(values.image.tag).toBe('');
    const helpers = await readFile(join(AUDIT_DETECTION_DIR, 'templates/_helpers.tpl'), 'utf8');
    expect(helpers).toContain('(.Values.image.tag | default .Chart.AppVersion)');
  });

  it.each(apps)('is the %s image’s org.opencontainers.image.version label', async (_app, { dockerfile }) => {
    const labels = DockerfileParser.parse(await readFile(dockerfile, 'utf8'))
      .getInstructions()
      .filter((i) => i.getKeyword() === 'LABEL')
      .flatMap((i) => i.getArguments().map((a) => a.getValue()));
    expect(labels).toContain(`org.opencontainers.image.version="${version}"`);
  });

  it.each(apps)(
    'is the tag of the %s image’s build commands (its Dockerfile, the README)',
    async (app, { dockerfile }) => {
      const image = `ugallu/audit-detection-${app}`;
      for (const path of [dockerfile, join(REPO_ROOT, 'README.md')]) {
        const tags = [...(await readFile(path, 'utf8')).matchAll(new RegExp(`${image}:(\\S+)`, 'g'))].map(
          (m) => m[1],
        );
        expect(tags.length, `${path} has a docker build command for ${image}`).toBeGreaterThan(0);
        expect(
          tags.filter((t) => t !== version),
          path,
        ).toEqual([]);
      }
    },
  );
});
