/** Waiting for something another thread or process reports, polled, never a fixed sleep. */

/**
 * Resolves once `condition` holds, checking every `everyMs`; after `timeoutMs` it resolves anyway,
 * and the test's own assertion on the same condition then fails with its message.
 */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000, everyMs = 20): Promise<void> {
  for (let waited = 0; !(await condition()) && waited < timeoutMs; waited += everyMs) {
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
