/**
 * The config file format (rconfd's, plus tconfd's additions), as a zod schema. schema/tconfd.schema.json is generated
 * from this with `npm run schema` and a test checks it is current.
 *
 * Built at its first use: a start checks a config file against the generated JSON Schema (./valid.ts) and needs zod
 * only to say what is wrong with one that is not valid (building these schemas costs several milliseconds; the
 * bundle reads zod from a chunk of its own then).
 */
// Named imports, not `z`: the namespace would bundle all of zod (its locales, ~450 KB more to read at every start).
import { boolean, enum as zEnum, record, strictObject, string, toJSONSchema, type infer as Infer } from 'zod';

/** A string of the config: a NUL character would cut a path or a command short, so none is accepted. */
const text = () => string().refine((s) => !s.includes('\0'), 'must not contain a NUL character');

function build() {
  const HooksSchema = strictObject({
    modified: text()
      .optional()
      .describe('Command run (without a shell) after a rendering that changed at least one file of this template'),
    ready: text()
      .optional()
      .describe('Command run (without a shell) once, after the first complete rendering of all templates'),
  }).describe('Commands run on events; absolute path, arguments split like a POSIX shell splits words, 30 s timeout');

  const TemplateSchema = strictObject({
    dir: text()
      .optional()
      .describe('Directory for the relative output paths of the template; ${VAR} and ${VAR:-default} are substituted'),
    mode: string()
      .regex(/^0?[0-7]{3}$/, {
        error: (issue) =>
          /^0?[1-7][0-7]{3}$/.test(String(issue.input))
            ? 'must not set the setuid, setgid or sticky bit (4000, 2000, 1000) on files that hold secrets'
            : 'must be an octal file mode such as "0640"',
      })
      .optional()
      .describe('Octal mode of the generated files (default "0600": they hold secrets); no setuid, setgid or sticky bit'),
    user: text()
      .optional()
      .describe('Owner of the generated files: a user name or uid[:gid], applied when tconfd runs as root'),
    secrets: record(text(), text().min(1, 'must be a non-empty name'))
      .optional()
      .describe(
        'Secret path (BACKEND:ARGS:PATH, ${VAR} substituted) -> name under which the value appears in std.extVar("secrets")',
      ),
    confine: boolean()
      .optional()
      .describe(
        'Refuse absolute output paths: every file of the template must resolve inside "dir" (default: --confine; relative paths are always confined)',
      ),
    hooks: HooksSchema.optional(),
    on_change: zEnum(['signal', 'restart', 'none'])
      .optional()
      .describe('What the supervised command gets when files of this template change (default: --on-change)'),
  }).describe('One Jsonnet template (multi-file output: each top-level key is a file to write)');

  const ConfigFileSchema = record(text().min(1), TemplateSchema).describe(
    'A tconfd (rconfd-compatible) config file: template path (absolute or relative to --dir) -> settings',
  );
  return { TemplateSchema, ConfigFileSchema };
}

let schemas: ReturnType<typeof build> | undefined;

/** The zod schema of a config file. */
export function configFileSchema(): ReturnType<typeof build>['ConfigFileSchema'] {
  return (schemas ??= build()).ConfigFileSchema;
}

/** The zod schema of one template's settings. */
export function templateSchema(): ReturnType<typeof build>['TemplateSchema'] {
  return (schemas ??= build()).TemplateSchema;
}

export type TemplateEntry = Infer<ReturnType<typeof build>['TemplateSchema']>;
export type ConfigFile = Infer<ReturnType<typeof build>['ConfigFileSchema']>;

export function configJsonSchema(): Record<string, unknown> {
  const schema = toJSONSchema(configFileSchema(), { target: 'draft-2020-12' }) as Record<string, unknown>;
  return {
    $schema: schema.$schema,
    title: 'tconfd config file',
    ...schema,
  };
}

interface JsonSchemaNode {
  type?: string;
  description?: string;
  pattern?: string;
  enum?: unknown[];
  properties?: Record<string, JsonSchemaNode>;
  additionalProperties?: JsonSchemaNode | boolean;
}

/** The README's config reference, as a Markdown table generated from the JSON Schema (`npm run schema`). */
export function configReferenceMarkdown(): string {
  const schema = configJsonSchema() as JsonSchemaNode;
  const template = schema.additionalProperties as JsonSchemaNode;
  const rows: string[] = [];
  const typeOf = (n: JsonSchemaNode): string => {
    if (n.enum) return n.enum.map((v) => `\`${JSON.stringify(v)}\``).join(' \\| ');
    if (n.type === 'object' && n.additionalProperties && typeof n.additionalProperties === 'object') {
      return `object of ${n.additionalProperties.type ?? 'values'}`;
    }
    return n.pattern ? `${n.type} (\`${n.pattern.replace(/\|/g, '\\|')}\`)` : (n.type ?? '');
  };
  const walk = (props: Record<string, JsonSchemaNode>, prefix: string): void => {
    for (const [key, node] of Object.entries(props)) {
      const text = (node.description ?? '').replace(/\|/g, '\\|').replace(/\$\{/g, '`${').replace(/\}(?=[ ,)]|$)/g, '}`');
      rows.push(`| \`${prefix}${key}\` | ${typeOf(node)} | ${text} |`);
      if (node.type === 'object' && node.properties) walk(node.properties, `${prefix}${key}.`);
    }
  };
  walk(template.properties ?? {}, '');
  return [
    'A config file is a JSON object: template path (absolute or relative to `--dir`) -> settings. Each template takes:',
    '',
    '| key | type | meaning |',
    '| --- | --- | --- |',
    ...rows,
  ].join('\n');
}
