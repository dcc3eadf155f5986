import Autograd
BLAS.ensureOptimizedKernels()
print("trainer: BLAS kernel \(BLAS.coreName)")
