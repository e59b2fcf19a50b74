/**
 * flowgate's Lua scripts (src/shared/lua/*.lua, each headed by its KEYS and
 * ARGV) as ioredis commands: defined once per client with `defineCommand`,
 * so calls go by EVALSHA and the script is loaded on first use.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

/** The text of `src/shared/lua/<name>.lua`. */
export function luaScript(name: string): string {
  return readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');
}

/** A command: its script, and how many of its arguments are keys (omitted: the first argument says). */
export interface LuaCommand {
  lua: string;
  numberOfKeys?: number;
}

/** The client with `commands` defined on it (those it has already are left as they are). */
export function withCommands<T>(redis: Redis, commands: Readonly<Record<keyof T & string, LuaCommand>>): Redis & T {
  const defined = redis as unknown as Record<string, unknown>;
  for (const [name, c] of Object.entries<LuaCommand>(commands)) {
    if (typeof defined[name] !== 'function') redis.defineCommand(name, c.numberOfKeys === undefined ? { lua: c.lua } : { numberOfKeys: c.numberOfKeys, lua: c.lua });
  }
  return redis as Redis & T;
}
