import XCTest
import Autograd
import Core
import NN
import Models

/// The compression layer's spatial start (`Resampler.startSpatially`).
final class ResamplerStartTests: XCTestCase {
    /// The tiny preset's compression layer over a 16 × 16 patch grid.
    static func resampler(spatial: Bool) -> Resampler {
        let r = Resampler(config: ResamplerConfig(numQueries: 64, embedDim: 256, numHeads: 2, kvDim: 192))
        r.initializeParameters(rng: RNG(seed: 3))
        if spatial { r.startSpatially(patchGrid: 16) }
        return r
    }

    /// How much each of the 64 vision tokens changes when the 2 × 2 patches of
    /// one cell of the 8 × 8 grid are replaced.
    static func tokenChanges(_ r: Resampler, cell: (row: Int, col: Int)) -> [Float] {
        var rng = RNG(seed: 5)
        let x = Tensor.randn([1, 256, 192], rng: &rng)
        var changed = x.scalars
        for dr in 0..<2 {
            for dc in 0..<2 {
                let patch = (cell.row * 2 + dr) * 16 + cell.col * 2 + dc
                for j in 0..<192 { changed[patch * 192 + j] = rng.normal() }
            }
        }
        let before = r(x, tgtSizes: [(16, 16)]).scalars
        let after = r(Tensor(changed, shape: [1, 256, 192]), tgtSizes: [(16, 16)]).scalars
        return (0..<64).map { q in
            (0..<256).reduce(Float(0)) { $0 + pow(after[q * 256 + $1] - before[q * 256 + $1], 2) }.squareRoot()
        }
    }

    /// Spatially started, the token that changes most belongs to the changed
    /// cell or a neighbour (the query's layer norm tilts the peak by up to a
    /// cell), several times more than the typical token; with the default start
    /// every token changes about alike (an average of the image).
    func testEachVisionTokenSeesItsOwnCell() {
        for cell in [(row: 2, col: 5), (row: 7, col: 0), (row: 4, col: 4)] {
            let changes = Self.tokenChanges(Self.resampler(spatial: true), cell: cell)
            let most = changes.firstIndex(of: changes.max()!)!, median = changes.sorted()[32]
            XCTAssertLessThanOrEqual(max(abs(most / 8 - cell.row), abs(most % 8 - cell.col)), 1,
                                     "\(cell): the token that changes most is \(most)")
            XCTAssertGreaterThan(changes[most], 4 * median, "\(cell): \(changes[most]) against a median \(median)")
        }
        let plain = Self.tokenChanges(Self.resampler(spatial: false), cell: (2, 5))
        XCTAssertLessThan(plain.max()!, 2 * plain.sorted()[32], "the default start pools the whole image")
    }

    /// The start itself: queries are the 2-D sin-cos of the cell centres, the
    /// key projection a copy of the (unscaled) query projection.
    func testStartSetsQueriesAndKeyProjection() {
        let plain = Self.resampler(spatial: false), r = Self.resampler(spatial: true)
        let q = r.query.value.scalars
        let centre = SinCosEmbedding.vector2D(dim: 256, row: 2 * 3 + 0.5, column: 2 * 6 + 0.5)
        XCTAssertEqual(Array(q[(3 * 8 + 6) * 256..<(3 * 8 + 7) * 256]), centre)
        let w0 = plain.attn.inProjWeight.value.scalars, w = r.attn.inProjWeight.value.scalars
        let d = 256 * 256
        XCTAssertEqual(Array(w[d..<(2 * d)]), Array(w0[0..<d]), "keys: the initial query projection")
        XCTAssertEqual(Array(w[0..<d]), w0[0..<d].map { $0 * 10 }, "queries: scaled by the sharpness")
        XCTAssertEqual(Array(w[(2 * d)...]), Array(w0[(2 * d)...]), "values unchanged")
    }
}
