// Copies the board's static dashboard (src/board/public) and the Lua scripts (src/shared/lua) into dist
// after tsc, replacing what a previous build left there.
import { cpSync, existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const from = fileURLToPath(new URL('../src/board/public/', import.meta.url));
const to = fileURLToPath(new URL('../dist/board/public/', import.meta.url));
rmSync(to, { recursive: true, force: true });
if (existsSync(from)) cpSync(from, to, { recursive: true });

// The Lua scripts of the run store (src/shared/lua), read at run time.
const luaFrom = fileURLToPath(new URL('../src/shared/lua/', import.meta.url));
const luaTo = fileURLToPath(new URL('../dist/shared/lua/', import.meta.url));
rmSync(luaTo, { recursive: true, force: true });
cpSync(luaFrom, luaTo, { recursive: true });

// The process launcher's C source, compiled on first use where the build did
// not make the launcher (an installed package ships no binary).
const cFrom = fileURLToPath(new URL('../src/worker/launcher/', import.meta.url));
const cTo = fileURLToPath(new URL('../dist/worker/launcher/', import.meta.url));
rmSync(cTo, { recursive: true, force: true });
cpSync(cFrom, cTo, { recursive: true });

// The `require` entry point (package.json exports → require).
cpSync(fileURLToPath(new URL('./index.cjs', import.meta.url)), fileURLToPath(new URL('../dist/index.cjs', import.meta.url)));
