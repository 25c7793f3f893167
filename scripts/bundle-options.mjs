// esbuild's options for every bundle of tconfd (scripts/build.mjs; bench/snapshot.ts bundles the same code its way).
export const BUNDLE_OPTIONS = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // Whitespace and comments out, identifiers kept (readable stack traces); ASCII only, so that V8 keeps the source
  // as a one-byte string (half the memory of a two-byte one).
  minifyWhitespace: true,
  minifySyntax: true,
  charset: 'ascii',
};
