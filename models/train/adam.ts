/** Adam (Kingma & Ba, 2015) over a set of parameter arrays updated in place. */
export interface AdamOptions {
  readonly learningRate: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly epsilon?: number;
}

export class Adam {
  private readonly m: Float64Array[];
  private readonly v: Float64Array[];
  private t = 0;
  private readonly lr: number;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly epsilon: number;

  constructor(
    private readonly params: readonly Float64Array[],
    options: AdamOptions,
  ) {
    this.m = params.map((p) => new Float64Array(p.length));
    this.v = params.map((p) => new Float64Array(p.length));
    this.lr = options.learningRate;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
  }

  /** One update; `grads[k]` is the gradient of `params[k]`. */
  step(grads: readonly Float64Array[]): void {
    this.t++;
    const { beta1, beta2, epsilon } = this;
    // Bias correction folded into the step size, as in the paper's efficient form.
    const stepSize = (this.lr * Math.sqrt(1 - beta2 ** this.t)) / (1 - beta1 ** this.t);
    for (let k = 0; k < this.params.length; k++) {
      const p = this.params[k] as Float64Array;
      const g = grads[k] as Float64Array;
      const m = this.m[k] as Float64Array;
      const v = this.v[k] as Float64Array;
      for (let i = 0; i < p.length; i++) {
        const gi = g[i] as number;
        const mi = beta1 * (m[i] as number) + (1 - beta1) * gi;
        const vi = beta2 * (v[i] as number) + (1 - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = (p[i] as number) - (stepSize * mi) / (Math.sqrt(vi) + epsilon);
      }
    }
  }
}
