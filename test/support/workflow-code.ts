/**
 * The workflows of the World's end-to-end tests as the SDK's compiler gives them: one code string that
 * the runtime runs in its sandbox, calling steps by id (`step//<namespace>//<name>`, registered by the
 * process that runs them). The same code serves both lines of the SDK (4.x and the 5.0 betas).
 */
export function workflowCode(namespace: string): string {
  return `
globalThis.__private_workflows = new Map();
const step = (id) => globalThis[Symbol.for("WORKFLOW_USE_STEP")]("step//${namespace}//" + id);
const add = step("add");
const flaky = step("flaky");
const fatal = step("fatal");
const speak = step("speak");
const startChild = step("startChild");
const sleep = (ms) => globalThis[Symbol.for("WORKFLOW_SLEEP")](ms);
const createHook = (options) => globalThis[Symbol.for("WORKFLOW_CREATE_HOOK")](options);
const workflows = {
  async threeSteps(x) { const a = await add(x, 1); const b = await add(a, 2); return await add(b, 3); },
  async retrying(n) { return await flaky(n); },
  async failing() { return await fatal(); },
  async sleeper(ms) { await sleep(ms); return await add(1, 2); },
  async hooked(token) { const hook = createHook({ token }); const payload = await hook; return payload.value; },
  async speaker(words, gapMs) { return await speak(words, gapMs); },
  async parent(x) { return await startChild(x); },
  async child(x) { return await add(x, 100); },
};
for (const [name, fn] of Object.entries(workflows)) globalThis.__private_workflows.set("workflow//${namespace}//" + name, fn);
`;
}
