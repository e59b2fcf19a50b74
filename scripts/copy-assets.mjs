// Copies the board's static dashboard (src/board/public) into dist/board/public
// after tsc, replacing what a previous build left there.
import { cpSync, existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const from = fileURLToPath(new URL('../src/board/public/', import.meta.url));
const to = fileURLToPath(new URL('../dist/board/public/', import.meta.url));
rmSync(to, { recursive: true, force: true });
if (existsSync(from)) cpSync(from, to, { recursive: true });
