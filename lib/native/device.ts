// --device cpu | cuda | auto: which backend a command's engines run on. auto takes the GPU when the build has the
// CUDA backend and a usable GPU is present, else the CPU, and says why in one line. With MPI each rank takes the
// GPU of its local rank.
import { loadNative } from "./load.js";
import type { Device } from "./types.js";

export type DeviceFlag = Device | "auto";
const DEVICE_CHOICES = ["cpu", "cuda", "auto"] as const satisfies readonly DeviceFlag[];

/** The --device flag of the commands that run an engine (yargs option); `fallback` is its default. */
export function deviceOption(fallback: DeviceFlag, describe: string) {
  return { choices: DEVICE_CHOICES, default: fallback, describe };
}

export interface DevicePlacement {
  device: Device;
  /** The GPU index, for "cuda". */
  cudaDevice: number;
  /** One line for the start of the run: the device, and for auto why. */
  line: string;
}

export class DeviceUnavailableError extends Error {
  readonly code = "ERR_DEVICE_UNAVAILABLE";
}

export function placeOnDevice(flag: DeviceFlag, localRank = 0): DevicePlacement {
  if (flag === "cpu") return { device: "cpu", cudaDevice: 0, line: "device: cpu" };
  const probe = loadNative().probeCuda();
  if (probe.deviceCount > 0) {
    const cudaDevice = localRank % probe.deviceCount;
    const how = flag === "auto" ? " (--device auto: a usable GPU is present)" : "";
    return { device: "cuda", cudaDevice, line: `device: cuda:${cudaDevice}${how}; GEMMs: ${probe.gemm}` };
  }
  if (flag === "cuda") throw new DeviceUnavailableError(`--device cuda: ${probe.reason}`);
  return { device: "cpu", cudaDevice: 0, line: `device: cpu (--device auto: ${probe.reason})` };
}
