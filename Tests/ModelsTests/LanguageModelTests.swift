import XCTest
import Autograd
import Core
import NN
import Models

final class LanguageModelTests: XCTestCase {
    static func config(_ kind: LanguageModelKind, tied: Bool = false) -> LanguageModelConfig {
        LanguageModelConfig(modelType: kind, vocabSize: 50, hiddenSize: 24, intermediateSize: 40, numHiddenLayers: 2,
                            numAttentionHeads: 4, numKeyValueHeads: kind == .llama ? 1 : 2, headDim: 6,
                            ropeTheta: 10000, tieWordEmbeddings: tied, scaleEmb: 12, scaleDepth: 1.4,
                            dimModelBase: 8)
    }

    static func model(_ c: LanguageModelConfig, seed: UInt64) -> LanguageModel {
        let m = LanguageModel(config: c)
        m.initializeParameters(rng: RNG(seed: seed))
        // Non-trivial norms and biases.
        var rng = RNG(seed: seed + 100)
        for (path, p) in m.namedParameters() where path.hasSuffix("norm.weight") || path.hasSuffix(".bias") {
            Initializer.normal(mean: path.hasSuffix("bias") ? 0 : 1, std: 0.2).fill(p.value, rng: &rng)
        }
        return m
    }

    /// Prefill then one token at a time gives the logits of one full forward pass.
    func testKVCacheDecodingMatchesFullForward() {
        for (kind, tied) in [(LanguageModelKind.qwen2, false), (.llama, true), (.minicpm, false)] {
            let c = Self.config(kind, tied: tied)
            let m = Self.model(c, seed: 5)
            let ids: [Int32] = [3, 17, 42, 8, 8, 1, 29, 33]
            let full = noGrad { m(ids: ids, batch: 1, positions: (0..<8).map { Int32($0) }) }   // [1, 8, V]
            let cache = m.makeCache()
            var pieces: [Tensor] = []
            noGrad {
                pieces.append(m(ids: Array(ids[0..<5]), batch: 1, positions: [0, 1, 2, 3, 4], cache: cache))
                for t in 5..<8 {
                    XCTAssertEqual(cache.length, t)
                    pieces.append(m(ids: [ids[t]], batch: 1, positions: [Int32(t)], cache: cache))
                }
            }
            let decoded = concat(pieces, axis: 1)
            XCTAssertEqual(decoded.shape, full.shape)
            XCTAssertLessThan(relativeError(decoded, full), 1e-5, "\(kind)")
            cache.reset()
            XCTAssertEqual(cache.length, 0)
        }
    }

    func testMiniCPMScalingsChangeTheModel() {
        // The same weights as Llama with the muP factors turned on must give different logits,
        // and scale_emb must multiply the embeddings exactly.
        let c = Self.config(.minicpm)
        var llama = c
        llama.modelType = .llama
        let a = Self.model(c, seed: 3), b = LanguageModel(config: llama)
        for ((_, p), (_, q)) in zip(a.namedParameters(), b.namedParameters()) { q.assign(p.value) }
        XCTAssertEqual(a.embed([4]).scalars, b.embed([4]).scalars.map { $0 * 12 })
        let la = noGrad { a(ids: [1, 2, 3], batch: 1, positions: [0, 1, 2]) }
        let lb = noGrad { b(ids: [1, 2, 3], batch: 1, positions: [0, 1, 2]) }
        XCTAssertGreaterThan(relativeError(la, lb), 1e-2)
        XCTAssertEqual(c.residualScale, Float(1.4 / 2.0.squareRoot()), accuracy: 1e-7)
        XCTAssertEqual(c.logitDivisor, 3)
    }

    func testTiedEmbeddingsHaveNoHead() {
        let m = LanguageModel(config: Self.config(.llama, tied: true))
        let paths = m.namedParameters().map(\.path)
        XCTAssertFalse(paths.contains("lm_head.weight"))
        XCTAssertTrue(paths.contains("model.embed_tokens.weight"))
        XCTAssertTrue(paths.contains("model.layers.1.self_attn.o_proj.weight"))
        XCTAssertFalse(paths.contains("model.layers.0.self_attn.q_proj.bias"))
        let q = LanguageModel(config: Self.config(.qwen2))
        XCTAssertNotNil(q.parameter(at: "model.layers.0.self_attn.q_proj.bias"))
        XCTAssertNil(q.parameter(at: "model.layers.0.self_attn.o_proj.bias"))
        XCTAssertNotNil(q.parameter(at: "lm_head.weight"))
    }

    func testBatchedRowsEqualSeparateRows() {
        let m = Self.model(Self.config(.qwen2), seed: 8)
        let a: [Int32] = [5, 6, 7, 8], b: [Int32] = [9, 10, 11, 12]
        let both = noGrad { m(ids: a + b, batch: 2, positions: [0, 1, 2, 3, 0, 1, 2, 3]) }
        let ra = noGrad { m(ids: a, batch: 1, positions: [0, 1, 2, 3]) }
        let rb = noGrad { m(ids: b, batch: 1, positions: [0, 1, 2, 3]) }
        XCTAssertLessThan(relativeError(both, concat([ra, rb], axis: 0)), 1e-6)
    }

    /// Keeping some rows (the last layer's projection and MLP on those alone)
    /// gives those rows of the full hidden states, and the same gradients, for
    /// every model kind (MiniCPM's residual scale included) and with packing.
    func testKeptRowsEqualFullHiddenStates() throws {
        for (kind, tied) in [(LanguageModelKind.qwen2, false), (.llama, true), (.minicpm, false)] {
            var c = Self.config(kind, tied: tied)
            c.scaleDepth = 3                                  // MiniCPM: residual scale 3/√2, far from 1
            let m = Self.model(c, seed: 11)
            let ids: [Int32] = [3, 17, 42, 8, 8, 1, 29, 33, 4, 9, 12, 40]
            let positions: [Int32] = [0, 1, 2, 3, 4, 0, 1, 2, 0, 1, 2, 3], segments: [Int32] = [0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0]
            let rows: [Int32] = [1, 2, 4, 6, 7, 10]
            let weights = Tensor((0..<(rows.count * c.hiddenSize)).map { Float($0 % 7) - 3 }, shape: [rows.count, c.hiddenSize])
            func run(_ keep: Bool) -> (Tensor, [[Float]?]) {
                m.zeroGrad()
                let e = m.embed(ids).reshaped([2, 6, c.hiddenSize])
                let h = keep
                    ? m.hiddenStates(embeddings: e, positions: positions, segmentIds: segments, keeping: rows)
                    : m.hiddenStates(embeddings: e, positions: positions, segmentIds: segments)
                        .reshaped([12, c.hiddenSize]).indexSelect(rows)
                (h * weights).sum().backward()
                return (h.detached(), m.namedParameters().map { $0.parameter.grad?.scalars })
            }
            let (full, fullGrads) = run(false), (kept, keptGrads) = run(true)
            XCTAssertEqual(kept.shape, [rows.count, c.hiddenSize])
            XCTAssertLessThan(relativeError(kept, full), 1e-5, "\(kind)")
            for ((path, _), (g, h)) in zip(m.namedParameters(), zip(fullGrads, keptGrads)) {
                guard let g else { XCTAssertNil(h, "\(kind) \(path)"); continue }        // lm_head: not used here
                let h = try XCTUnwrap(h, "\(kind) \(path)")
                XCTAssertLessThan(relativeError(h, g), 1e-4, "\(kind) \(path)")
            }
        }
    }
}
