// The patient portal's shared parts are the portal's (common/page.js): state, the
// catalogue, calls to /api/patient, dates and errors.
export * from '../common/page.js';
