// covirt-agent-wasi: runs a `wasm` algorithm with Node.js's WASI (preview1). covirt-agent starts it
// (docs/agent.md, Runners) as
//   node --experimental-wasi-unstable-preview1 --no-warnings covirt-agent-wasi.mjs DATASETS RESULTS MODULE [ARG…]
// The module sees its arguments, an empty environment, stdin/stdout/stderr, and two preopened
// directories: `datasets` (DATASETS, which the agent has bound read-only in the step's own mount
// namespace: WASI has no read-only preopen) and `results` (RESULTS). No other path, no sockets.
// The flag is needed on Node.js 18 (Debian 12) and accepted, unused, by later versions.
import { readFileSync } from 'node:fs';
import { argv, exit, stderr } from 'node:process';
import { WASI } from 'node:wasi';

function fail(code, msg) {
    stderr.write(`covirt-agent-wasi: ${msg}\n`);
    exit(code);
}

if (argv.length < 5)
    fail(2, 'usage: covirt-agent-wasi.mjs DATASETS RESULTS MODULE [ARG…]');
const [datasets, results, modulePath, ...args] = argv.slice(2);

let module;
try {
    module = new WebAssembly.Module(readFileSync(modulePath));
} catch (e) {
    fail(65, `the algorithm is not a WebAssembly module: ${e.message}`);
}
// Only WASI preview1 is offered; name what else the module wants instead of a bare LinkError.
const foreign = WebAssembly.Module.imports(module).filter(i => i.module !== 'wasi_snapshot_preview1');
if (foreign.length)
    fail(65, `the module imports ${foreign[0].module}.${foreign[0].name}: only WASI preview1 (wasi_snapshot_preview1) is available`);
if (!WebAssembly.Module.exports(module).some(e => e.name === '_start' && e.kind === 'function'))
    fail(65, 'the module exports no _start function (a WASI command is expected)');

const wasi = new WASI({
    version: 'preview1',
    args: ['algorithm', ...args],
    env: {},
    preopens: { datasets, results },
    returnOnExit: true,
});
let code;
try {
    const instance = new WebAssembly.Instance(module, { wasi_snapshot_preview1: wasi.wasiImport });
    code = wasi.start(instance);
} catch (e) {
    // a trap (unreachable, out-of-bounds access, stack exhaustion) or an instantiation failure
    fail(70, `the module stopped: ${e instanceof Error ? `${e.name}: ${e.message}` : e}`);
}
exit(code);
