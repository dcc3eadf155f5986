import Autograd
import Core
import Foundation
import Models
import TestSupport
import XCTest

/// `resampler.position_in_values`: off by default and absent from the written config; on, each
/// query's output carries the positions it attended to.
final class ResamplerPositionTests: XCTestCase {
    func testPositionInValuesIsOptInAndChangesOnlyTheValues() throws {
        let dir = Fixtures.packageRoot.appendingPathComponent("Recipes/models").path
        let plain = try MiniCPMVConfig.preset("micro", directory: dir)
        XCTAssertFalse(plain.resampler.positionInValues)
        XCTAssertFalse(try plain.jsonString().contains("position_in_values"))
        var c = plain.resampler
        c.positionInValues = true
        let encoded = String(decoding: try JSONEncoder().encode(c), as: UTF8.self)
        XCTAssertTrue(encoded.contains("\"position_in_values\":true"), encoded)
        XCTAssertEqual(try JSONDecoder().decode(ResamplerConfig.self, from: Data(encoded.utf8)), c)

        var withPositions = plain
        withPositions.resampler = c
        let a = MiniCPMV(config: plain, seed: 5).resampler, b = MiniCPMV(config: withPositions, seed: 5).resampler
        for ((_, pa), (_, pb)) in zip(a.namedParameters(), b.namedParameters()) {
            XCTAssertEqual(pa.value.scalars, pb.value.scalars, "the same start")
        }
        var rng = RNG(seed: 3)
        let x = Tensor.randn([1, 16, plain.resampler.kvDim], rng: &rng)
        let ya = noGrad { a(x, tgtSizes: [(h: 4, w: 4)]) }, yb = noGrad { b(x, tgtSizes: [(h: 4, w: 4)]) }
        XCTAssertEqual(ya.shape, yb.shape)
        XCTAssertGreaterThan(zip(ya.scalars, yb.scalars).map { abs($0 - $1) }.max() ?? 0, 1e-3)
    }
}
