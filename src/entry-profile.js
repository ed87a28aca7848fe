// The profiling Worker entry: entry.js over the release build that keeps its function names (the
// wasm "name" section), from `make worker-profile` (build-profile/), so that a V8 CPU profile
// (`make profile`, scripts/profile.mjs) names the Rust frames. Never deploy it.
import handler from "../build-profile/index.js";
import { guard } from "./panic-guard.js";

export * from "../build-profile/index.js";
export default guard(handler);
