// The version printed by `stampede --version` and shown in the OpenAPI document.
import packageJson from "../package.json" with { type: "json" };

export const VERSION: string = packageJson.version;
