/**
 * Jest environment: Node's, with the typed-array constructors of the outer realm.
 *
 * Jest runs each test file in a separate V8 context whose Float32Array differs from the one
 * native addons (flexconv's and onnxruntime-node's) create arrays with; onnxruntime-common
 * checks `data instanceof Float32Array` and would reject every output. Sharing the
 * constructors makes both realms agree.
 */
const { TestEnvironment } = require('jest-environment-node');

const SHARED = [
  'ArrayBuffer',
  'SharedArrayBuffer',
  'DataView',
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
];

class FlexconvEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) this.global[name] = globalThis[name];
  }
}

module.exports = FlexconvEnvironment;
