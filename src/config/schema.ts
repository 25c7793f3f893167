/**
 * The config file format (rconfd's, plus tconfd's additions), as a zod schema. schema/tconfd.schema.json is generated
 * from this with `npm run schema` and a test checks it is current.
 */
import { z } from 'zod';

export const HooksSchema = z
  .strictObject({
    modified: z
      .string()
      .optional()
      .describe('Command run (without a shell) after a rendering that changed at least one file of this template'),
    ready: z
      .string()
      .optional()
      .describe('Command run (without a shell) once, after the first complete rendering of all templates'),
  })
  .describe('Commands run on events; absolute path, arguments split like a POSIX shell splits words, 30 s timeout');

export const TemplateSchema = z
  .strictObject({
    dir: z
      .string()
      .optional()
      .describe('Directory for the relative output paths of the template; ${VAR} and ${VAR:-default} are substituted'),
    mode: z
      .string()
      .regex(/^0?[0-7]{3,4}$/, 'must be an octal file mode such as "0640"')
      .optional()
      .describe('Octal mode of the generated files (default "0600": they hold secrets)'),
    user: z
      .string()
      .optional()
      .describe('Owner of the generated files: a user name or uid[:gid], applied when tconfd runs as root'),
    secrets: z
      .record(z.string(), z.string().min(1, 'must be a non-empty name'))
      .optional()
      .describe(
        'Secret path (BACKEND:ARGS:PATH, ${VAR} substituted) -> name under which the value appears in std.extVar("secrets")',
      ),
    hooks: HooksSchema.optional(),
    on_change: z
      .enum(['signal', 'restart', 'none'])
      .optional()
      .describe('What the supervised command gets when files of this template change (default: --on-change)'),
  })
  .describe('One Jsonnet template (multi-file output: each top-level key is a file to write)');

export const ConfigFileSchema = z
  .record(z.string().min(1), TemplateSchema)
  .describe('A tconfd (rconfd-compatible) config file: template path (absolute or relative to --dir) -> settings');

export type TemplateEntry = z.infer<typeof TemplateSchema>;
export type ConfigFile = z.infer<typeof ConfigFileSchema>;

export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(ConfigFileSchema, { target: 'draft-2020-12' }) as Record<string, unknown>;
  return {
    $schema: schema.$schema,
    title: 'tconfd config file',
    ...schema,
  };
}
