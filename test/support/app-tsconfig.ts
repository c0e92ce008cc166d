/** The compiler options of a strict application that type-checks against flowstore's declarations. */
export const STRICT_APP_OPTIONS = {
  target: "ES2022",
  module: "NodeNext",
  moduleResolution: "NodeNext",
  strict: true,
  // Its dependencies' declarations checked too: flowstore's must hold up in an application's build.
  skipLibCheck: false,
  noEmit: true,
  types: ["node"],
};
