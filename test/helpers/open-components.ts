/**
 * After each integration test: every component the test started (run
 * scheduler and its connections, scheduler service, node worker, local
 * fleet) must have been closed. A component left open fails the test, and is
 * forgotten so the next test starts clean.
 */
import { afterEach } from 'vitest';
import { forgetOpen, openComponents } from '../../src/shared/open-components.js';

afterEach(() => {
  const open = openComponents();
  if (open.length === 0) return;
  forgetOpen();
  throw new Error(`left open after the test: ${open.join('; ')}`);
});
