import Core

/// Elementwise work below this many values runs on one thread.
let elementwiseGrain = 1 << 15
