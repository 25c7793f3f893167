// A small stand-in for the string-width package inside the bundle (scripts/build.mjs aliases it). yargs and cliui
// only use it to lay out --help; the real package compiles large Unicode property regexes (RGI_Emoji...) when it is
// loaded, ~20 ms of every start for a help text that is ASCII. Width here: code points, without ANSI escapes and
// without zero-width marks; East Asian wide characters count as 1 (only --help alignment could differ).
const ANSI = /\u001B\[[0-9;?]*[ -/]*[@-~]/g;
const ZERO_WIDTH = /[\u0300-\u036F\u200B-\u200F\uFE00-\uFE0F]/g;

export default function stringWidth(text) {
  if (typeof text !== 'string' || text.length === 0) return 0;
  const plain = text.replace(ANSI, '');
  if (/^[\x20-\x7E]*$/.test(plain)) return plain.length;
  return [...plain.replace(ZERO_WIDTH, '')].length;
}
