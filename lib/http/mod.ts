/**
 * The prediction HTTP handler, its limits, queue and error mapping, the app
 * (upload page, health, CORS), the worker pool and our HTTP/1.1 server:
 * the handler side only, without the training code. The predictor it serves
 * comes from `./predict`, the network from `./model`. `lib/http/server.ts` is
 * the `deno serve` entry module.
 *
 * @example
 * ```ts
 * import { createPredictHandler } from "./mod.ts";
 * import { createPredictor } from "../predict/predictor.ts";
 * import { U2Net } from "../model/u2net.ts";
 * const model = U2Net.create("lite");
 * const handler = createPredictHandler(createPredictor(model, { inputSize: 32 }));
 * (await handler(new Request("http://localhost/nope"))).status; // 404
 * model.dispose();
 * ```
 *
 * @module
 */
export * from "./handler.ts";
export * from "./errors.ts";
export * from "./queue.ts";
export * from "./read_body.ts";
export * from "./page.ts";
export * from "./app.ts";
export * from "./byte_budget.ts";
export * from "./cors.ts";
export * from "./predict_query.ts";
export * from "./rembg_api.ts";
export * from "./prediction_service.ts";
export * from "./worker_pool.ts";
export * from "./http_server.ts";
export * from "./http_server_stats.ts";
