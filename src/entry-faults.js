// The test-only Worker entry: entry.js over the `fault-injection` build from `make worker-faults`
// (build-faults/), for tests/e2e/tests/panic.rs. Never deploy it.
import handler from "../build-faults/index.js";
import { guard } from "./panic-guard.js";

export * from "../build-faults/index.js";
export default guard(handler);
