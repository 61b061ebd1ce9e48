/** No WebGPU adapter matched the request; the message says how to get one. */
export class NoAdapterError extends Error {
  constructor(detail: string, available?: string) {
    super(available ? `No WebGPU adapter matches ${detail}. ${available}` : NoAdapterError.howToGetOne(detail));
    this.name = 'NoAdapterError';
  }

  private static howToGetOne(detail: string): string {
    return (
      `No WebGPU adapter found (${detail}).\n` +
        'Thaw needs a WebGPU adapter. On a machine without a GPU, install Mesa\'s software Vulkan driver (lavapipe);\n' +
        'Debian bookworm\'s own Mesa is too old for Dawn, so take it from bookworm-backports:\n' +
        "  echo 'deb http://deb.debian.org/debian bookworm-backports main' > /etc/apt/sources.list.d/bookworm-backports.list\n" +
        '  apt-get update && apt-get install -y -t bookworm-backports mesa-vulkan-drivers libvulkan1\n' +
        '(`bash scripts/setup.sh` does this as root). Choose an adapter with --backend/--device or THAW_BACKEND/THAW_ADAPTER.'
    );
  }
}

/** A runtime setting (an environment variable or a Gpu option) outside what it accepts; the message names it and what it takes. */
export class SettingError extends Error {
  constructor(readonly setting: string, message: string) {
    super(message);
    this.name = 'SettingError';
  }
}

/** A kernel launch that cannot be correct: wrong binding, size, uniform or override. */
export class KernelLaunchError extends Error {
  constructor(readonly kernel: string, reason: string) {
    super(`${kernel}: ${reason}`);
    this.name = 'KernelLaunchError';
  }
}

/** A WebGPU validation or out-of-memory error, raised at the next synchronization point. */
export class GpuError extends Error {
  constructor(readonly kernels: string[], message: string) {
    super(`GPU error in a batch with ${kernels.length ? kernels.join(', ') : 'no kernels'}: ${message}`);
    this.name = 'GpuError';
  }
}

/** The device was lost (driver reset, destroy, out of memory). */
export class DeviceLostError extends Error {
  constructor(readonly lastKernels: string[], reason: string) {
    super(`WebGPU device lost (${reason})${lastKernels.length ? `; last kernels submitted: ${lastKernels.join(', ')}` : ''}`);
    this.name = 'DeviceLostError';
  }
}
