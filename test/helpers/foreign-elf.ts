/**
 * A file that is no executable for this machine: the header of an ELF
 * program for another architecture, as a launcher built elsewhere would be.
 */
import { chmodSync, writeFileSync } from 'node:fs';

/** An ELF header for another architecture than this machine's, marked executable. */
export function foreignElf(path: string): string {
  const header = Buffer.alloc(128);
  header.write('\x7fELF', 0, 'latin1');
  header[4] = 2; // 64-bit
  header[5] = 1; // little-endian
  header[6] = 1;
  header.writeUInt16LE(2, 16); // ET_EXEC
  header.writeUInt16LE(process.arch === 'arm64' ? 62 : 183, 18); // x86-64 on arm64, else aarch64
  header.writeUInt32LE(1, 20);
  writeFileSync(path, header);
  chmodSync(path, 0o755);
  return path;
}
