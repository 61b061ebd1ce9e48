/** A WGSL file that the kernel compiler rejects; names the file (and line when known). */
export class KernelCompileError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
    readonly line?: number,
  ) {
    super(`${file}${line !== undefined ? `:${line}` : ''}: ${reason}`);
    this.name = 'KernelCompileError';
  }
}
