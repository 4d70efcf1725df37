/**
 * GPU memory allocation with a clear answer to "did it fit?".
 *
 * The real allocator wraps createBuffer in an 'out-of-memory' error scope.
 * The capped allocator is the `?simMemoryMB=N` fault knob: it behaves like a
 * GPU with N MB, and an allocation beyond that fails the way TVM's do in
 * WebLLM: the device is destroyed (so it surfaces as a lost device with
 * reason "destroyed"). SwiftShader never runs out of memory, so tests of the
 * plan, the preflight and the step-down need the cap.
 */
import { MIB } from '$lib/shared/figures';

export interface Allocation {
  buffer: GPUBuffer;
  /** Bytes this allocation stands for (the capped allocator backs it with a small buffer). */
  bytes: number;
}

export interface GpuAllocator {
  readonly device: GPUDevice;
  /** Null when the GPU has no room for it. */
  allocate(bytes: number, label: string): Promise<Allocation | null>;
  release(allocation: Allocation): void;
  /** Bytes held now. */
  readonly used: number;
}

/** Real bytes behind a capped allocation: enough for the device to do real work. */
const CAPPED_BACKING_BYTES = 64 * 1024;

class RealAllocator implements GpuAllocator {
  used = 0;
  constructor(readonly device: GPUDevice) {}

  async allocate(bytes: number, label: string): Promise<Allocation | null> {
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    const buffer = this.device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
      label
    });
    const validation = await this.device.popErrorScope();
    const oom = await this.device.popErrorScope();
    if (oom || validation) {
      buffer.destroy();
      return null;
    }
    this.used += bytes;
    return { buffer, bytes };
  }

  release(allocation: Allocation): void {
    allocation.buffer.destroy();
    this.used -= allocation.bytes;
  }
}

class CappedAllocator implements GpuAllocator {
  used = 0;
  readonly capBytes: number;
  constructor(
    readonly device: GPUDevice,
    capMB: number
  ) {
    this.capBytes = capMB * MIB;
  }

  async allocate(bytes: number, label: string): Promise<Allocation | null> {
    if (this.used + bytes > this.capBytes) {
      // What TVM does on an allocation error: give the device up.
      this.device.destroy();
      return null;
    }
    const buffer = this.device.createBuffer({
      size: Math.min(bytes, CAPPED_BACKING_BYTES),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
      label
    });
    this.used += bytes;
    return { buffer, bytes };
  }

  release(allocation: Allocation): void {
    allocation.buffer.destroy();
    this.used -= allocation.bytes;
  }
}

export function allocatorFor(device: GPUDevice, simMemoryMB: number | null): GpuAllocator {
  return simMemoryMB !== null
    ? new CappedAllocator(device, simMemoryMB)
    : new RealAllocator(device);
}
