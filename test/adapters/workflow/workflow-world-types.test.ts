/**
 * The World's types as an application meets them (checked by the type-checker, which CI runs): the
 * README's `await world.start()` and `await world.close()` compile in a strict program, since the
 * World flowstore returns has both (the SDK's interface declares them optional), and it is still the
 * SDK's World, which `setWorld` takes. The functions below are never called: compiling is the test.
 */
import type { World } from "@workflow/world";
import { describe, expectTypeOf, it } from "vitest";
import type { setWorld } from "workflow/runtime";
import { createWorld, type FlowstoreWorld } from "../../../src/adapters/workflow/index.js";
import type { Store } from "../../../src/index.js";

describe("World types", () => {
  it("has start and close present, as the README calls them", () => {
    const run = async (store: Store, set: typeof setWorld) => {
      const world = createWorld({ store });
      set(world);
      await world.start();
      await world.close();
    };
    expectTypeOf(run).returns.resolves.toBeVoid();
    expectTypeOf<FlowstoreWorld["start"]>().toEqualTypeOf<() => Promise<void>>();
    expectTypeOf<FlowstoreWorld["close"]>().toEqualTypeOf<() => Promise<void>>();
    expectTypeOf(createWorld).returns.toEqualTypeOf<FlowstoreWorld>();
  });

  it("is the SDK's World", () => {
    expectTypeOf<FlowstoreWorld>().toExtend<World>();
    expectTypeOf<FlowstoreWorld>().toExtend<Parameters<typeof setWorld>[0]>();
  });
});
