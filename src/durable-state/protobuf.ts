/**
 * `flowstore/protobuf`: a durableState codec for Protocol Buffers, apart from the main entry so that
 * `@bufbuild/protobuf` (an optional peer dependency) loads only for applications that use it.
 *
 *   import { protobufCodec } from "flowstore/protobuf";
 */

import { type DescMessage, fromBinary, type Message, type Registry, toBinary } from "@bufbuild/protobuf";
import type { Codec } from "../core/codecs.js";
import { ValidationError } from "../core/errors.js";

/**
 * Protocol Buffers (`@bufbuild/protobuf` v2). The manifest is the message's fully qualified type name
 * (`google.protobuf.Timestamp`); decoding looks it up in `registry`, which must hold every message type
 * that may be read back (`createRegistry(OrderSchema, ...)` or a file registry).
 */
export function protobufCodec(registry: Registry): Codec<Message> {
  const schemaFor = (typeName: string, field: string): DescMessage => {
    const schema = registry.getMessage(typeName);
    if (!schema) {
      throw new ValidationError(
        `unknown manifest ${JSON.stringify(typeName)}: no message type of that name is in the protobuf registry`,
        { field },
      );
    }
    return schema;
  };
  return {
    encode(message) {
      const schema = schemaFor(message.$typeName, "payload");
      return { payload: toBinary(schema, message), manifest: schema.typeName };
    },
    decode({ payload, manifest }) {
      return fromBinary(schemaFor(manifest, "manifest"), payload);
    },
  };
}
