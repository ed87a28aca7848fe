// keygate's Worker entry (wrangler.toml `main`): worker-build's output from `make worker`, behind
// the panic guard (panic-guard.js). The named exports, among them the QuotaCounter Durable Object
// class, pass through unchanged.
import handler from "../build/index.js";
import { guard } from "./panic-guard.js";

export * from "../build/index.js";
export default guard(handler);
