// GLUE metrics: accuracy, F1 of the positive class, Matthews correlation, Pearson and Spearman correlation
// (Spearman with average ranks for ties, as scipy.stats.spearmanr).

export function accuracy(predictions: number[], labels: number[]): number {
  let hits = 0;
  predictions.forEach((p, i) => (hits += p === labels[i] ? 1 : 0));
  return hits / Math.max(labels.length, 1);
}

function confusion(predictions: number[], labels: number[]) {
  let tp = 0;
  let tn = 0;
  let fp = 0;
  let fn = 0;
  predictions.forEach((p, i) => {
    const y = labels[i];
    if (p === 1 && y === 1) tp++;
    else if (p === 0 && y === 0) tn++;
    else if (p === 1) fp++;
    else fn++;
  });
  return { tp, tn, fp, fn };
}

/** F1 of class 1; 0 when there are no true positives (sklearn's convention). */
export function f1(predictions: number[], labels: number[]): number {
  const { tp, fp, fn } = confusion(predictions, labels);
  return tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn);
}

/** Matthews correlation coefficient of binary predictions; 0 when undefined (sklearn's convention). */
export function matthewsCorrelation(predictions: number[], labels: number[]): number {
  const { tp, tn, fp, fn } = confusion(predictions, labels);
  const denominator = Math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn));
  return denominator === 0 ? 0 : (tp * tn - fp * fn) / denominator;
}

export function pearson(x: number[], y: number[]): number {
  const n = x.length;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = (x[i] as number) - mx;
    const dy = (y[i] as number) - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxy / Math.sqrt(sxx * syy);
}

/** Ranks from 1, ties sharing the average of the ranks they span. */
export function averageRanks(x: number[]): number[] {
  const order = x.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const ranks = new Array<number>(x.length);
  for (let i = 0; i < order.length;) {
    let j = i;
    while (
      j + 1 < order.length &&
      (order[j + 1] as readonly [number, number])[0] === (order[i] as readonly [number, number])[0]
    )
      j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[(order[k] as readonly [number, number])[1]] = rank;
    i = j + 1;
  }
  return ranks;
}

export function spearman(x: number[], y: number[]): number {
  return pearson(averageRanks(x), averageRanks(y));
}
