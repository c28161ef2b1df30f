/**
 * The data-plane worker's code, for worker threads started from the single
 * executable (which has no files to point a Worker at). In dev this module
 * exports undefined and workers start from dist/js/src/dataplane/
 * worker_main.js; build/bundle.mjs replaces it with the bundled worker
 * (build/plugins/worker_source.mjs).
 */
export const WORKER_SOURCE: string | undefined = undefined;
