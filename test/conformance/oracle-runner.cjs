// Runs libjsonnet's own test suite through the oracle, as its run_tests.sh does with the jsonnet command: in the
// suite's directory, ext vars var1/var2 (top-level arguments for tla.* files), stdout and stderr (TRACE lines) merged.
// Usage (cwd = the test_suite directory): node oracle-runner.cjs <oracle package dir> <case>... ; prints JSON lines.
'use strict';
const { Jsonnet } = require(process.argv[2]);

(async () => {
  for (const name of process.argv.slice(3)) {
    const vm = new Jsonnet();
    if (name.startsWith('tla.')) vm.tlaString('var1', 'test').tlaCode('var2', '{x:1,y:2}');
    else vm.extString('var1', 'test').extCode('var2', '{x:1,y:2}');
    process.stderr.write(`\n@@begin ${name}@@\n`);
    let result;
    try {
      result = { name, error: false, output: await vm.evaluateFile(name) };
    } catch (err) {
      result = { name, error: true, output: String(err.message) };
    }
    process.stderr.write(`\n@@end ${name}@@\n`);
    process.stdout.write(JSON.stringify(result) + '\n');
  }
})();
