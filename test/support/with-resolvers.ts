/**
 * Node 20 has no Promise.withResolvers (Node 22 does), which the Workflow SDK's runtime and its World
 * suite call; test files that run them import this first. The library itself never needs it.
 */
const promises = Promise as unknown as { withResolvers?: () => unknown };
promises.withResolvers ??= () => {
  let resolve!: (value: unknown) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};
