import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configJsonSchema, configReferenceMarkdown } from '../../src/config/schema.js';

const FILE = new URL('../../schema/tconfd.schema.json', import.meta.url);

describe('schema/tconfd.schema.json', () => {
  it('is current with src/config/schema.ts', () => {
    let onDisk: string;
    try {
      onDisk = readFileSync(FILE, 'utf8');
    } catch {
      onDisk = '(missing)';
    }
    expect(onDisk, 'schema/tconfd.schema.json is out of date: run `npm run schema`').toBe(
      JSON.stringify(configJsonSchema(), null, 2) + '\n',
    );
  });

  it("is what README.md's config reference shows", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.split('<!-- config-reference:start -->')[1]?.split('<!-- config-reference:end -->')[0];
    expect(section?.trim(), "README.md's config reference is out of date: run `npm run schema`").toBe(
      configReferenceMarkdown().trim(),
    );
    for (const key of ['dir', 'mode', 'user', 'secrets', 'confine', 'hooks.modified', 'hooks.ready', 'on_change']) {
      expect(section).toContain(`\`${key}\``);
    }
  });

  it('describes the config format editors validate against', () => {
    const schema = configJsonSchema() as {
      $schema: string;
      title: string;
      type: string;
      additionalProperties: { type: string; additionalProperties: boolean; properties: Record<string, { pattern?: string }> };
    };
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.type).toBe('object');
    const template = schema.additionalProperties;
    expect(template.additionalProperties).toBe(false);
    expect(Object.keys(template.properties).sort()).toEqual(['confine', 'dir', 'hooks', 'mode', 'on_change', 'secrets', 'user']);
    const mode = new RegExp(template.properties.mode!.pattern!);
    expect(['0640', '644', '0600'].every((m) => mode.test(m))).toBe(true);
    expect(['rw-r--r--', '0999', '64', '4755', '2750', '1777'].some((m) => mode.test(m))).toBe(false);
  });
});
