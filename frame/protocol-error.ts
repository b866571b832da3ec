/**
 * The error classes live in the root module `errors.ts`, which frame/, pubsub/
 * and lib/ may all import (issue 18: pubsub/ must not depend on frame/). This
 * path stays so existing imports keep compiling; new code imports `../errors`.
 */
export { ProtocolError, UsageError } from '../errors';
