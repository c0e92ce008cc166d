/**
 * Optional peer dependencies: packages flowstore loads only for the features that need them (the AWS
 * SDK for S3 blobs, `@opentelemetry/api` for telemetry, `@bufbuild/protobuf` for flowstore/protobuf).
 */

import { ValidationError } from "../core/errors.js";

/** True when `error` says a module (one of `packages`, or any when none is named) could not be found. */
export function isMissingModule(error: unknown, packages: readonly string[] = []): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (code !== "ERR_MODULE_NOT_FOUND" && code !== "MODULE_NOT_FOUND") return false;
  const message = String((error as { message?: unknown }).message ?? "");
  return packages.length === 0 || packages.some((name) => message.includes(name));
}

/** Imports a module that needs optional peers; their absence is a ValidationError naming what to install. */
export async function importWithPeers<T>(
  load: () => Promise<T>,
  packages: readonly string[],
  what: string,
  field: string,
): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (!isMissingModule(error, packages)) throw error;
    throw new ValidationError(
      `${what}: install ${packages.join(" and ")} (npm install ${packages.join(" ")})`,
      {
        field,
        cause: error,
      },
    );
  }
}
