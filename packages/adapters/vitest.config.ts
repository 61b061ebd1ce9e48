// The shared settings of every package: see vitest.shared.ts at the root.
export { default } from '../../vitest.shared.js';
