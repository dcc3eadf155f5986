import Autograd
import Core

/// Conv2d(C, D, kernel = stride = P) over the strip layout, computed as one
/// matmul over flattened patches. weight [D, C, P, P] (the Conv2d layout), bias [D].
public final class PatchEmbedding: Module {
    public let weight: Parameter
    public let bias: Parameter
    public let patchSize: Int
    public let channels: Int
    public let dim: Int

    public init(channels: Int, dim: Int, patchSize: Int, weightInit: Initializer = .normal(std: 0.02)) {
        self.patchSize = patchSize
        self.channels = channels
        self.dim = dim
        weight = Parameter(shape: [dim, channels, patchSize, patchSize], initializer: weightInit)
        bias = Parameter(shape: [dim], initializer: .zeros)
    }

    /// pixels [N, C, P, L·P] (patch k in columns [kP, kP+P)) → [N, L, D]
    public func callAsFunction(_ pixels: Tensor) -> Tensor {
        let patches = patchify(pixels, patchSize: patchSize)                          // [N, L, C·P·P]
        let w = weight.value.reshaped([dim, channels * patchSize * patchSize])        // [D, C·P·P]
        return linear(patches, w, bias.value)
    }
}
