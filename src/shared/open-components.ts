/**
 * Components that hold resources right now (connections, timers, child
 * processes): each registers when it starts and unregisters once it has
 * released everything. Tests check after each test that nothing was left
 * open. The set lives on `globalThis`, so the built package and the sources
 * loaded side by side in one test process share it.
 */

const KEY = Symbol.for('flowgate.open-components');

type Registry = Map<object, string>;

function registry(): Registry {
  const g = globalThis as { [KEY]?: Registry };
  g[KEY] ??= new Map();
  return g[KEY];
}

/** Records that `component` holds resources; `description` names it in leak reports. */
export function registerOpen(component: object, description: string): void {
  registry().set(component, description);
}

/** Records that `component` released everything it held. */
export function unregisterOpen(component: object): void {
  registry().delete(component);
}

/** Descriptions of the components open now. */
export function openComponents(): string[] {
  return [...registry().values()];
}

/** Forgets every registration (tests: after reporting a leak, so the next test starts clean). */
export function forgetOpen(): void {
  registry().clear();
}
