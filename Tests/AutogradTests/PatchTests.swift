import XCTest
import Autograd
import Core

final class PatchTests: XCTestCase {
    /// An image [C, H, W] laid out as the official strip [C, P, L·P]: patch k
    /// (row-major over the H/P × W/P grid) occupies columns [kP, kP + P).
    private func strip(_ image: [Float], c: Int, h: Int, w: Int, p: Int) -> [Float] {
        let (gh, gw) = (h / p, w / p), l = gh * gw
        var out = [Float](repeating: 0, count: c * p * l * p)
        for ci in 0..<c { for i in 0..<p { for k in 0..<l { for j in 0..<p {
            out[(ci * p + i) * l * p + k * p + j] = image[(ci * h + p * (k / gw) + i) * w + p * (k % gw) + j]
        } } } }
        return out
    }

    func testPatchifyLayout() {
        let (b, c, p, l) = (2, 3, 2, 5)
        let x = randomTensor([b, c, p, l * p], seed: 1)
        let y = patchify(x, patchSize: p)
        XCTAssertEqual(y.shape, [b, l, c * p * p])
        for bi in 0..<b { for k in 0..<l { for ci in 0..<c { for i in 0..<p { for j in 0..<p {
            XCTAssertEqual(y.scalars[((bi * l + k) * c + ci) * p * p + i * p + j],
                           x.scalars[((bi * c + ci) * p + i) * l * p + k * p + j])
        } } } } }
        gradCheck([x], tolerance: 1e-2) { patchify($0[0], patchSize: p) }
    }

    /// The embedding equals a stride-P convolution computed directly on the image.
    func testPatchEmbeddingIsAConvolution() {
        let (c, h, w, p, d) = (3, 6, 9, 3, 4)
        let image = randomTensor([c, h, w], seed: 2).scalars
        let pixels = Tensor(strip(image, c: c, h: h, w: w, p: p), shape: [1, c, p, (h / p) * (w / p) * p])
        let weight = randomTensor([d, c, p, p], seed: 3), bias = randomTensor([d], seed: 4)
        let y = patchEmbedding(pixels, weight: weight, bias: bias, patchSize: p)
        let gw = w / p, l = (h / p) * gw
        XCTAssertEqual(y.shape, [1, l, d])
        let (wt, bs) = (doubles(weight), doubles(bias))
        var expected: [Double] = []
        for k in 0..<l {
            for o in 0..<d {
                var s = bs[o]
                for ci in 0..<c { for i in 0..<p { for j in 0..<p {
                    s += wt[((o * c + ci) * p + i) * p + j] * Double(image[(ci * h + p * (k / gw) + i) * w + p * (k % gw) + j])
                } } }
                expected.append(s)
            }
        }
        assertClose(y, expected, rtol: 1e-5, atol: 1e-5, "conv")
        gradCheck([pixels, weight, bias], tolerance: 1e-2) { patchEmbedding($0[0], weight: $0[1], bias: $0[2], patchSize: p) }
    }
}
