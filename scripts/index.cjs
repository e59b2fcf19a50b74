'use strict';
// The `require` entry point of flowgate (copied to dist/index.cjs by the build).
// flowgate is an ES module; Node 20.19+ and 22.12+ load ES modules with
// require(), so this hands over the very same module that `import` loads.
// Older Node versions cannot: the error says what to do instead.
try {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the one require() this entry point exists for
  module.exports = require('./index.js');
} catch (err) {
  if (err !== null && typeof err === 'object' && err.code === 'ERR_REQUIRE_ESM') {
    throw new Error(
      `flowgate is an ES module: load it with import (in CommonJS: await import('flowgate')), or use Node 20.19+ or 22.12+, where require('flowgate') works (this is Node ${process.versions.node})`,
      { cause: err },
    );
  }
  throw err;
}
