/**
 * The slot line's members against @workflow/world 5.0.0-beta.37's World (the devDependency alias
 * @workflow/world-slots, the release the newest workflow beta installs), checked by the type-checker,
 * which CI runs. src/ types them with local shapes, so that flowstore's published declarations name no
 * package its users lack; these assertions keep those shapes the SDK's: a member that drifts from the
 * SDK's World fails to compile here. Nothing below runs but the trivial test bodies.
 */
import type { World as SlotsWorld, WorldCapabilities } from "@workflow/world-slots";
import { describe, expectTypeOf, it } from "vitest";
import type { BatchEventRequest, createEventBatch } from "../../../src/adapters/workflow/event-batch.js";
import type { RunsOfSlotLine } from "../../../src/adapters/workflow/runs-many.js";
import type { writeSession } from "../../../src/adapters/workflow/streams.js";

type SlotRuns = SlotsWorld["runs"];
type Batch = NonNullable<SlotsWorld["events"]["createBatch"]>;

describe("the slot line's members as @workflow/world 5.0.0-beta.37 types them", () => {
  it("cancelMany takes and answers what the SDK's bulk cancel does", () => {
    expectTypeOf<RunsOfSlotLine["cancelMany"]>().toExtend<NonNullable<SlotRuns["cancelMany"]>>();
  });

  it("getMany and waitForTerminalStatus take the SDK's arguments and answer its runs", () => {
    type GetMany = NonNullable<SlotRuns["getMany"]>;
    type Wait = NonNullable<SlotRuns["waitForTerminalStatus"]>;
    expectTypeOf<Parameters<GetMany>>().toExtend<Parameters<RunsOfSlotLine["getMany"]>>();
    expectTypeOf<Parameters<Wait>>().toExtend<Parameters<RunsOfSlotLine["waitForTerminalStatus"]>>();
    expectTypeOf<Awaited<ReturnType<RunsOfSlotLine["getMany"]>>>().toExtend<Awaited<ReturnType<GetMany>>>();
    expectTypeOf<Awaited<ReturnType<RunsOfSlotLine["waitForTerminalStatus"]>>>().toExtend<
      Awaited<ReturnType<Wait>>
    >();
  });

  it("createBatch takes the SDK's batch and answers its per-event results", () => {
    type Ours = ReturnType<typeof createEventBatch>;
    expectTypeOf<Parameters<Batch>[1][number]>().toExtend<BatchEventRequest>();
    expectTypeOf<Awaited<ReturnType<Ours>>>().toExtend<Awaited<ReturnType<Batch>>>();
  });

  it("a write session is the SDK's StreamWriteSession", () => {
    type Create = NonNullable<SlotsWorld["streams"]["createWriteSession"]>;
    expectTypeOf<ReturnType<typeof writeSession>>().toExtend<ReturnType<Create>>();
  });

  it("declares capabilities of the SDK's kind", () => {
    expectTypeOf<Record<never, never>>().toExtend<WorldCapabilities>();
  });
});
